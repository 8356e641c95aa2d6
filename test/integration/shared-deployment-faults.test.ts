/**
 * The shared deployment under faults: calico's repair on 50 simulated nodes and the rolling reboot
 * on the SSH nodes started together (the cluster lock lets one wait for the other), first
 * uninterrupted for reference, then again while the Temporal server is SIGKILLed (the supervisor
 * restarts it), PostgreSQL is restarted once and one of the two workers is SIGKILLed for good. Both
 * runs must end as the reference did: the same end state fact by fact, the same side-effect counts
 * (pods created, workloads patched, reboots, file installs), nothing done twice, nothing left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { compare, outcomeOf } from '../../faults/suite';
import { driverFor, type Driver, type EndState, type SimView } from '../../faults/procedures';
import type { SideEffectCounter } from '../../faults/effects';
import type { SimHandle } from '../../sim';
import { isRunning } from '../../sim/process';
import { ensureTestSim, teardownTestSim, testSimPlace } from '../../sim/testing';
import { connectAs, readDesired, readState, sharedBinDir, stopProcess } from '../../shared/deployment';
import { TASK_QUEUE } from '../../src/common/procedures';
import { runShared } from './helpers';

jest.setTimeout(1_500_000);

const PLACE = testSimPlace('shared-deployment');
const SIM_DIR = path.join(PLACE.dir, 'faults-sim');
const DIR = path.join(PLACE.dir, 'faults-deployment');
const NODES = 50;
const SSH_NODES = 3;
const RUN_TIMEOUT_MS = 12 * 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const shared = (args: string[]) => runShared(DIR, args);

/**
 * A rebooted node is Ready before the node controller lifts its not-ready taint: the end state is
 * read once every node is Ready without it, in the reference and the faulted run alike.
 */
async function nodesSettled(kc: KubeConfig, timeoutMs = 120_000): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = (await core.listNode()).items;
    const unsettled = nodes.filter(
      (n) =>
        n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True' ||
        (n.spec?.taints ?? []).some((t) => /^node\.kubernetes\.io\/(not-ready|unreachable)$/.test(t.key)),
    );
    if (unsettled.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `nodes not settled after ${timeoutMs / 1000}s: ${unsettled.map((n) => n.metadata?.name).join(', ')}`,
      );
    }
    await sleep(500);
  }
}

interface Outcome {
  outcome: string;
  end: EndState;
  counts: Record<string, number>;
  duplicates: string[];
}

describe('the shared deployment under a server kill, a PostgreSQL restart and a worker lost for good', () => {
  let sim: SimHandle;
  let operator: { connection: Connection; namespace: string };
  let client: Client;
  const drivers: { driver: Driver; view: SimView }[] = [];

  beforeAll(async () => {
    sharedBinDir();
    await shared(['down']);
    fs.rmSync(DIR, { recursive: true, force: true });
    sim = await ensureTestSim({
      dir: SIM_DIR,
      ipPrefix: PLACE.ipPrefix,
      nodes: NODES,
      sshNodes: SSH_NODES,
      drift: { rebootDownMs: 2000 },
    });
    const kc = new KubeConfig();
    kc.loadFromFile(sim.kubeconfigPath!);
    const all = sim.nodes.map((n) => n.name).sort();
    const ssh = [...(sim.state.ssh?.nodes ?? [])].sort();
    expect(ssh).toHaveLength(SSH_NODES);
    drivers.push(
      { driver: driverFor('calico'), view: { sim, kc, dir: SIM_DIR, nodes: all } },
      { driver: driverFor('kmem'), view: { sim, kc, dir: SIM_DIR, nodes: ssh } },
    );
    // The rolling reboot runs without an approval gate here: the policy lets the input turn it off.
    const clustersFile = path.join(SIM_DIR, 'clusters-shared-faults.yaml');
    const doc = YAML.parse(fs.readFileSync(sim.clustersPath!, 'utf8')) as {
      clusters: Record<string, Record<string, unknown>>;
    };
    doc.clusters.sim!.policy = { approvals: { disableKmemAccounting: 'on-request' } };
    fs.writeFileSync(clustersFile, YAML.stringify(doc));
    const up = await shared(['up', '--clusters', clustersFile]);
    if (up.code !== 0) throw new Error(`shared up failed:\n${up.stdout}\n${up.stderr}`);
    operator = await connectAs(DIR, 'operator');
    client = new Client({ connection: operator.connection, namespace: operator.namespace });
  });

  afterAll(async () => {
    await operator?.connection.close();
    const down = await shared(['down']);
    await teardownTestSim({ dir: SIM_DIR });
    expect(down.code).toBe(0);
  });

  /** Both procedures from their broken state, started together; `faults` runs beside them. */
  async function runBoth(
    tag: string,
    faults?: (counters: SideEffectCounter[]) => Promise<void>,
  ): Promise<Outcome[]> {
    for (const { driver, view } of drivers) await driver.reset(view);
    const counters = drivers.map(({ driver, view }) => driver.sideEffects(view));
    for (const c of counters) await c.start();
    try {
      const handles = await Promise.all(
        drivers.map(({ driver, view }) =>
          client.workflow.start(driver.workflowType, {
            taskQueue: TASK_QUEUE,
            workflowId: `nks/sim/${driver.workflowType}/shared-${tag}`,
            args: [{ ...driver.input(view), ...(driver.name === 'kmem' ? { requireApproval: false } : {}) }],
          }),
        ),
      );
      const injected = faults?.(counters);
      const outcomes = await Promise.all(handles.map((h) => outcomeOf(h, RUN_TIMEOUT_MS)));
      await injected;
      await nodesSettled(drivers[0]!.view.kc);
      const out: Outcome[] = [];
      for (const [i, { driver, view }] of drivers.entries()) {
        out.push({
          outcome: outcomes[i]!,
          end: await driver.endState(view),
          counts: counters[i]!.counts(),
          duplicates: counters[i]!.duplicates(),
        });
      }
      return out;
    } finally {
      for (const c of counters) c.stop();
    }
  }

  test('both runs end as the uninterrupted ones did', async () => {
    const reference = await runBoth('reference');
    for (const [i, { driver }] of drivers.entries()) {
      expect({ procedure: driver.name, outcome: reference[i]!.outcome }).toEqual({
        procedure: driver.name,
        outcome: driver.successOutcome,
      });
    }

    const struck: string[] = [];
    const faulted = await runBoth('faulted', async ([calico]) => {
      const waitFor = async (what: string, check: () => boolean, ms = 600_000) => {
        const deadline = Date.now() + ms;
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await sleep(100);
        }
      };
      const calicoPods = () => calico!.counts().pods ?? 0;
      const expectedPods = reference[0]!.counts.pods ?? 0;
      const component = (name: string) => readState(DIR).components[name];

      await waitFor('a quarter of the pre-pull pods', () => calicoPods() >= expectedPods / 4);
      const server = component('temporal')!;
      process.kill(-server.pid, 'SIGKILL');
      struck.push(`Temporal server SIGKILLed at pod ${calicoPods()}`);
      await waitFor('the supervisor to restart the server', () => {
        const now = component('temporal');
        return now !== undefined && now.pid !== server.pid && isRunning(now);
      });

      await waitFor('half of the pre-pull pods', () => calicoPods() >= expectedPods / 2);
      const pg = component('postgres')!;
      // A fast shutdown, as a package upgrade or a host restart does it; the supervisor starts it again.
      expect(await stopProcess(pg, 'SIGINT')).toBe(true);
      struck.push(`PostgreSQL restarted at pod ${calicoPods()}`);
      await waitFor('PostgreSQL back', () => {
        const now = component('postgres');
        return now !== undefined && now.pid !== pg.pid && isRunning(now);
      });

      await waitFor('three quarters of the pre-pull pods', () => calicoPods() >= (3 * expectedPods) / 4);
      const build = readDesired(DIR).builds[0]!.buildId;
      const killed = await shared(['kill', `worker-${build}-2`, '--for-good']);
      expect(killed.code).toBe(0);
      struck.push(`worker-${build}-2 SIGKILLed for good at pod ${calicoPods()}`);
    });
    process.stderr.write(`[shared faults] ${struck.join('; ')}\n`);
    expect(struck).toHaveLength(3);

    for (const [i, { driver, view }] of drivers.entries()) {
      const ref = reference[i]!;
      const run = faulted[i]!;
      expect({ procedure: driver.name, outcome: run.outcome }).toEqual({
        procedure: driver.name,
        outcome: driver.successOutcome,
      });
      expect({ procedure: driver.name, diffs: compare(driver, view, ref.end, run.end, false) }).toEqual({
        procedure: driver.name,
        diffs: [],
      });
      const counted = Object.fromEntries(driver.countsLikeReference.map((k) => [k, run.counts[k] ?? 0]));
      const expected = Object.fromEntries(driver.countsLikeReference.map((k) => [k, ref.counts[k] ?? 0]));
      expect({ procedure: driver.name, counts: counted }).toEqual({
        procedure: driver.name,
        counts: expected,
      });
      expect({ procedure: driver.name, duplicates: run.duplicates, leftovers: run.end.leftovers }).toEqual({
        procedure: driver.name,
        duplicates: [],
        leftovers: [],
      });
    }
    // The worker killed for good stayed down; the other one finished the work.
    const build = readDesired(DIR).builds[0]!.buildId;
    expect(isRunning(readState(DIR).components[`worker-${build}-2`]!)).toBe(false);
    expect(isRunning(readState(DIR).components[`worker-${build}-1`]!)).toBe(true);
  });
});
