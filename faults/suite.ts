/**
 * The fault suite: a procedure run N times on a small simulator, each run with one fault at a point
 * chosen by a seeded generator, each end state compared with an uninterrupted run's, side effects
 * counted from outside the product (faults/effects.ts). The procedures are drivers
 * (faults/procedures.ts); this file is the one runner for all of them. See faults/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { approverKeyPath, type SimHandle, simDown } from '../sim';
import { restartComponent } from '../sim/components';
import { setNodeFault } from '../sim/nodes';
import { freePorts } from '../sim/process';
import { ensureTestSim } from '../sim/testing';
import { isServerUnreachable } from '../src/client/cli/wait';
import type { Progress } from '../src/common/types';
import { type DevServer, startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import {
  type Driver,
  type EndState,
  type ProcedureName,
  type Scenario,
  type SimView,
  driverFor,
} from './procedures';
import { rng } from '../test/seeded-random';
import { approveWaitingRun } from '../src/client/approve-run';
import { readApproverKey } from '../src/client/approver-key';

export { SCENARIOS, PROCEDURES, type Scenario, type ProcedureName } from './procedures';

export interface SuiteOptions {
  /** Faulted runs per procedure, unless the procedure says otherwise. */
  runs: number;
  seed: number;
  procedures: readonly { name: ProcedureName; runs?: number }[];
  nodes: number;
  dir: string;
  ipPrefix: string;
  /** Only these scenarios (default all the procedure has), taken in a seeded order. */
  scenarios?: readonly Scenario[];
  /** Longest a run may take before it counts as stuck (and is terminated). */
  runTimeoutMs?: number;
  /** Attempts per run when the drawn fault point comes after the run has ended. */
  attempts?: number;
  log?: (line: string) => void;
}

export interface RunRow {
  index: number;
  scenario: Scenario | 'none';
  /** Where the fault struck, in words ("pre-pull+3.2s", "side effect 5/15", "hook 3/6"). */
  point: string;
  outcome: string;
  expectedOutcome: string;
  seconds: number;
  /** Named side-effect counts ("pods", "patches", "reboots", "installs", ...). */
  counts: Record<string, number>;
  duplicates: string[];
  leftovers: string[];
  /** Differences from the uninterrupted run's end state; empty when the same. */
  differences: string[];
  notes: string[];
  /** False when every attempt's fault point came after the run had ended (no fault struck). */
  struck: boolean;
  ok: boolean;
}

export interface SuiteReport {
  seed: number;
  procedure: ProcedureName;
  nodes: number;
  baseline: RunRow;
  rows: RunRow[];
  /** The error that ended the procedure's runs early (e.g. the simulator could not be reset). */
  stoppedBy?: string;
  ok: boolean;
}

/** A seed names a sequence of faults. */
export { rng };

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

/** A phase of the reference run and when it was current (ms from the start). */
export interface PhaseWindow {
  phase: string;
  fromMs: number;
  toMs: number;
}

const TERMINAL_PHASES = new Set(['completed', 'failed', 'cancelled', 'approval-expired']);
/** "waiting-for-lock (held by x)" and "waiting-for-lock" are one phase. */
export const phaseName = (phase: string): string => phase.replace(/\s*\(.*$/, '').trim();

/** The windows of the phases seen at these times, the last one closed at `endMs`; terminal phases left out. */
export function phaseWindows(seen: { phase: string; atMs: number }[], endMs: number): PhaseWindow[] {
  const out: PhaseWindow[] = [];
  seen.forEach((s, i) => {
    const toMs = seen[i + 1]?.atMs ?? endMs;
    if (!TERMINAL_PHASES.has(s.phase) && toMs > s.atMs) out.push({ phase: s.phase, fromMs: s.atMs, toMs });
  });
  return out;
}

/**
 * A fault point: `u` in [0, 1) spread over the reference's time in `phases` (all when none given or
 * none matches), as a phase and an offset into it. Drawn against phases rather than the clock, so a
 * run slower or faster than the reference still gets its fault while it runs.
 */
export function pointIn(
  windows: PhaseWindow[],
  u: number,
  phases?: readonly string[],
): { phase: string; offsetMs: number } | undefined {
  const allowed = phases ? windows.filter((w) => phases.includes(w.phase)) : [];
  const pool = allowed.length ? allowed : windows;
  const total = pool.reduce((s, w) => s + (w.toMs - w.fromMs), 0);
  if (total <= 0) return undefined;
  let t = u * total;
  for (const w of pool) {
    const d = w.toMs - w.fromMs;
    if (t < d) return { phase: w.phase, offsetMs: Math.round(t) };
    t -= d;
  }
  const last = pool[pool.length - 1]!;
  return { phase: last.phase, offsetMs: last.toMs - last.fromMs - 1 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The run's phases as its progress query shows them (polled; blind while no worker answers), and
 * its approval gate answered as an operator would (`nksr approve`).
 */
class PhaseWatch {
  seen: { phase: string; atMs: number }[] = [];
  events: string[] = [];
  private timer: NodeJS.Timeout;
  private approving = false;
  private polling = false;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly handle: WorkflowHandle,
    private readonly t0: number,
    /** The fault simulator's approver key: a run waiting for approval is approved as nksr approve would. */
    private readonly approverKey: string,
  ) {
    this.timer = setInterval(() => void this.poll(), 250);
  }

  private async poll(): Promise<void> {
    // One query at a time: with no worker to answer, each waits up to 10 s on the server.
    if (this.polling) return;
    this.polling = true;
    const p = await this.handle
      .query<Progress>('progress')
      .catch(() => undefined)
      .finally(() => (this.polling = false));
    if (!p) return;
    this.events = p.events;
    const phase = phaseName(p.phase);
    if (this.seen[this.seen.length - 1]?.phase !== phase) {
      this.seen.push({ phase, atMs: Date.now() - this.t0 });
      for (const w of this.waiters.splice(0)) w();
    }
    if (p.awaitingApproval && !this.approving) {
      this.approving = true;
      await approveWaitingRun(this.handle, this.approverKey)
        .catch(() => undefined)
        .finally(() => (this.approving = false));
    }
  }

  /** Resolves once `phase` or a phase after it (in `order`) has been seen; `done` ends the wait. */
  async reached(phase: string, order: string[], done: () => boolean): Promise<boolean> {
    const at = order.indexOf(phase);
    const hit = () => this.seen.some((s) => s.phase === phase || (at >= 0 && order.indexOf(s.phase) > at));
    while (!hit()) {
      if (done()) return false;
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(500)]);
    }
    return true;
  }

  current(): string | undefined {
    return this.seen[this.seen.length - 1]?.phase;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

interface WorkerProc {
  child: ChildProcess;
  exited: Promise<number | null>;
  hookCalls: number;
}

class Harness implements SimView {
  sim!: SimHandle;
  server?: DevServer;
  port!: number;
  db!: string;
  bundle!: string;
  kc!: KubeConfig;
  nodes: string[] = [];
  worker?: WorkerProc;
  taskQueue = `faults-${process.pid}`;
  private connection?: Connection;

  constructor(private readonly opts: SuiteOptions) {}

  get dir(): string {
    return this.sim.dir;
  }

  get log(): (line: string) => void {
    return this.opts.log ?? (() => undefined);
  }

  async up(): Promise<void> {
    const [port] = await freePorts(1);
    this.port = port!;
    this.db = join(this.opts.dir, 'temporal', 'temporal.db');
    const [sim, bundle] = await Promise.all([
      // Every node has sshd (the SSH procedures); the default drift: node 2 lacks
      // /etc/logrotate.d/docker, node 3 has another one. Reboots are short (2 s down).
      ensureTestSim({
        dir: this.opts.dir,
        ipPrefix: this.opts.ipPrefix,
        nodes: this.opts.nodes,
        drift: { rebootDownMs: 2000 },
        // docker nodes: logrotateSync installs only there (containerd nodes: kubelet rotates logs).
        runtime: 'docker',
        log: this.log,
      }),
      bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-faults-${process.pid}.js`)),
    ]);
    this.sim = sim;
    this.nodes = sim.nodes.map((n) => n.name).sort();
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

  /** sshd back on every node, then the procedure's broken state: every run starts from the same place. */
  async reset(driver: Driver): Promise<void> {
    if (this.sim.state.ssh)
      for (const node of this.nodes) await setNodeFault({ dir: this.dir, node, fault: 'none' });
    await driver.reset(this);
  }

  /** The simulator first: a client call still in flight may throw once the connection is closed. */
  async down(): Promise<void> {
    await this.stopWorker().catch(() => undefined);
    await simDown({ dir: this.opts.dir, log: this.log }).catch(() => undefined);
    await this.stopServer().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }
}

/** result(), retried while the Temporal server is away (it is restarted by one of the faults). */
export async function outcomeOf(handle: WorkflowHandle, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = (await Promise.race([
        handle.result(),
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve('stuck'), Math.max(0, deadline - Date.now()));
        }),
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
    } finally {
      clearTimeout(timer);
    }
  }
}

/** When the run closed (server clock, same machine), retried while the Temporal server is away. */
async function describeClose(handle: WorkflowHandle): Promise<number | undefined> {
  for (let i = 0; i < 30; i++) {
    try {
      return (await handle.describe()).closeTime?.getTime();
    } catch {
      await sleep(1000);
    }
  }
  return undefined;
}

/** Fact-by-fact differences from the reference (after a cancel, only the facts the driver keeps). */
export function compare(
  driver: Driver,
  v: SimView,
  expected: EndState,
  actual: EndState,
  cancelled: boolean,
): string[] {
  const diffs: string[] = [];
  for (const key of new Set([...Object.keys(expected.facts), ...Object.keys(actual.facts)])) {
    if (cancelled && !driver.comparedAfterCancel(key, v)) continue;
    const [e, a] = [expected.facts[key], actual.facts[key]];
    if (e !== a) diffs.push(`${key}: ${a ?? '(none)'} (reference: ${e ?? '(none)'})`);
  }
  return diffs;
}

interface Reference {
  seconds: number;
  sideEffects: number;
  hookCalls: number;
  counts: Record<string, number>;
  end: EndState;
  windows: PhaseWindow[];
  order: string[];
}

/** The random numbers one run's fault is made of: always four, so later runs draw the same whatever happens. */
interface Draw {
  point: number;
  down: number;
  k: number;
  n: number;
}
const drawFrom = (random: () => number): Draw => ({
  point: random(),
  down: random(),
  k: random(),
  n: random(),
});

interface Attempt {
  row: RunRow;
  end: EndState;
  sideEffects: number;
  hookCalls: number;
  seen: { phase: string; atMs: number }[];
  /** The fault's moment came after the run had ended: nothing struck. */
  afterEnd: boolean;
}

/** One run of `driver` with `scenario`'s fault drawn from `draw` (none for the reference). */
async function runOnce(
  h: Harness,
  client: Client,
  driver: Driver,
  opts: SuiteOptions,
  index: number,
  attempt: number,
  scenario: Scenario | 'none',
  draw: Draw,
  ref?: Reference,
): Promise<Attempt> {
  const log = opts.log ?? (() => undefined);
  const runTimeoutMs = opts.runTimeoutMs ?? 8 * 60_000;
  await h.reset(driver);
  const effects = driver.sideEffects(h);
  await effects.start();
  const notes: string[] = [];
  let point = '-';
  let effective = scenario;
  if (scenario === 'worker-kill-at-hook' && (ref?.hookCalls ?? 0) === 0) {
    effective = 'worker-kill-after-side-effect';
    notes.push('no write hooks in this procedure: killed after a side effect instead');
  }
  const cancel = effective === 'cancel';
  const at = ref ? pointIn(ref.windows, draw.point, cancel ? driver.cancelPhases : undefined) : undefined;
  const downMs =
    effective === 'sshd-stop' ? 2000 + Math.floor(draw.down * 6000) : 1000 + Math.floor(draw.down * 4000);
  const k = ref ? 1 + Math.floor(draw.k * Math.max(1, ref.sideEffects)) : 0;
  const n = ref ? 1 + Math.floor(draw.n * Math.max(1, ref.hookCalls)) : 0;

  await h.startWorker(effective === 'worker-kill-at-hook' ? n : 0);
  let hookCalls = 0;
  const t0 = Date.now();
  const handle = await client.workflow.start(driver.workflowType, {
    taskQueue: h.taskQueue,
    workflowId: `nks/sim/${driver.workflowType}/faults-${opts.seed}-${index}${attempt > 1 ? `-a${attempt}` : ''}`,
    args: [driver.input(h)],
  });
  const phases = new PhaseWatch(handle, t0, readApproverKey(approverKeyPath(opts.dir)));

  let restarting = false;
  let runEnded = false;
  let struck = false;
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
  // A worker that dies of something other than our fault (e.g. it gave up on a restarting Temporal
  // server) fails the run: a product whose worker crashes under a fault is not fault tolerant. It
  // is replaced so the run's end state can still be read.
  let crashedBySelf = false;
  const guard = setInterval(() => {
    const w = h.worker;
    if (runEnded || restarting || !w || (w.child.exitCode === null && w.child.signalCode === null)) return;
    if (effective.startsWith('worker-kill') && !struck) return;
    crashedBySelf = true;
    void restartWorker(
      `worker exited by itself (${w.child.exitCode ?? w.child.signalCode}); started another`,
    );
  }, 1000);
  /** Says whether the fault strikes now: not once the run has ended. */
  let struckAt = 0;
  const strike = () => {
    if (runEnded) return false;
    struck = true;
    struckAt = Date.now();
    return true;
  };
  /** Waits for the drawn phase and offset; false when the run ended first. */
  const untilPoint = async () => {
    if (!at || !ref) return strike();
    if (!(await phases.reached(at.phase, ref.order, () => runEnded))) return false;
    // Seen late (a phase after it is current already): strike now rather than wait.
    if (phases.current() === at.phase) await sleep(at.offsetMs);
    return strike();
  };
  const atLabel = at ? `${at.phase}+${(at.offsetMs / 1000).toFixed(1)}s` : 'start';
  const fault = async () => {
    switch (effective) {
      case 'none':
        return;
      case 'worker-kill':
        point = atLabel;
        if (!(await untilPoint())) return;
        await h.killWorker();
        await restartWorker('worker SIGKILLed, new worker started');
        return;
      case 'worker-kill-after-side-effect': {
        point = `side effect ${k}/${ref!.sideEffects}`;
        await new Promise<void>((resolve) => effects.onSideEffect((total) => total === k && resolve()));
        if (!strike()) return;
        await h.killWorker();
        await restartWorker(`worker SIGKILLed right after side effect ${k}`);
        return;
      }
      case 'worker-kill-at-hook': {
        point = `hook ${n}/${ref!.hookCalls}`;
        await h.worker!.exited;
        if (!strike()) return;
        await restartWorker(`worker killed itself at write hook ${n}`);
        return;
      }
      case 'temporal-restart':
        point = `${atLabel}, down ${(downMs / 1000).toFixed(1)}s`;
        if (!(await untilPoint())) return;
        await h.stopServer();
        await sleep(downMs);
        await h.startServer();
        return;
      case 'apiserver-restart':
        point = `${atLabel}, down ${(downMs / 1000).toFixed(1)}s`;
        if (!(await untilPoint())) return;
        await restartComponent(h.dir, 'kube-apiserver', { graceMs: 0, downMs });
        return;
      case 'sshd-stop': {
        const node = driver.sshdNode!(h);
        point = `${atLabel} on ${node.replace(/^.*-(node-\d+)$/, '$1')}, ${(downMs / 1000).toFixed(1)}s`;
        if (!(await untilPoint())) return;
        await setNodeFault({ dir: h.dir, node, fault: 'sshd-stopped' });
        await sleep(downMs);
        await setNodeFault({ dir: h.dir, node, fault: 'none' });
        return;
      }
      case 'cancel':
        point = atLabel;
        if (!(await untilPoint())) return;
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
  // A fault that struck finishes (a restart brings its component back) before the end state is read.
  await Promise.race([faultDone, sleep(struck ? 120_000 : 2000)]);
  // The result reaches us a moment after the run closed: a fault in that moment came after the end.
  const closedAt = await describeClose(handle);
  const lateStrike = struck && closedAt !== undefined && closedAt <= struckAt;
  if (lateStrike)
    notes.push(`the run had closed ${((struckAt - closedAt) / 1000).toFixed(1)}s before the fault`);
  const afterEnd = effective !== 'none' && (!struck || lateStrike);
  // The run's own words (e.g. a node left cordoned on purpose by a cancel during its reboot).
  phases.stop();
  const events = await handle
    .query<Progress>('progress')
    .then((p) => p.events)
    .catch(() => phases.events);
  hookCalls += h.worker?.hookCalls ?? 0;
  await h.stopWorker();
  // Give the watches a moment to deliver the last events before counting.
  await sleep(1500);
  effects.stop();
  const end = await driver.endState(h);
  const counts = effects.counts();
  const duplicates = effects.duplicates();
  const expectedOutcome = cancel ? 'cancelled' : driver.successOutcome;
  // A cancel requested before the run closed that the run then finished anyway was ignored: a
  // failure. One that came after the close was not exercised (afterEnd: drawn again).
  const ignoredCancel = cancel && !afterEnd && outcome === driver.successOutcome;
  if (ignoredCancel) notes.push('the run ignored the cancel: it finished after the cancel was requested');
  const wasCancelled = cancel && outcome === 'cancelled';
  const differences = ref ? compare(driver, h, ref.end, end, wasCancelled) : [];
  if (ref && !wasCancelled)
    for (const c of driver.countsLikeReference)
      if ((counts[c] ?? 0) !== (ref.counts[c] ?? 0))
        differences.push(`${c} ${counts[c] ?? 0} (reference: ${ref.counts[c] ?? 0})`);
  const leftovers = end.leftovers.filter((l) => !(wasCancelled && driver.excusedAfterCancel?.(l, events)));
  const excused = end.leftovers.filter((l) => !leftovers.includes(l));
  if (excused.length) notes.push(`left as the run reported for a cancel: ${excused.join(', ')}`);
  if (attempt > 1) notes.push(`attempt ${attempt}: the earlier draw came after the run had ended`);
  const row: RunRow = {
    index,
    scenario,
    point: afterEnd ? `${point} (after the end)` : point,
    outcome,
    expectedOutcome,
    seconds,
    counts,
    duplicates,
    leftovers,
    differences,
    notes,
    struck: !afterEnd,
    ok:
      !afterEnd &&
      outcome === expectedOutcome &&
      !crashedBySelf &&
      duplicates.length === 0 &&
      leftovers.length === 0 &&
      differences.length === 0,
  };
  const countText = Object.entries(counts)
    .map(([name, c]) => `${c} ${name}`)
    .join(', ');
  log(
    `${driver.name} run ${index}${attempt > 1 ? ` (attempt ${attempt})` : ''} ${scenario} (${row.point}): ${outcome} in ${seconds.toFixed(1)}s, ${countText}, ${duplicates.length} dup, ${leftovers.length} leftovers${differences.length ? `; DIFF ${differences.join(' | ')}` : ''}${duplicates.length ? `; DUP ${duplicates.join(' | ')}` : ''}${notes.length ? `; ${notes.join('; ')}` : ''}`,
  );
  return { row, end, sideEffects: effects.total, hookCalls, seen: phases.seen, afterEnd };
}

/** One procedure: the reference run, then `runs` faulted runs. */
async function runProcedure(
  h: Harness,
  client: Client,
  driver: Driver,
  opts: SuiteOptions,
): Promise<SuiteReport> {
  const log = opts.log ?? (() => undefined);
  // Each procedure draws from its own sequence of the seed, so `--procedure all` gives each the
  // faults it gets alone.
  const random = rng(opts.seed);
  const list = (opts.scenarios ?? driver.scenarios).filter((s) => driver.scenarios.includes(s));
  log(`${driver.name}: uninterrupted run (the reference)`);
  const base = await runOnce(h, client, driver, opts, 0, 1, 'none', drawFrom(random));
  const b = base.row;
  if (b.outcome !== driver.successOutcome || b.leftovers.length || b.duplicates.length) b.ok = false;
  const windows = phaseWindows(base.seen, b.seconds * 1000);
  const ref: Reference = {
    seconds: b.seconds,
    sideEffects: base.sideEffects,
    hookCalls: base.hookCalls,
    counts: b.counts,
    end: base.end,
    windows,
    order: windows.map((w) => w.phase),
  };
  log(
    `${driver.name}: reference phases ${windows.map((w) => `${w.phase} ${((w.toMs - w.fromMs) / 1000).toFixed(1)}s`).join(', ')}`,
  );
  const rows: RunRow[] = [];
  const plan = planScenarios(opts.runs, random, list);
  let stoppedBy: string | undefined;
  for (let i = 0; i < plan.length && !stoppedBy; i++) {
    // The first draw comes from the seed's sequence; a redraw (the first point came after the run
    // had ended) from a generator of its own seeded by (seed, run, attempt): still deterministic.
    const first = drawFrom(random);
    let result: Attempt | undefined;
    try {
      for (let attempt = 1; attempt <= (opts.attempts ?? 3); attempt++) {
        const draw = attempt === 1 ? first : drawFrom(rng(opts.seed * 1009 + (i + 1) * 31 + attempt));
        result = await runOnce(h, client, driver, opts, i + 1, attempt, plan[i]!, draw, ref);
        if (!result.afterEnd) break;
        log(`${driver.name} run ${i + 1}: fault after end, drawn again`);
      }
      rows.push(result!.row);
    } catch (e) {
      // The rows so far still make the table; the runs after this one are not made.
      stoppedBy = `run ${i + 1} (${plan[i]}): ${e instanceof Error ? e.message : String(e)}`;
      log(`${driver.name}: stopped at ${stoppedBy}`);
    }
  }
  return {
    seed: opts.seed,
    procedure: driver.name,
    nodes: opts.nodes,
    baseline: b,
    rows,
    ...(stoppedBy ? { stoppedBy } : {}),
    ok: !stoppedBy && b.ok && rows.every((r) => r.ok),
  };
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteReport[]> {
  const log = opts.log ?? (() => undefined);
  const h = new Harness(opts);
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
    const reports: SuiteReport[] = [];
    for (const { name, runs } of opts.procedures) {
      const driver = driverFor(name);
      if (opts.scenarios && !opts.scenarios.some((s) => driver.scenarios.includes(s))) {
        log(`${name}: none of the chosen scenarios applies: skipped`);
        continue;
      }
      reports.push(await runProcedure(h, client, driver, { ...opts, runs: runs ?? opts.runs }));
    }
    return reports;
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
    'side effects',
    'dup',
    'leftovers',
    'end state',
  ];
  const line = (r: RunRow) => [
    r.index === 0 ? 'ref' : String(r.index),
    r.scenario,
    r.point,
    r.outcome === r.expectedOutcome ? r.outcome : `${r.outcome} (expected ${r.expectedOutcome})`,
    `${r.seconds.toFixed(1)}s`,
    Object.entries(r.counts)
      .map(([name, c]) => `${c} ${name}`)
      .join(', '),
    r.duplicates.length ? `${r.duplicates.length}: ${r.duplicates.join(', ')}` : '0',
    r.leftovers.length ? `${r.leftovers.length}: ${r.leftovers.join(', ')}` : '0',
    r.index === 0 ? 'reference' : r.differences.length ? `DIFFERENT: ${r.differences.join('; ')}` : 'same',
  ];
  const rows = [head, line(report.baseline), ...report.rows.map(line)];
  const md = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const ok = report.rows.filter((r) => r.ok).length;
  const missed = report.rows.filter((r) => !r.struck).length;
  return [
    `fault suite: ${report.procedure}, ${report.nodes} nodes, seed ${report.seed}: ${ok}/${report.rows.length} runs as expected${missed ? ` (${missed} whose fault never struck: every draw came after the run's end)` : ''}`,
    '',
    md(rows[0]!),
    md(rows[0]!.map(() => '---')),
    ...rows.slice(1).map(md),
    '',
    ...(report.stoppedBy ? [`- STOPPED EARLY at ${report.stoppedBy}`] : []),
    ...[report.baseline, ...report.rows]
      .filter((r) => r.notes.length)
      .map((r) => `- run ${r.index === 0 ? 'ref' : r.index}: ${r.notes.join('; ')}`),
  ].join('\n');
}
