/**
 * One Temporal dev server (search attributes registered) and one shared simulator for the whole
 * run. Tests find them through process.env (jest runs them in this same process with runInBand):
 * TEMPORAL_ADDRESS, NKSR_CLUSTERS_FILE, NKSR_SIM_DIR, NKSR_WORKFLOW_BUNDLE.
 * NKSR_TEST_SIM=0 skips the simulator (tests that need it skip themselves).
 * TEMPORAL_ADDRESS already set → that server is used and not started here. The simulator's place is
 * the run's `shared` one (sim/testing.ts testSimPlace), or NKSR_TEST_SIM_ROLE's.
 */
import { join } from 'node:path';
import { approverKeyPath } from '../../sim';
import { recordBaseline } from '../../sim/reset';
import { ensureTestSim, type TestSimRole, testSimPlace } from '../../sim/testing';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { bundleWorkflowsTo } from '../../src/worker/bundle-workflows';
import globalTeardown from './global-teardown';

declare global {
  var __NKSR_DEV_SERVER__: DevServer | undefined;
  var __NKSR_TEST_SIM_DIR__: string | undefined;
}

const TEST_SIM = testSimPlace((process.env.NKSR_TEST_SIM_ROLE as TestSimRole | undefined) ?? 'shared');
export const TEST_SIM_NODES = 5;

let pendingSim: Promise<void> | undefined;

export default async function globalSetup(): Promise<void> {
  try {
    await startEverything();
  } catch (err) {
    // Jest runs no globalTeardown when globalSetup throws: stop what did start, or it outlives the run.
    await pendingSim?.catch(() => undefined);
    await globalTeardown().catch(() => undefined);
    throw err;
  }
}

async function startEverything(): Promise<void> {
  const t0 = Date.now();
  const log = (msg: string) =>
    process.stderr.write(`[global-setup +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

  const simWanted = process.env.NKSR_TEST_SIM !== '0';
  // The simulator and Temporal start in parallel: both take seconds and neither needs the other.
  const simPromise = simWanted ? startTestSim(log) : Promise.resolve(undefined);
  // A simulator that did come up must be known to the teardown even if Temporal fails first.
  pendingSim = simPromise.then((sim) => {
    globalThis.__NKSR_TEST_SIM_DIR__ = sim?.dir;
  });

  if (!process.env.TEMPORAL_ADDRESS) {
    const server = await startDevServer({ ui: false });
    globalThis.__NKSR_DEV_SERVER__ = server;
    process.env.TEMPORAL_ADDRESS = server.address;
    process.env.TEMPORAL_NAMESPACE = server.namespace;
    log(`Temporal dev server at ${server.address} (${server.binarySource})`);
  } else {
    log(`using the Temporal server at ${process.env.TEMPORAL_ADDRESS}`);
  }

  // Bundled once for every test's worker instead of once per worker (webpack takes seconds).
  const bundle = await bundleWorkflowsTo(join(REPO_ROOT, '.tmp', `workflow-bundle-${process.pid}.js`));
  process.env.NKSR_WORKFLOW_BUNDLE = bundle;
  log('workflow code bundled');

  const sim = await simPromise.catch((err: unknown) => {
    throw new Error(
      `the test simulator did not come up: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  if (sim) {
    globalThis.__NKSR_TEST_SIM_DIR__ = sim.dir;
    process.env.NKSR_SIM_DIR = sim.dir;
    process.env.NKSR_CLUSTERS_FILE = sim.clustersPath;
    // nksr approve (and approveRun) sign as the approver the simulator's clusters.yaml lists.
    process.env.NKSR_APPROVER_KEY = approverKeyPath(sim.dir);
    log(`simulator ready in ${sim.dir} (${sim.clustersPath})`);
  } else {
    log('simulator skipped (NKSR_TEST_SIM=0)');
  }
}

async function startTestSim(log: (msg: string) => void): Promise<{ dir: string; clustersPath: string }> {
  const handle = await ensureTestSim({
    dir: TEST_SIM.dir,
    ipPrefix: TEST_SIM.ipPrefix,
    nodes: TEST_SIM_NODES,
    // docker nodes: logrotateSync installs the docker logrotate config only there (containerd nodes
    // rotate container logs in kubelet); a containerd cluster has its own tests.
    runtime: 'docker',
    log,
  });
  // What each file's useSharedSim puts the simulator back to.
  await recordBaseline(handle.dir);
  return { dir: handle.dir, clustersPath: handle.clustersPath };
}
