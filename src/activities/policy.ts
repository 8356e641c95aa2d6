/**
 * The worker's policy (clusters.yaml `policy`, per cluster and procedure): what a run may put on a
 * cluster whatever its input says. Activities call these before any SSH login or API write; a
 * refusal is non-retryable and says in one line what was refused and which setting would allow it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { CALICO_DEFAULTS } from '../common/calico';
import { DEFAULT_ALLOWED_REGISTRIES, imagesNotAllowed } from '../common/calico-prepull';
import { ErrorType } from '../common/errors';
import { findProcedure, procedureOfWorkflow } from '../common/procedures';
import { DEFAULT_INTERNAL_REGISTRY } from '../common/procedures/closed-network-image-recovery';
import { GUIDE_DOCKER_LOGROTATE_CONFIG } from '../common/procedures/logrotate-sync';
import { type ApprovalMode, type ApprovalPolicyDecision, DEFAULT_APPROVAL_MODES } from '../common/approval';
import type { ClusterEntry } from '../common/registry-schema';
import type { ActivityDeps } from './deps';

/** Procedures whose images the policy limits to registries, with the guide's registry as default. */
const DEFAULT_REGISTRIES = {
  calicoImageRepair: DEFAULT_ALLOWED_REGISTRIES,
  closedNetworkImageRecovery: [DEFAULT_INTERNAL_REGISTRY],
} as const satisfies Record<string, readonly string[]>;

export type RegistryLimitedProcedure = keyof typeof DEFAULT_REGISTRIES;

function refused(cluster: string, what: string, allowBy: string, details: unknown): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `cluster "${cluster}": ${what} refused by the worker's policy; ${allowBy}`,
    ErrorType.PolicyRefused,
    details,
  );
}

/** The repository prefixes a procedure's images may come from on this cluster. */
export function allowedRegistries(entry: ClusterEntry, procedure: RegistryLimitedProcedure): string[] {
  return [...(entry.policy?.[procedure]?.registries ?? DEFAULT_REGISTRIES[procedure])];
}

/**
 * Throws ImageNotAllowed unless every image lies directly under one of the procedure's allowed
 * prefixes; returns the prefixes.
 */
export function requireImagesAllowed(
  cluster: string,
  entry: ClusterEntry,
  procedure: RegistryLimitedProcedure,
  images: readonly string[],
): string[] {
  const allowed = allowedRegistries(entry, procedure);
  const refusedImages = imagesNotAllowed(images, allowed);
  if (refusedImages.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${cluster}": image(s) ${refusedImages.join(', ')} not under policy.${procedure}.registries ` +
        `(${allowed.join(', ')}); add the registry there in clusters.yaml to allow it`,
      ErrorType.ImageNotAllowed,
      { refused: refusedImages, allowedRegistries: allowed },
    );
  }
  return allowed;
}

/** Directives whose value logrotate runs (as root) or reads from elsewhere. */
const SCRIPT_DIRECTIVE_RE = /^\s*(prerotate|postrotate|firstaction|lastaction|preremove|include)\b/m;

const sha256Of = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/**
 * Throws PolicyRefused unless the content is one the cluster's policy lists: by sha256, or as the
 * content of a file on the worker; the guide's config when the policy lists none. A config with
 * scripts or `include` also needs `allowScripts: true` on the entry that admits it.
 */
export function requireLogrotateConfigAllowed(cluster: string, entry: ClusterEntry, content: string): void {
  const digest = sha256Of(content);
  const configs = entry.policy?.logrotateSync?.configs ?? [
    { sha256: sha256Of(GUIDE_DOCKER_LOGROTATE_CONFIG), allowScripts: false },
  ];
  const admitting = configs.find((c) => {
    if ('sha256' in c) return c.sha256 === digest;
    try {
      return sha256Of(readFileSync(c.file)) === digest;
    } catch {
      return false; // an unreadable listed file admits nothing
    }
  });
  if (!admitting) {
    throw refused(
      cluster,
      `logrotate config with sha256 ${digest}`,
      'list it (its sha256, or a file holding it) in policy.logrotateSync.configs in clusters.yaml',
      { sha256: digest },
    );
  }
  const script = SCRIPT_DIRECTIVE_RE.exec(content)?.[1];
  if (script && !admitting.allowScripts) {
    throw refused(
      cluster,
      `logrotate config with sha256 ${digest} (it has a ${script} directive, which runs as root or reads other files)`,
      'set allowScripts: true on its entry in policy.logrotateSync.configs',
      { sha256: digest, directive: script },
    );
  }
}

/** True when the namespace is listed, or starts with a listed `prefix*`. */
function namespaceMatches(namespace: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? namespace.startsWith(p.slice(0, -1)) : p === namespace));
}

/** Does policy.dockerHubPullSecret.namespaces let the Docker Hub credential into this namespace? */
export function pullSecretNamespaceAllowed(entry: ClusterEntry, namespace: string): boolean {
  return namespaceMatches(namespace, entry.policy?.dockerHubPullSecret?.namespaces ?? []);
}

/** Throws PolicyRefused unless policy.dockerHubPullSecret.namespaces admits the namespace (default: none). */
export function requirePullSecretNamespaceAllowed(
  cluster: string,
  entry: ClusterEntry,
  namespace: string,
): void {
  const patterns = entry.policy?.dockerHubPullSecret?.namespaces ?? [];
  if (!pullSecretNamespaceAllowed(entry, namespace)) {
    throw refused(
      cluster,
      `writing the Docker Hub pull secret to namespace ${namespace}`,
      `list it (or a prefix*) in policy.dockerHubPullSecret.namespaces in clusters.yaml (now: ${
        patterns.length ? patterns.join(', ') : 'none'
      })`,
      { namespace, allowedNamespaces: patterns },
    );
  }
}

/**
 * May calicoImageRepair put the worker's Docker Hub credential (its pre-pull pull secret, for the
 * length of the pre-pulls) in this namespace: calico's default one, where its role creates the
 * pre-pull pods anyway, or one policy.dockerHubPullSecret.namespaces admits.
 */
export function prePullSecretNamespaceAllowed(entry: ClusterEntry, namespace: string): boolean {
  return namespace === CALICO_DEFAULTS.namespace || pullSecretNamespaceAllowed(entry, namespace);
}

/** Throws PolicyRefused unless prePullSecretNamespaceAllowed. */
export function requirePrePullSecretNamespaceAllowed(
  cluster: string,
  entry: ClusterEntry,
  namespace: string,
): void {
  if (prePullSecretNamespaceAllowed(entry, namespace)) return;
  throw refused(
    cluster,
    `writing the Docker Hub pull secret of the calico pre-pulls to namespace ${namespace}`,
    `list it (or a prefix*) in policy.dockerHubPullSecret.namespaces in clusters.yaml (${CALICO_DEFAULTS.namespace} is always allowed)`,
    { namespace },
  );
}

/** The units nfsLockServicesRestart restarts: the only ones a default policy lets a run touch. */
export const DEFAULT_RESTARTABLE_UNITS: readonly string[] = ['rpcbind', 'rpc-statd'];

/** `rpc-statd` and `rpc-statd.service` are one unit. */
const unitKey = (unit: string): string => unit.replace(/\.service$/, '');

/** Throws PolicyRefused unless policy.nodeServices.units lists the unit (default: rpcbind, rpc-statd). */
export function requireUnitAllowed(cluster: string, entry: ClusterEntry, unit: string): void {
  const units = entry.policy?.nodeServices?.units ?? DEFAULT_RESTARTABLE_UNITS;
  if (!units.some((u) => unitKey(u) === unitKey(unit))) {
    throw refused(
      cluster,
      `restarting unit ${unit}`,
      `list it in policy.nodeServices.units in clusters.yaml (now: ${units.join(', ')})`,
      { unit, allowedUnits: units },
    );
  }
}

/** Read-only and the first step of every procedure: allowed wherever any procedure is. */
const ALWAYS_ENABLED = new Set(['clusterPreflight']);

/**
 * Throws PolicyRefused unless `workflowType` may run on this cluster (clusters.yaml `procedures`,
 * default: every procedure).
 */
export function requireProcedureEnabled(cluster: string, entry: ClusterEntry, workflowType: string): void {
  const enabled = entry.procedures?.map((name) => findProcedure(name)?.workflowType ?? name);
  const procedure = procedureOfWorkflow(workflowType)?.workflowType ?? workflowType;
  if (!enabled || ALWAYS_ENABLED.has(procedure) || enabled.includes(procedure)) return;
  throw refused(
    cluster,
    `${workflowType}`,
    `it is not among clusters.${cluster}.procedures (${enabled.join(', ')}); add it there (and bind its role: nksr rbac --cluster ${cluster}) to allow it`,
    { workflowType, enabled },
  );
}

/** Whether ghcrMigration reports old-host pull secrets here (it needs cluster-wide `list secrets`). */
export function ghcrSecretReportEnabled(entry: ClusterEntry): boolean {
  return entry.policy?.ghcrMigration?.secretReport ?? false;
}

/**
 * Whether a run of `procedure` must wait for approval: the cluster's policy.approvals (or the
 * default), and for `when-risky` the risks the workflow found in its input (non-default registry,
 * non-guide config). The input's own requireApproval can only add a gate, never remove this one.
 */
export function approvalDecision(
  entry: ClusterEntry,
  procedure: string,
  risks: readonly string[],
): ApprovalPolicyDecision {
  const configured = (entry.policy?.approvals as Record<string, ApprovalMode | undefined> | undefined)?.[
    procedure
  ];
  const mode = configured ?? DEFAULT_APPROVAL_MODES[procedure] ?? 'on-request';
  const approverOtherThanRequester = entry.policy?.approverOtherThanRequester ?? false;
  if (mode === 'required')
    return {
      required: true,
      mode,
      approverOtherThanRequester,
      reason: `the worker's policy requires approval for ${procedure}`,
    };
  if (mode === 'when-risky' && risks.length > 0)
    return {
      required: true,
      mode,
      approverOtherThanRequester,
      reason: `the worker's policy requires approval when ${risks.join('; ')}`,
    };
  return { required: false, mode, approverOtherThanRequester };
}

export function createPolicyActivities(deps: ActivityDeps) {
  return {
    /** The worker's approval policy for one run. Read-only (clusters.yaml on the worker); safe to retry. */
    async approvalPolicy(input: {
      cluster: string;
      procedure: string;
      risks: string[];
    }): Promise<ApprovalPolicyDecision> {
      return approvalDecision(deps.registry.get(input.cluster), input.procedure, input.risks ?? []);
    },
  };
}
