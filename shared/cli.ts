/**
 * `npm run shared -- <command>`: the shared deployment on loopback (deployment.ts).
 *   up       builds the binaries once (cache), prepares the state dir, starts the supervisor and
 *            returns when PostgreSQL, the Temporal server, the UI and the workers are ready
 *   down     stops exactly the processes this deployment started
 *   status   each component: running or not, and where
 *   env      the environment that connects as a role (eval "$(npm run -s shared -- env --role operator)")
 *   deploy   bundles the current workflow code as a new build, starts its workers, makes it current
 *   retire   waits for a build to drain, stops its workers and deletes its version
 *   kill     SIGKILLs one component (the supervisor restarts it unless --for-good)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { bundleWorkflowsTo } from '../src/worker/bundle-workflows';
import { isRunning, SimError, sleep, tail } from '../sim/process';
import {
  buildIdOf,
  connectAs,
  DEPLOYMENT_NAME,
  killComponent,
  paths,
  prepare,
  readDesired,
  readPlan,
  readState,
  roleEnv,
  SharedDeployment,
  sharedBinDir,
  stopProcess,
  writeDesired,
  writeState,
} from './deployment';
import { ROLES, type Role } from './tokens';
import { currentBuild, deleteBuild, setCurrentBuild, waitForDrained } from './versions';

const DEFAULT_DIR = path.resolve(__dirname, '..', '.shared');

function requirePlan(dir: string) {
  const plan = readPlan(dir);
  if (!plan) throw new SimError(`no shared deployment in ${dir} (npm run shared -- up --dir ${dir})`);
  return plan;
}

function supervisorRunning(dir: string): number | undefined {
  const pid = readState(dir).supervisorPid;
  return pid !== undefined && isRunning({ pid, binary: process.execPath }) ? pid : undefined;
}

/** Bundles the current workflow code; its digest is the build ID. */
async function bundleCurrentBuild(dir: string): Promise<string> {
  const tmp = path.join(dir, 'builds', `.bundle-${process.pid}.js`);
  fs.mkdirSync(path.dirname(tmp), { recursive: true });
  await bundleWorkflowsTo(tmp);
  const buildId = buildIdOf(tmp);
  fs.renameSync(tmp, path.join(dir, 'builds', `${buildId}.js`));
  return buildId;
}

async function makeCurrent(dir: string, buildId: string): Promise<void> {
  const { connection, namespace } = await connectAs(dir, 'operator');
  try {
    await setCurrentBuild(connection, { namespace, deploymentName: DEPLOYMENT_NAME, buildId });
  } finally {
    await connection.close();
  }
}

async function up(opts: { dir: string; clusters: string; workers: number }): Promise<void> {
  const t0 = Date.now();
  const dir = path.resolve(opts.dir);
  if (!fs.existsSync(opts.clusters)) throw new SimError(`clusters file ${opts.clusters} does not exist`);
  if (supervisorRunning(dir)) {
    console.log(`shared deployment in ${dir} is already up`);
    return;
  }
  sharedBinDir();
  await prepare({ dir, clustersFile: opts.clusters });
  const desired = readDesired(dir);
  if (desired.builds.length === 0) {
    const buildId = await bundleCurrentBuild(dir);
    writeDesired(dir, { builds: [{ buildId, workers: opts.workers }], keptDown: [] });
  }
  const log = fs.openSync(paths(dir).supervisorLog, 'a');
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), __filename, 'supervise', '--dir', dir], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  const readyFile = path.join(dir, 'ready');
  fs.rmSync(readyFile, { force: true });
  while (!fs.existsSync(readyFile)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new SimError(
        `the supervisor exited before the deployment was ready:\n${tail(paths(dir).supervisorLog, 20)}`,
      );
    }
    await sleep(300);
  }
  const current = readDesired(dir).builds.at(-1)!.buildId;
  await makeCurrent(dir, current);
  printWhere(dir);
  console.log(
    `shared deployment ready in ${((Date.now() - t0) / 1000).toFixed(1)}s; current build ${current}`,
  );
}

/** Runs in the background from `up`: starts everything, then keeps it running until SIGTERM. */
async function supervise(dir: string): Promise<void> {
  const plan = requirePlan(dir);
  const deployment = new SharedDeployment(plan, sharedBinDir(), (line) =>
    console.log(`${new Date().toISOString()} ${line}`),
  );
  const state = readState(dir);
  writeState(dir, { ...state, supervisorPid: process.pid });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    deployment.down().then(
      (stuck) => {
        if (stuck.length) console.log(`still running after SIGKILL: ${stuck.join(', ')}`);
        fs.rmSync(path.join(dir, 'ready'), { force: true });
        process.exit(stuck.length ? 1 : 0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await deployment.up();
  fs.writeFileSync(path.join(dir, 'ready'), `${new Date().toISOString()}\n`);
  console.log(`${new Date().toISOString()} ready`);
  deployment.supervise();
}

async function down(dir: string): Promise<void> {
  const pid = supervisorRunning(dir);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 90_000;
    while (isRunning({ pid, binary: process.execPath }) && Date.now() < deadline) await sleep(200);
  }
  // Whatever the supervisor left (or all of it, when it was killed itself).
  const state = readState(dir);
  const left: string[] = [];
  for (const proc of Object.values(state.components)) {
    if (!(await stopProcess(proc, proc.name === 'postgres' ? 'SIGINT' : 'SIGTERM'))) left.push(proc.name);
  }
  writeState(dir, { components: {} });
  fs.rmSync(path.join(dir, 'ready'), { force: true });
  if (left.length) throw new SimError(`still running: ${left.join(', ')}`);
  console.log(`shared deployment in ${dir} is down`);
}

function printWhere(dir: string): void {
  const plan = requirePlan(dir);
  console.log(`  Temporal frontend  127.0.0.1:${plan.ports.frontendGrpc} (mTLS; a token per role)`);
  console.log(`  Temporal UI        http://127.0.0.1:${plan.ports.ui} (read-only)`);
  console.log(`  PostgreSQL         127.0.0.1:${plan.ports.postgres}`);
  console.log(`  profiles           ${paths(dir).profiles} (TEMPORAL_PROFILE=${ROLES.join('|')})`);
}

function status(dir: string): boolean {
  requirePlan(dir);
  const state = readState(dir);
  const desired = readDesired(dir);
  const sup = supervisorRunning(dir);
  console.log(`supervisor: ${sup ? `running (pid ${sup})` : 'not running'}`);
  let allUp = sup !== undefined;
  const names = new Set([
    'postgres',
    'temporal',
    'ui',
    ...desired.builds.flatMap((b) =>
      Array.from({ length: b.workers }, (_, i) => `worker-${b.buildId}-${i + 1}`),
    ),
  ]);
  for (const name of names) {
    const proc = state.components[name];
    const kept = desired.keptDown.includes(name);
    const up = proc !== undefined && isRunning(proc);
    if (!up && !kept) allUp = false;
    console.log(
      `${name.padEnd(28)} ${up ? `running (pid ${proc!.pid})` : kept ? 'kept down' : 'not running'}`,
    );
  }
  printWhere(dir);
  return allUp;
}

async function deploy(dir: string, workers: number): Promise<string> {
  const plan = requirePlan(dir);
  if (!supervisorRunning(dir)) throw new SimError(`the shared deployment in ${dir} is not up`);
  const buildId = await bundleCurrentBuild(dir);
  const desired = readDesired(dir);
  if (!desired.builds.some((b) => b.buildId === buildId)) desired.builds.push({ buildId, workers });
  writeDesired(dir, desired);
  await new SharedDeployment(plan, sharedBinDir()).waitForWorkers(desired);
  await makeCurrent(dir, buildId);
  console.log(`build ${buildId} is current; runs pinned to earlier builds finish on them`);
  return buildId;
}

async function retire(dir: string, buildId: string, drainTimeoutSeconds: number): Promise<void> {
  requirePlan(dir);
  const desired = readDesired(dir);
  if (!desired.builds.some((b) => b.buildId === buildId))
    throw new SimError(`build ${buildId} is not deployed here`);
  const { connection, namespace } = await connectAs(dir, 'operator');
  try {
    const v = { namespace, deploymentName: DEPLOYMENT_NAME, buildId };
    if ((await currentBuild(connection, namespace, DEPLOYMENT_NAME)) === buildId) {
      throw new SimError(`build ${buildId} is current: deploy another build first`);
    }
    console.log(`waiting for build ${buildId} to drain`);
    await waitForDrained(connection, v, drainTimeoutSeconds * 1000);
    writeDesired(dir, { ...desired, builds: desired.builds.filter((b) => b.buildId !== buildId) });
    const deadline = Date.now() + 60_000;
    while (Object.keys(readState(dir).components).some((n) => n.startsWith(`worker-${buildId}-`))) {
      if (Date.now() > deadline) throw new SimError(`the workers of build ${buildId} did not stop`);
      await sleep(500);
    }
    await deleteBuild(connection, v);
    console.log(`build ${buildId} drained, its workers stopped, its version deleted`);
  } finally {
    await connection.close();
  }
}

function kill(dir: string, component: string, forGood: boolean): void {
  if (forGood) {
    const desired = readDesired(dir);
    if (!desired.keptDown.includes(component)) desired.keptDown.push(component);
    writeDesired(dir, desired);
  }
  const proc = killComponent(dir, component);
  console.log(
    `${component} (pid ${proc.pid}) killed${forGood ? ' and kept down' : '; the supervisor restarts it'}`,
  );
}

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

export function buildProgram(): Command {
  const program = new Command('shared').description('the shared deployment on loopback');
  const dirOpt = ['--dir <dir>', 'state dir of the deployment', DEFAULT_DIR] as const;
  program
    .command('up')
    .option(...dirOpt)
    .option('--clusters <file>', 'clusters.yaml the workers serve', 'clusters.yaml')
    .option('--workers <n>', 'worker processes of the first build', positive, 2)
    .action((o: { dir: string; clusters: string; workers: number }) => up(o));
  program
    .command('supervise', { hidden: true })
    .option(...dirOpt)
    .action((o: { dir: string }) => supervise(path.resolve(o.dir)));
  program
    .command('down')
    .option(...dirOpt)
    .action((o: { dir: string }) => down(path.resolve(o.dir)));
  program
    .command('status')
    .option(...dirOpt)
    .action((o: { dir: string }) => {
      if (!status(path.resolve(o.dir))) process.exitCode = 3;
    });
  program
    .command('env')
    .option(...dirOpt)
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'operator')
    .action((o: { dir: string; role: string }) => {
      if (!(ROLES as readonly string[]).includes(o.role))
        throw new SimError(`--role ${o.role}: expected one of ${ROLES.join(', ')}`);
      const env = roleEnv(path.resolve(o.dir), o.role as Role, {});
      for (const [k, v] of Object.entries(env)) console.log(`export ${k}=${JSON.stringify(v)}`);
    });
  program
    .command('deploy')
    .option(...dirOpt)
    .option('--workers <n>', 'worker processes of the new build', positive, 2)
    .action(async (o: { dir: string; workers: number }) => {
      await deploy(path.resolve(o.dir), o.workers);
    });
  program
    .command('retire <buildId>')
    .option(...dirOpt)
    .option('--drain-timeout <seconds>', 'how long to wait for open runs pinned to the build', positive, 3600)
    .action((buildId: string, o: { dir: string; drainTimeout: number }) =>
      retire(path.resolve(o.dir), buildId, o.drainTimeout),
    );
  program
    .command('kill <component>')
    .option(...dirOpt)
    .option('--for-good', 'keep it down (the supervisor does not restart it)', false)
    .action((component: string, o: { dir: string; forGood: boolean }) =>
      kill(path.resolve(o.dir), component, o.forGood),
    );
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      console.error(`shared: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
