/**
 * Benchmark (not a test): calicoImageRepair against a baseline, each on a fresh simulator of N nodes.
 *
 *   npm run bench -- calico [--nodes 20] [--max-parallel N] [--baseline guide|raw] [--skip-guide]
 *                           [--two-workers [--kill-one]]
 *
 * Baselines: `guide` (default) is the guide's calico_manifest_image_change.sh, unchanged (sequential:
 * about 5.3 s per node×image pair here); `raw` is bench/calico-raw.sh, plain kubectl creating every
 * pre-pull pod at once. `--skip-guide` runs no baseline and prints the guide's time extrapolated from
 * its per-pair rate measured at 20 nodes. The baseline gets what the guide says it needs: KUBECONFIG
 * and kubectl on PATH. Our side runs in worker processes (src/worker/main.ts, as a user runs it) and
 * is timed from workflow start to result; starting the dev server and the workers is not counted, as
 * installing kubectl is not counted for the scripts. Printed for ours: every execution's history
 * (parent and child workflows: events and bytes), the result's size and each worker's peak RSS.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { simDown } from '../sim';
import { ensureTestSim } from '../sim/testing';
import { defaultPrePullParallelism } from '../src/common/calico';
import type { Progress } from '../src/common/types';
import { startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import type { CalicoImageRepairResult } from '../src/workflows/definitions';
import { activityStartsByIdentity, describeExecutions, executionTree, kb, mb } from './history-stats';
import { type WorkerProcess, startWorkerProcess } from './worker-process';
import { startRecording, writeRunRecord } from './results';

export interface CalicoBenchOptions {
  nodes: number;
  /** Unset: the workflow's default (from the node count). */
  maxParallel?: number;
  /** Which baseline runs before ours (default guide). */
  baseline?: 'guide' | 'raw';
  /** No baseline: the guide's time is extrapolated from its rate at 20 nodes. */
  skipGuide?: boolean;
  /** Two worker processes on the task queue instead of one. */
  twoWorkers?: boolean;
  /** With twoWorkers: SIGKILL the first once a third of the pre-pulls are done. */
  killOne?: boolean;
  /** Simulator state dir and loopback prefix (default: NKSR_SIM_DIR / NKSR_SIM_IP_PREFIX or .sim-bench, 127.0.9). */
  dir: string;
  ipPrefix: string;
}

/**
 * The guide's script at 20 nodes (80 pairs): 424.6–427.7 s over three runs (bench/README.md), i.e.
 * 5.3 s per node×image pair, almost all of it its 5-second poll; its rollout steps are a few seconds.
 */
export const GUIDE_SECONDS_PER_PAIR_AT_20 = 426 / 80;

const GUIDE_SCRIPT = join(REPO_ROOT, 'bench', 'guide', 'calico_manifest_image_change.sh');
const RAW_SCRIPT = join(REPO_ROOT, 'bench', 'calico-raw.sh');
const log = (msg: string) => process.stderr.write(`[bench calico] ${msg}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function calicoImages(kubeconfig: string): Promise<string[]> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const apps = kc.makeApiClient(AppsV1Api);
  const ns = 'kube-system';
  const ds = await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: ns });
  const kcd = await apps.readNamespacedDeployment({ name: 'calico-kube-controllers', namespace: ns });
  const ty = await apps.readNamespacedDeployment({ name: 'calico-typha', namespace: ns });
  return [ds, kcd, ty].flatMap((w) =>
    [...(w.spec?.template.spec?.initContainers ?? []), ...(w.spec?.template.spec?.containers ?? [])].map(
      (c) => `${w.metadata?.name}/${c.name}=${c.image}`,
    ),
  );
}

/** One of the baseline scripts on a fresh simulator. */
async function runScript(
  opts: CalicoBenchOptions,
  which: 'guide' | 'raw',
): Promise<{ ms: number; code: number; logFile: string; images: string[]; upSeconds: number }> {
  const sim = await ensureTestSim({
    dir: opts.dir,
    ipPrefix: opts.ipPrefix,
    nodes: opts.nodes,
    sshNodes: 0,
    log,
  });
  try {
    const work = mkdtempSync(join(tmpdir(), `nksr-bench-calico-${which}-`));
    const script = which === 'guide' ? GUIDE_SCRIPT : RAW_SCRIPT;
    const local = join(work, which === 'guide' ? 'calico_manifest_image_change.sh' : 'calico-raw.sh');
    copyFileSync(script, local);
    const logFile = join(work, `${which}.log`);
    const out = createWriteStream(logFile);
    log(`${which} script on ${opts.nodes} nodes (log: ${logFile})`);
    const t0 = Date.now();
    const code = await new Promise<number>((resolve) => {
      const child = spawn('bash', [local], {
        cwd: work,
        env: {
          ...process.env,
          KUBECONFIG: sim.kubeconfigPath,
          PATH: `${dirname(sim.kubectlPath)}:${process.env.PATH}`,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      child.on('exit', (c) => resolve(c ?? 1));
    });
    const ms = Date.now() - t0;
    out.end();
    return {
      ms,
      code,
      logFile,
      images: await calicoImages(sim.kubeconfigPath),
      upSeconds: sim.state.upSeconds ?? 0,
    };
  } finally {
    await simDown({ dir: opts.dir, log });
  }
}

interface OursRun {
  ms: number;
  result: CalicoImageRepairResult;
  resultBytes: number;
  tree: Awaited<ReturnType<typeof executionTree>>;
  workers: { identity: string; peakRssBytes: number; killed: boolean; activities: number }[];
  killedAfterMs?: number;
  images: string[];
  upSeconds: number;
}

function pulledSoFar(p: Progress): number {
  return p.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length;
}

async function runWorkflow(opts: CalicoBenchOptions): Promise<OursRun> {
  const [sim, server, bundle] = await Promise.all([
    ensureTestSim({ dir: opts.dir, ipPrefix: opts.ipPrefix, nodes: opts.nodes, sshNodes: 0, log }),
    startDevServer({ ui: false }),
    bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-bench-${process.pid}.js`)),
  ]);
  const connection = await Connection.connect({ address: server.address });
  const workers: WorkerProcess[] = [];
  try {
    const taskQueue = `bench-calico-${process.pid}`;
    const count = opts.twoWorkers ? 2 : 1;
    for (let i = 0; i < count; i++) {
      workers.push(
        await startWorkerProcess({
          address: server.address,
          namespace: server.namespace,
          taskQueue,
          clustersFile: sim.clustersPath,
          workflowBundlePath: bundle,
        }),
      );
    }
    const client = new Client({ connection, namespace: server.namespace });
    const parallel = opts.maxParallel ?? defaultPrePullParallelism(opts.nodes);
    log(
      `calicoImageRepair on ${opts.nodes} nodes, maxParallel ${opts.maxParallel ?? `default (${parallel})`}, ${count} worker process(es)`,
    );
    const t0 = Date.now();
    const workflowId = 'nks/sim/calicoImageRepair';
    const handle = await client.workflow.start('calicoImageRepair', {
      taskQueue,
      workflowId,
      args: [{ cluster: 'sim', ...(opts.maxParallel ? { maxParallel: opts.maxParallel } : {}) }],
    });
    let killedAfterMs: number | undefined;
    const killed = new Set<string>();
    if (opts.killOne && workers.length === 2) {
      const victim = workers[0]!;
      const target = Math.ceil((opts.nodes * 4) / 3);
      for (;;) {
        const p = await handle.query<Progress>('progress').catch(() => undefined);
        if (p && pulledSoFar(p) >= target) break;
        if (p && p.phase !== 'pre-pull' && pulledSoFar(p) > 0) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      victim.kill();
      killed.add(victim.identity);
      killedAfterMs = Date.now() - t0;
      log(`SIGKILLed worker ${victim.identity} after ${secs(killedAfterMs)} (a third of the pre-pulls done)`);
    }
    const result = (await handle.result()) as CalicoImageRepairResult;
    const ms = Date.now() - t0;
    const tree = await executionTree(client, workflowId);
    const starts = activityStartsByIdentity(tree);
    return {
      ms,
      result,
      resultBytes: Buffer.byteLength(JSON.stringify(result)),
      tree,
      workers: workers.map((w) => ({
        identity: w.identity,
        peakRssBytes: w.peakRssBytes(),
        killed: killed.has(w.identity),
        activities: starts.get(w.identity) ?? 0,
      })),
      killedAfterMs,
      images: await calicoImages(sim.kubeconfigPath),
      upSeconds: sim.state.upSeconds ?? 0,
    };
  } finally {
    for (const w of workers) await w.stop().catch(() => undefined);
    await connection.close();
    await server.stop();
    await simDown({ dir: opts.dir, log });
  }
}

function describeOurs(opts: CalicoBenchOptions, ours: OursRun): string[] {
  const parallel = opts.maxParallel ?? `default ${defaultPrePullParallelism(opts.nodes)}`;
  const largest = ours.tree.reduce((a, b) => (b.events > a.events ? b : a));
  const biggest = ours.tree.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return [
    `  our workflow : ${secs(ours.ms)} (${ours.result.outcome}, maxParallel ${parallel}; sim up ${ours.upSeconds} s)`,
    `  our phases   : ${Object.entries(ours.result.phaseDurationsMs)
      .map(([p, ms]) => `${p} ${secs(ms)}`)
      .join(', ')}`,
    `  result       : ${kb(ours.resultBytes)} (${JSON.stringify(ours.result.prePullCounts ?? {})})`,
    `  histories    : ${ours.tree.length} execution(s); most events ${largest.events} (${largest.workflowId}), largest ${kb(biggest.bytes)} (${biggest.workflowId})`,
    ...describeExecutions(ours.tree),
    ...ours.workers.map(
      (w) =>
        `  worker       : ${w.identity} peak RSS ${mb(w.peakRssBytes)}, ${w.activities} activity starts${w.killed ? `, SIGKILLed after ${secs(ours.killedAfterMs ?? 0)}` : ''}`,
    ),
  ];
}

/** The figures of a run for its record (bench/results). */
function calicoFigures(opts: CalicoBenchOptions, ours: OursRun, baselineMs: number | null) {
  const largest = ours.tree.reduce((a, b) => (b.events > a.events ? b : a));
  const which = opts.baseline ?? 'guide';
  return {
    baselineMs,
    oursMs: ours.ms,
    // How many times faster ours is than the baseline (below 1: slower).
    speedup: baselineMs === null ? null : Math.round((baselineMs / ours.ms) * 100) / 100,
    baselineExtrapolated: opts.skipGuide === true && which === 'guide',
    maxParallel: opts.maxParallel ?? defaultPrePullParallelism(opts.nodes),
    outcome: ours.result.outcome,
    historyEvents: largest.events,
    historyBytes: largest.bytes,
    resultBytes: ours.resultBytes,
    peakRssMb: Math.round(Math.max(...ours.workers.map((w) => w.peakRssBytes)) / 2 ** 20),
    workers: ours.workers.length,
    ...Object.fromEntries(Object.entries(ours.result.phaseDurationsMs).map(([p, ms]) => [`phase:${p}`, ms])),
  };
}

export async function benchCalico(opts: CalicoBenchOptions): Promise<void> {
  const recording = startRecording();
  const title = `calico image repair, ${opts.nodes} simulated nodes (4 images pre-pulled per node)`;
  const which = opts.baseline ?? 'guide';
  const guideLine = (ours: OursRun) => {
    const guideMs = GUIDE_SECONDS_PER_PAIR_AT_20 * opts.nodes * 4 * 1000;
    return `  guide script : not run; extrapolated ${secs(guideMs)} (${opts.nodes * 4} pairs × ${GUIDE_SECONDS_PER_PAIR_AT_20.toFixed(2)} s, its per-pair rate at 20 nodes) → ${(guideMs / ours.ms).toFixed(0)}x`;
  };
  // --skip-guide skips the guide's script only: `--baseline raw --skip-guide` runs the raw baseline.
  if (opts.skipGuide && which === 'guide') {
    const ours = await runWorkflow(opts);
    const guideMs = GUIDE_SECONDS_PER_PAIR_AT_20 * opts.nodes * 4 * 1000;
    const record = writeRunRecord('calico', recording, { ...opts }, calicoFigures(opts, ours, guideMs));
    console.log(
      [
        title,
        `  record       : ${record}`,
        ...describeOurs(opts, ours),
        guideLine(ours),
        `  images after (ours) : ${ours.images.join(' ')}`,
      ].join('\n'),
    );
    return;
  }
  const base = await runScript(opts, which);
  log(`${which}: exit ${base.code} in ${secs(base.ms)}`);
  const ours = await runWorkflow(opts);
  const name = which === 'guide' ? 'guide script' : 'raw kubectl ';
  const lines = [
    title,
    `  ${name} : ${secs(base.ms)} (exit ${base.code}; sim up ${base.upSeconds} s; log ${base.logFile})`,
    ...describeOurs(opts, ours),
    which === 'guide'
      ? `  ratio        : ${(base.ms / ours.ms).toFixed(1)}x faster`
      : `  ratio        : ours/raw ${(ours.ms / base.ms).toFixed(2)}x`,
    ...(opts.skipGuide ? [guideLine(ours)] : []),
    `  images after (${which}): ${base.images.join(' ')}`,
    `  images after (ours) : ${ours.images.join(' ')}`,
  ];
  const record = writeRunRecord(
    'calico',
    recording,
    { ...opts, baseline: which },
    calicoFigures(opts, ours, base.ms),
  );
  console.log([...lines, `  record       : ${record}`].join('\n'));
}

export function defaultCalicoBenchOptions(): CalicoBenchOptions {
  return {
    nodes: 20,
    dir: process.env.NKSR_SIM_DIR ?? join(REPO_ROOT, '.sim-bench'),
    ipPrefix: process.env.NKSR_SIM_IP_PREFIX ?? '127.0.9',
  };
}
