/**
 * `run --wait` across a Temporal server restart: losing the server is the CLI's problem, not the
 * workflow's (which keeps its state in the server and its work in the worker), so the wait goes on,
 * bounded, saying so, instead of reporting the disconnect as the workflow's failure.
 */
import { ServiceError, isGrpcServiceError } from '@temporalio/client';
import { CliError, EXIT_CODES } from './common';

/** gRPC status codes that mean "no server right now" (grpc-js status enum values). */
const UNREACHABLE_CODES = new Set([
  1, // CANCELLED: the server closed the stream while shutting down
  4, // DEADLINE_EXCEEDED
  14, // UNAVAILABLE: connection refused or reset
]);

/** True when `err` says the Temporal server could not be reached (rather than that it answered no). */
export function isServerUnreachable(err: unknown): boolean {
  const grpc = err instanceof ServiceError ? err.cause : err;
  if (isGrpcServiceError(grpc)) return UNREACHABLE_CODES.has(grpc.code);
  return false;
}

export interface WaitOptions {
  /** Give up after the server has been unreachable this long without a break. */
  reconnectTimeoutMs: number;
  /** Progress lines (stderr). */
  say: (line: string) => void;
  /** What to name when giving up (`nksr status <id>`). */
  workflowId: string;
  /** A cheap call that succeeds once the server answers again (e.g. describe), to say so. */
  probe?: () => Promise<unknown>;
  /** First retry delay; doubles up to 5 s. */
  initialDelayMs?: number;
}

/**
 * Calls `getResult` until it settles with the workflow's outcome. A server that cannot be reached is
 * retried with backoff for up to `reconnectTimeoutMs` (a line when the connection is lost, every 15 s
 * while it stays lost, and when it is back); after that a CliError with EXIT_CODES.unreachable.
 * Any other error (the workflow's failure, not found, a refusal) is the caller's.
 */
export async function waitThroughOutages<T>(getResult: () => Promise<T>, opts: WaitOptions): Promise<T> {
  let lostSince: number | undefined;
  let lastSaid = 0;
  let delay = opts.initialDelayMs ?? 500;
  for (;;) {
    try {
      if (lostSince !== undefined && opts.probe) {
        await opts.probe();
        opts.say(`reconnected after ${Math.round((Date.now() - lostSince) / 1000)}s; still waiting`);
        lostSince = undefined;
        delay = opts.initialDelayMs ?? 500;
      }
      return await getResult();
    } catch (err) {
      if (!isServerUnreachable(err)) throw err;
      const now = Date.now();
      if (lostSince === undefined) {
        lostSince = now;
        lastSaid = now;
        opts.say(
          `lost the Temporal server (${reason(err)}); reconnecting for up to ${Math.round(opts.reconnectTimeoutMs / 1000)}s (the workflow goes on without us)`,
        );
      } else if (now - lastSaid >= 15_000) {
        lastSaid = now;
        opts.say(`still reconnecting (${Math.round((now - lostSince) / 1000)}s)`);
      }
      if (now - lostSince >= opts.reconnectTimeoutMs) {
        throw new CliError(
          `the Temporal server stayed unreachable for ${Math.round((now - lostSince) / 1000)}s; stopped waiting (the workflow may still be running: nksr status ${opts.workflowId})`,
          EXIT_CODES.unreachable,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

function reason(err: unknown): string {
  const grpc = err instanceof ServiceError ? err.cause : err;
  const details = isGrpcServiceError(grpc) ? grpc.details : undefined;
  return (details || (err instanceof Error ? err.message : String(err))).split('\n')[0]!.slice(0, 160);
}
