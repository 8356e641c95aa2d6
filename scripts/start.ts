/**
 * `npm start`: the product on its embedded default, on this one machine: a Temporal dev server with
 * the UI and a SQLite file under .data/ (workflows survive a restart), the simulated NKS cluster
 * (.sim/), and the worker in this process. Prints where everything is and a first command to try;
 * Ctrl-C drains the worker, stops the simulator (if this run started it) and the server.
 *
 *   npm start -- [--nodes N] [--no-sim] [--temporal-port 7233] [--ui-port 8233]
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { type SimHandle, simDown, simUp } from '../sim';
import { TASK_QUEUE } from '../src/common/procedures';
import { type DevServer, startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { loadClusterRegistry } from '../src/worker/registry';
import { createWorker, installRuntime } from '../src/worker/worker';

interface StartOptions {
  nodes: number;
  sim: boolean;
  temporalPort: number;
  uiPort: number;
  metricsPort: number;
}

const say = (line: string) => process.stdout.write(`[nksr start] ${line}\n`);

function parseArgs(): StartOptions {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  return new Command('npm start')
    .option('--nodes <n>', 'simulated worker nodes', int, Number(process.env.NKSR_SIM_NODES ?? 5))
    .option('--no-sim', 'do not start the simulator (use clusters.yaml / NKSR_CLUSTERS_FILE)')
    .option(
      '--temporal-port <port>',
      'Temporal frontend port',
      int,
      Number(process.env.NKSR_TEMPORAL_PORT ?? 7233),
    )
    .option('--ui-port <port>', 'Temporal UI port', int, Number(process.env.NKSR_UI_PORT ?? 8233))
    .option(
      '--metrics-port <port>',
      'worker Prometheus metrics port (0: off)',
      int,
      Number(process.env.NKSR_METRICS_PORT ?? 9464),
    )
    .parse(process.argv)
    .opts<StartOptions>();
}

async function main(): Promise<void> {
  const opts = parseArgs();
  let stopping = false;
  let worker: Worker | undefined;
  let server: DevServer | undefined;
  let sim: SimHandle | undefined;
  let connection: NativeConnection | undefined;

  const onSignal = (signal: string) => {
    if (stopping) {
      say(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    say(`${signal}: shutting down (Ctrl-C again to force)`);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
  };
  // `npm start | tee log`: Ctrl-C ends the reader too, and a write to the closed pipe (EPIPE) must not
  // kill this process before it has stopped the worker, the simulator and the server.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  // The Runtime must exist before anything talks to Temporal, the dev server included; signals are ours.
  installRuntime({
    metricsPort: opts.metricsPort,
    metricsHost: '127.0.0.1',
    logLevel: 'WARN',
    shutdownSignals: [],
  });

  try {
    say('starting the Temporal dev server (UI on, data in .data/temporal.db)');
    server = await startDevServer({
      port: opts.temporalPort,
      ui: true,
      uiPort: opts.uiPort,
      dbFilename: join(REPO_ROOT, '.data', 'temporal.db'),
    }).catch((err: unknown) => {
      throw new Error(
        `the Temporal dev server did not start on port ${opts.temporalPort} (${
          err instanceof Error ? err.message.split('\n')[0] : String(err)
        }); is another one running? Use --temporal-port`,
      );
    });
    if (stopping) return;

    let clustersFile = process.env.NKSR_CLUSTERS_FILE ?? join(REPO_ROOT, 'clusters.yaml');
    if (opts.sim) {
      const dir = process.env.NKSR_SIM_DIR ?? join(REPO_ROOT, '.sim');
      say(
        `starting the simulated NKS cluster with ${opts.nodes} nodes in ${dir} (the first run builds its binaries)`,
      );
      sim = await simUp({ dir, nodes: opts.nodes, log: (l) => say(`sim: ${l}`) });
      clustersFile = sim.clustersPath;
      if (stopping) return;
    }

    const registry = loadClusterRegistry(clustersFile);
    connection = await NativeConnection.connect({ address: server.address });
    worker = await createWorker({
      connection,
      namespace: server.namespace,
      taskQueue: process.env.NKSR_TASK_QUEUE || TASK_QUEUE,
      registry,
      shutdownGraceTime: '10s',
    });
    if (stopping) return;

    const address = `localhost:${opts.temporalPort}`;
    const lines = [
      '',
      'nks-remediation is running',
      `  Temporal UI:       ${server.uiUrl?.replace('127.0.0.1', 'localhost')}`,
      `  Temporal address:  ${address} (namespace ${server.namespace})${opts.temporalPort === 7233 ? '' : `  → export TEMPORAL_ADDRESS=${address}`}`,
      `  Worker:            task queue ${process.env.NKSR_TASK_QUEUE || TASK_QUEUE}; clusters ${registry.names().join(', ')} from ${registry.source}` +
        (opts.metricsPort > 0 ? `; metrics http://localhost:${opts.metricsPort}/metrics` : ''),
    ];
    if (sim)
      lines.push(
        `  Simulated cluster: sim, ${opts.nodes} nodes (kubectl --kubeconfig ${sim.kubeconfigPath} get nodes)`,
      );
    lines.push(
      '',
      'Try:',
      '  npx nksr run cluster-preflight --cluster sim --wait',
      '',
      'Ctrl-C stops everything.',
      '',
    );
    process.stdout.write(lines.join('\n'));

    await worker.run();
    say('worker drained');
  } finally {
    await connection?.close().catch(() => undefined);
    if (sim) {
      if (sim.alreadyRunning) say(`simulator in ${sim.dir} was running before npm start: left running`);
      else {
        say('stopping the simulator');
        await simDown({ dir: sim.dir, log: (l) => say(`sim: ${l}`) }).catch((err: unknown) =>
          say(`sim down failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      }
    }
    if (server) {
      say('stopping the Temporal dev server');
      await server.stop().catch(() => undefined);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[nksr start] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
