/**
 * Test-only workflow for test/unit/cluster-lock-fake.test.ts: withClusterLock
 * (src/workflows/lib/cluster-lock.ts) alone. Its body is a row of steps, a durable sleep each, that
 * stops as soon as `lock.lost()` says so, as a disrupting procedure's loop does between nodes. Phases
 * and notes are recorded instead of a ProgressTracker (whose search attributes the time-skipping
 * server does not know). Not part of the worker's workflows.
 */
import { sleep } from '@temporalio/workflow';
import { withClusterLock } from '../../../src/workflows/lib/cluster-lock';

export interface LockHolderInput {
  cluster: string;
  lockTtlSeconds: number;
  steps: number;
  stepSeconds: number;
}

export interface LockHolderResult {
  stepsDone: number;
  stoppedBecause?: string;
  notes: string[];
}

export async function lockHolder(input: LockHolderInput): Promise<LockHolderResult> {
  const notes: string[] = [];
  const sink = { phase: () => undefined, note: (text: string) => void notes.push(text) };
  const r = await withClusterLock(
    sink,
    {
      cluster: input.cluster,
      lockTtlSeconds: input.lockTtlSeconds,
      failIfLocked: false,
      lockWaitMinutes: 60,
      lockPollSeconds: 30,
    },
    async (lock): Promise<Omit<LockHolderResult, 'notes'>> => {
      for (let i = 0; i < input.steps; i++) {
        const lost = lock.lost();
        if (lost) return { stepsDone: i, stoppedBecause: lost };
        await sleep(input.stepSeconds * 1000);
      }
      return { stepsDone: input.steps };
    },
  );
  return { ...r, notes };
}
