/**
 * Benchmark (not a test): how large each procedure's histories and payloads grow with the cluster,
 * and what that makes of a 5,000-node cluster.
 *
 *   npm run bench -- histories [--nodes 1000] [--ssh-nodes 200] [--procedures a,b,…] [--delay-ms N]
 *
 * Every procedure runs twice, on a fresh simulator of N/5 nodes and one of N (kwok nodes for the
 * procedures that only talk to the API server; SSH nodes, up to the simulator's 254, for those that
 * reach nodes over SSH), with its symptom on every node (drifted logrotate files, a stopped rpc-statd,
 * a missing image, kmem-affected kernels, a DaemonSet on the old registry, ...), as the integration
 * tests set it up, and approved where it waits for approval (signed as the simulator's approver, as
 * `nksr approve` signs). The simulator is reset to its state at `up` between procedures.
 *
 * Per run every execution is found by walking the histories (child workflows, continue-as-new runs);
 * per procedure the largest history's events and the largest payload are fitted per execution kind as
 * a + b·nodes through the two sizes and projected to 5,000 nodes against Temporal's 10,240 events per
 * history and the project's 64 KB per payload. The worker is src/worker/main.ts in its own process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import YAML from 'yaml';
import { approverKeyPath, simDown, type SimHandle } from '../sim';
import { waitFor } from '../sim/process';
import { recordBaseline, resetToBaseline } from '../sim/reset';
import { ensureTestSim } from '../sim/testing';
import { approveWaitingRun } from '../src/client/approve-run';
import { readApproverKey } from '../src/client/approver-key';
import { DOCKER_HUB_DEFAULTS } from '../src/common/procedures/docker-hub-pull-secret';
import { findProcedure } from '../src/common/procedures';
import type { Progress } from '../src/common/types';
import { startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import {
  type ExecutionStats,
  HISTORY_EVENT_LIMIT,
  PAYLOAD_LIMIT_BYTES,
  describeExecutions,
  executionKind,
  executionTree,
  fitLine,
  kb,
  treeMaxima,
} from './history-stats';
import { startRecording, writeRunRecord } from './results';
import { startWorkerProcess } from './worker-process';

export interface HistoriesBenchOptions {
  /** kwok nodes of the larger simulator for the API-only procedures (the smaller has a fifth). */
  nodes: number;
  /** SSH nodes of the larger simulator for the SSH procedures (the smaller has a fifth). */
  sshNodes: number;
  /** Workflow types or CLI names; default every procedure of BENCHED. */
  procedures?: string[];
  /** SSH latency each way on the SSH simulator (its delay proxy). */
  delayMs: number;
  /** A run still going after this long is terminated and reported as such. */
  runTimeoutMinutes: number;
  dir: string;
  ipPrefix: string;
}

/** The cluster size the projection is for. */
export const PROJECTED_NODES = 5_000;
const SIM_MAX_SSH_NODES = 254;
/** How long a rebooted SSH node stays down (the simulator's default is 5 s). */
const REBOOT_DOWN_MS = 1_000;
const HUB_NAMESPACE = 'hub-bench';
const RATE_LIMIT =
  'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit ({image})';
const PAUSE = 'k8s.gcr.io/pause:3.2';

const log = (msg: string) => process.stderr.write(`[bench histories] ${msg}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

type Group = 'kwok' | 'ssh';

interface Scenario {
  workflowType: string;
  group: Group;
  /** Puts the symptom on every node (beyond what `up` does for the group). */
  setup?(sim: SimHandle, nodes: number): Promise<void>;
  /** The run's input (cluster added); `nodes` the simulator's node names. */
  input(nodes: string[]): Record<string, unknown>;
  /** Runs beside the workflow (e.g. the fault a fix makes go away), until `done` resolves. */
  during?(sim: SimHandle, done: Promise<unknown>): Promise<void>;
}

const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);
const pullFailing = (p: V1Pod) =>
  [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].some((s) =>
    ['ErrImagePull', 'ImagePullBackOff'].includes(s.state?.waiting?.reason ?? ''),
  );

async function scaleAndWait(sim: SimHandle, ns: string, name: string, replicas: number): Promise<void> {
  await sim.kubectl(['-n', ns, 'scale', `deployment/${name}`, `--replicas=${replicas}`]);
  await waitFor(
    `${replicas} available replicas of ${ns}/${name}`,
    async () => {
      const d = await sim.kubectl(['-n', ns, 'get', `deployment/${name}`, '-o', 'json']);
      const s = (JSON.parse(d) as { status?: { availableReplicas?: number; updatedReplicas?: number } })
        .status;
      return (s?.availableReplicas ?? 0) >= replicas ? true : undefined;
    },
    { timeoutMs: 15 * 60_000, intervalMs: 2000 },
  );
}

/** Kubernetes node lists, positions 1-based as the simulator's drift names them. */
const everyPosition = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

/** What `up` leaves on the SSH simulator: every node has every SSH procedure's symptom. */
function sshDrift(n: number): Record<string, unknown> {
  const all = everyPosition(n);
  return {
    logrotateMissing: all.filter((_, i) => i % 2 === 0),
    logrotateDifferent: all.filter((_, i) => i % 2 === 1),
    rpcStatdStopped: all,
    missingImages: all.map((p) => `${p}=${PAUSE}`),
    unpullableImages: ['k8s.gcr.io/*'],
    rebootDownMs: REBOOT_DOWN_MS,
  };
}

/** Nodes down at once in the rolling reboot: a tenth of the cluster, at most the input's 50. */
export const kmemMaxUnavailable = (nodes: number) => Math.min(50, Math.max(1, Math.floor(nodes / 10)));

/** The nine procedures and clusterDiagnosis, in the order they run (within a group). */
export const BENCHED: Scenario[] = [
  { workflowType: 'calicoImageRepair', group: 'kwok', input: () => ({}) },
  { workflowType: 'cinderRescanOnResize', group: 'kwok', input: () => ({}) },
  {
    workflowType: 'fsGroupChangePolicy',
    group: 'kwok',
    // One photo-store pod per node, every one with kubelet's mount timeout.
    async setup(sim, nodes) {
      await scaleAndWait(sim, 'media', 'photo-store', nodes);
      await sim.mountTimeout({ namespace: 'media', selector: 'app=photo-store' });
    },
    input: () => ({ namespaces: ['media'] }),
  },
  {
    workflowType: 'ghcrMigration',
    group: 'kwok',
    // The tests' fixture: its DaemonSet `agent` runs on every node.
    async setup(sim, nodes) {
      await sim.kubectl(['apply', '-f', join(REPO_ROOT, 'sim', 'fixtures', 'ghcr-migration.yaml')]);
      await waitFor(
        `ghcr-demo/agent on ${nodes} nodes`,
        async () => {
          const ds = JSON.parse(
            await sim.kubectl(['-n', 'ghcr-demo', 'get', 'daemonset/agent', '-o', 'json']),
          ) as { status?: { numberAvailable?: number } };
          return (ds.status?.numberAvailable ?? 0) >= nodes ? true : undefined;
        },
        { timeoutMs: 15 * 60_000, intervalMs: 2000 },
      );
    },
    input: () => ({ namespaces: ['ghcr-demo'] }),
  },
  {
    workflowType: 'dockerHubPullSecret',
    group: 'kwok',
    // One Docker Hub pod per node stuck on the rate limit; the fault goes once the secret is there
    // (the simulator does not check pull secrets, so the replacements then run).
    async setup(sim, nodes) {
      await sim.failImage({ pattern: '-hub$', message: RATE_LIMIT });
      await sim.kubectl(['apply', '-f', '-'], {
        input: YAML.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { apiVersion: 'v1', kind: 'Namespace', metadata: { name: HUB_NAMESPACE } },
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'shop', namespace: HUB_NAMESPACE },
              spec: {
                replicas: nodes,
                selector: { matchLabels: { app: 'shop' } },
                template: {
                  metadata: { labels: { app: 'shop' } },
                  spec: { containers: [{ name: 'shop', image: 'nginx:1.25-hub' }] },
                },
              },
            },
          ],
        }),
      });
      const core = sim.core();
      await waitFor(
        `${nodes} pods of ${HUB_NAMESPACE} failing to pull`,
        async () => {
          const pods = live((await core.listNamespacedPod({ namespace: HUB_NAMESPACE })).items);
          return pods.filter(pullFailing).length >= nodes ? true : undefined;
        },
        { timeoutMs: 15 * 60_000, intervalMs: 2000 },
      );
    },
    input: () => ({ namespaces: [HUB_NAMESPACE] }),
    async during(sim, done) {
      const core = sim.core();
      let finished = false;
      void done.finally(() => (finished = true));
      while (!finished) {
        const found = await core
          .readNamespacedSecret({ name: DOCKER_HUB_DEFAULTS.secretName, namespace: HUB_NAMESPACE })
          .then(() => true)
          .catch(() => false);
        if (found) {
          await sim.clearImageFaults();
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    },
  },
  { workflowType: 'clusterDiagnosis', group: 'ssh', input: () => ({}) },
  { workflowType: 'logrotateSync', group: 'ssh', input: () => ({}) },
  { workflowType: 'nfsLockServicesRestart', group: 'ssh', input: (nodes) => ({ nodes }) },
  {
    workflowType: 'closedNetworkImageRecovery',
    group: 'ssh',
    input: (nodes) => ({ nodes, images: [PAUSE] }),
  },
  {
    workflowType: 'disableKmemAccounting',
    group: 'ssh',
    input: (nodes) => ({
      nodes,
      maxUnavailable: kmemMaxUnavailable(nodes.length),
      // A tenth down at once leaves 90% of the others Ready only just: the gate is not what is measured.
      minReadyPercent: 80,
      healthPollSeconds: 5,
    }),
  },
];

/** One run of one procedure at one size. */
export interface ProcedureRun {
  workflowType: string;
  nodes: number;
  ms: number;
  outcome: string;
  approvals: number;
  input: Record<string, unknown>;
  tree: ExecutionStats[];
}

/** Approves every gate the run waits at, until it ends; returns how many. */
async function approveGates(handle: WorkflowHandle, key: string, done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  const answered = new Set<string>();
  while (!finished) {
    const p = await handle.query<Progress>('progress').catch(() => undefined);
    const gate = p?.approval ? `${p.approval.runId}/${p.approval.planDigest}` : undefined;
    if (gate && !answered.has(gate)) {
      // The gate may close between the query and the update (the run ended): asked again next round.
      const approved = await approveWaitingRun(handle, key, 'approve', { comment: 'bench' }).then(
        () => true,
        (err: unknown) => {
          log(
            `  approval of ${handle.workflowId} refused: ${err instanceof Error ? err.message : String(err)}`,
          );
          return false;
        },
      );
      if (approved) {
        answered.add(gate);
        log(`  approved ${handle.workflowId} (plan ${p!.approval!.planDigest.slice(0, 12)})`);
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return answered.size;
}

async function runOne(
  client: Client,
  taskQueue: string,
  sim: SimHandle,
  scenario: Scenario,
  opts: HistoriesBenchOptions,
): Promise<ProcedureRun> {
  const names = sim.nodes.map((n) => n.name);
  const input = scenario.input(names);
  const workflowId = `bench/${scenario.workflowType}/${names.length}-${Date.now()}`;
  const described = Object.entries(input)
    .filter(([k]) => k !== 'nodes')
    .map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  log(
    `${scenario.workflowType} on ${names.length} nodes${input.nodes ? ' (every node named)' : ''}${described.length ? `, ${described.join(', ')}` : ''}`,
  );
  const t0 = Date.now();
  const handle = await client.workflow.start(scenario.workflowType, {
    taskQueue,
    workflowId,
    args: [{ cluster: 'sim', ...input }],
  });
  const result = handle.result();
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  const timer = setTimeout(
    () => void handle.terminate('bench: run timeout').catch(() => undefined),
    opts.runTimeoutMinutes * 60_000,
  );
  const [outcome, approvals] = await Promise.all([
    result.then(
      (r) => String((r as { outcome?: unknown } | undefined)?.outcome ?? 'completed'),
      (err: unknown) =>
        err instanceof WorkflowFailedError
          ? `failed (${err.cause?.message ?? err.message})`
          : `failed (${err instanceof Error ? err.message : String(err)})`,
    ),
    approveGates(handle, readApproverKey(approverKeyPath(sim.dir)), settled),
    scenario.during?.(sim, settled),
  ]);
  clearTimeout(timer);
  const ms = Date.now() - t0;
  const tree = await executionTree(client, workflowId);
  const { mostEvents, largestPayload } = treeMaxima(tree);
  log(
    `  ${outcome} in ${secs(ms)}; ${tree.length} execution(s), most events ${mostEvents.events}, largest payload ${largestPayload ? `${kb(largestPayload.bytes)} (${largestPayload.where})` : '–'}`,
  );
  return { workflowType: scenario.workflowType, nodes: names.length, ms, outcome, approvals, input, tree };
}

/** A clusters.yaml for the worker: the simulator's, with a (fake) Docker Hub login for dockerHubPullSecret. */
function benchClustersFile(sim: SimHandle): string {
  const dir = dirname(sim.clustersPath);
  const credentialsFile = join(dir, 'bench-dockerhub.json');
  writeFileSync(credentialsFile, JSON.stringify({ username: 'nksr-bench', token: 'dckr_pat_FAKEbench' }), {
    mode: 0o600,
  });
  const doc = YAML.parse(readFileSync(sim.clustersPath, 'utf8')) as {
    clusters: Record<string, Record<string, unknown>>;
  };
  const entry = doc.clusters.sim!;
  entry.dockerHub = { credentialsFile };
  entry.policy = {
    ...((entry.policy as Record<string, unknown> | undefined) ?? {}),
    dockerHubPullSecret: { namespaces: [HUB_NAMESPACE] },
  };
  const out = join(dir, 'clusters-bench.yaml');
  writeFileSync(out, YAML.stringify(doc));
  return out;
}

/** One simulator of `nodes` for a group; every scenario of it run in turn, the simulator reset between. */
async function runGroup(
  group: Group,
  nodes: number,
  scenarios: Scenario[],
  server: Awaited<ReturnType<typeof startDevServer>>,
  bundle: string,
  opts: HistoriesBenchOptions,
): Promise<ProcedureRun[]> {
  const sim = await ensureTestSim({
    dir: opts.dir,
    ipPrefix: opts.ipPrefix,
    nodes,
    sshNodes: group === 'ssh' ? nodes : 0,
    ...(group === 'ssh' ? { drift: sshDrift(nodes), sshDelayMs: opts.delayMs } : {}),
    log,
  });
  const connection = await Connection.connect({ address: server.address });
  const taskQueue = `bench-histories-${group}-${nodes}-${process.pid}`;
  let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
  try {
    await recordBaseline(sim.dir);
    worker = await startWorkerProcess({
      address: server.address,
      namespace: server.namespace,
      taskQueue,
      clustersFile: benchClustersFile(sim),
      workflowBundlePath: bundle,
    });
    const client = new Client({ connection, namespace: server.namespace });
    const runs: ProcedureRun[] = [];
    for (const s of scenarios) {
      const t0 = Date.now();
      await s.setup?.(sim, nodes);
      if (s.setup) log(`  symptom set up in ${secs(Date.now() - t0)}`);
      runs.push(await runOne(client, taskQueue, sim, s, opts));
      const reset = await resetToBaseline(sim.dir, { timeoutMs: 15 * 60_000 });
      log(`  simulator reset in ${reset.seconds} s`);
    }
    return runs;
  } finally {
    await worker?.stop().catch(() => undefined);
    await connection.close();
    await simDown({ dir: opts.dir, log });
  }
}

export interface ProjectedLine {
  small: number;
  large: number;
  a: number;
  b: number;
  projected: number;
  /** The value fell from the smaller size to the larger: taken as flat, not as shrinking. */
  fell: boolean;
}

export interface Projection {
  kind: string;
  events: ProjectedLine;
  /** The payload site (`where`) whose projection is the largest of the kind. */
  payload: ProjectedLine & { where: string };
}

/** The line through (small, large) of one figure, to PROJECTED_NODES; a figure seen once is constant. */
function projectLine(
  smallNodes: number,
  small: number | undefined,
  largeNodes: number,
  large: number | undefined,
): ProjectedLine {
  const points = [
    { nodes: smallNodes, value: small },
    { nodes: largeNodes, value: large },
  ].filter((p): p is { nodes: number; value: number } => p.value !== undefined);
  const fit = fitLine(points);
  const fell = fit.b < 0;
  const a = fell ? Math.max(...points.map((p) => p.value)) : fit.a;
  const b = fell ? 0 : fit.b;
  return {
    small: small ?? 0,
    large: large ?? 0,
    a,
    b,
    projected: Math.round(a + b * PROJECTED_NODES),
    fell,
  };
}

/**
 * Per execution kind, the line through the two sizes for its largest history and, per payload site,
 * for that site's largest payload, and their values at PROJECTED_NODES. A kind or a site seen at one
 * size only is taken as constant; one that fell between the sizes as flat.
 */
export function project(small: ProcedureRun, large: ProcedureRun): Projection[] {
  const kinds = new Set([...small.tree, ...large.tree].map(executionKind));
  const of = (run: ProcedureRun, kind: string) => run.tree.filter((x) => executionKind(x) === kind);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : undefined);
  return [...kinds].map((kind) => {
    const [s, l] = [of(small, kind), of(large, kind)];
    const events = projectLine(
      small.nodes,
      max(s.map((x) => x.events)),
      large.nodes,
      max(l.map((x) => x.events)),
    );
    const sites = new Set([...s, ...l].flatMap((x) => [...x.payloadsBySite.keys()]));
    const site = (xs: ExecutionStats[], where: string) =>
      max(xs.map((x) => x.payloadsBySite.get(where)).filter((v): v is number => v !== undefined));
    let payload: Projection['payload'] = { ...projectLine(1, 0, 1, 0), where: '' };
    for (const where of sites) {
      const line = projectLine(small.nodes, site(s, where), large.nodes, site(l, where));
      if (!payload.where || line.projected > payload.projected) payload = { ...line, where };
    }
    return { kind, events, payload };
  });
}

const formula = (l: ProjectedLine, unit = '') =>
  `${Math.round(l.a)}${unit} + ${l.b.toFixed(2)}${unit}·n${l.fell ? ' (fell: taken as flat)' : ''}`;

function report(
  small: ProcedureRun,
  large: ProcedureRun,
): { lines: string[]; figures: Record<string, unknown> } {
  const projections = project(small, large);
  const { mostEvents, largestPayload } = treeMaxima(large.tree);
  const worstEvents = projections.reduce((a, b) => (b.events.projected > a.events.projected ? b : a));
  const worstPayload = projections.reduce((a, b) => (b.payload.projected > a.payload.projected ? b : a));
  const underEvents = worstEvents.events.projected < HISTORY_EVENT_LIMIT;
  const underPayload = worstPayload.payload.projected < PAYLOAD_LIMIT_BYTES;
  const lines = [
    `${large.workflowType}: ${small.nodes} → ${large.nodes} nodes`,
    ...[small, large].map(
      (r) =>
        `  at ${String(r.nodes).padStart(4)}: ${r.outcome} in ${secs(r.ms)}, ${r.tree.length} execution(s)${r.approvals ? `, ${r.approvals} approval(s)` : ''}`,
    ),
    ...describeExecutions(large.tree),
    `  largest history at ${large.nodes}: ${mostEvents.events} events (${mostEvents.workflowId})`,
    `  largest payload at ${large.nodes}: ${largestPayload ? `${kb(largestPayload.bytes)}, ${largestPayload.where} in ${largestPayload.workflowId}` : '–'}`,
    ...projections.map(
      (p) =>
        `  ${p.kind}: events ${p.events.small} → ${p.events.large} = ${formula(p.events)} → ${p.events.projected} at ${PROJECTED_NODES}; largest payload ${p.payload.small} B → ${p.payload.large} B = ${formula(p.payload, ' B')} → ${kb(p.payload.projected)} at ${PROJECTED_NODES} (${p.payload.where})`,
    ),
    `  at ${PROJECTED_NODES} nodes: largest history ${worstEvents.events.projected} events (${underEvents ? 'under' : 'OVER'} ${HISTORY_EVENT_LIMIT}), largest payload ${kb(worstPayload.payload.projected)} (${underPayload ? 'under' : 'OVER'} 64 KB)`,
  ];
  const chosen = Object.entries(large.input)
    .filter(([k]) => k !== 'nodes')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  return {
    lines,
    figures: {
      procedure: large.workflowType,
      smallNodes: small.nodes,
      largeNodes: large.nodes,
      smallMs: small.ms,
      largeMs: large.ms,
      smallOutcome: small.outcome,
      outcome: large.outcome,
      executions: large.tree.length,
      smallExecutions: small.tree.length,
      historyEvents: mostEvents.events,
      smallHistoryEvents: treeMaxima(small.tree).mostEvents.events,
      historyBytes: Math.max(...large.tree.map((x) => x.bytes)),
      payloadBytes: largestPayload?.bytes ?? 0,
      payloadWhere: largestPayload?.where ?? null,
      projectedEvents: worstEvents.events.projected,
      projectedEventsKind: worstEvents.kind,
      projectedPayloadBytes: worstPayload.payload.projected,
      projectedPayloadKind: worstPayload.kind,
      projectedPayloadWhere: worstPayload.payload.where,
      underEventLimit: underEvents,
      underPayloadLimit: underPayload,
      input: chosen || null,
    },
  };
}

function selected(opts: HistoriesBenchOptions): Scenario[] {
  if (!opts.procedures?.length) return BENCHED;
  return opts.procedures.map((name) => {
    const type = findProcedure(name)?.workflowType;
    const s = BENCHED.find((b) => b.workflowType === type);
    if (!s)
      throw new Error(
        `no history bench for ${JSON.stringify(name)} (one of: ${BENCHED.map((b) => b.workflowType).join(', ')})`,
      );
    return s;
  });
}

export async function benchHistories(opts: HistoriesBenchOptions): Promise<void> {
  const scenarios = selected(opts);
  if (opts.sshNodes > SIM_MAX_SSH_NODES)
    throw new Error(`--ssh-nodes: the simulator holds at most ${SIM_MAX_SSH_NODES} SSH nodes`);
  const sizes = (n: number) => [Math.max(1, Math.round(n / 5)), n] as const;
  const t0 = Date.now();
  const [server, bundle] = await Promise.all([
    startDevServer({ ui: false }),
    bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-bench-${process.pid}.js`)),
  ]);
  try {
    for (const group of ['kwok', 'ssh'] as const) {
      const mine = scenarios.filter((s) => s.group === group);
      if (!mine.length) continue;
      const recording = startRecording();
      const [small, large] = sizes(group === 'ssh' ? opts.sshNodes : opts.nodes);
      log(
        `${group} procedures (${mine.map((s) => s.workflowType).join(', ')}) at ${small} and ${large} nodes`,
      );
      const smallRuns = await runGroup(group, small, mine, server, bundle, opts);
      const largeRuns = await runGroup(group, large, mine, server, bundle, opts);
      for (const s of mine) {
        const a = smallRuns.find((r) => r.workflowType === s.workflowType)!;
        const b = largeRuns.find((r) => r.workflowType === s.workflowType)!;
        const { lines, figures } = report(a, b);
        const record = writeRunRecord(
          'histories',
          recording,
          { ...opts, procedures: s.workflowType, group },
          figures as Record<string, string | number | boolean | null>,
        );
        console.log([...lines, `  record: ${record}`, ''].join('\n'));
      }
    }
  } finally {
    await server.stop();
  }
  log(`whole bench: ${secs(Date.now() - t0)}`);
}

export function defaultHistoriesBenchOptions(): HistoriesBenchOptions {
  return {
    nodes: 1000,
    sshNodes: 200,
    delayMs: 0,
    runTimeoutMinutes: 30,
    dir: process.env.NKSR_SIM_DIR ?? join(REPO_ROOT, '.sim-bench-histories'),
    ipPrefix: process.env.NKSR_SIM_IP_PREFIX ?? '127.0.9',
  };
}
