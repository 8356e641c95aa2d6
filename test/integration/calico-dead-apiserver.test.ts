/**
 * On the real stack: the shared simulator's API server killed for good while calicoImageRepair
 * pre-pulls (started again afterwards with `npm run sim -- fault start kube-apiserver`). What a user checks:
 * the workflow's history (no pre-pull scheduled once the failure budget is spent), the time from the
 * stop to the run's end, the report the failure carries (the failed cleanup and every pre-pull pod it
 * may have left, by name), then, with the API server started again, the pods themselves: each one
 * left is named in that report, and a rerun deletes them and repairs.
 *
 * Slow by nature (about 9 minutes): a pre-pull that cannot reach the API server fails only at its
 * schedule-to-close (prePullTimeoutSeconds + 300 s of retries), and the cleanup after it at its own
 * bound (3 minutes).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { CoordinationV1Api, type CoreV1Api } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { SimHandle } from '../../sim';
import { stopComponent } from '../../sim/components';
import { REPO_ROOT } from '../../sim/config';
import type { CalicoImageRepairResult } from '../../src/workflows/definitions';
import { progressQuery } from '../../src/workflows/definitions';
import {
  connectSim,
  connectTemporal,
  requiredEnv,
  type RunningWorker,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const NS = 'kube-system';
const PREPULL_SELECTOR = 'nksr.io/purpose=calico-prepull';
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
/** The workflow's bounds (calico-image-repair.ts): retries of one pre-pull past its timeout, the cleanup. */
const WAIT_SLACK_S = 300;
const CLEANUP_S = 180;

const maybe = simAvailable() ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `npm run sim -- <args> --dir <the test simulator>`, as an operator types it. */
function simCli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [path.join(REPO_ROOT, 'sim', 'cli.ts'), ...args, '--dir', requiredEnv('NKSR_SIM_DIR')],
      { cwd: REPO_ROOT, timeout: 170_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  ms = 120_000,
  everyMs = 500,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const eventMs = (e: HistoryEvent) =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

/**
 * One line per activity of the history: when it was scheduled, when it closed and how, in seconds
 * from `zeroMs` (the API server's stop), so a run slower than its bounds shows which step took the time.
 */
function activityTimeline(events: HistoryEvent[], zeroMs: number): string {
  const at = (e: HistoryEvent) => ((eventMs(e) - zeroMs) / 1000).toFixed(0).padStart(5);
  const scheduled = new Map<string, HistoryEvent>();
  const lines: string[] = [];
  for (const e of events) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) scheduled.set(String(e.eventId), e);
    const closed =
      (e.activityTaskCompletedEventAttributes && ['completed', e.activityTaskCompletedEventAttributes]) ||
      (e.activityTaskFailedEventAttributes && ['failed', e.activityTaskFailedEventAttributes]) ||
      (e.activityTaskTimedOutEventAttributes && ['timed out', e.activityTaskTimedOutEventAttributes]) ||
      (e.activityTaskCanceledEventAttributes && ['cancelled', e.activityTaskCanceledEventAttributes]);
    if (!closed) continue;
    const [how, attrs] = closed as [string, { scheduledEventId?: unknown }];
    const s = scheduled.get(String(attrs.scheduledEventId));
    const name = s?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
    lines.push(`  ${s ? at(s) : '    ?'} → ${at(e)} s  ${name} ${how}`);
  }
  const end = events[events.length - 1];
  if (end) lines.push(`  run closed at ${at(end)} s`);
  return lines.join('\n');
}

maybe('calicoImageRepair with the API server gone for good', () => {
  let sim: SimHandle;
  let core: CoreV1Api;
  let coordination: CoordinationV1Api;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let stopped = false;

  beforeAll(async () => {
    const api = connectSim();
    ({ sim, core } = api);
    coordination = api.kc.makeApiClient(CoordinationV1Api);
    ({ connection, client } = await connectTemporal());
    worker = await startWorker();
  });

  afterAll(async () => {
    // The simulator is shared with the files after this one.
    if (stopped) await simCli(['fault', 'start', 'kube-apiserver']);
    await worker?.stop();
    await connection?.close();
  });

  const prePullPods = async () =>
    (await core.listNamespacedPod({ namespace: NS, labelSelector: PREPULL_SELECTOR })).items;

  const calicoNodesRunning = async () => {
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'k8s-app=calico-node' }))
      .items;
    return (
      pods.length === sim.nodes.length &&
      pods.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
    );
  };

  test(
    'no pre-pull starts after the budget, the run ends in bounded time with a report naming its leftovers; a rerun cleans up',
    async () => {
      await sim.clearImageFaults();
      await sim.applyFixtures();
      await waitFor('the broken calico fixtures, no pre-pull pod', async () => {
        return (await calicoNodesRunning()) && (await prePullPods()).length === 0;
      });
      const input = { cluster: 'sim', maxParallel: 2, maxFailures: 1, prePullTimeoutSeconds: 30 };
      const handle = await client.workflow.start('calicoImageRepair', {
        taskQueue: worker.taskQueue,
        workflowId: `nks/sim/calicoImageRepair/dead-apiserver-${randomUUID().slice(0, 8)}`,
        args: [input],
      });
      // Mid pre-pull: a pair done, pods of this run on the API server.
      await waitFor(
        'a pre-pull done and another in flight',
        async () => {
          const p = await handle.query(progressQuery);
          const done = p.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length;
          return p.phase === 'pre-pull' && done >= 1 && (await prePullPods()).length > 0;
        },
        120_000,
        100,
      );

      // Killed in this process, at once: the pre-pull lasts seconds, and the CLI's start-up (tsx) and
      // the API server's graceful shutdown under a loaded CI machine took longer than that, so the
      // run had finished its pre-pull before the API server was gone.
      expect(await stopComponent(requiredEnv('NKSR_SIM_DIR'), 'kube-apiserver', 0)).toBe(true);
      stopped = true;
      const stoppedAt = Date.now();
      const phaseAtStop = (await handle.query(progressQuery)).phase;
      if (phaseAtStop !== 'pre-pull')
        throw new Error(`the API server stopped too late to show anything: the run was in ${phaseAtStop}`);
      // Bounded: one pre-pull's schedule-to-close, the cleanup's bound, and a margin for the rest.
      const boundS = input.prePullTimeoutSeconds + WAIT_SLACK_S + CLEANUP_S + 120;
      const ended = handle.result().then(
        () => ({ err: undefined as unknown }),
        (e: unknown) => ({ err: e }),
      );
      let overdue: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        ended,
        new Promise<undefined>((r) => (overdue = setTimeout(() => r(undefined), (boundS + 60) * 1000))),
      ]);
      // The run ended first: its timer must not keep jest (and the CI job waiting on it) alive.
      clearTimeout(overdue);
      if (!late) {
        // Still running well past its bound: say where it waits, then fail on that.
        const d = await handle.describe();
        const pending = (d.raw.pendingActivities ?? []).map(
          (a) =>
            `${a.activityType?.name} attempt ${a.attempt} (${a.lastFailure?.message ?? 'no failure yet'})`,
        );
        console.log(
          `[dead-apiserver] still ${d.status.name} ${boundS + 60} s after the API server stopped; ` +
            `worker ${worker.worker.getState()}; pending: ${pending.join('; ') || 'none'}; activities:\n` +
            activityTimeline((await handle.fetchHistory()).events ?? [], stoppedAt),
        );
        throw new Error(`the run had not ended ${boundS + 60} s after the API server stopped`);
      }
      const { err } = late;
      const tookS = (Date.now() - stoppedAt) / 1000;
      const events = (await handle.fetchHistory()).events ?? [];
      console.log(
        `[dead-apiserver] the run ended ${tookS.toFixed(0)} s after the API server stopped; its activities:\n` +
          activityTimeline(events, stoppedAt),
      );

      expect(tookS).toBeLessThan(boundS);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure.type).toBe('RemediationFailed');
      expect(failure.message).toContain('pre-pull pods possibly left');
      // The report survives the failed cleanup: its error, and the pods it may have left, by name.
      const report = failure.details?.[0] as CalicoImageRepairResult;
      const cleanup = report.prePullCleanup!;
      expect(cleanup.error).toMatch(/unreachable/i);
      expect(cleanup.leftovers.length).toBeGreaterThan(0);
      for (const name of cleanup.leftovers) expect(failure.message).toContain(name);
      expect(report.prePullCounts?.['not-started']).toBeGreaterThan(0);
      expect(report.workloads.every((w) => w.outcome !== 'updated')).toBe(true);

      // No pre-pull activity scheduled once one has failed (budget maxFailures 1), read from the
      // history: per pair (prePullImage) or per batch of pairs (prePullImagesOnNodes, whose failure
      // counts every pair it had not decided).
      const PRE_PULLS = new Set(['prePullImage', 'prePullImagesOnNodes']);
      const prePullIds = new Set<string>();
      let failed = 0;
      const startedAfterBudget: string[] = [];
      for (const e of events) {
        if (PRE_PULLS.has(e.activityTaskScheduledEventAttributes?.activityType?.name ?? '')) {
          if (failed >= input.maxFailures) startedAfterBudget.push(String(e.eventId));
          prePullIds.add(String(e.eventId));
        }
        const end = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
        if (end && prePullIds.has(String(end.scheduledEventId))) failed += 1;
      }
      expect(failed).toBeGreaterThanOrEqual(input.maxFailures);
      expect(startedAfterBudget).toEqual([]);
      expect(report.prePullCounts?.failed).toBeGreaterThanOrEqual(failed);

      // The API server back: every pod of that run still there is one the report named.
      const start = await simCli(['fault', 'start', 'kube-apiserver']);
      expect(start).toMatchObject({ code: 0 });
      stopped = false;
      const restartedAt = Date.now();
      const runPods = async () =>
        (await prePullPods()).filter((p) => p.metadata?.labels?.['nksr.io/run'] === cleanup.runLabel);
      await waitFor('no pre-pull pod of that run still terminating', async () =>
        (await runPods()).every((p) => !p.metadata?.deletionTimestamp),
      );
      const left = (await runPods()).map((p) => p.metadata!.name!).sort();
      expect(left.length).toBeGreaterThan(0);
      for (const name of left) expect(cleanup.leftovers).toContain(name);

      // A rerun deletes them (pods of earlier runs are swept first) and repairs.
      // After minutes without an API server the nodes' leases expired. A node still shows the Ready it
      // had before the stop until the controller manager, back too, marks it NotReady; so the rerun
      // waits for leases kwok renewed since the restart and for Ready to hold for 10 s.
      let readySince: number | undefined;
      await waitFor(
        'every node Ready with its lease renewed since the restart, for 10 s, and calico-node running',
        async () => {
          const renewed = new Map(
            (await coordination.listNamespacedLease({ namespace: 'kube-node-lease' })).items.map((l) => [
              l.metadata?.name,
              l.spec?.renewTime ? new Date(l.spec.renewTime).getTime() : 0,
            ]),
          );
          const ok =
            (await core.listNode()).items.every(
              (n) =>
                n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' &&
                (renewed.get(n.metadata?.name) ?? 0) >= restartedAt,
            ) && (await calicoNodesRunning());
          if (!ok) readySince = undefined;
          else readySince ??= Date.now();
          return readySince !== undefined && Date.now() - readySince >= 10_000;
        },
        240_000,
      );
      const rerun = await client.workflow.start('calicoImageRepair', {
        taskQueue: worker.taskQueue,
        workflowId: `nks/sim/calicoImageRepair/dead-apiserver-rerun-${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim' }],
      });
      const result = (await rerun.result()) as CalicoImageRepairResult;
      expect(result.outcome).toBe('repaired');
      expect(result.prePullCleanup?.staleDeleted).toEqual(expect.arrayContaining(left));
      expect(result.prePullCleanup?.leftovers).toEqual([]);
      expect(await prePullPods()).toEqual([]);
    },
    // Room past the bound asserted above, so a slow run fails on that bound (with its timeline), not here.
    20 * 60_000,
  );
});
