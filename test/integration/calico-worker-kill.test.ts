/**
 * Durability of calicoImageRepair: the worker (a child process running src/worker/main.ts) is
 * SIGKILLed in the middle of the pre-pulls and a new one started. The run completes, no node×image
 * pre-pull pod is created twice (counted by watching the API server), and the history shows two
 * workers and the resume. Then SIGKILLs between a patch and its recorded
 * completion (test/integration/hooked-worker.ts) and during a rollout wait: the run completes,
 * previousImages are the broken ones, and no workload is patched twice.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AppsV1Api, type KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import type { SimHandle } from '../../sim';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import { progressQuery } from '../../src/workflows/definitions';
import {
  connectSim,
  connectTemporal,
  simAvailable,
  startWorkerProcess,
  uniqueTaskQueue,
  useSharedSim,
} from './helpers';

useSharedSim();

const NS = 'kube-system';
const maybe = simAvailable() ? describe : describe.skip;

/** Every worker process spawned, killed in afterAll even if it never reported ready. */
const spawned: ChildProcess[] = [];

maybe('calicoImageRepair survives a worker SIGKILL mid pre-pull', () => {
  let sim: SimHandle;
  let kc: KubeConfig;
  let apps: AppsV1Api;
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    ({ sim, kc, apps } = connectSim());
    ({ connection, client } = await connectTemporal());
    await sim.clearImageFaults();
    await sim.applyFixtures();
  });

  afterAll(async () => {
    for (const c of [...children, ...spawned])
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await connection?.close();
  });

  test('completes after the kill; every node×image pre-pulled once; history shows the resume', async () => {
    const taskQueue = uniqueTaskQueue('calico-kill');
    const created = new Map<string, number>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'nksr.io/purpose=calico-prepull' },
      (type: string, pod: V1Pod) => {
        if (type === 'ADDED') created.set(pod.metadata!.name!, (created.get(pod.metadata!.name!) ?? 0) + 1);
      },
      () => undefined,
    );

    try {
      const first = await startWorkerProcess(taskQueue, { track: spawned });
      children.push(first);
      const workflowId = `nks/sim/calicoImageRepair/kill-${randomUUID().slice(0, 8)}`;
      const handle = await client.workflow.start('calicoImageRepair', {
        taskQueue,
        workflowId,
        args: [{ cluster: 'sim', maxParallel: 2 }],
      });
      // Kill once a few pre-pulls are done and others are running.
      const deadline = Date.now() + 120_000;
      let pulledAtKill = 0;
      for (;;) {
        const p = await handle.query(progressQuery);
        pulledAtKill = p.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length;
        if (pulledAtKill >= 5) break;
        if (Date.now() > deadline) throw new Error('pre-pulls did not progress');
        await new Promise((r) => setTimeout(r, 200));
      }
      first.kill('SIGKILL');

      const second = await startWorkerProcess(taskQueue, { track: spawned });
      children.push(second);
      const result = (await handle.result()) as CalicoImageRepairResult;
      second.kill('SIGTERM');

      expect(result.outcome).toBe('repaired');
      expect(result.prePulls).toHaveLength(sim.nodes.length * 4);
      // Every node×image pod was created exactly once across both workers.
      expect(created.size).toBe(sim.nodes.length * 4);
      expect([...created.values()].every((n) => n === 1)).toBe(true);

      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      // Batched pre-pulls (maxParallel 2: batches of 4 pairs, 2 pods in flight each).
      const scheduled = new Map<number, string>();
      for (const e of events) {
        const a = e.activityTaskScheduledEventAttributes;
        if (a?.activityType?.name === 'prePullImagesOnNodes')
          scheduled.set(Number(e.eventId), 'prePullImagesOnNodes');
      }
      expect(scheduled.size).toBe((sim.nodes.length * 4) / 4);
      const startedBy = new Map<number, { identity: string; attempt: number }>();
      for (const e of events) {
        const a = e.activityTaskStartedEventAttributes;
        if (a && scheduled.has(Number(a.scheduledEventId))) {
          startedBy.set(Number(a.scheduledEventId), { identity: a.identity ?? '', attempt: a.attempt ?? 1 });
        }
      }
      const identities = new Set([...startedBy.values()].map((s) => s.identity));
      expect(identities.size).toBe(2);
      const resumed = [...startedBy.values()].filter((s) => s.attempt > 1);
      const adopted = result.prePulls.filter((p) => p.podCreated === false);
      console.log(
        `[calico-kill] pulled at kill: ${pulledAtKill}/20; retried batch activities: ${resumed.length}; pods adopted by the new worker: ${adopted.length}; history events: ${events.length}; workers: ${[...identities].join(', ')}`,
      );
      // The batch in flight at the kill was retried by the new worker. What the retry finds depends on
      // where in the batch the kill fell: verdicts the killed attempt heartbeated are kept, pods it had
      // created without a heartbeated verdict are adopted (podCreated false), the rest are created
      // now. In every case no pod is created twice (counted above); both resume paths are pinned one
      // by one in calico-prepull-batch-fake.test.ts.
      expect(resumed.length).toBeGreaterThan(0);
      expect(adopted.length).toBeLessThanOrEqual(resumed.length * 4);
      if (process.env.NKSR_RECORD_HISTORIES === '1') {
        writeFileSync(
          join(REPO_ROOT, 'test', 'replay', 'histories', 'calicoImageRepair-sim-worker-killed.json'),
          `${historyToJSON(history)}\n`,
        );
      }
    } finally {
      watch.abort();
    }
  });
  test('SIGKILL between a patch and its recorded completion, then during a rollout wait: completes, previousImages broken, nothing patched twice', async () => {
    await sim.clearImageFaults();
    const taskQueue = uniqueTaskQueue('calico-kill-patch');
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (what: string) => marks.push(`${what} at ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    // Broken calico again (the test above repaired it), its pods on the broken images.
    await sim.applyFixtures();
    const generations = async () => ({
      'calico-node': (await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: NS })).metadata!
        .generation!,
      'calico-kube-controllers': (
        await apps.readNamespacedDeployment({ name: 'calico-kube-controllers', namespace: NS })
      ).metadata!.generation!,
      'calico-typha': (await apps.readNamespacedDeployment({ name: 'calico-typha', namespace: NS })).metadata!
        .generation!,
    });
    const before = await generations();

    let patchedMarker = false;
    const hooked = await startWorkerProcess(taskQueue, {
      track: spawned,
      script: 'test/integration/hooked-worker.ts',
      env: { NKSR_TEST_HANG_AFTER_WRITE: 'DaemonSet/calico-node' },
      onLine: (line) => {
        if (line.includes('after-write DaemonSet/calico-node')) patchedMarker = true;
      },
    });
    children.push(hooked);
    const workflowId = `nks/sim/calicoImageRepair/kill-patch-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start('calicoImageRepair', {
      taskQueue,
      workflowId,
      args: [{ cluster: 'sim', maxParallel: 10, deploymentRolloutTimeoutSeconds: 240 }],
    });
    await waitUntil('the calico-node patch', async () => patchedMarker, 180_000);
    // The DaemonSet is patched; the activity never reports it.
    hooked.kill('SIGKILL');
    mark('killed after the patch');
    // The pre-pulls are done: typha's new image now fails to pull, so its rollout wait lasts until
    // the fault is cleared (the simulator's rollouts are otherwise too quick to kill a worker in).
    await sim.failImage({ pattern: '^docker\\.io/calico/typha:' });
    const second = await startWorkerProcess(taskQueue, { track: spawned });
    children.push(second);
    // The retry (after the 30 s start-to-close timeout) finds the images set; then the rollouts.
    await waitUntil(
      'the stalled calico-typha rollout wait',
      async () => {
        const p = await handle.query(progressQuery);
        return p.items.some(
          (i) => i.key === 'deployment/calico-typha' && /waiting for rollout/.test(i.detail ?? ''),
        );
      },
      240_000,
    );
    // The kill must land while the second worker runs the wait, so that the third retries it.
    await waitUntil(
      'the second worker to start the typha rollout wait',
      async () => {
        const { raw } = await handle.describe();
        return (raw.pendingActivities ?? []).some(
          (a) =>
            a.activityType?.name === 'waitForRollout' &&
            a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        );
      },
      60_000,
    );
    second.kill('SIGKILL');
    mark('killed in the typha rollout wait');
    await sim.clearImageFaults();
    const third = await startWorkerProcess(taskQueue, { track: spawned });
    children.push(third);
    const result = (await handle.result()) as CalicoImageRepairResult;
    mark('completed');
    third.kill('SIGTERM');

    expect(result.outcome).toBe('repaired');
    const node = result.workloads.find((w) => w.name === 'calico-node')!;
    expect(node.previousImages?.length).toBe(3);
    expect(node.previousImages!.every((p) => p.image.startsWith('docker.io/nhn-broken/calico/'))).toBe(true);
    // Each workload's template changed exactly once (a second effective patch would bump it again).
    const after = await generations();
    for (const name of Object.keys(before) as (keyof typeof before)[])
      expect(after[name] - before[name]).toBe(1);

    // History: the patch was retried and found done (changed: false), on three workers in all.
    const history = await handle.fetchHistory();
    const events = (JSON.parse(historyToJSON(history)) as { events: JsonEvent[] }).events;
    const typhaWaits = events.filter(
      (e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForRollout' &&
        payloadText(e.activityTaskScheduledEventAttributes.input).includes('"calico-typha"'),
    );
    // One wait, retried on the third worker (a second wait would mean the first had failed).
    expect(typhaWaits).toHaveLength(1);
    const typhaWaitStarted = events.find(
      (e) => e.activityTaskStartedEventAttributes?.scheduledEventId === typhaWaits[0]!.eventId,
    )!;
    expect(typhaWaitStarted.activityTaskStartedEventAttributes!.attempt).toBeGreaterThan(1);
    expect(result.workloads.find((w) => w.name === 'calico-typha')!.oldPodsDeleted).toBeUndefined();
    const nodeSetId = events.find(
      (e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'setWorkloadImages' &&
        payloadText(e.activityTaskScheduledEventAttributes.input).includes('"calico-node"'),
    )!.eventId;
    const setStarted = events.find(
      (e) => e.activityTaskStartedEventAttributes?.scheduledEventId === nodeSetId,
    )!;
    const setAttempt = setStarted.activityTaskStartedEventAttributes!.attempt ?? 1;
    expect(setAttempt).toBeGreaterThan(1);
    const setDone = events.find(
      (e) => e.activityTaskCompletedEventAttributes?.scheduledEventId === nodeSetId,
    )!;
    expect(payloadText(setDone.activityTaskCompletedEventAttributes!.result)).toContain('"changed":false');
    const identities = new Set(
      events.map((e) => e.activityTaskStartedEventAttributes?.identity).filter((i): i is string => !!i),
    );
    expect(identities.size).toBe(3);
    console.log(
      `[calico-kill-patch] ${marks.join(', ')}; set-images attempts: ${setAttempt}; generations ${JSON.stringify(before)} -> ${JSON.stringify(after)}; history events: ${events.length}`,
    );
    if (process.env.NKSR_RECORD_HISTORIES === '1') {
      writeFileSync(
        join(
          REPO_ROOT,
          'test',
          'replay',
          'histories',
          'calicoImageRepair-sim-worker-killed-after-patch.json',
        ),
        `${historyToJSON(history)}\n`,
      );
    }
  }, 600_000);
});

/** The few fields of a history event (as historyToJSON writes it) these tests read. */
interface JsonEvent {
  eventId: string;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string }; input?: JsonPayloads };
  activityTaskStartedEventAttributes?: { scheduledEventId?: string; identity?: string; attempt?: number };
  activityTaskCompletedEventAttributes?: { scheduledEventId?: string; result?: JsonPayloads };
}
interface JsonPayloads {
  payloads?: { data?: string }[];
}

/** The decoded JSON text of every payload (base64 in historyToJSON's output). */
function payloadText(p: JsonPayloads | undefined): string {
  return (p?.payloads ?? []).map((x) => Buffer.from(x.data ?? '', 'base64').toString()).join('\n');
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
