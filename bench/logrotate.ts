/**
 * Benchmark (not a test): /etc/logrotate.d/docker on N SSH nodes of one fresh simulator, half of them
 * drifted (missing file or another version), synced three ways, each from a freshly drifted state:
 *
 * 1. the guide's sync_logrotate.sh, unchanged (sequential ssh/scp, `StrictHostKeyChecking=no`: run in a
 *    private mount namespace with a scratch home, as test/integration/guide-sync-logrotate.test.ts does);
 * 2. a plain parallel baseline, bench/logrotate-xargs.sh (`xargs -P 16` over ssh, host keys verified);
 * 3. our logrotateSync workflow (its default maxParallel unless --max-parallel).
 *
 * After each, every node's file is hashed over ssh and must be the guide's config. Between runs the
 * drifted nodes are drifted again over ssh (`sudo rm` / `sudo tee`). `--delay-ms D` starts the
 * simulator with an SSH delay of D ms each way (sim/nodes/delay-proxy.ts: a userspace relay on each
 * node's :22 in front of its sshd, so a round trip to a node costs 2·D for every client alike; this
 * host's kernel has no sch_netem).
 *
 *   npm run bench -- logrotate [--nodes 50] [--drifted-fraction 0.5] [--delay-ms 0]
 *
 * Our side is timed from workflow start to result; starting the dev server and the worker is not
 * counted, as installing ssh and kubectl is not counted for the scripts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { simDown, type SimHandle } from '../sim';
import { OTHER_DOCKER_LOGROTATE } from '../sim/nodes/drift';
import { simPaths } from '../sim/nodes';
import { mapBounded } from '../src/common/bounded';
import { ensureTestSim } from '../sim/testing';
import { LOGROTATE_SYNC_DEFAULTS, type LogrotateSyncResult } from '../src/common/procedures/logrotate-sync';
import { startDevServer } from '../src/dev/dev-server';
import { REPO_ROOT } from '../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import { loadClusterRegistry } from '../src/worker/registry';
import { createWorker } from '../src/worker/worker';
import { startRecording, writeRunRecord } from './results';

export interface LogrotateBenchOptions {
  nodes: number;
  /** Share of the nodes drifted before each run (half missing the file, half another version). */
  driftedFraction: number;
  /** Latency each way on every SSH connection to a node, in ms (0: none, no proxy). */
  delayMs: number;
  /** logrotateSync's maxParallel (default: the procedure's default). */
  maxParallel?: number;
  /** The baseline's xargs -P. */
  xargsParallel: number;
  dir: string;
  ipPrefix: string;
}

const GUIDE = join(REPO_ROOT, 'bench', 'guide');
const XARGS_SCRIPT = join(REPO_ROOT, 'bench', 'logrotate-xargs.sh');
const REMOTE = '/etc/logrotate.d/docker';
const log = (msg: string) => process.stderr.write(`[bench logrotate] ${msg}\n`);

interface Cmd {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
) {
  return new Promise<Cmd>((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Evenly spread 1-based positions of the drifted nodes; alternately missing and different. */
export function driftPlan(nodes: number, fraction: number): { missing: number[]; different: number[] } {
  const count = Math.min(nodes, Math.max(0, Math.round(nodes * fraction)));
  const positions = Array.from({ length: count }, (_, k) => Math.floor((k * nodes) / count) + 1);
  return {
    missing: positions.filter((_, k) => k % 2 === 0),
    different: positions.filter((_, k) => k % 2 === 1),
  };
}

function sshArgs(dir: string, ip: string, command: string): string[] {
  const p = simPaths(dir);
  return [
    '-F',
    '/dev/null',
    '-i',
    p.privateKey,
    '-o',
    `UserKnownHostsFile=${p.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    `centos@${ip}`,
    command,
  ];
}

/** The remote file's md5 on every node ('absent' when there is none), host keys verified. */
async function remoteHashes(dir: string, sim: SimHandle): Promise<Map<string, string>> {
  const hashes = await mapBounded(sim.nodes, 16, async (n) => {
    const r = await run('ssh', sshArgs(dir, n.ip, `md5sum ${REMOTE} 2>/dev/null || echo absent`));
    if (r.code !== 0) throw new Error(`ssh ${n.ip}: exit ${r.code}: ${r.stderr.trim()}`);
    return [n.ip, r.stdout.trim().split(/\s+/)[0] ?? ''] as const;
  });
  return new Map(hashes);
}

/** Drifts the planned nodes again over ssh (as root through sudo) and checks the result. */
async function redrift(opts: LogrotateBenchOptions, sim: SimHandle, wanted: string): Promise<number> {
  const plan = driftPlan(opts.nodes, opts.driftedFraction);
  const jobs = [
    ...plan.missing.map((pos) => ({ pos, missing: true })),
    ...plan.different.map((pos) => ({ pos, missing: false })),
  ];
  await mapBounded(jobs, 16, async ({ pos, missing }) => {
    const ip = sim.nodes[pos - 1]!.ip;
    const r = missing
      ? await run('ssh', sshArgs(opts.dir, ip, `sudo rm -f ${REMOTE}`))
      : await run('ssh', sshArgs(opts.dir, ip, `sudo tee ${REMOTE} >/dev/null`), {
          input: OTHER_DOCKER_LOGROTATE,
        });
    if (r.code !== 0) throw new Error(`re-drift ${ip}: ${r.stderr.trim()}`);
  });
  return countDrifted(await remoteHashes(opts.dir, sim), wanted, jobs.length);
}

function countDrifted(hashes: Map<string, string>, wanted: string, expected: number): number {
  const drifted = [...hashes.values()].filter((h) => h !== wanted).length;
  if (drifted !== expected)
    throw new Error(`expected ${expected} drifted nodes before the run, found ${drifted}`);
  return drifted;
}

async function verify(
  opts: LogrotateBenchOptions,
  sim: SimHandle,
  wanted: string,
  who: string,
): Promise<string> {
  const hashes = await remoteHashes(opts.dir, sim);
  const wrong = [...hashes].filter(([, h]) => h !== wanted).map(([ip]) => ip);
  return wrong.length === 0 ? `all ${hashes.size} ok` : `${who}: ${wrong.length} WRONG (${wrong.join(' ')})`;
}

async function timed(label: string, f: () => Promise<Cmd>): Promise<{ ms: number; cmd: Cmd }> {
  log(label);
  const t0 = Date.now();
  const cmd = await f();
  return { ms: Date.now() - t0, cmd };
}

/** The guide's set-up: kubeconfig.yaml, keypair.pem and the config next to the script, kubectl on PATH. */
async function runGuide(opts: LogrotateBenchOptions, sim: SimHandle) {
  const work = mkdtempSync(join(tmpdir(), 'nksr-bench-logrotate-'));
  const scratchHome = mkdtempSync(join(tmpdir(), 'nksr-bench-logrotate-home-'));
  copyFileSync(sim.kubeconfigPath, join(work, 'kubeconfig.yaml'));
  copyFileSync(simPaths(opts.dir).privateKey, join(work, 'keypair.pem'));
  chmodSync(join(work, 'keypair.pem'), 0o600);
  copyFileSync(join(GUIDE, 'docker_logrotate_config'), join(work, 'docker_logrotate_config'));
  copyFileSync(join(GUIDE, 'sync_logrotate.sh'), join(work, 'sync_logrotate.sh'));
  chmodSync(join(work, 'sync_logrotate.sh'), 0o755);
  // Its `ssh -o StrictHostKeyChecking=no` writes host keys into a scratch home, not this machine's.
  const env = { ...process.env, PATH: `${dirname(sim.kubectlPath)}:${process.env.PATH ?? ''}` };
  try {
    return await timed(`guide sync_logrotate.sh (work dir ${work}, removed after)`, () =>
      run(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount --bind "$0" "$1" && exec ./sync_logrotate.sh',
          scratchHome,
          userInfo().homedir,
        ],
        { cwd: work, env },
      ),
    );
  } finally {
    // The work dir holds a copy of the simulator's key.
    for (const d of [work, scratchHome]) rmSync(d, { recursive: true, force: true });
  }
}

function runXargs(opts: LogrotateBenchOptions, sim: SimHandle) {
  const p = simPaths(opts.dir);
  return timed(`xargs -P ${opts.xargsParallel} baseline`, () =>
    run('bash', [
      XARGS_SCRIPT,
      p.privateKey,
      p.knownHosts,
      join(GUIDE, 'docker_logrotate_config'),
      String(opts.xargsParallel),
      ...sim.nodes.map((n) => n.ip),
    ]),
  );
}

async function runOurs(
  opts: LogrotateBenchOptions,
  sim: SimHandle,
  server: Awaited<ReturnType<typeof startDevServer>>,
  bundle: string,
): Promise<{ ms: number; result: LogrotateSyncResult; events: number }> {
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const connection = await Connection.connect({ address: server.address });
  try {
    const taskQueue = `bench-logrotate-${process.pid}`;
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
      const maxParallel = opts.maxParallel ?? LOGROTATE_SYNC_DEFAULTS.maxParallel;
      log(`logrotateSync on ${opts.nodes} nodes, maxParallel ${maxParallel}`);
      const t0 = Date.now();
      const handle = await client.workflow.start('logrotateSync', {
        taskQueue,
        workflowId: `nks/sim/logrotateSync/bench-${Date.now()}`,
        args: [{ cluster: 'sim', ...(opts.maxParallel ? { maxParallel: opts.maxParallel } : {}) }],
      });
      const result = (await handle.result()) as LogrotateSyncResult;
      const ms = Date.now() - t0;
      const history = await handle.fetchHistory();
      return { ms, result, events: history.events?.length ?? 0 };
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

export async function benchLogrotate(opts: LogrotateBenchOptions): Promise<void> {
  const recording = startRecording();
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed
  }
  const wanted = createHash('md5')
    .update(readFileSync(join(GUIDE, 'docker_logrotate_config')))
    .digest('hex');
  const plan = driftPlan(opts.nodes, opts.driftedFraction);
  const driftedCount = plan.missing.length + plan.different.length;
  const drift = {
    logrotateMissing: plan.missing.map(String),
    logrotateDifferent: plan.different.map(String),
  };
  let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
  try {
    const [sim, srv, bundle] = await Promise.all([
      ensureTestSim({
        dir: opts.dir,
        ipPrefix: opts.ipPrefix,
        nodes: opts.nodes,
        sshNodes: opts.nodes,
        drift,
        sshDelayMs: opts.delayMs,
        // The docker logrotate config applies to docker nodes only.
        runtime: 'docker',
        log,
      }),
      startDevServer({ ui: false }),
      bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-bench-${process.pid}.js`)),
    ]);
    server = srv;

    countDrifted(await remoteHashes(opts.dir, sim), wanted, driftedCount);
    const guide = await runGuide(opts, sim);
    const guideCheck = await verify(opts, sim, wanted, 'guide');
    log(`guide: exit ${guide.cmd.code} in ${(guide.ms / 1000).toFixed(1)} s; ${guideCheck}`);
    if (guide.cmd.code !== 0) log(`guide output:\n${guide.cmd.stdout}${guide.cmd.stderr}`);

    await redrift(opts, sim, wanted);
    const xargs = await runXargs(opts, sim);
    const xargsCheck = await verify(opts, sim, wanted, 'xargs');
    log(`xargs: exit ${xargs.cmd.code} in ${(xargs.ms / 1000).toFixed(1)} s; ${xargsCheck}`);
    if (xargs.cmd.code !== 0) log(`xargs output:\n${xargs.cmd.stdout}${xargs.cmd.stderr}`);

    await redrift(opts, sim, wanted);
    const ours = await runOurs(opts, sim, server, bundle);
    const oursCheck = await verify(opts, sim, wanted, 'ours');
    log(`ours: ${ours.result.outcome} in ${(ours.ms / 1000).toFixed(1)} s; ${oursCheck}`);

    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const vsGuide = guide.ms / ours.ms;
    const vsXargs = ours.ms / xargs.ms;
    const c = ours.result.counts;
    const lines = [
      `logrotate sync, ${opts.nodes} SSH nodes, ${driftedCount} drifted (${plan.missing.length} missing, ${plan.different.length} other version), SSH delay ${opts.delayMs} ms each way`,
      '',
      '| run | wall time | exit / outcome | files after |',
      '| --- | ---: | --- | --- |',
      `| guide sync_logrotate.sh (sequential) | ${s(guide.ms)} | exit ${guide.cmd.code} | ${guideCheck} |`,
      `| xargs -P ${opts.xargsParallel} over ssh | ${s(xargs.ms)} | exit ${xargs.cmd.code} | ${xargsCheck} |`,
      `| logrotateSync (maxParallel ${opts.maxParallel ?? LOGROTATE_SYNC_DEFAULTS.maxParallel}) | ${s(ours.ms)} | ${ours.result.outcome} (synced ${c.synced}, in-sync ${c['in-sync']}, failed ${c.failed}) | ${oursCheck} |`,
      '',
      `guide/ours ${vsGuide.toFixed(1)}x (goal >= 10x: ${vsGuide >= 10 ? 'met' : 'NOT met'}); ours/xargs ${vsXargs.toFixed(2)} (goal <= 1.5: ${vsXargs <= 1.5 ? 'met' : 'NOT met'}); history events of our run: ${ours.events}`,
    ];
    const record = writeRunRecord(
      'logrotate',
      recording,
      { ...opts },
      {
        guideMs: guide.ms,
        xargsMs: xargs.ms,
        oursMs: ours.ms,
        guideOverOurs: Math.round(vsGuide * 100) / 100,
        oursOverXargs: Math.round(vsXargs * 100) / 100,
        maxParallel: opts.maxParallel ?? LOGROTATE_SYNC_DEFAULTS.maxParallel,
        outcome: ours.result.outcome,
        drifted: driftedCount,
        synced: c.synced,
        inSync: c['in-sync'],
        failed: c.failed,
        historyEvents: ours.events,
        guideExit: guide.cmd.code,
        xargsExit: xargs.cmd.code,
        guideFiles: guideCheck,
        xargsFiles: xargsCheck,
        oursFiles: oursCheck,
      },
    );
    console.log([...lines, `record: ${record}`].join('\n'));
  } finally {
    if (server) await server.stop();
    await simDown({ dir: opts.dir, log });
  }
}

export function defaultLogrotateBenchOptions(): LogrotateBenchOptions {
  return {
    nodes: 50,
    driftedFraction: 0.5,
    delayMs: 0,
    xargsParallel: 16,
    dir: process.env.NKSR_SIM_DIR ?? join(REPO_ROOT, '.sim-bench-lr'),
    ipPrefix: process.env.NKSR_SIM_IP_PREFIX ?? '127.0.9',
  };
}
