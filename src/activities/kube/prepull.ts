/**
 * Pre-pulling an image on a node: a short-lived pod pinned to the node (what `kubectl debug node`
 * does, minus the host namespaces it does not need), watched until its container runs or fails to
 * pull, then deleted.
 */
import { type V1Pod, Watch } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { mapBounded } from '../../common/bounded';
import { PREPULL_POD_PREFIX, prePullPodNameFor, prePullSecretNameFor } from '../../common/calico-prepull';
import {
  type CalicoPrePullBatchProgress,
  type CalicoPrePullBatchVerdict,
  type CalicoPrePullOutcome,
  PREPULL_BATCH_PROGRESS_DETAIL,
} from '../../common/calico-types';
import { ErrorType } from '../../common/errors';
import { isDockerHubImage } from '../../common/procedures/docker-hub-pull-secret';
import { withKube, withKubeAnswering } from '../errors';
import type { ClusterKube } from './client';
import { prePullVerdict } from './pod-status';

export const PREPULL_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  purpose: 'nksr.io/purpose',
  run: 'nksr.io/run',
  /** Batched pre-pulls: the batch (activity) of the run a pod belongs to, so its watch sees only its pods. */
  batch: 'nksr.io/prepull-batch',
} as const;
export const PREPULL_MANAGED_BY = 'nks-remediation';
export const PREPULL_PURPOSE = 'calico-prepull';
/** Longest wait between two reads of the pod when no watch event arrives (also the heartbeat pace). */
const MAX_WAIT_MS = 2000;

/**
 * Wakes the pre-pull loop as soon as the API server reports a change to its pods (a watch on one
 * name, or on one batch's label selector), so a pull is seen when it happens rather than at the next
 * poll. The watch only wakes; the loop always decides from a fresh read, so a dropped watch costs
 * latency, never correctness.
 */
class PodChangeWakeup {
  private abort?: AbortController;
  private starting = false;
  private changed = false;
  private wake?: () => void;
  private closed = false;

  constructor(
    private readonly kube: ClusterKube,
    private readonly namespace: string,
    /** `{ fieldSelector: 'metadata.name=…' }` (one pod) or `{ labelSelector }` (a batch). */
    private readonly selector: { fieldSelector: string } | { labelSelector: string },
  ) {}

  private start(): void {
    if (this.abort || this.starting || this.closed) return;
    this.starting = true;
    new Watch(this.kube.config)
      .watch(
        `/api/v1/namespaces/${this.namespace}/pods`,
        this.selector,
        () => {
          this.changed = true;
          this.wake?.();
        },
        () => {
          // Ended or failed: the next wait opens a new one; meanwhile the loop polls.
          this.abort = undefined;
        },
      )
      .then(
        (abort) => {
          this.starting = false;
          if (this.closed) abort.abort();
          else this.abort = abort;
        },
        () => {
          this.starting = false;
        },
      );
  }

  /** Resolves on the next change, after maxMs, or rejects when the activity is cancelled. */
  async wait(maxMs: number): Promise<void> {
    this.start();
    if (this.changed) {
      this.changed = false;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.wake = resolve;
          timer = setTimeout(resolve, maxMs);
        }),
        Context.current().cancelled,
      ]);
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
      this.changed = false;
    }
  }

  close(): void {
    this.closed = true;
    this.abort?.abort();
    this.abort = undefined;
  }
}

/** A name given by the workflow must be one of ours: these activities delete by name. */
function checkedPodName(name: string): string {
  if (!name.startsWith(PREPULL_POD_PREFIX) || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw ApplicationFailure.nonRetryable(
      `pre-pull pod name ${JSON.stringify(name)} is not a ${PREPULL_POD_PREFIX}* pod name`,
      ErrorType.InvalidInput,
    );
  }
  return name;
}

/** Seconds a pre-pull pod may live beyond its pull timeout before the kubelet kills it (a pod left behind by a lost run). */
const POD_DEADLINE_SLACK_SECONDS = 120;
/** Nobody: the pod only needs its image pulled; it reads and writes nothing. */
const NOBODY = 65534;

export function prePullSelector(runLabel: string): string {
  return `${PREPULL_LABELS.purpose}=${PREPULL_PURPOSE},${PREPULL_LABELS.run}=${runLabel}`;
}

/** The pre-pull pod: pulls its image as nobody, with no privilege, and ends by itself. */
function prePullPod(
  name: string,
  input: PrePullPodSpecInput,
  extraLabels: Record<string, string> = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: input.namespace,
      labels: {
        [PREPULL_LABELS.managedBy]: PREPULL_MANAGED_BY,
        [PREPULL_LABELS.purpose]: PREPULL_PURPOSE,
        [PREPULL_LABELS.run]: input.runLabel,
        ...extraLabels,
      },
      annotations: { 'nksr.io/node': input.node, 'nksr.io/image': input.image },
    },
    spec: {
      nodeName: input.node,
      restartPolicy: 'Never',
      // A pod its run lost track of ends by itself instead of holding the node's resources.
      activeDeadlineSeconds: input.timeoutSeconds + POD_DEADLINE_SLACK_SECONDS,
      // Pulling is the kubelet's work: the container itself needs no privilege at all.
      securityContext: {
        runAsNonRoot: true,
        runAsUser: NOBODY,
        runAsGroup: NOBODY,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      // Like `kubectl debug node`: runs on any node, whatever its taints.
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 0,
      // Docker Hub counts anonymous pulls per public address, which NKS nodes without floating IPs share.
      ...(input.pullSecret && isDockerHubImage(input.image)
        ? { imagePullSecrets: [{ name: input.pullSecret }] }
        : {}),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [
        {
          name: 'prepull',
          image: input.image,
          imagePullPolicy: 'IfNotPresent',
          command: ['sleep', '1'],
          resources: { requests: { cpu: '1m', memory: '8Mi' } },
          securityContext: {
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

/** What the pod spec is made of: one pair of one run, with its pull timeout. */
interface PrePullPodSpecInput {
  namespace: string;
  node: string;
  image: string;
  /** Label shared by every pre-pull pod of one run, for the final cleanup. */
  runLabel: string;
  timeoutSeconds: number;
  /** The run's Docker Hub pull secret, referenced by the pod when its image is on docker.io. */
  pullSecret?: string;
}

function isOurPod(pod: V1Pod, input: PrePullPodSpecInput): boolean {
  return (
    pod.metadata?.labels?.[PREPULL_LABELS.purpose] === PREPULL_PURPOSE &&
    // A pod of another run is never adopted: its verdict is not this run's.
    pod.metadata?.labels?.[PREPULL_LABELS.run] === input.runLabel &&
    pod.spec?.nodeName === input.node &&
    pod.spec?.containers?.[0]?.image === input.image &&
    !pod.metadata?.deletionTimestamp
  );
}

const podCall = (kube: ClusterKube, verb: string, namespace: string, name: string) => ({
  cluster: kube.cluster,
  operation: `${verb} pod ${namespace}/${name}`,
  server: kube.server,
});

/**
 * The pod of that name, if any: listed by field selector rather than read, so the run needs only the
 * `list` it uses anyway (the RBAC grants no `get` on pods).
 */
async function findPod(kube: ClusterKube, namespace: string, name: string): Promise<V1Pod | undefined> {
  const list = await withKube(podCall(kube, 'list', namespace, name), () =>
    kube.core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` }),
  );
  return list.items[0];
}

/** True if this call deleted the pod, false if it was gone already. */
async function deletePodIfPresent(kube: ClusterKube, namespace: string, name: string): Promise<boolean> {
  return withKubeAnswering(podCall(kube, 'delete', namespace, name), [404], false, async () => {
    await kube.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
    return true;
  });
}

export interface PrePullImagesInput {
  cluster: string;
  namespace: string;
  /** The run's label (nksr.io/run): pod names and the final cleanup. */
  runLabel: string;
  /** The batch's index in the run: its pods are labelled with it (nksr.io/prepull-batch). */
  batch: number;
  pairs: { node: string; image: string }[];
  /** Pods of this batch undecided at once, at most: its share of the run's maxParallel. */
  maxInFlight: number;
  /** Failed pulls after which this batch stops: what was left of the run's budget when it started. */
  failureBudget: number;
  /** Seconds each pull may take, from its pod's first creation (kept across retries). */
  timeoutSeconds: number;
  /**
   * Pods of this run's earlier batches whose verdicts the workflow has recorded: deleted first. A
   * batch keeps its own decided pods, so a worker killed before its result is recorded loses no
   * verdict: the retry finds the pods and reads them again instead of pulling again.
   */
  deletePods?: string[];
  /**
   * The run's Docker Hub pull secret (prePullSecretNameFor the run's label, made by
   * ensurePrePullSecret): the pods of docker.io images reference it. Absent: anonymous pulls.
   */
  pullSecret?: string;
}

export interface PrePullImagesResult {
  /** One per pair, in input order. */
  outcomes: CalicoPrePullOutcome[];
  /** Every name of `deletePods`: deleted now, or already gone. */
  deleted: string[];
}

type BatchVerdict = CalicoPrePullBatchVerdict;
type PrePullBatchHeartbeat = CalicoPrePullBatchProgress;

/** Concurrent creates or deletes of one batch: kubectl's one-at-a-time is slower; more only queues. */
const BATCH_CALL_CONCURRENCY = 8;
/**
 * Shortest time between two lists of a batch's pods: the watch events of pulls that end together
 * cost one list (a list decodes every pod of the batch, its decided ones included: on a loaded
 * machine that CPU is what the whole run waits for).
 */
const MIN_LIST_INTERVAL_MS = 500;

/**
 * Pre-pulls a batch of node×image pairs of one run: one pod per pair (run-scoped name, prePullPod's
 * spec: no privilege, activeDeadlineSeconds), at most `maxInFlight` of
 * them undecided at once, with ONE watch on the batch's label selector that wakes the loop and each
 * verdict decided from a fresh list of the batch's pods. Returns one outcome per pair, in input order
 * (pulled / failed with the reason, Timeout included / not-started).
 * Pods: a decided pod stays until its verdict is in the workflow's history (the next batch deletes
 * it through `deletePods`, the run's cleanup deletes the last ones); pods of pairs stopped by the
 * budget are deleted here. Failure budget: once `failureBudget` pulls of this batch failed, it stops
 * waiting, deletes its undecided pods and reports their pairs, and those never started, not-started.
 * Idempotency: a retry resumes from the heartbeat details (verdicts and start times) and from the
 * pods themselves: a pair whose verdict is known is never pulled again and its pod never re-created;
 * a pod an earlier attempt created is adopted (found by the list, or 409 on create); a pod of that
 * name outside this batch is deleted and replaced; each pull keeps its first deadline. Only a
 * cancellation the workflow requested deletes the batch's pods (a worker shutdown or a lost
 * heartbeat leaves them to the retry).
 */
export async function prePullImagesOnNodes(
  kube: ClusterKube,
  input: PrePullImagesInput,
): Promise<PrePullImagesResult> {
  const ctx = Context.current();
  const { namespace, runLabel } = input;
  const previous = ctx.info.heartbeatDetails as PrePullBatchHeartbeat | undefined;
  const beat: PrePullBatchHeartbeat = {
    started: { ...previous?.started },
    verdicts: { ...previous?.verdicts },
  };
  const timeoutMs = input.timeoutSeconds * 1000;
  const batchLabel = String(input.batch);
  const selector = `${prePullSelector(runLabel)},${PREPULL_LABELS.batch}=${batchLabel}`;
  const runPodPrefix = `${PREPULL_POD_PREFIX}${runLabel}-`;
  const earlier = (input.deletePods ?? []).map((name) => {
    // This activity deletes by name: only pods of this run's own batches.
    const checked = checkedPodName(name);
    if (!checked.startsWith(runPodPrefix)) {
      throw ApplicationFailure.nonRetryable(
        `pre-pull pod ${JSON.stringify(name)} is not a pod of run ${runLabel}`,
        ErrorType.InvalidInput,
      );
    }
    return checked;
  });
  if (input.pullSecret !== undefined && input.pullSecret !== prePullSecretNameFor(runLabel)) {
    // The pods reference the run's own secret only: no input points them at another one.
    throw ApplicationFailure.nonRetryable(
      `pull secret ${JSON.stringify(input.pullSecret)} is not the pull secret of run ${runLabel}`,
      ErrorType.InvalidInput,
    );
  }
  const pairs = input.pairs.map((p, i) => ({
    key: String(i),
    name: prePullPodNameFor(runLabel, p.node, p.image),
    spec: {
      namespace,
      runLabel,
      node: p.node,
      image: p.image,
      timeoutSeconds: input.timeoutSeconds,
      ...(input.pullSecret !== undefined ? { pullSecret: input.pullSecret } : {}),
    },
  }));
  const createdHere = new Set<string>();
  const failedCount = () => Object.values(beat.verdicts).filter((v) => v.o === 'failed').length;
  const decide = (key: string, o: BatchVerdict['o'], now: number, r?: string) => {
    beat.verdicts[key] = {
      o,
      ...(r ? { r } : {}),
      d: now - (beat.started[key] ?? now),
      c: createdHere.has(key),
    };
  };
  const listOp = {
    cluster: kube.cluster,
    operation: `list pre-pull pods ${namespace} (${selector})`,
    server: kube.server,
  };
  const listPods = async () =>
    (await withKube(listOp, () => kube.core.listNamespacedPod({ namespace, labelSelector: selector }))).items;
  const create = async (p: (typeof pairs)[number]) => {
    const created = await withKubeAnswering(
      podCall(kube, 'create', namespace, p.name),
      [409],
      false,
      async () => {
        await kube.core.createNamespacedPod({
          namespace,
          body: prePullPod(p.name, p.spec, { [PREPULL_LABELS.batch]: batchLabel }),
        });
        return true;
      },
    );
    if (created) {
      createdHere.add(p.key);
      return;
    }
    // 409 for a pod the list did not show: one of that name outside this batch. Deleted, so the
    // next round creates this batch's own.
    const existing = await findPod(kube, namespace, p.name);
    if (existing && existing.metadata?.labels?.[PREPULL_LABELS.batch] !== batchLabel)
      await deletePodIfPresent(kube, namespace, p.name);
  };
  const finished = () =>
    pairs.every((p) => {
      const v = beat.verdicts[p.key];
      return v !== undefined && (v.o !== 'not-started' || v.rm === true);
    });
  const result = (): PrePullImagesResult => ({
    outcomes: pairs.map((p) => {
      const v = beat.verdicts[p.key]!;
      const started = beat.started[p.key];
      return {
        node: p.spec.node,
        image: p.spec.image,
        outcome: v.o,
        ...(v.r ? { reason: v.r } : {}),
        ...(started !== undefined
          ? {
              podName: p.name,
              podCreated: v.c,
              attempt: ctx.info.attempt,
              startedAt: new Date(started).toISOString(),
              durationMs: v.d,
            }
          : {}),
        ...(v.rm ? { podRemoved: true } : {}),
      };
    }),
    deleted: earlier,
  });

  const wakeup = new PodChangeWakeup(kube, namespace, { labelSelector: selector });
  try {
    // The earlier batches' pods first: their verdicts are recorded, and they would only add up.
    await mapBounded(earlier, BATCH_CALL_CONCURRENCY, async (name) => {
      await deletePodIfPresent(kube, namespace, name);
    });
    for (;;) {
      ctx.heartbeat(beat);
      const listedAt = Date.now();
      const byName = new Map((await listPods()).map((pod) => [pod.metadata?.name ?? '', pod]));
      const now = Date.now();
      const toCreate: (typeof pairs)[number][] = [];
      const toDelete: (typeof pairs)[number][] = [];
      let inFlight = 0;
      for (const p of pairs) {
        const pod = byName.get(p.name);
        const verdict = beat.verdicts[p.key];
        if (verdict) {
          if (verdict.o === 'not-started' && !verdict.rm) {
            // Stopped by the budget: being deleted (our delete, grace 0) counts as removed.
            if (!pod || pod.metadata?.deletionTimestamp) verdict.rm = true;
            else toDelete.push(p);
          }
          continue;
        }
        const started = beat.started[p.key];
        if (started === undefined) continue;
        if (pod && isOurPod(pod, p.spec)) {
          const v = prePullVerdict(pod);
          if (v.state === 'pulled') decide(p.key, 'pulled', now);
          else if (v.state === 'failed') decide(p.key, 'failed', now, v.reason);
          else if (now >= started + timeoutMs) decide(p.key, 'failed', now, 'Timeout');
          else inFlight++;
          continue;
        }
        if (now >= started + timeoutMs) {
          decide(p.key, 'failed', now, 'Timeout');
          continue;
        }
        inFlight++;
        if (!pod) {
          // Never created (an attempt died first), or deleted under us (an operator, an eviction):
          // create it again, unless this attempt is being cancelled (the cleanup may have deleted it).
          if (ctx.cancellationSignal.aborted) throw new CancelledFailure('pre-pull cancelled');
          toCreate.push(p);
        } else if (!pod.metadata?.deletionTimestamp) {
          // A pod of that name that is not this pair's: replaced once it is gone.
          toDelete.push(p);
        }
      }
      const budgetSpent = failedCount() >= input.failureBudget;
      if (budgetSpent) {
        // No pull of this batch can change the run's outcome any more: stop, leave no pod running.
        for (const p of pairs) {
          if (beat.verdicts[p.key]) continue;
          const pod = byName.get(p.name);
          const startedYet = beat.started[p.key] !== undefined;
          decide(
            p.key,
            'not-started',
            now,
            startedYet ? 'failure budget spent: pull aborted' : 'failure budget spent',
          );
          if (!pod || pod.metadata?.deletionTimestamp) beat.verdicts[p.key]!.rm = true;
          else toDelete.push(p);
        }
      } else {
        for (const p of pairs) {
          if (inFlight >= input.maxInFlight) break;
          if (beat.started[p.key] !== undefined || beat.verdicts[p.key]) continue;
          beat.started[p.key] = now;
          toCreate.push(p);
          inFlight++;
        }
      }
      // Start times and verdicts go out before the pods they concern are created or deleted.
      ctx.heartbeat(beat);
      await mapBounded(toDelete, BATCH_CALL_CONCURRENCY, async (p) => {
        await deletePodIfPresent(kube, namespace, p.name);
        const v = beat.verdicts[p.key];
        if (v) v.rm = true;
      });
      if (!budgetSpent) await mapBounded(toCreate, BATCH_CALL_CONCURRENCY, create);
      if (finished()) return result();
      ctx.heartbeat(beat);
      await wakeup.wait(MAX_WAIT_MS);
      const since = Date.now() - listedAt;
      if (since < MIN_LIST_INTERVAL_MS) await ctx.sleep(MIN_LIST_INTERVAL_MS - since);
    }
  } catch (err) {
    // As prePullImageOnNode: only a cancellation the workflow asked for removes the pods.
    if (ctx.cancellationDetails?.cancelRequested) {
      const started = pairs.filter((p) => beat.started[p.key] !== undefined && !beat.verdicts[p.key]?.rm);
      await mapBounded(started, BATCH_CALL_CONCURRENCY, async (p) => {
        await deletePodIfPresent(kube, namespace, p.name).catch(() => undefined);
      });
      throw err;
    }
    // Same type, message and retryability; the batch's progress added for the workflow, should
    // this be the last attempt (the next one resumes from the heartbeat instead).
    if (err instanceof ApplicationFailure) {
      throw ApplicationFailure.create({
        type: err.type ?? undefined,
        message: err.message,
        nonRetryable: err.nonRetryable ?? undefined,
        details: [...(err.details ?? []), { [PREPULL_BATCH_PROGRESS_DETAIL]: beat }],
        ...(err.cause ? { cause: err.cause } : {}),
      });
    }
    throw err;
  } finally {
    wakeup.close();
  }
}

/**
 * Deletes the pre-pull pods of every other run (left by a run that was terminated or lost its API
 * server), before this run starts its own, so none of them is ever taken for this run's pull.
 * One calicoImageRepair runs per cluster at a time (its workflow ID is per cluster), so another
 * run's pods are always stale.
 * Idempotency: deleting what is already gone is a no-op; returns the names this call deleted.
 */
/** The pre-pull pods of one run, on one cluster: what the cleanup activities take. */
export interface PrePullRunPods {
  cluster: string;
  namespace: string;
  runLabel: string;
}

export async function deleteStalePrePullPodsOf(
  kube: ClusterKube,
  input: { namespace: string; runLabel: string },
): Promise<{ deleted: string[] }> {
  const selector = `${PREPULL_LABELS.purpose}=${PREPULL_PURPOSE},${PREPULL_LABELS.run}!=${input.runLabel}`;
  const list = await withKube(
    {
      cluster: kube.cluster,
      operation: `list stale pre-pull pods ${input.namespace} (${selector})`,
      server: kube.server,
    },
    () => kube.core.listNamespacedPod({ namespace: input.namespace, labelSelector: selector }),
  );
  const deleted: string[] = [];
  for (const pod of list.items) {
    const name = pod.metadata?.name;
    if (name && (await deletePodIfPresent(kube, input.namespace, name))) deleted.push(name);
    Context.current().heartbeat();
  }
  return { deleted };
}

/**
 * Deletes every pre-pull pod of a run (label selector) and waits until they are gone.
 * Idempotency: deleting what is already gone is a no-op; safe to call any number of times.
 */
export async function deletePrePullPodsOfRun(
  kube: ClusterKube,
  input: { namespace: string; runLabel: string },
): Promise<{ deleted: string[] }> {
  const ctx = Context.current();
  const selector = prePullSelector(input.runLabel);
  const op = {
    cluster: kube.cluster,
    operation: `delete pre-pull pods ${input.namespace} (${selector})`,
    server: kube.server,
  };
  const deleted: string[] = [];
  for (;;) {
    const list = await withKube(op, () =>
      kube.core.listNamespacedPod({ namespace: input.namespace, labelSelector: selector }),
    );
    if (list.items.length === 0) return { deleted };
    // A few at once: a batched run ends with a few hundred pods kept for their verdicts.
    const names = list.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name ?? '');
    await mapBounded(names.filter(Boolean), BATCH_CALL_CONCURRENCY, async (name) => {
      if ((await deletePodIfPresent(kube, input.namespace, name)) && !deleted.includes(name))
        deleted.push(name);
    });
    ctx.heartbeat();
    await ctx.sleep(names.length ? 250 : 500);
  }
}
