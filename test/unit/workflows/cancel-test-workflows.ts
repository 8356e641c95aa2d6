/**
 * Test-only workflow for test/unit/cancel-requested.test.ts: a last step that no cancel can
 * interrupt (a durable sleep in a non-cancellable scope), then endIfCancelRequested, as
 * ProgressTracker.run does after every procedure's body. Not part of the worker's workflows.
 */
import { CancellationScope, sleep } from '@temporalio/workflow';
import { endIfCancelRequested } from '../../../src/workflows/lib/cancel-requested';

export async function uninterruptibleLastStep(): Promise<string> {
  await CancellationScope.nonCancellable(() => sleep('30s'));
  endIfCancelRequested('slept 30 s');
  return 'slept 30 s';
}
