/**
 * calicoImageRepair: input schema (validated at the workflow's edge), defaults, and the pure
 * planning rules shared by the workflow, the CLI and the tests. No Node built-ins here.
 */
import { ClusterLockInputSchema } from './cluster-lock';
import { z } from 'zod';
import { ApprovalInputSchema } from './approval';
import { BaseRemediationInputSchema, boundedInt } from './inputs';
import type { CalicoContainerChange, CalicoWorkloadKind, CalicoWorkloadPlan } from './calico-types';
import { joinImageReference, sameImage, validateRepositoryPrefix, validateTag } from './image-ref';

export const CALICO_DEFAULTS = {
  tag: 'v3.24.1',
  registry: 'docker.io/calico',
  namespace: 'kube-system',
  maxParallel: 10,
  maxFailures: 3,
  prePullTimeoutSeconds: 360,
  /** The guide: `rollout status` of calico-node with (nodes × 4) minutes. */
  daemonSetRolloutSecondsPerNode: 240,
  /** The guide: 4 minutes for each Deployment. */
  deploymentRolloutTimeoutSeconds: 240,
  /**
   * At most this many node×image pre-pulls per pre-pull activity (runs started before batched
   * pre-pulls: this many in the workflow itself; beyond, in child workflows of this size).
   */
  prePullBatchSize: 120,
} as const;

/**
 * The pre-pull parallelism a run without `maxParallel` uses: every pre-pull of the cluster at once
 * (four per node), as a plain script creating all its pods would, up to a ceiling. The ceiling bounds
 * what one run asks of the API server at a time (each pre-pull is one pod created, watched and deleted)
 * and equals one worker's activity slots (the SDK's default 100), so the pods in flight are the pods
 * being watched. The floor is what every run used before.
 */
export const PRE_PULL_PARALLELISM = { perNode: 4, floor: 10, ceiling: 100 } as const;

export function defaultPrePullParallelism(nodeCount: number): number {
  const { perNode, floor, ceiling } = PRE_PULL_PARALLELISM;
  return Math.min(ceiling, Math.max(floor, perNode * nodeCount));
}

/**
 * How the batched pre-pull (one activity per batch of pairs) is cut. Each activity keeps at most
 * `inFlight` pods undecided at once (about `pairsInFlightPerActivity`), and `lanes` of them run at
 * once, so at most `lanes × inFlight ≤ maxParallel` pods are in flight over the run. Several lanes
 * rather than one activity with every pod: while one batch waits for its slowest pull, the others
 * keep the API server busy. A batch holds `size` pairs: a few rounds of its in-flight share (the
 * activity starts the next pull as each one is decided, so a batch waits for its slowest pull once,
 * not once per round, and the workflow sees fewer activities), more on a very large cluster so a run
 * never needs more than `maxActivities` activities in its one history, at most `maxBatch` (the
 * input's prePullBatchSize). Progress moves per batch.
 */
export const PRE_PULL_BATCHING = {
  pairsInFlightPerActivity: 25,
  roundsPerActivity: 2,
  maxActivities: 200,
} as const;

export function prePullActivityPlan(
  pairs: number,
  maxParallel: number,
  maxBatch: number,
): { size: number; lanes: number; inFlight: number } {
  const { pairsInFlightPerActivity, roundsPerActivity, maxActivities } = PRE_PULL_BATCHING;
  const lanes = Math.max(1, Math.ceil(maxParallel / pairsInFlightPerActivity));
  const share = Math.max(1, Math.floor(maxParallel / lanes));
  // Every lane gets a batch (no lane idle while another works through two), and progress moves at
  // least once per lane.
  const wanted = Math.max(
    Math.min(share * roundsPerActivity, Math.ceil(pairs / lanes)),
    Math.ceil(pairs / maxActivities),
  );
  const size = Math.max(1, Math.min(maxBatch, wanted));
  return { size, lanes, inFlight: Math.min(share, size) };
}

/** The four images of the guide, by role. */
export const CALICO_IMAGE_NAMES = ['cni', 'node', 'typha', 'kube-controllers'] as const;
export type CalicoImageName = (typeof CALICO_IMAGE_NAMES)[number];

export type WorkloadKind = CalicoWorkloadKind;

export interface ContainerTarget {
  container: string;
  init: boolean;
  image: CalicoImageName;
}

export interface CalicoWorkloadSpec {
  kind: WorkloadKind;
  name: string;
  containers: ContainerTarget[];
}

/** The guide's `kubectl set image` lines, in the guide's order (calico-node, kube-controllers, typha). */
export const CALICO_WORKLOADS: readonly CalicoWorkloadSpec[] = [
  {
    kind: 'DaemonSet',
    name: 'calico-node',
    containers: [
      { container: 'calico-node', init: false, image: 'node' },
      { container: 'install-cni', init: true, image: 'cni' },
      { container: 'mount-bpffs', init: true, image: 'node' },
    ],
  },
  {
    kind: 'Deployment',
    name: 'calico-kube-controllers',
    containers: [{ container: 'calico-kube-controllers', init: false, image: 'kube-controllers' }],
  },
  {
    kind: 'Deployment',
    name: 'calico-typha',
    containers: [{ container: 'calico-typha', init: false, image: 'typha' }],
  },
];

const kubeName = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'must be a Kubernetes namespace name (lowercase, digits, -)',
  );

function checked(problemOf: (v: string) => string | undefined) {
  return (value: string, ctx: z.RefinementCtx) => {
    const problem = problemOf(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  };
}

export const CalicoImageRepairInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  tag: z
    .string()
    .superRefine(checked(validateTag))
    .default(CALICO_DEFAULTS.tag)
    .describe('image tag of all four calico images (cni, node, typha, kube-controllers)'),
  /** The guide writes `calico/`; a trailing slash is accepted and dropped. */
  registry: z
    .string()
    .transform((v) => (v.endsWith('/') ? v.slice(0, -1) : v))
    .superRefine(checked(validateRepositoryPrefix))
    // prefault, not default: the default goes through the transform too, and the JSON Schema shows it.
    .prefault(CALICO_DEFAULTS.registry)
    .describe('repository prefix of the images (<registry>/node:<tag>); a trailing slash is dropped'),
  namespace: kubeName
    .default(CALICO_DEFAULTS.namespace)
    .describe("calico's namespace: its DaemonSet and Deployments, and where the pre-pull pods run"),
  // No default here: when absent, the run chooses it from the node count (resolveMaxParallel).
  maxParallel: z
    .number()
    .int()
    .min(1)
    .max(200)
    .optional()
    .describe(
      `node×image pre-pulls running at once, over the whole cluster (default: ${PRE_PULL_PARALLELISM.perNode} per Ready node, at least ${PRE_PULL_PARALLELISM.floor}, at most ${PRE_PULL_PARALLELISM.ceiling})`,
    ),
  maxFailures: z
    .number()
    .int()
    .min(1)
    .default(CALICO_DEFAULTS.maxFailures)
    .describe('failed pre-pulls after which no new one starts; any failure means nothing is rolled'),
  prePullTimeoutSeconds: boundedInt(
    5,
    3600,
    CALICO_DEFAULTS.prePullTimeoutSeconds,
    'seconds one image may take to be pulled on one node before that pre-pull fails',
  ),
  daemonSetRolloutSecondsPerNode: boundedInt(
    5,
    3600,
    CALICO_DEFAULTS.daemonSetRolloutSecondsPerNode,
    'calico-node rollout timeout per node (the guide: nodes × 4 minutes)',
  ),
  deploymentRolloutTimeoutSeconds: boundedInt(
    5,
    3600,
    CALICO_DEFAULTS.deploymentRolloutTimeoutSeconds,
    'rollout timeout of each Deployment (the guide: 4 minutes)',
  ),
  skipNotReadyNodes: z
    .boolean()
    .default(false)
    .describe('leave NotReady nodes out of the pre-pulls instead of refusing to start'),
  ...ApprovalInputSchema.shape,
  prePullBatchSize: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(CALICO_DEFAULTS.prePullBatchSize)
    .describe(
      'at most this many node×image pre-pulls per pre-pull activity (runs started before batched pre-pulls: in the workflow up to this many, beyond in child workflows this size)',
    ),
}).strict();

/** Raw input as sent by the CLI/SDK/Temporal CLI (defaults optional); validated at the workflow's edge. */
export type CalicoImageRepairInput = z.input<typeof CalicoImageRepairInputSchema>;
/** The input after validation; `maxParallel` may still be open (chosen at plan time). */
export type CalicoImageRepairParsed = z.output<typeof CalicoImageRepairInputSchema>;
/** What a run works from once planned: `maxParallel` resolved. */
export type CalicoImageRepairOptions = CalicoImageRepairParsed & { maxParallel: number };

/** Target reference of each of the four images. */
export function targetImages(registry: string, tag: string): Record<CalicoImageName, string> {
  return {
    cni: joinImageReference(registry, 'cni', tag),
    node: joinImageReference(registry, 'node', tag),
    typha: joinImageReference(registry, 'typha', tag),
    'kube-controllers': joinImageReference(registry, 'kube-controllers', tag),
  };
}

/** What the cluster has now, as read by the activity. */
export interface ObservedContainer {
  name: string;
  init: boolean;
  image: string;
}
export interface ObservedWorkload {
  kind: WorkloadKind;
  name: string;
  found: boolean;
  containers: ObservedContainer[];
  /** Absent in histories recorded before the rollout was read with the images. */
  rolloutComplete?: boolean;
  rolloutMessage?: string;
}

export type ContainerChange = CalicoContainerChange;
export type WorkloadPlan = CalicoWorkloadPlan;

/**
 * Compares each calico workload's containers with the targets. A workload whose containers are all on
 * the target is skipped (the guide stopped the whole script there; we only skip it). A workload that
 * lacks one of the named containers is "missing": set image would fail on it, so it is reported, not patched.
 */
export function planWorkloads(
  observed: ObservedWorkload[],
  targets: Record<CalicoImageName, string>,
): WorkloadPlan[] {
  return CALICO_WORKLOADS.map((spec) => {
    const seen = observed.find((o) => o.kind === spec.kind && o.name === spec.name);
    const changes: ContainerChange[] = spec.containers.map((c) => {
      const current =
        seen?.containers.find((oc) => oc.name === c.container && oc.init === c.init)?.image ?? null;
      const target = targets[c.image];
      return {
        container: c.container,
        init: c.init,
        current,
        target,
        upToDate: current !== null && sameImage(current, target),
      };
    });
    if (!seen?.found) {
      return {
        kind: spec.kind,
        name: spec.name,
        action: 'missing',
        changes,
        note: `${spec.kind} ${spec.name} not found`,
      };
    }
    const absent = changes.filter((c) => c.current === null).map((c) => c.container);
    if (absent.length > 0) {
      return {
        kind: spec.kind,
        name: spec.name,
        action: 'missing',
        changes,
        note: `${spec.kind} ${spec.name} has no container(s) ${absent.join(', ')}`,
      };
    }
    if (changes.every((c) => c.upToDate) && seen.rolloutComplete === false) {
      // On target in the spec, but the last run's rollout never finished (it timed out or failed):
      // the rerun waits for it instead of reporting the workload done.
      return {
        kind: spec.kind,
        name: spec.name,
        action: 'wait-rollout',
        changes,
        note: `already on the target images, but its rollout is not complete: ${seen.rolloutMessage ?? 'unknown'}`,
      };
    }
    if (changes.every((c) => c.upToDate)) {
      return {
        kind: spec.kind,
        name: spec.name,
        action: 'skip-up-to-date',
        changes,
        note: 'already on the target images',
      };
    }
    const stale = changes
      .filter((c) => !c.upToDate)
      .map((c) => `${c.container}: ${c.current} -> ${c.target}`);
    return { kind: spec.kind, name: spec.name, action: 'update', changes, note: stale.join('; ') };
  });
}

/** A workload the run rolls: its images change, or its unfinished rollout is waited for. */
export const needsRollout = (plan: WorkloadPlan): boolean =>
  plan.action === 'update' || plan.action === 'wait-rollout';

/**
 * The distinct images the workloads to roll will run: those are pre-pulled on every node (also for
 * an unfinished rollout: a node that cannot pull them is why it stalled).
 */
export function imagesToPrePull(plans: WorkloadPlan[]): string[] {
  const images: string[] = [];
  for (const plan of plans) {
    if (!needsRollout(plan)) continue;
    for (const change of plan.changes) if (!images.includes(change.target)) images.push(change.target);
  }
  return images;
}

/** `daemonset/calico-node`: how reports, failure lists and progress name a workload. */
export function resourceRef(kind: WorkloadKind, name: string): string {
  return `${kind.toLowerCase()}/${name}`;
}

/** Stable progress keys. */
export const progressKey = {
  node: (node: string) => `node/${node}`,
  prePull: (node: string, image: string) => `prepull/${node}/${image}`,
  resource: resourceRef,
};
