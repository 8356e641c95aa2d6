/**
 * A run asked to cancel during a last step that cannot be interrupted ends Cancelled, not
 * Completed; one nobody cancelled completes (time-skipping server, a test-only workflow).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { useTimeSkipping } from './time-skipping';

jest.setTimeout(120_000);

const ts = useTimeSkipping(require.resolve('./workflows/cancel-test-workflows'), 'cancel');

test('a cancel requested during an uninterruptible last step ends the run Cancelled', async () => {
  await ts.withWorker({}, async (taskQueue) => {
    const handle = await ts.env.client.workflow.start('uninterruptibleLastStep', {
      taskQueue,
      workflowId: `cancel-${randomUUID()}`,
    });
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    // The step it could not interrupt did finish: its timer fired rather than being cancelled.
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.some((e) => e.timerFiredEventAttributes)).toBe(true);
    expect(events.some((e) => e.timerCanceledEventAttributes)).toBe(false);
  });
});

test('the same run, not cancelled, completes with its result', async () => {
  await ts.withWorker({}, async (taskQueue) => {
    const result = await ts.env.client.workflow.execute('uninterruptibleLastStep', {
      taskQueue,
      workflowId: `no-cancel-${randomUUID()}`,
    });
    expect(result).toBe('slept 30 s');
  });
});
