/**
 * The fault suite: a procedure run N times on a small simulator, each run with one fault at a point
 * chosen by a seeded generator, each end state compared with an uninterrupted run's, side effects
 * counted from the Kubernetes API's watch. See faults/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  Watch,
  type V1DaemonSet,
  type V1Deployment,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { type SimHandle, simDown } from '../sim';
import { restartComponent } from '../sim/components';
import { setNodeFault } from '../sim/nodes';
import { freePorts } from '../sim/process';
import { ensureTestSim } from '../sim/testing';
import { isServerUnreachable } from '../src/client/cli/wait';
import { type DevServer, startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';

export const SCENARIOS = [
  'worker-kill',
  'worker-kill-after-side-effect',
  'worker-kill-at-hook',
  'temporal-restart',
  'apiserver-restart',
  'sshd-stopped',
  'cancel',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface SuiteOptions {
  runs: number;
  seed: number;
  procedure: 'calico';
  nodes: number;
  dir: string;
  ipPrefix: string;
  /** Only these scenarios (default all), taken in a seeded order. */
  scenarios?: readonly Scenario[];
  /** Longest a run may take before it counts as stuck (and is terminated). */
  runTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface EndState {
  images: string[];
  calicoPodImages: string[];
  nodes: string[];
  leftovers: string[];
}

export interface RunRow {
  index: number;
  scenario: Scenario | 'none';
  /** Where the fault struck, in words ("t=12.3s", "side effect 5/15", "hook 3/6"). */
  point: string;
  outcome: string;
  expectedOutcome: string;
  seconds: number;
  podsCreated: number;
  duplicatePods: number;
  patches: number;
  leftovers: string[];
  /** Differences from the uninterrupted run's end state; empty when the same. */
  differences: string[];
  notes: string[];
  ok: boolean;
}

export interface SuiteReport {
  seed: number;
  procedure: string;
  nodes: number;
  baseline: RunRow;
  rows: RunRow[];
  ok: boolean;
}

/** mulberry32: a small seeded generator, so a seed names a sequence of faults. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The scenarios of runs 1..n: each cycle through the list in a seeded order, so all are covered. */
export function planScenarios(n: number, random: () => number, list: readonly Scenario[]): Scenario[] {
  const out: Scenario[] = [];
  while (out.length < n) {
    const cycle = [...list];
    for (let i = cycle.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [cycle[i], cycle[j]] = [cycle[j]!, cycle[i]!];
    }
    out.push(...cycle);
  }
  return out.slice(0, n);
}

const NS = 'kube-system';
const PREPULL_SELECTOR = 'nksr.io/purpose=calico-prepull';
const WORKLOADS = [
  ['daemonsets', 'calico-node'],
  ['deployments', 'calico-typha'],
  ['deployments', 'calico-kube-controllers'],
] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Side effects seen on the API server's watch: pre-pull pods created (per name) and spec changes of
 * the calico workloads (metadata.generation bumps). A watch that ends (API server restart) resumes
 * from the last resourceVersion it saw, so nothing in between is missed.
 */
export class SideEffects {
  podCreations = new Map<string, number>();
  patches = 0;
  /** Every side effect in order, for "kill after the k-th". */
  total = 0;
  private generations = new Map<string, number>();
  private listeners: ((total: number) => void)[] = [];
  private aborts: AbortController[] = [];
  private stopped = false;

  constructor(private readonly kc: KubeConfig) {}

  async start(): Promise<void> {
    const apps = this.kc.makeApiClient(AppsV1Api);
    const core = this.kc.makeApiClient(CoreV1Api);
    const onPod = (pod: V1Pod) => {
      const name = pod.metadata!.name!;
      this.podCreations.set(name, (this.podCreations.get(name) ?? 0) + 1);
      this.bump();
    };
    const onWorkload = (w: V1DaemonSet | V1Deployment) => {
      const name = w.metadata?.name ?? '';
      const seen = this.generations.get(name);
      const gen = w.metadata?.generation ?? 0;
      if (seen !== undefined && gen > seen) {
        this.patches += gen - seen;
        this.generations.set(name, gen);
        this.bump();
      }
    };
    for (const [, name] of WORKLOADS) {
      const w =
        name === 'calico-node'
          ? await apps.readNamespacedDaemonSet({ name, namespace: NS })
          : await apps.readNamespacedDeployment({ name, namespace: NS });
      this.generations.set(name, w.metadata?.generation ?? 0);
    }
    const listPods = async () => {
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: PREPULL_SELECTOR });
      return { rv: list.metadata?.resourceVersion, items: list.items };
    };
    const first = await listPods();
    // A resync after a lost watch: what appeared meanwhile counts once (a pod created and deleted
    // while the watch was down would be missed, but nothing is created while the API server is).
    this.follow(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: PREPULL_SELECTOR },
      first.rv,
      (type, obj) => {
        if (type === 'ADDED') onPod(obj as V1Pod);
      },
      async () => {
        const now = await listPods();
        for (const p of now.items) if (!this.podCreations.has(p.metadata!.name!)) onPod(p);
        return now.rv;
      },
    );
    for (const kind of ['daemonsets', 'deployments'] as const) {
      const list = async () => {
        const l =
          kind === 'daemonsets'
            ? await apps.listNamespacedDaemonSet({ namespace: NS })
            : await apps.listNamespacedDeployment({ namespace: NS });
        return { rv: l.metadata?.resourceVersion, items: l.items as (V1DaemonSet | V1Deployment)[] };
      };
      const l0 = await list();
      this.follow(
        `/apis/apps/v1/namespaces/${NS}/${kind}`,
        {},
        l0.rv,
        (_type, obj) => onWorkload(obj as V1DaemonSet | V1Deployment),
        async () => {
          const now = await list();
          now.items.forEach(onWorkload);
          return now.rv;
        },
      );
    }
  }

  onSideEffect(fn: (total: number) => void): void {
    this.listeners.push(fn);
  }

  private bump(): void {
    this.total += 1;
    for (const l of this.listeners) l(this.total);
  }

  /**
   * Follows a watch from `resourceVersion`, reopening it when it ends. When the API server no longer
   * has that version (410 Gone after its restart) or the watch fails, `resync` lists afresh, accounts
   * for what changed meanwhile, and gives the version to go on from.
   */
  private follow(
    path: string,
    query: Record<string, string>,
    resourceVersion: string | undefined,
    onObject: (type: string, obj: unknown) => void,
    resync: () => Promise<string | undefined>,
  ): void {
    let rv = resourceVersion;
    let stale = false;
    const open = async (): Promise<void> => {
      while (!this.stopped) {
        try {
          if (stale) {
            rv = await resync();
            stale = false;
          }
          await new Promise<void>((resolve) => {
            new Watch(this.kc)
              .watch(
                path,
                { ...query, ...(rv ? { resourceVersion: rv } : {}) },
                (type: string, obj: { metadata?: { resourceVersion?: string } }) => {
                  if (type === 'ERROR') {
                    stale = true;
                    return;
                  }
                  if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
                  if (type === 'ADDED' || type === 'MODIFIED') onObject(type, obj);
                },
                (err: unknown) => {
                  if (err) stale = true;
                  resolve();
                },
              )
              .then(
                (abort) => this.aborts.push(abort),
                () => {
                  stale = true;
                  resolve();
                },
              );
          });
        } catch {
          stale = true;
        }
        if (!this.stopped) await sleep(500);
      }
    };
    void open();
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  duplicates(): number {
    return [...this.podCreations.values()].reduce((s, n) => s + Math.max(0, n - 1), 0);
  }
}

interface WorkerProc {
  child: ChildProcess;
  exited: Promise<number | null>;
  hookCalls: number;
}

class Harness {
  sim!: SimHandle;
  server?: DevServer;
  port!: number;
  db!: string;
  bundle!: string;
  kc!: KubeConfig;
  worker?: WorkerProc;
  taskQueue = `faults-${process.pid}`;
  private connection?: Connection;

  constructor(private readonly opts: SuiteOptions) {}

  get log(): (line: string) => void {
    return this.opts.log ?? (() => undefined);
  }

  async up(): Promise<void> {
    const [port] = await freePorts(1);
    this.port = port!;
    this.db = join(this.opts.dir, 'temporal', 'temporal.db');
    const [sim, bundle] = await Promise.all([
      ensureTestSim({
        dir: this.opts.dir,
        ipPrefix: this.opts.ipPrefix,
        nodes: this.opts.nodes,
        sshNodes: 1,
        log: this.log,
      }),
      bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-faults-${process.pid}.js`)),
    ]);
    this.sim = sim;
    this.bundle = bundle;
    await this.startServer();
    this.kc = new KubeConfig();
    this.kc.loadFromFile(sim.kubeconfigPath);
  }

  async startServer(): Promise<void> {
    // The SDK gives the dev server 5 s to answer; on a loaded machine that is sometimes too short.
    for (let attempt = 1; ; attempt++) {
      try {
        this.server = await startDevServer({ port: this.port, dbFilename: this.db, ip: '127.0.0.1' });
        return;
      } catch (e) {
        if (attempt >= 4) throw e;
        this.log(`Temporal dev server did not start (attempt ${attempt}): retrying`);
        await sleep(2000);
      }
    }
  }

  async stopServer(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async client(): Promise<Client> {
    this.connection ??= await Connection.connect({ address: this.address });
    return new Client({ connection: this.connection });
  }

  startWorker(killAtHook = 0): Promise<WorkerProc> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'faults', 'worker.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: this.address,
        TEMPORAL_NAMESPACE: 'default',
        NKSR_TASK_QUEUE: this.taskQueue,
        NKSR_CLUSTERS_FILE: this.sim.clustersPath,
        NKSR_WORKFLOW_BUNDLE: this.bundle,
        NKSR_FAULT_KILL_AT_HOOK: String(killAtHook),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: WorkerProc = {
      child,
      hookCalls: 0,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    let errText = '';
    child.stderr!.on('data', (b: Buffer) => (errText = (errText + b.toString()).slice(-2000)));
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`fault worker did not start: ${errText}`)), 120_000);
      child.stdout!.on('data', (b: Buffer) => {
        const text = b.toString();
        out += text;
        proc.hookCalls += (text.match(/^hook /gm) ?? []).length;
        if (/fault worker ready/.test(out)) {
          clearTimeout(timer);
          resolve(proc);
        }
      });
      void proc.exited.then((code) => {
        clearTimeout(timer);
        if (!/fault worker ready/.test(out)) reject(new Error(`fault worker exited (${code}): ${errText}`));
      });
      this.worker = proc;
    });
  }

  async killWorker(): Promise<void> {
    const w = this.worker;
    if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
    w.child.kill('SIGKILL');
    await w.exited;
  }

  async stopWorker(): Promise<void> {
    const w = this.worker;
    if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
    w.child.kill('SIGTERM');
    const timer = setTimeout(() => w.child.kill('SIGKILL'), 10_000);
    await w.exited;
    clearTimeout(timer);
  }

  /** The broken NKS state again, no pre-pull pods, sshd up: every run starts from the same place. */
  async reset(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    if (this.sim.state.ssh)
      await setNodeFault({ dir: this.sim.dir, node: this.sim.nodes[0]!.name, fault: 'none' });
    await core
      .deleteCollectionNamespacedPod({ namespace: NS, labelSelector: PREPULL_SELECTOR })
      .catch(() => undefined);
    await this.sim.applyFixtures();
    const deadline = Date.now() + 120_000;
    for (;;) {
      const pods = (await core.listNamespacedPod({ namespace: NS })).items;
      const calicoNode = pods.filter((p) => p.metadata?.labels?.['k8s-app'] === 'calico-node');
      const prepull = pods.filter((p) => p.metadata?.labels?.['nksr.io/purpose'] === 'calico-prepull');
      const settled =
        prepull.length === 0 &&
        calicoNode.length === this.opts.nodes &&
        calicoNode.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
      if (settled) return;
      if (Date.now() > deadline) throw new Error('the simulator did not return to the broken NKS state');
      await sleep(500);
    }
  }

  async endState(): Promise<EndState> {
    const apps = this.kc.makeApiClient(AppsV1Api);
    const core = this.kc.makeApiClient(CoreV1Api);
    const images: string[] = [];
    for (const [kind, name] of WORKLOADS) {
      const w =
        kind === 'daemonsets'
          ? await apps.readNamespacedDaemonSet({ name, namespace: NS })
          : await apps.readNamespacedDeployment({ name, namespace: NS });
      for (const c of [
        ...(w.spec?.template.spec?.initContainers ?? []),
        ...(w.spec?.template.spec?.containers ?? []),
      ])
        images.push(`${name}/${c.name}=${c.image}`);
    }
    const pods = (await core.listNamespacedPod({ namespace: NS })).items;
    const calicoPodImages = [
      ...new Set(
        pods
          .filter(
            (p) => /^calico-/.test(p.metadata?.labels?.['k8s-app'] ?? '') && !p.metadata?.deletionTimestamp,
          )
          .flatMap((p) =>
            (p.spec?.containers ?? []).map((c) => `${p.metadata?.labels?.['k8s-app']}=${c.image}`),
          ),
      ),
    ].sort();
    const leftovers = pods
      .filter((p) => p.metadata?.labels?.['nksr.io/purpose'] === 'calico-prepull')
      .map((p) => p.metadata!.name!)
      .sort();
    const nodes = (await core.listNode()).items
      .map((n: V1Node) => {
        const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        const taints = (n.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();
        return `${n.metadata?.name} ready=${ready} unschedulable=${n.spec?.unschedulable ?? false} taints=[${taints.join(',')}]`;
      })
      .sort();
    return { images, calicoPodImages, nodes, leftovers };
  }

  async down(): Promise<void> {
    await this.stopWorker().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.stopServer().catch(() => undefined);
    await simDown({ dir: this.opts.dir, log: this.log }).catch(() => undefined);
  }
}

/** result(), retried while the Temporal server is away (it is restarted by one of the faults). */
async function outcomeOf(handle: WorkflowHandle, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const result = (await Promise.race([
        handle.result(),
        sleep(Math.max(0, deadline - Date.now())).then(() => 'stuck'),
      ])) as { outcome?: string } | string;
      return typeof result === 'string' ? result : (result.outcome ?? 'completed');
    } catch (err) {
      if (isServerUnreachable(err) && Date.now() < deadline) {
        await sleep(1000);
        continue;
      }
      if (err instanceof WorkflowFailedError) {
        if (err.cause instanceof CancelledFailure) return 'cancelled';
        return `failed: ${err.cause?.message ?? err.message}`.slice(0, 120);
      }
      return `error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 120);
    }
  }
}

function compare(expected: EndState, actual: EndState, scenario: Scenario | 'none'): string[] {
  const diffs: string[] = [];
  const same = (a: string[], b: string[]) => JSON.stringify(a) === JSON.stringify(b);
  // A cancelled run stops wherever it was: its images are not the repaired ones by design.
  if (scenario !== 'cancel') {
    if (!same(expected.images, actual.images)) diffs.push(`images: ${actual.images.join(' ')}`);
    if (!same(expected.calicoPodImages, actual.calicoPodImages))
      diffs.push(`calico pods: ${actual.calicoPodImages.join(' ')}`);
  }
  if (!same(expected.nodes, actual.nodes)) diffs.push(`nodes: ${actual.nodes.join('; ')}`);
  return diffs;
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteReport> {
  const log = opts.log ?? (() => undefined);
  const random = rng(opts.seed);
  const h = new Harness(opts);
  const runTimeoutMs = opts.runTimeoutMs ?? 8 * 60_000;
  // Ctrl-C or a kill: stop the simulator, the server and the worker this suite started.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping what the suite started`);
    void h.down().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await h.up();
  try {
    const client = await h.client();
    const runOnce = async (
      index: number,
      scenario: Scenario | 'none',
      baseline?: { seconds: number; sideEffects: number; hookCalls: number; end: EndState },
    ): Promise<{ row: RunRow; end: EndState; sideEffects: number; hookCalls: number }> => {
      await h.reset();
      const effects = new SideEffects(h.kc);
      await effects.start();
      const notes: string[] = [];
      let point = '-';
      // Fault parameters are drawn before the run, so a seed gives the same faults whatever the timing.
      const frac = 0.05 + 0.9 * random();
      const downMs = 1000 + Math.floor(random() * 4000);
      const atTime = baseline ? Math.round(baseline.seconds * 1000 * frac) : 0;
      let effectiveScenario = scenario;
      if (scenario === 'worker-kill-at-hook' && (baseline?.hookCalls ?? 0) === 0) {
        effectiveScenario = 'worker-kill-after-side-effect';
        notes.push('no write hooks in this procedure: killed after a side effect instead');
      }
      const k = baseline ? 1 + Math.floor(random() * Math.max(1, baseline.sideEffects)) : 0;
      const n = baseline ? 1 + Math.floor(random() * Math.max(1, baseline.hookCalls)) : 0;

      await h.startWorker(effectiveScenario === 'worker-kill-at-hook' ? n : 0);
      let hookCalls = 0;
      const t0 = Date.now();
      const workflowId = `nks/sim/calicoImageRepair/faults-${opts.seed}-${index}`;
      const handle = await client.workflow.start('calicoImageRepair', {
        taskQueue: h.taskQueue,
        workflowId,
        args: [{ cluster: 'sim', maxParallel: 2 }],
      });

      let restarting = false;
      const restartWorker = async (why: string) => {
        restarting = true;
        try {
          hookCalls += h.worker?.hookCalls ?? 0;
          await sleep(1000);
          await h.startWorker(0);
          notes.push(why);
        } finally {
          restarting = false;
        }
      };
      // A worker that dies of something other than our fault (e.g. it gave up on a restarting
      // Temporal server) is noted and replaced: the suite is about the workflow, not that process.
      const guard = setInterval(() => {
        const w = h.worker;
        if (runEnded || restarting || !w || (w.child.exitCode === null && w.child.signalCode === null))
          return;
        if (effectiveScenario.startsWith('worker-kill') && !struck) return;
        void restartWorker(
          `worker exited by itself (${w.child.exitCode ?? w.child.signalCode}); started another`,
        );
      }, 1000);
      let runEnded = false;
      let struck = false;
      /** Waits, then says whether the fault should still strike (not once the run has ended). */
      const until = async (ms: number) => {
        await sleep(ms);
        if (runEnded) return false;
        struck = true;
        return true;
      };
      const fault = async () => {
        switch (effectiveScenario) {
          case 'none':
            return;
          case 'worker-kill':
            point = `t=${(atTime / 1000).toFixed(1)}s`;
            if (!(await until(atTime))) return;
            await h.killWorker();
            await restartWorker('worker SIGKILLed, new worker started');
            return;
          case 'worker-kill-after-side-effect': {
            point = `side effect ${k}/${baseline!.sideEffects}`;
            await new Promise<void>((resolve) => effects.onSideEffect((total) => total === k && resolve()));
            if (!(await until(0))) return;
            await h.killWorker();
            await restartWorker(`worker SIGKILLed right after side effect ${k}`);
            return;
          }
          case 'worker-kill-at-hook': {
            point = `hook ${n}/${baseline!.hookCalls}`;
            await h.worker!.exited;
            if (!(await until(0))) return;
            await restartWorker(`worker killed itself at write hook ${n}`);
            return;
          }
          case 'temporal-restart':
            point = `t=${(atTime / 1000).toFixed(1)}s, down ${(downMs / 1000).toFixed(1)}s`;
            if (!(await until(atTime))) return;
            await h.stopServer();
            await sleep(downMs);
            await h.startServer();
            return;
          case 'apiserver-restart':
            point = `t=${(atTime / 1000).toFixed(1)}s, down ${(downMs / 1000).toFixed(1)}s`;
            if (!(await until(atTime))) return;
            await restartComponent(h.sim.dir, 'kube-apiserver', { graceMs: 0, downMs });
            return;
          case 'sshd-stopped':
            point = `t=${(atTime / 1000).toFixed(1)}s on ${h.sim.nodes[0]!.name}`;
            if (!(await until(atTime))) return;
            await setNodeFault({ dir: h.sim.dir, node: h.sim.nodes[0]!.name, fault: 'sshd-stopped' });
            return;
          case 'cancel':
            point = `t=${(atTime / 1000).toFixed(1)}s`;
            if (!(await until(atTime))) return;
            await handle.cancel();
            return;
        }
      };
      const faultDone = fault().catch((e: unknown) => {
        notes.push(`fault could not be applied: ${e instanceof Error ? e.message : String(e)}`);
      });
      const outcome = await outcomeOf(handle, runTimeoutMs);
      runEnded = true;
      clearInterval(guard);
      const seconds = (Date.now() - t0) / 1000;
      if (outcome === 'stuck') {
        notes.push(`no result after ${runTimeoutMs / 1000}s: terminated`);
        await handle.terminate('fault suite: stuck').catch(() => undefined);
      }
      // A fault still waiting for its moment when the run ended did not strike.
      await Promise.race([faultDone, sleep(2000)]);
      if (effectiveScenario !== 'none' && !struck)
        notes.push('the run ended before the fault point: no fault');
      hookCalls += h.worker?.hookCalls ?? 0;
      await h.stopWorker();
      // Give the watch a moment to deliver the last events before counting.
      await sleep(1500);
      effects.stop();
      const end = await h.endState();
      const expectedOutcome = effectiveScenario === 'cancel' ? 'cancelled' : 'repaired';
      const differences = baseline ? compare(baseline.end, end, effectiveScenario) : [];
      const patchDiff =
        baseline && effectiveScenario !== 'cancel' && effects.patches !== baselinePatches ? 1 : 0;
      if (patchDiff) differences.push(`patches ${effects.patches} (uninterrupted: ${baselinePatches})`);
      const row: RunRow = {
        index,
        scenario,
        point,
        outcome,
        expectedOutcome,
        seconds,
        podsCreated: effects.podCreations.size,
        duplicatePods: effects.duplicates(),
        patches: effects.patches,
        leftovers: end.leftovers,
        differences,
        notes,
        ok:
          (outcome === expectedOutcome || (effectiveScenario === 'cancel' && outcome === 'repaired')) &&
          effects.duplicates() === 0 &&
          end.leftovers.length === 0 &&
          differences.length === 0,
      };
      if (effectiveScenario === 'cancel' && outcome === 'repaired')
        notes.push('finished before the cancel arrived');
      log(
        `run ${index} ${scenario} (${point}): ${outcome} in ${seconds.toFixed(1)}s, ${row.podsCreated} pods (${row.duplicatePods} dup), ${row.patches} patches, ${end.leftovers.length} leftovers${differences.length ? `; DIFF ${differences.join(' | ')}` : ''}${notes.length ? `; ${notes.join('; ')}` : ''}`,
      );
      return { row, end, sideEffects: effects.total, hookCalls };
    };

    let baselinePatches = 0;
    log('uninterrupted run (the reference)');
    const base = await runOnce(0, 'none');
    baselinePatches = base.row.patches;
    if (base.row.outcome !== 'repaired' || base.end.leftovers.length || base.row.duplicatePods)
      base.row.ok = false;
    const baseline = {
      seconds: base.row.seconds,
      sideEffects: base.sideEffects,
      hookCalls: base.hookCalls,
      end: base.end,
    };
    const rows: RunRow[] = [];
    const plan = planScenarios(opts.runs, random, opts.scenarios ?? SCENARIOS);
    for (let i = 0; i < plan.length; i++) {
      rows.push((await runOnce(i + 1, plan[i]!, baseline)).row);
    }
    return {
      seed: opts.seed,
      procedure: opts.procedure,
      nodes: opts.nodes,
      baseline: base.row,
      rows,
      ok: base.row.ok && rows.every((r) => r.ok),
    };
  } finally {
    await h.down();
  }
}

/** The table: one row per run, the uninterrupted reference first. */
export function formatTable(report: SuiteReport): string {
  const head = [
    '#',
    'scenario',
    'fault at',
    'outcome',
    'time',
    'pods created (dup)',
    'patches',
    'leftovers',
    'end state',
  ];
  const line = (r: RunRow) => [
    r.index === 0 ? 'ref' : String(r.index),
    r.scenario,
    r.point,
    r.outcome === r.expectedOutcome ? r.outcome : `${r.outcome} (expected ${r.expectedOutcome})`,
    `${r.seconds.toFixed(1)}s`,
    `${r.podsCreated} (${r.duplicatePods})`,
    String(r.patches),
    r.leftovers.length ? `${r.leftovers.length}: ${r.leftovers.join(', ')}` : '0',
    r.index === 0 ? 'reference' : r.differences.length ? `DIFFERENT: ${r.differences.join('; ')}` : 'same',
  ];
  const rows = [head, line(report.baseline), ...report.rows.map(line)];
  const md = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const ok = report.rows.filter((r) => r.ok).length;
  return [
    `fault suite: ${report.procedure}, ${report.nodes} nodes, seed ${report.seed}: ${ok}/${report.rows.length} runs as expected`,
    '',
    md(rows[0]!),
    md(rows[0]!.map(() => '---')),
    ...rows.slice(1).map(md),
    '',
    ...[report.baseline, ...report.rows]
      .filter((r) => r.notes.length)
      .map((r) => `- run ${r.index === 0 ? 'ref' : r.index}: ${r.notes.join('; ')}`),
  ].join('\n');
}
