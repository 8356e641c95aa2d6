/**
 * Registry entry, input schema, pure planning rules and report of ghcrMigration (docs/procedures.md §4):
 * GitHub's old Docker registry `docker.pkg.github.com` cannot be pulled by containerd (NKS ≥ 1.24);
 * every workload template using it is moved to `ghcr.io`, tags and digests kept. No Node built-ins.
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { parseImageReference } from '../image-ref';
import { BaseRemediationInputSchema, boundedInt } from '../inputs';
import { approvedOutcomeLine, failuresFirst } from '../report';
import { defineProcedure, PREFLIGHT_NODES } from './define';

export const OLD_GITHUB_HOST = 'docker.pkg.github.com';
export const GHCR_HOST = 'ghcr.io';

export const GHCR_DEFAULTS = { mapping: 'same-path', maxParallel: 4, rolloutTimeoutSeconds: 300 } as const;

export const GHCR_MAPPINGS = ['same-path', 'drop-repository'] as const;
export type GhcrMapping = (typeof GHCR_MAPPINGS)[number];

/** A Kubernetes namespace name (RFC 1123 label). */
export const NamespaceNameSchema = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be a Kubernetes namespace name (lowercase, digits, -)',
  );

export const GhcrMigrationInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  namespaces: z
    .array(NamespaceNameSchema)
    .min(1)
    .max(500)
    .optional()
    .describe('only these namespaces (default: every namespace)'),
  mapping: z
    .enum(GHCR_MAPPINGS)
    .default(GHCR_DEFAULTS.mapping)
    .describe(
      'same-path: docker.pkg.github.com/O/R/I → ghcr.io/O/R/I; drop-repository: docker.pkg.github.com/O/R/I → ghcr.io/O/I',
    ),
  maxParallel: boundedInt(1, 50, GHCR_DEFAULTS.maxParallel, 'workloads patched and rolled out at once'),
  rolloutTimeoutSeconds: boundedInt(
    10,
    7200,
    GHCR_DEFAULTS.rolloutTimeoutSeconds,
    'seconds one rollout may take before that workload is reported failed; one of more pods gets 30 s per desired pod when that is longer',
  ),
  ...ApprovalInputSchema.shape,
}).strict();

export type GhcrMigrationInput = z.input<typeof GhcrMigrationInputSchema>;
export type GhcrMigrationOptions = z.output<typeof GhcrMigrationInputSchema>;

/** Kinds whose pod template is patched. Jobs are only reported: a Job's template is immutable. */
export type GhcrWorkloadKind = 'Deployment' | 'DaemonSet' | 'StatefulSet' | 'CronJob';

export interface GhcrContainerChange {
  container: string;
  init: boolean;
  from: string;
  to: string;
}

/** A container on the old host whose reference cannot be mapped (reported, workload not patched). */
export interface GhcrUnmappable {
  container: string;
  init: boolean;
  image: string;
  problem: string;
}

/** True when the image names the old GitHub registry (as written; no normalisation needed: it has a host). */
export function usesOldGithubHost(image: string): boolean {
  return image.startsWith(`${OLD_GITHUB_HOST}/`);
}

/**
 * The ghcr.io reference for an old one, tag and digest kept; throws an Error naming the problem.
 * `drop-repository` needs exactly OWNER/REPO/IMAGE under the old host.
 */
export function ghcrReference(image: string, mapping: GhcrMapping): string {
  const ref = parseImageReference(image);
  if (ref.domain !== OLD_GITHUB_HOST)
    throw new Error(`${JSON.stringify(image)} is not on ${OLD_GITHUB_HOST}`);
  const segments = ref.path.split('/');
  if (segments.length < 3) {
    throw new Error(`${JSON.stringify(image)}: ${OLD_GITHUB_HOST} paths are OWNER/REPOSITORY/IMAGE`);
  }
  let path = ref.path;
  if (mapping === 'drop-repository') {
    if (segments.length !== 3) {
      throw new Error(
        `${JSON.stringify(image)}: drop-repository needs exactly OWNER/REPOSITORY/IMAGE, found ${segments.length} path segments`,
      );
    }
    path = `${segments[0]}/${segments[2]}`;
  }
  const out = `${GHCR_HOST}/${path}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  parseImageReference(out); // what we write is what we accept
  return out;
}

/** Changes (and unmappable containers) of one pod template's containers. */
export function planContainers(
  containers: readonly { name: string; init: boolean; image: string }[],
  mapping: GhcrMapping,
): { changes: GhcrContainerChange[]; unmappable: GhcrUnmappable[] } {
  const changes: GhcrContainerChange[] = [];
  const unmappable: GhcrUnmappable[] = [];
  for (const c of containers) {
    if (!usesOldGithubHost(c.image)) continue;
    try {
      changes.push({ container: c.name, init: c.init, from: c.image, to: ghcrReference(c.image, mapping) });
    } catch (err) {
      unmappable.push({ container: c.name, init: c.init, image: c.image, problem: (err as Error).message });
    }
  }
  return { changes, unmappable };
}

export interface GhcrWorkloadPlan {
  kind: GhcrWorkloadKind;
  namespace: string;
  name: string;
  resourceVersion: string;
  changes: GhcrContainerChange[];
  unmappable: GhcrUnmappable[];
  /** Pods the workload wants (a DaemonSet's scheduled ones, else its replicas): its rollout timeout counts them. */
  desiredPods?: number;
}

export interface GhcrWorkloadReport {
  kind: GhcrWorkloadKind;
  namespace: string;
  name: string;
  outcome: 'planned' | 'migrated' | 'patched' | 'unmappable' | 'failed' | 'not-attempted';
  changes: GhcrContainerChange[];
  detail: string;
  /** Concurrent edits met while writing (each re-read, never overwritten). */
  conflicts?: number;
  resourceVersionBefore?: string;
}

/** A Job, bare pod or other pod that uses the old host and is not changed by this procedure. */
export interface GhcrReportedObject {
  kind: 'Job' | 'Pod';
  namespace: string;
  name: string;
  /** Job: finished | suspended | running; Pod: its phase. */
  state: string;
  images: string[];
  note: string;
}

export interface GhcrPullSecret {
  namespace: string;
  name: string;
  /** Registry hosts the secret has credentials for (no credential content). */
  hosts: string[];
}

/** Old-host-only pull secrets, when policy.ghcrMigration.secretReport lets the worker read secrets. */
export interface GhcrSecretReport {
  enabled: boolean;
  secrets: GhcrPullSecret[];
}

export interface GhcrMigrationResult {
  cluster: string;
  outcome: 'planned' | 'migrated' | 'nothing-to-do' | 'failed' | 'approval-expired';
  dryRun: boolean;
  mapping: GhcrMapping;
  namespaces: string[] | 'all';
  workloads: GhcrWorkloadReport[];
  /** Jobs and bare pods on the old host: reported, never touched. */
  untouched: GhcrReportedObject[];
  /** dockerconfigjson secrets in the affected namespaces that have credentials for the old host only. */
  oldHostOnlyPullSecrets: GhcrPullSecret[];
  /** Whether those were looked for (policy.ghcrMigration.secretReport; off by default). */
  secretReport: 'reported' | 'off';
  approvedBy?: string;
  summary: string;
}

const isFailure = (w: GhcrWorkloadReport) => w.outcome === 'failed' || w.outcome === 'unmappable';

function nextSteps(r: GhcrMigrationResult): string[] {
  const steps: string[] = [];
  if (r.outcome === 'planned') steps.push(`apply the plan: nksr run ghcr-migration --cluster ${r.cluster}`);
  for (const w of r.workloads.filter(isFailure))
    steps.push(`${w.kind} ${w.namespace}/${w.name}: ${w.detail}`);
  for (const s of r.oldHostOnlyPullSecrets)
    steps.push(
      `secret ${s.namespace}/${s.name} only has credentials for ${OLD_GITHUB_HOST}: add ${GHCR_HOST} (a GitHub token with read:packages)`,
    );
  for (const o of r.untouched.filter((u) => u.kind === 'Job'))
    steps.push(
      `Job ${o.namespace}/${o.name} (${o.state}): recreate it from its manifest with the ghcr.io image if it must run again`,
    );
  if (r.untouched.some((u) => u.kind === 'Pod'))
    steps.push('bare pods: change their manifests to ghcr.io and recreate them (no controller will)');
  return steps;
}

export const ghcrMigrationProcedure = defineProcedure({
  workflowType: 'ghcrMigration',
  cliName: 'ghcr-migration',
  description:
    'pulling from host docker.pkg.github.com failed (k8s ≥ 1.24): move workload images to ghcr.io (guide §4)',
  guide: 'docs/procedures.md §4',
  inputSchema: GhcrMigrationInputSchema,
  mutates: true,
  usesSsh: false,
  permissions: [
    PREFLIGHT_NODES,
    {
      apiGroup: 'apps',
      resources: ['deployments', 'daemonsets', 'statefulsets'],
      verbs: ['get', 'list', 'update'],
      why: 'find templates on docker.pkg.github.com; replace their images (resourceVersion-checked); wait for rollouts',
    },
    {
      apiGroup: 'batch',
      resources: ['cronjobs'],
      verbs: ['get', 'list', 'update'],
      why: 'find CronJob templates on docker.pkg.github.com and replace their images (resourceVersion-checked)',
    },
    {
      apiGroup: 'batch',
      resources: ['jobs'],
      verbs: ['list'],
      why: 'report Jobs on the old host (a Job template is immutable: never changed)',
    },
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list'],
      why: 'report bare pods on the old host (never changed)',
    },
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['list'],
      feature: 'secret-report',
      why: 'policy.ghcrMigration.secretReport: name dockerconfigjson pull secrets of the affected namespaces that cover only the old host (hosts only are reported)',
    },
  ],
  report: (r: GhcrMigrationResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      failuresFirst('workloads', ['WORKLOAD', 'OUTCOME', 'IMAGES', 'DETAIL'], r.workloads, isFailure, (w) => [
        `${w.kind} ${w.namespace}/${w.name}`,
        w.outcome,
        w.changes.map((c) => `${c.container}: ${c.from} → ${c.to}`).join('; ') || '-',
        w.detail,
      ]),
      failuresFirst(
        'not changed (Jobs, bare pods)',
        ['OBJECT', 'STATE', 'IMAGES', 'NOTE'],
        r.untouched,
        () => false,
        (o) => [`${o.kind} ${o.namespace}/${o.name}`, o.state, o.images.join(', '), o.note],
      ),
      failuresFirst(
        `pull secrets covering only ${OLD_GITHUB_HOST}`,
        ['SECRET', 'HOSTS'],
        r.oldHostOnlyPullSecrets,
        () => true,
        (s) => [`${s.namespace}/${s.name}`, s.hosts.join(', ')],
      ),
    ],
    next: nextSteps(r),
  }),
});
