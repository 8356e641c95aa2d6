/**
 * How a user outgrows one machine: more worker processes on the same task queue. Two workers
 * (src/worker/main.ts, each its own process) share one calicoImageRepair run of 24 nodes whose
 * pre-pulls run as batch activities; both start activities, then one is SIGKILLed in the middle of
 * the pre-pulls and the other finishes the run (a batch the killed one held is retried by the other
 * after its heartbeat timeout): every pair pulled, every workload on the target images, and no
 * workload patched twice.
 *
 * Runs its own 24-node simulator without SSH nodes, at the run's `calico-two-workers` place
 * (sim/testing.ts testSimPlace). The 250-node figure: `npm run bench -- calico --nodes 250 --two-workers
 * --kill-one --skip-guide`.
 */
import { randomUUID } from 'node:crypto';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { activityStartsByIdentity, executionTree } from '../../bench/history-stats';
import { type WorkerProcess, startWorkerProcess } from '../../bench/worker-process';
import type { Progress } from '../../src/common/types';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import { type SimHandle } from '../../sim';
import { ensureTestSim, teardownTestSim, testSimPlace } from '../../sim/testing';
import { connectTemporal, requiredEnv, simAvailable, uniqueTaskQueue, useSharedSim } from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(900_000);

const NODES = 24;
const { dir: DIR, ipPrefix: IP_PREFIX } = testSimPlace('calico-two-workers');

const TARGET = 'docker.io/calico';

async function calicoImages(kubeconfig: string): Promise<Record<string, string>> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespace = 'kube-system';
  const all = [
    await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace }),
    await apps.readNamespacedDeployment({ name: 'calico-kube-controllers', namespace }),
    await apps.readNamespacedDeployment({ name: 'calico-typha', namespace }),
  ];
  return Object.fromEntries(
    all.flatMap((w) =>
      [...(w.spec?.template.spec?.initContainers ?? []), ...(w.spec?.template.spec?.containers ?? [])].map(
        (c) => [`${w.metadata?.name}/${c.name}`, c.image ?? ''],
      ),
    ),
  );
}

maybe(`two workers share one calicoImageRepair run of ${NODES} nodes; one is SIGKILLed`, () => {
  let sim: SimHandle;
  let connection: Connection;
  let client: Client;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    sim = await ensureTestSim({ dir: DIR, nodes: NODES, sshNodes: 0, ipPrefix: IP_PREFIX });
    console.log(`[calico-2w] ${NODES}-node simulator up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => undefined);
    await connection?.close();
    await teardownTestSim({ dir: DIR });
  });

  test('activities run on both workers; after the kill the other finishes the run, nothing patched twice', async () => {
    const before = await calicoImages(sim.kubeconfigPath);
    expect(Object.values(before).some((i) => i.startsWith(TARGET))).toBe(false);

    const taskQueue = uniqueTaskQueue('calico-2w');
    const start = () =>
      startWorkerProcess({
        address: requiredEnv('TEMPORAL_ADDRESS'),
        namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
        taskQueue,
        clustersFile: sim.clustersPath,
        workflowBundlePath: process.env.NKSR_WORKFLOW_BUNDLE,
        startTimeoutMs: 300_000,
      });
    // One after the other: two cold tsx start-ups at once on a loaded 2-core machine take minutes.
    const victim = await start();
    workers.push(victim);
    const survivor = await start();
    workers.push(survivor);

    const workflowId = `nks/sim/calicoImageRepair/2w-${randomUUID().slice(0, 8)}`;
    // 96 pairs in 12 batch activities of 8, one at a time with 4 pods in flight: a pre-pull phase
    // long enough to see both workers take batches before the kill.
    const handle = await client.workflow.start('calicoImageRepair', {
      taskQueue,
      workflowId,
      args: [{ cluster: 'sim', maxParallel: 4 }],
    });

    // Kill once both workers have started activities and a third of the pre-pulls are done.
    const deadline = Date.now() + 600_000;
    let pulledAtKill = 0;
    for (;;) {
      if (Date.now() > deadline) throw new Error('pre-pulls did not progress on both workers');
      const progress = await handle.query<Progress>('progress').catch(() => undefined);
      const pulled =
        progress?.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length ?? 0;
      const starts = activityStartsByIdentity(await executionTree(client, workflowId));
      if (starts.has(victim.identity) && starts.has(survivor.identity) && pulled >= (NODES * 4) / 3) {
        pulledAtKill = pulled;
        break;
      }
      if (!/preflight|pre-pull/.test(progress?.phase ?? 'pre-pull')) {
        throw new Error(
          `pre-pull over (${pulled} pulled) before both workers started activities: ${JSON.stringify([...starts])}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    victim.kill();
    const killedAt = Date.now();

    const result = (await handle.result()) as CalicoImageRepairResult;
    const tree = await executionTree(client, workflowId);
    const starts = activityStartsByIdentity(tree);
    console.log(
      `[calico-2w] pulled at kill: ${pulledAtKill}/${NODES * 4}; finished ${((Date.now() - killedAt) / 1000).toFixed(1)} s after it; ` +
        `executions: ${tree.map((x) => `${x.workflowId.split('/').pop()} ${x.events} events`).join(', ')}; ` +
        `activity starts: ${[...starts].map(([who, n]) => `${who === victim.identity ? 'killed' : who === survivor.identity ? 'survivor' : who} ${n}`).join(', ')}`,
    );

    expect(result.outcome).toBe('repaired');
    expect(result.prePullCounts).toEqual({ pulled: NODES * 4 });
    // No child workflow: the batches are activities of the run itself.
    expect(tree.length).toBe(1);
    expect(starts.get(victim.identity)).toBeGreaterThan(0);
    expect(starts.get(survivor.identity)).toBeGreaterThan(0);
    expect([...starts.keys()].sort()).toEqual([victim.identity, survivor.identity].sort());

    // Everything on target; each workload's images were set once, by one activity start.
    const after = await calicoImages(sim.kubeconfigPath);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const [container, image] of Object.entries(after)) {
      expect({ container, image }).toEqual({ container, image: expect.stringMatching(`^${TARGET}/`) });
    }
    const parent = (await handle.fetchHistory()).events ?? [];
    const setImages = parent.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'setWorkloadImages',
    );
    expect(setImages).toHaveLength(3);
    const retriedPatches = parent.filter(
      (e) =>
        (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1 &&
        setImages.some(
          (s) => String(s.eventId) === String(e.activityTaskStartedEventAttributes?.scheduledEventId),
        ),
    );
    expect(retriedPatches).toHaveLength(0);
    await survivor.stop();
  });
});
