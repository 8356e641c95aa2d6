/**
 * Registry entry, input schema, pure rules and report of dockerHubPullSecret (docs/procedures.md §2): pods
 * stuck pulling from Docker Hub on its anonymous rate limit get a pull secret from a credential held
 * by the worker (clusters.yaml `dockerHub.credentialsFile`). The credential never enters inputs,
 * results, history, heartbeats, logs or errors: only secret names and what was done travel. No Node
 * built-ins here.
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { z } from 'zod';
import type { OwnerController, PodIdentity } from '../types';
import { ApprovalInputSchema } from '../approval';
import { parseImageReference } from '../image-ref';
import { BaseRemediationInputSchema, boundedInt } from '../inputs';
import { approvedOutcomeLine, failuresFirst } from '../report';
import { defineProcedure, PREFLIGHT_NODES } from './define';
import { NamespaceNameSchema } from './ghcr-migration';

export const DOCKER_HUB_DEFAULTS = {
  secretName: 'dockerhub-pull-secret',
  replacementTimeoutSeconds: 300,
} as const;

/** Hosts that mean Docker Hub; a reference without a host means it too. */
export const DOCKER_HUB_HOSTS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'] as const;

/** What the registry answers when the anonymous pull limit is spent. */
export const RATE_LIMIT_RE = /toomanyrequests/i;

export const PULL_FAILURE_REASONS = ['ErrImagePull', 'ImagePullBackOff'] as const;

/** True when the image is pulled from Docker Hub; an unparsable reference is not. */
export function isDockerHubImage(image: string): boolean {
  try {
    const domain = parseImageReference(image).domain;
    return domain === undefined || (DOCKER_HUB_HOSTS as readonly string[]).includes(domain);
  } catch {
    return false;
  }
}

export const DockerHubPullSecretInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  namespaces: z
    .array(NamespaceNameSchema)
    .min(1)
    .max(500)
    .optional()
    .describe('only pods of these namespaces (default: every namespace)'),
  secretName: z
    .string()
    .max(253)
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      'must be a Kubernetes object name (lowercase, digits, -, .)',
    )
    .default(DOCKER_HUB_DEFAULTS.secretName)
    .describe(
      'name of the kubernetes.io/dockerconfigjson secret created or updated in each affected namespace',
    ),
  replacementTimeoutSeconds: boundedInt(
    10,
    3600,
    DOCKER_HUB_DEFAULTS.replacementTimeoutSeconds,
    'seconds to wait for the replacements of the deleted pods to run',
  ),
  ...ApprovalInputSchema.shape,
}).strict();

export type DockerHubPullSecretInput = z.input<typeof DockerHubPullSecretInputSchema>;
export type DockerHubPullSecretOptions = z.output<typeof DockerHubPullSecretInputSchema>;

/** A pod stuck on Docker Hub's rate limit. */
export interface RateLimitedPod extends PodIdentity {
  node?: string;
  serviceAccount: string;
  images: string[];
  /** ErrImagePull / ImagePullBackOff. */
  reason: string;
  /** The controller that recreates it (ReplicaSet, StatefulSet, DaemonSet, Job), if any. */
  controller?: OwnerController;
  /**
   * Set by the worker when its policy does not let the credential into the pod's namespace: the pod
   * is reported, nothing is written there.
   */
  refusedByPolicy?: string;
}

export type ObjectAction = 'create' | 'update' | 'unchanged' | 'created' | 'updated' | 'add' | 'added';

export interface PullSecretReport {
  namespace: string;
  secret: string;
  action: ObjectAction;
  conflicts?: number;
}

export interface ServiceAccountReport {
  namespace: string;
  serviceAccount: string;
  action: ObjectAction;
  /** imagePullSecrets as found before the change (the last read). */
  previous: string[];
  conflicts?: number;
}

export interface StuckPodReport {
  namespace: string;
  name: string;
  node?: string;
  controller?: string;
  outcome:
    | 'planned'
    | 'recreated'
    | 'deleted'
    | 'bare-not-touched'
    | 'namespace-not-allowed'
    | 'not-running'
    | 'failed';
  detail: string;
}

export interface DockerHubPullSecretResult {
  cluster: string;
  outcome: 'planned' | 'fixed' | 'nothing-to-do' | 'failed' | 'approval-expired';
  dryRun: boolean;
  /** Where the credential came from: the registry field, never its content. */
  credential: 'configured' | 'not-configured';
  namespaces: string[];
  /** The stuck pods' nodes, the first MAX_LISTED_SUCCESSES by name (see nodeCount). */
  nodes: string[];
  nodeCount: number;
  secrets: PullSecretReport[];
  serviceAccounts: ServiceAccountReport[];
  /**
   * Every pod that failed or needs the operator (bare, namespace not allowed), then the others up to
   * MAX_LISTED_SUCCESSES; `omitted` counts the rest, `podOutcomes` every pod by outcome.
   */
  pods: StuckPodReport[];
  omitted: number;
  podOutcomes: Partial<Record<StuckPodReport['outcome'], number>>;
  approvedBy?: string;
  summary: string;
}

const podFailed = (p: StuckPodReport) => p.outcome === 'failed' || p.outcome === 'not-running';

/** Pods a result lists whatever their number: failures and those the operator has to act on. */
export const podNeedsOperator = (p: StuckPodReport) =>
  podFailed(p) || p.outcome === 'bare-not-touched' || p.outcome === 'namespace-not-allowed';

export const dockerHubPullSecretProcedure = defineProcedure({
  workflowType: 'dockerHubPullSecret',
  cliName: 'docker-hub-pull-secret',
  description:
    'pods in ImagePullBackOff on the Docker Hub rate limit (toomanyrequests): pull secret from the worker (guide §2)',
  guide: 'docs/procedures.md §2',
  inputSchema: DockerHubPullSecretInputSchema,
  mutates: true,
  usesSsh: false,
  permissions: [
    PREFLIGHT_NODES,
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list', 'delete'],
      why: 'find pods stuck on the rate limit; delete those a controller recreates (UID precondition); watch their replacements',
    },
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['list'],
      why: 'a pull failure says toomanyrequests in its events when the status does not',
    },
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['create'],
      why: 'create the dockerconfigjson pull secret in the affected namespaces (create cannot be limited by name)',
    },
    {
      // By name: a ClusterRole may otherwise overwrite every secret of the cluster. A run with another
      // secretName needs this rule extended.
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['get', 'update'],
      resourceNames: [DOCKER_HUB_DEFAULTS.secretName],
      why: 'read and update (resourceVersion-checked) the pull secret of the default name only',
    },
    {
      apiGroup: '',
      resources: ['serviceaccounts'],
      verbs: ['get', 'update'],
      why: "add the pull secret to the stuck pods' service accounts' imagePullSecrets (resourceVersion-checked)",
    },
  ],
  report: (r: DockerHubPullSecretResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      failuresFirst(
        `stuck pods (${
          Object.entries(r.podOutcomes)
            .map(([o, n]) => `${n} ${o}`)
            .join(', ') || 'none'
        }${r.omitted ? `, ${r.omitted} more not listed` : ''})`,
        ['POD', 'NODE', 'CONTROLLER', 'OUTCOME', 'DETAIL'],
        r.pods,
        podNeedsOperator,
        (p) => [`${p.namespace}/${p.name}`, p.node ?? '-', p.controller ?? '(bare)', p.outcome, p.detail],
      ),
      failuresFirst(
        'pull secrets',
        ['SECRET', 'ACTION'],
        r.secrets,
        () => false,
        (s) => [`${s.namespace}/${s.secret}`, s.action],
      ),
      failuresFirst(
        'service accounts',
        ['SERVICE ACCOUNT', 'ACTION', 'PULL SECRETS BEFORE'],
        r.serviceAccounts,
        () => false,
        (s) => [`${s.namespace}/${s.serviceAccount}`, s.action, s.previous.join(', ') || '-'],
      ),
    ],
    next: [
      ...(r.outcome === 'planned'
        ? [`apply the plan: nksr run docker-hub-pull-secret --cluster ${r.cluster}`]
        : []),
      ...(r.credential === 'not-configured'
        ? [
            'set clusters.yaml dockerHub.credentialsFile for this cluster (a docker config JSON or {"username","token"})',
          ]
        : []),
      ...r.pods
        .filter((p) => p.outcome === 'bare-not-touched')
        .map(
          (p) =>
            `bare pod ${p.namespace}/${p.name}: delete and recreate it yourself (it now gets the secret through its service account)`,
        ),
      ...[
        ...new Set(r.pods.filter((p) => p.outcome === 'namespace-not-allowed').map((p) => p.namespace)),
      ].map(
        (ns) =>
          `namespace ${ns} is not in the worker's policy.dockerHubPullSecret.namespaces: add it there to let the credential in`,
      ),
      ...r.pods.filter(podFailed).map((p) => `check: kubectl -n ${p.namespace} describe pod ${p.name}`),
      ...(r.nodeCount
        ? [
            `nodes sharing one public IP hit the limit: consider floating IPs for ${r.nodes.join(', ')}${
              r.nodeCount > r.nodes.length ? ` and ${r.nodeCount - r.nodes.length} more node(s)` : ''
            }`,
          ]
        : []),
    ],
  }),
});
