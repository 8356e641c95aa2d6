/**
 * The cluster lock (withClusterLock, src/workflows/lib/cluster-lock.ts) over hours of
 * workflow time, on the time-skipping test server with FAKE lease activities (an in-memory Lease;
 * the real Lease against the simulator's API server is in disable-kmem-accounting.test.ts). What no
 * integration test lives long enough to show: renewals every TTL/3 by the same holder while the body
 * runs, a renewal that finds the Lease taken (or cannot reach the API) stops the body before its next
 * step and ends the renewals, and the Lease is released once in every outcome, cancellation included.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { LeaseInput, RenewLeaseResult } from '../../src/activities/kube/cluster-lock';
import { useTimeSkipping } from './time-skipping';
import type { LockHolderInput, LockHolderResult } from './workflows/cluster-lock-test-workflows';

jest.setTimeout(120_000);

interface FakeLease {
  calls: { name: 'acquire' | 'renew' | 'release'; holder: string; ttlSeconds?: number }[];
  /** Answers the n-th renewal (1-based); held by default. */
  renew?: (n: number) => RenewLeaseResult;
  /** The release cannot reach the API server. */
  releaseFails?: boolean;
  holder?: string;
}

function fakeLeaseActivities(f: FakeLease): Partial<Activities> {
  let renewals = 0;
  return {
    async acquireClusterLock(input: LeaseInput) {
      f.calls.push({ name: 'acquire', holder: input.holder, ttlSeconds: input.ttlSeconds });
      f.holder = input.holder;
      return { acquired: true, how: 'created' as const };
    },
    async renewClusterLock(input: LeaseInput) {
      f.calls.push({ name: 'renew', holder: input.holder, ttlSeconds: input.ttlSeconds });
      const r = f.renew?.(++renewals) ?? { held: true as const, renewedAt: new Date().toISOString() };
      if (!r.held) f.holder = r.holder;
      return r;
    },
    async releaseClusterLock({ holder }: { cluster: string; holder: string }) {
      f.calls.push({ name: 'release', holder });
      if (f.releaseFails) throw new Error('connect ECONNREFUSED (fake API server down)');
      if (f.holder !== holder)
        return { status: 'not-held' as const, ...(f.holder ? { holder: f.holder } : {}) };
      f.holder = undefined;
      return { status: 'released' as const };
    },
  };
}

describe('withClusterLock on the time-skipping server (fake Lease)', () => {
  const ts = useTimeSkipping(require.resolve('./workflows/cluster-lock-test-workflows'), 'lock');
  const withWorker = <T>(f: FakeLease, fn: (taskQueue: string) => Promise<T>) =>
    ts.withWorker(fakeLeaseActivities(f), fn);
  const input = (over: Partial<LockHolderInput>): LockHolderInput => ({
    cluster: 'fake',
    lockTtlSeconds: 60,
    steps: 10,
    stepSeconds: 60,
    ...over,
  });
  const names = (f: FakeLease) => f.calls.map((c) => c.name);
  /** Runs lockHolder to its end against the fake Lease `f`. */
  const runLockHolder = (f: FakeLease, over: Partial<LockHolderInput>, workflowId = `lock/${randomUUID()}`) =>
    withWorker(f, (taskQueue) =>
      ts.env.client.workflow.execute('lockHolder', { taskQueue, workflowId, args: [input(over)] }),
    ) as Promise<LockHolderResult>;

  test('held for 10 minutes with a 60 s TTL: renewed every 20 s by the same holder, released once at the end', async () => {
    const f: FakeLease = { calls: [] };
    const workflowId = `lock/${randomUUID()}`;
    const r = await runLockHolder(f, {}, workflowId);
    expect(r).toMatchObject({ stepsDone: 10 });
    expect(r.stoppedBecause).toBeUndefined();
    const renewals = f.calls.filter((c) => c.name === 'renew');
    // 600 s of body, one renewal per 20 s (the last may race the body's end).
    expect(renewals.length).toBeGreaterThanOrEqual(29);
    expect(renewals.length).toBeLessThanOrEqual(30);
    // The holder is this run: its workflow ID and run ID.
    expect([...new Set(f.calls.map((c) => c.holder))]).toEqual([
      expect.stringMatching(new RegExp(`^${workflowId}@[0-9a-f-]{36}$`)),
    ]);
    expect(renewals.every((c) => c.ttlSeconds === 60)).toBe(true);
    expect(names(f)[0]).toBe('acquire');
    expect(names(f).filter((n) => n === 'release')).toHaveLength(1);
    expect(names(f).at(-1)).toBe('release');
    expect(r.notes.at(-1)).toBe('cluster lock released');
  });

  test('a renewal that finds the Lease taken stops the body before its next step; renewals stop; release says so', async () => {
    const f: FakeLease = {
      calls: [],
      renew: (n) => (n === 3 ? { held: false, holder: 'nks/other/run' } : { held: true, renewedAt: 'now' }),
    };
    const r = await runLockHolder(f, { steps: 20, stepSeconds: 30 });
    // The 3rd renewal (60 s in) lost it: the step starting at 60 s or at 90 s sees it, none after.
    expect(r.stoppedBecause).toBe('the cluster lock is now held by nks/other/run');
    expect(r.stepsDone).toBeGreaterThanOrEqual(2);
    expect(r.stepsDone).toBeLessThanOrEqual(3);
    expect(names(f).filter((n) => n === 'renew')).toHaveLength(3);
    expect(names(f).at(-1)).toBe('release');
    expect(r.notes).toContain('lost the cluster lock: the cluster lock is now held by nks/other/run');
    // Another run holds it now: ours is not deleted, and the run says so.
    expect(r.notes.at(-1)).toBe('cluster lock was no longer ours');
    expect(f.holder).toBe('nks/other/run');
  });

  test('a renewal that cannot reach the API (after its bounded retries) stops the body too', async () => {
    const f: FakeLease = {
      calls: [],
      renew: (n) => {
        if (n >= 2) throw new Error('connect ECONNREFUSED (fake API server down)');
        return { held: true, renewedAt: 'now' };
      },
    };
    const r = await runLockHolder(f, { steps: 20, stepSeconds: 30 });
    expect(r.stoppedBecause).toBe('the cluster lock could not be renewed');
    expect(r.stepsDone).toBeLessThan(20);
    // One good renewal, then one renewal's 5 attempts (QUICK_API_CALL), then no more.
    expect(names(f).filter((n) => n === 'renew')).toHaveLength(6);
    expect(names(f).at(-1)).toBe('release');
    expect(r.notes.at(-1)).toBe('cluster lock released');
  });

  test("a release that cannot reach the API server does not replace the run's own outcome; the run says the Lease will expire", async () => {
    const f: FakeLease = { calls: [], releaseFails: true };
    const r = await runLockHolder(f, { steps: 2, stepSeconds: 7 });
    expect(r.stepsDone).toBe(2);
    // One release's bounded attempts (QUICK_API_CALL), then the run ends with the body's result.
    expect(names(f).filter((n) => n === 'release')).toHaveLength(5);
    expect(r.notes.at(-1)).toBe(
      'the cluster lock could not be released; it expires 60 s after its last renewal',
    );
  });

  test('cancelled while holding: the Lease is released once and the run ends cancelled', async () => {
    const f: FakeLease = { calls: [] };
    await withWorker(f, async (taskQueue) => {
      const h = await ts.env.client.workflow.start('lockHolder', {
        taskQueue,
        workflowId: `lock/${randomUUID()}`,
        args: [input({ steps: 100, stepSeconds: 600 })],
      });
      const deadline = Date.now() + 30_000;
      while (!names(f).includes('acquire') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      await h.cancel();
      const err = await h.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    });
    expect(names(f).filter((n) => n === 'release')).toHaveLength(1);
    expect(names(f).at(-1)).toBe('release');
    expect(f.holder).toBeUndefined();
  });
});
