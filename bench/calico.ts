/**
 * Benchmark (not a test): the guide's calico_manifest_image_change.sh, unchanged, against a fresh
 * simulator of N nodes, then our calicoImageRepair workflow against another fresh simulator of the
 * same size. Prints both wall times and their ratio.
 *
 *   npm run bench -- calico [--nodes 20] [--max-parallel 10]
 *
 * The guide's script gets what its page says it needs: KUBECONFIG pointing at the cluster and kubectl
 * on PATH (the simulator's). Our side is timed from workflow start to result; starting the Temporal
 * dev server and the worker is not counted, as installing kubectl is not counted for the script.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { simDown } from '../sim';
import { ensureTestSim } from '../sim/testing';
import { startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import { loadClusterRegistry } from '../src/worker/registry';
import { createWorker } from '../src/worker/worker';
import type { CalicoImageRepairResult } from '../src/workflows/definitions';

export interface CalicoBenchOptions {
  nodes: number;
  maxParallel: number;
  /** Our workflow only (the guide's script at 100 nodes runs for about 35 minutes). */
  skipGuide?: boolean;
  /** Simulator state dir and loopback prefix (default: NKSR_SIM_DIR / NKSR_SIM_IP_PREFIX or .sim-bench, 127.0.9). */
  dir: string;
  ipPrefix: string;
}

const GUIDE_SCRIPT = join(REPO_ROOT, 'bench', 'guide', 'calico_manifest_image_change.sh');
const log = (msg: string) => process.stderr.write(`[bench calico] ${msg}\n`);

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

async function runGuide(
  opts: CalicoBenchOptions,
): Promise<{ ms: number; code: number; logFile: string; images: string[] }> {
  const sim = await ensureTestSim({
    dir: opts.dir,
    ipPrefix: opts.ipPrefix,
    nodes: opts.nodes,
    sshNodes: 0,
    log,
  });
  try {
    const work = mkdtempSync(join(tmpdir(), 'nksr-bench-calico-'));
    copyFileSync(GUIDE_SCRIPT, join(work, 'calico_manifest_image_change.sh'));
    const logFile = join(work, 'guide.log');
    const out = createWriteStream(logFile);
    log(`guide script on ${opts.nodes} nodes (log: ${logFile})`);
    const t0 = Date.now();
    const code = await new Promise<number>((resolve) => {
      const child = spawn('bash', ['./calico_manifest_image_change.sh'], {
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
    return { ms, code, logFile, images: await calicoImages(sim.kubeconfigPath) };
  } finally {
    await simDown({ dir: opts.dir, log });
  }
}

async function runWorkflow(
  opts: CalicoBenchOptions,
): Promise<{ ms: number; result: CalicoImageRepairResult; events: number; images: string[] }> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed
  }
  const [sim, server, bundle] = await Promise.all([
    ensureTestSim({ dir: opts.dir, ipPrefix: opts.ipPrefix, nodes: opts.nodes, sshNodes: 0, log }),
    startDevServer({ ui: false }),
    bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-bench-${process.pid}.js`)),
  ]);
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const taskQueue = `bench-calico-${process.pid}`;
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue,
      registry: loadClusterRegistry(sim.clustersPath),
      workflowBundlePath: bundle,
      shutdownGraceTime: '2s',
    });
    const client = new Client({ connection, namespace: server.namespace });
    return await worker.runUntil(async () => {
      log(`calicoImageRepair on ${opts.nodes} nodes, maxParallel ${opts.maxParallel}`);
      const t0 = Date.now();
      const handle = await client.workflow.start('calicoImageRepair', {
        taskQueue,
        workflowId: 'nks/sim/calicoImageRepair',
        args: [{ cluster: 'sim', maxParallel: opts.maxParallel }],
      });
      const result = (await handle.result()) as CalicoImageRepairResult;
      const ms = Date.now() - t0;
      const history = await handle.fetchHistory();
      return {
        ms,
        result,
        events: history.events?.length ?? 0,
        images: await calicoImages(sim.kubeconfigPath),
      };
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
    await server.stop();
    await simDown({ dir: opts.dir, log });
  }
}

function describeOurs(opts: CalicoBenchOptions, ours: Awaited<ReturnType<typeof runWorkflow>>): string[] {
  return [
    `  our workflow : ${(ours.ms / 1000).toFixed(1)} s (${ours.result.outcome}, maxParallel ${opts.maxParallel}, ${ours.events} history events)`,
    `  our phases   : ${Object.entries(ours.result.phaseDurationsMs)
      .map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)}s`)
      .join(', ')}`,
  ];
}

export async function benchCalico(opts: CalicoBenchOptions): Promise<void> {
  const title = `calico image repair, ${opts.nodes} simulated nodes (4 images pre-pulled per node)`;
  if (opts.skipGuide) {
    const ours = await runWorkflow(opts);
    console.log(
      [title, ...describeOurs(opts, ours), `  images after (ours) : ${ours.images.join(' ')}`].join('\n'),
    );
    return;
  }
  const guide = await runGuide(opts);
  log(`guide: exit ${guide.code} in ${(guide.ms / 1000).toFixed(1)} s`);
  const ours = await runWorkflow(opts);
  const ratio = guide.ms / ours.ms;
  const lines = [
    title,
    `  guide script : ${(guide.ms / 1000).toFixed(1)} s (exit ${guide.code}; log ${guide.logFile})`,
    ...describeOurs(opts, ours),
    `  ratio        : ${ratio.toFixed(1)}x faster`,
    `  images after (guide): ${guide.images.join(' ')}`,
    `  images after (ours) : ${ours.images.join(' ')}`,
  ];
  console.log(lines.join('\n'));
}

export function defaultCalicoBenchOptions(): CalicoBenchOptions {
  return {
    nodes: 20,
    maxParallel: 10,
    dir: process.env.NKSR_SIM_DIR ?? join(REPO_ROOT, '.sim-bench'),
    ipPrefix: process.env.NKSR_SIM_IP_PREFIX ?? '127.0.9',
  };
}
