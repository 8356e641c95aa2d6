/**
 * Disruption safety in the cluster, for every procedure that takes nodes down (the cluster lock is
 * in cluster-lock.ts): the health gate, cordon with recorded ownership, and a drain through
 * the Eviction API (PodDisruptionBudgets respected). Also the node facts disableKmemAccounting
 * decides from (kernel version from kubelet's nodeInfo) and its FailedCreatePodContainer events.
 */
import {
  type CoreV1Event,
  PatchStrategy,
  type V1Node,
  type V1Pod,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { CORDONED_BY_ANNOTATION } from '../../common/disruption';
import { KMEM_OOM_EVENT_REASON, KMEM_OOM_MESSAGE } from '../../common/procedures/disable-kmem-accounting';
import { validateNodeName } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { kubeFailure, withKube, withKubeAnswering } from '../errors';
import { type ClusterKube, kubeClientsFor } from './client';
import { validHolder } from './cluster-lock';
import { PagedScan } from './paged-list';

/** A duck-typed ApiException's HTTP status (as errors.ts reads it). */
function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && err && typeof err === 'object' && 'body' in err ? code : undefined;
}

function serverMessage(err: unknown): string {
  let body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m.replace(/\s+/g, ' ').slice(0, 300) : '';
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- nodes and pods

function isReady(n: V1Node): boolean {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

async function listAllNodes(kube: ClusterKube): Promise<V1Node[]> {
  const list = await withKube({ cluster: kube.cluster, operation: 'list nodes', server: kube.server }, () =>
    kube.core.listNode(),
  );
  return list.items;
}

async function podsOnNode(kube: ClusterKube, node: string, labelSelector?: string): Promise<V1Pod[]> {
  const list = await withKube(
    { cluster: kube.cluster, operation: `list pods on ${node}`, server: kube.server },
    () =>
      kube.core.listPodForAllNamespaces({
        fieldSelector: `spec.nodeName=${node}`,
        ...(labelSelector ? { labelSelector } : {}),
      }),
  );
  return list.items;
}

const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
const terminated = (p: V1Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

export interface HealthGateInput {
  cluster: string;
  /** The nodes about to be taken down (not counted among the others). */
  nodes: string[];
  minReadyPercent: number;
  blockingPodSelector?: string;
}

export interface HealthGateResult {
  ok: boolean;
  /** Why not, one line each (empty when ok). */
  reasons: string[];
  readyOthers: number;
  totalOthers: number;
}

async function healthGate(kube: ClusterKube, input: HealthGateInput): Promise<HealthGateResult> {
  for (const n of input.nodes) validateNodeName(n);
  const batch = new Set(input.nodes);
  const all = await listAllNodes(kube);
  const others = all.filter((n) => !batch.has(n.metadata?.name ?? ''));
  const notReady = others.filter((n) => !isReady(n)).map((n) => n.metadata?.name ?? '?');
  const readyOthers = others.length - notReady.length;
  const reasons: string[] = [];
  const pct = others.length === 0 ? 100 : (readyOthers * 100) / others.length;
  if (pct < input.minReadyPercent) {
    reasons.push(
      `${readyOthers}/${others.length} other nodes Ready (${Math.floor(pct)}% < ${input.minReadyPercent}%); NotReady: ${notReady.sort().join(', ')}`,
    );
  }
  if (input.blockingPodSelector) {
    for (const node of input.nodes) {
      const pods = (await podsOnNode(kube, node, input.blockingPodSelector)).filter((p) => !terminated(p));
      if (pods.length) {
        reasons.push(
          `${node} runs blocking pods (${input.blockingPodSelector}): ${pods.map(podName).sort().join(', ')}`,
        );
      }
    }
  }
  return { ok: reasons.length === 0, reasons, readyOthers, totalOthers: others.length };
}

export interface CordonInput {
  cluster: string;
  node: string;
  /** Who cordons: the run's workflow ID, recorded on the node. */
  owner: string;
}

export interface CordonResult {
  /** Cordoned before this run by someone else: this run must leave it cordoned. */
  cordonedBefore: boolean;
  status: 'cordoned' | 'already-ours' | 'cordoned-by-someone-else';
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

async function readNode(kube: ClusterKube, node: string): Promise<V1Node> {
  validateNodeName(node);
  return withKube({ cluster: kube.cluster, operation: `read node ${node}`, server: kube.server }, () =>
    kube.core.readNode({ name: node }),
  );
}

async function patchNode(
  kube: ClusterKube,
  node: string,
  resourceVersion: string | undefined,
  body: { annotations: Record<string, string | null>; unschedulable: boolean | null },
): Promise<void> {
  await withKube({ cluster: kube.cluster, operation: `patch node ${node}`, server: kube.server }, () =>
    kube.core.patchNode(
      {
        name: node,
        body: {
          metadata: { resourceVersion, annotations: body.annotations },
          spec: { unschedulable: body.unschedulable },
        },
      },
      merge,
    ),
  );
}

async function cordon(kube: ClusterKube, input: CordonInput): Promise<CordonResult> {
  const owner = validHolder(input.owner);
  const node = await readNode(kube, input.node);
  const by = node.metadata?.annotations?.[CORDONED_BY_ANNOTATION];
  if (node.spec?.unschedulable) {
    return by === owner
      ? { cordonedBefore: false, status: 'already-ours' }
      : { cordonedBefore: true, status: 'cordoned-by-someone-else' };
  }
  // Conditional on the version read: a cordon by someone else in between is a 409 and a re-read.
  await patchNode(kube, input.node, node.metadata?.resourceVersion, {
    annotations: { [CORDONED_BY_ANNOTATION]: owner },
    unschedulable: true,
  });
  return { cordonedBefore: false, status: 'cordoned' };
}

async function uncordon(
  kube: ClusterKube,
  input: CordonInput,
): Promise<{ status: 'uncordoned' | 'already-uncordoned' | 'not-ours' }> {
  const owner = validHolder(input.owner);
  const node = await readNode(kube, input.node);
  const by = node.metadata?.annotations?.[CORDONED_BY_ANNOTATION];
  if (by !== owner) return { status: 'not-ours' };
  const was = node.spec?.unschedulable === true;
  await patchNode(kube, input.node, node.metadata?.resourceVersion, {
    annotations: { [CORDONED_BY_ANNOTATION]: null },
    unschedulable: null,
  });
  return { status: was ? 'uncordoned' : 'already-uncordoned' };
}

export interface DrainInput {
  cluster: string;
  node: string;
  /** Blocked evictions are retried until this long after the drain first started (kept across retries). */
  timeoutSeconds: number;
  pollIntervalMs?: number;
}

export interface DrainResult {
  status: 'drained' | 'timeout';
  evicted: string[];
  /** DaemonSet and mirror pods, left on the node. */
  left: string[];
  /** Pods whose eviction was still refused at the timeout, with the API server's reason. */
  blocked: string[];
  /** Pods evicted but still terminating at the timeout. */
  terminating: string[];
}

interface DrainProgress {
  node: string;
  startedAt: number;
  evicted: string[];
}

function skipReason(p: V1Pod): string | undefined {
  if (p.metadata?.annotations?.['kubernetes.io/config.mirror']) return 'mirror';
  if (p.metadata?.ownerReferences?.some((r) => r.controller && r.kind === 'DaemonSet')) return 'daemonset';
  return undefined;
}

async function drain(kube: ClusterKube, input: DrainInput): Promise<DrainResult> {
  validateNodeName(input.node);
  let resumed: DrainProgress | undefined;
  try {
    resumed = Context.current().info.heartbeatDetails as DrainProgress | undefined;
  } catch {
    resumed = undefined;
  }
  const progress: DrainProgress =
    resumed?.node === input.node ? resumed : { node: input.node, startedAt: Date.now(), evicted: [] };
  const deadline = progress.startedAt + input.timeoutSeconds * 1000;
  const interval = Math.max(200, input.pollIntervalMs ?? 2000);
  for (;;) {
    const pods = (await podsOnNode(kube, input.node)).filter((p) => !terminated(p));
    const left = pods
      .filter((p) => skipReason(p))
      .map(podName)
      .sort();
    const toGo = pods.filter((p) => !skipReason(p));
    if (toGo.length === 0) {
      return { status: 'drained', evicted: [...progress.evicted].sort(), left, blocked: [], terminating: [] };
    }
    const blocked: string[] = [];
    for (const p of toGo) {
      if (p.metadata?.deletionTimestamp) continue; // evicted, terminating
      const name = p.metadata!.name!;
      const namespace = p.metadata!.namespace!;
      try {
        await kube.core.createNamespacedPodEviction({
          name,
          namespace,
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name, namespace },
            deleteOptions: { preconditions: { uid: p.metadata?.uid } },
          },
        });
        if (!progress.evicted.includes(podName(p))) progress.evicted.push(podName(p));
      } catch (err) {
        const status = httpStatus(err);
        // 429: a PodDisruptionBudget allows no disruption now; 500 with several PDBs is refused too.
        if (status === 429 || (status === 500 && /disruption budget/i.test(serverMessage(err)))) {
          blocked.push(`${podName(p)}: ${serverMessage(err) || 'eviction refused'}`);
        } else if (status === 404 || status === 409) {
          // Gone already, or replaced by a pod of the same name: the next listing decides.
        } else {
          throw kubeFailure(err, {
            cluster: kube.cluster,
            operation: `evict pod ${podName(p)}`,
            server: kube.server,
          });
        }
      }
    }
    heartbeat(progress);
    if (Date.now() >= deadline) {
      const terminating = toGo
        .filter((p) => p.metadata?.deletionTimestamp)
        .map(podName)
        .sort();
      return {
        status: 'timeout',
        evicted: [...progress.evicted].sort(),
        left,
        blocked: blocked.sort(),
        terminating,
      };
    }
    await sleep(interval);
  }
}

export interface KmemNodeFacts {
  node: string;
  exists: boolean;
  ready: boolean;
  unschedulable: boolean;
  /** kubelet's nodeInfo.kernelVersion (uname -r). */
  kernelVersion?: string;
  bootID?: string;
}

async function nodeFacts(kube: ClusterKube, nodes: string[]): Promise<KmemNodeFacts[]> {
  for (const n of nodes) validateNodeName(n);
  const byName = new Map((await listAllNodes(kube)).map((n) => [n.metadata?.name ?? '', n]));
  return nodes.map((name) => {
    const n = byName.get(name);
    if (!n) return { node: name, exists: false, ready: false, unschedulable: false };
    return {
      node: name,
      exists: true,
      ready: isReady(n),
      unschedulable: n.spec?.unschedulable === true,
      kernelVersion: n.status?.nodeInfo?.kernelVersion || undefined,
      bootID: n.status?.nodeInfo?.bootID || undefined,
    };
  });
}

export interface KmemOomPod {
  namespace: string;
  name: string;
  node: string;
}

/** What the scan keeps of a kmem OOM event: the pod it names and the node that reported it. */
interface KmemOomEvent {
  namespace: string;
  name: string;
  host: string;
}

async function findKmemOom(kube: ClusterKube): Promise<KmemOomPod[]> {
  const ctx = (operation: string) => ({ cluster: kube.cluster, operation, server: kube.server });
  const events = await new PagedScan(kube).collect<CoreV1Event, KmemOomEvent>(
    `list ${KMEM_OOM_EVENT_REASON} events`,
    (page) =>
      kube.core.listEventForAllNamespaces({
        fieldSelector: `reason=${KMEM_OOM_EVENT_REASON},involvedObject.kind=Pod`,
        ...page,
      }),
    (e) => {
      const o = e.involvedObject;
      if (!e.message?.includes(KMEM_OOM_MESSAGE) || !o.name || !o.namespace) return undefined;
      return { namespace: o.namespace, name: o.name, host: e.source?.host || e.reportingInstance || '' };
    },
  );
  const seen = new Set<string>();
  const out: KmemOomPod[] = [];
  for (const o of events) {
    const key = `${o.namespace}/${o.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let node = o.host;
    if (!node) {
      const pod = await withKubeAnswering(ctx(`read pod ${key}`), [404], undefined, () =>
        kube.core.readNamespacedPod({ name: o.name, namespace: o.namespace }),
      );
      node = pod?.spec?.nodeName ?? '';
    }
    if (node) out.push({ namespace: o.namespace, name: o.name, node });
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export function createDisruptionActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /** The health gate for taking `nodes` down: Ready share of the others, blocking pods. Read-only. */
    async checkDisruptionHealth(input: HealthGateInput): Promise<HealthGateResult> {
      return healthGate(clients.forCluster(input.cluster), input);
    },

    /**
     * Cordons a node and records `owner` in its `nksr.io/cordoned-by` annotation. A node already
     * cordoned by someone else is left as it is (`cordonedBefore: true`); one cordoned by this owner
     * (a retry) is `already-ours`. Idempotent.
     */
    async cordonNodeOwned(input: CordonInput): Promise<CordonResult> {
      return cordon(clients.forCluster(input.cluster), input);
    },

    /**
     * Uncordons a node only if `owner` cordoned it (its annotation says so), removing the annotation;
     * a node cordoned by someone else is `not-ours` and untouched. Idempotent.
     */
    async uncordonNodeOwned(
      input: CordonInput,
    ): Promise<{ status: 'uncordoned' | 'already-uncordoned' | 'not-ours' }> {
      return uncordon(clients.forCluster(input.cluster), input);
    },

    /**
     * Evicts every pod of a (cordoned) node through the Eviction API except DaemonSet and mirror
     * pods, until none is left or `timeoutSeconds` pass: evictions a PodDisruptionBudget refuses are
     * retried until then and reported as `blocked` with a `timeout` status (not a failure: the
     * workflow decides). Heartbeats; a retried attempt keeps the first attempt's deadline. Evicting
     * a pod already terminating or gone is skipped, so reruns only do what is missing.
     */
    async drainNodeEvicting(input: DrainInput): Promise<DrainResult> {
      return drain(clients.forCluster(input.cluster), input);
    },

    /** Kernel version, Ready, cordon state and boot ID of nodes, from the API server. Read-only. */
    async readKmemNodeFacts(input: { cluster: string; nodes: string[] }): Promise<KmemNodeFacts[]> {
      return nodeFacts(clients.forCluster(input.cluster), input.nodes);
    },

    /**
     * Pods with a FailedCreatePodContainer "cannot allocate memory" event, and their nodes. Events read
     * in pages (PagedScan: a retry resumes at its last page). Read-only.
     */
    async findKmemOomPods(input: { cluster: string }): Promise<KmemOomPod[]> {
      return findKmemOom(clients.forCluster(input.cluster));
    },
  };
}
