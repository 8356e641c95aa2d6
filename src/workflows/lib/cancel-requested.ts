/**
 * A cancel requested while a run's last steps could not be interrupted (an install or a cleanup in
 * a non-cancellable scope, or results that arrived in the same workflow task as the request) finds
 * nothing left to stop. The run still ends Cancelled, as it was asked to, so an operator's cancel is
 * never answered with a normal finish; the progress log says what was done before it.
 */
import { CancellationScope, CancelledFailure } from '@temporalio/workflow';

/** Throws CancelledFailure when the run has been asked to cancel; `done` says what it finished. */
export function endIfCancelRequested(done: string): void {
  if (CancellationScope.current().consideredCancelled)
    throw new CancelledFailure(`cancel requested while the last steps ran; they finished: ${done}`);
}
