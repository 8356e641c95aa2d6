/**
 * The deadline of a polling activity, kept across retries through its heartbeat details.
 */
import { Context } from '@temporalio/activity';

export interface ResumableDeadline {
  startedAtMs: number;
  /** Kept across retries so a resumed attempt does not get a fresh timeout. */
  deadlineMs: number;
}

/**
 * The start and deadline an earlier attempt heartbeated, or fresh ones from now; also returns those
 * earlier details so the caller can resume the rest of its state.
 */
export function resumeDeadline<T extends ResumableDeadline>(
  timeoutSeconds: number,
): { previous: T | undefined; deadline: ResumableDeadline } {
  const previous = Context.current().info.heartbeatDetails as T | undefined;
  const now = Date.now();
  return {
    previous,
    deadline: {
      startedAtMs: previous?.startedAtMs ?? now,
      deadlineMs: previous?.deadlineMs ?? now + timeoutSeconds * 1000,
    },
  };
}

/** The heartbeat of a wait that reports what it last saw: its deadline and that message. */
export interface WaitHeartbeat extends ResumableDeadline {
  message: string;
}

/** A wait's heartbeat as an earlier attempt left it (its deadline and last message), or a fresh one. */
export function resumeWait(timeoutSeconds: number): WaitHeartbeat {
  const { previous, deadline } = resumeDeadline<WaitHeartbeat>(timeoutSeconds);
  return { ...deadline, message: previous?.message ?? '' };
}
