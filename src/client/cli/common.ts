/**
 * What every nksr command shares: global options, connecting, output, and turning any error into
 * one line on stderr (no stack trace) with a non-zero exit code.
 */
import type { Command } from 'commander';
import {
  ApplicationFailure,
  CancelledFailure,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ErrorType } from '../../common/errors';
import { createNksClient, NksClientError, type NksClient } from '../sdk';

export interface GlobalOptions {
  address?: string;
  namespace?: string;
  profile?: string;
}

/** An error whose message is the whole story; `exitCode` 2 means the command line was wrong. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export async function withClient<T>(cmd: Command, fn: (client: NksClient) => Promise<T>): Promise<T> {
  const g = globalOptions(cmd);
  const client = await createNksClient({ address: g.address, namespace: g.namespace, profile: g.profile });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Exit codes of `nksr` (README "Exit codes", `nksr --help`). The outcome codes are what `run --wait`
 * returns when the workflow ended that way; `unreachable` means the CLI gave up waiting for the
 * Temporal server, not that the workflow failed (it may still be running).
 */
export const EXIT_CODES = {
  completed: 0,
  failed: 1,
  usage: 2,
  cancelled: 3,
  timedOut: 4,
  terminated: 5,
  unreachable: 6,
} as const;

/** How a closed workflow ended, when it did not complete. */
export type FailureOutcome = 'failed' | 'cancelled' | 'timedOut' | 'terminated';

/** The words for an outcome in a sentence ("calicoImageRepair was cancelled"). */
export const OUTCOME_WORDS: Record<FailureOutcome, string> = {
  failed: 'failed',
  cancelled: 'was cancelled',
  timedOut: 'timed out',
  terminated: 'was terminated',
};

export const EXIT_CODES_HELP = `Exit codes:
  0  success (run --wait: the workflow completed)
  1  error, or (run --wait) the workflow failed
  2  the command line was wrong
  3  run --wait: the workflow was cancelled
  4  run --wait: the workflow timed out
  5  run --wait: the workflow was terminated
  6  run --wait: the Temporal server stayed unreachable longer than --reconnect-timeout
     (the workflow may still be running: nksr status <id>)`;

export interface FailureDescription {
  /** How the workflow ended; absent for errors that are not a workflow's end (e.g. not found). */
  outcome?: FailureOutcome;
  type?: string;
  message: string;
  /** A RemediationFailed failure carries the procedure's full report: what was done before it failed. */
  report?: unknown;
}

/** `Type: message` of a failure and its causes, outermost first, without stacks. */
export function describeFailure(err: unknown): FailureDescription {
  if (err instanceof WorkflowFailedError || err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      const report = cause.type === ErrorType.RemediationFailed ? cause.details?.[0] : undefined;
      return {
        outcome: 'failed',
        type: cause.type ?? undefined,
        message: cause.message,
        ...(report ? { report } : {}),
      };
    }
    if (cause instanceof CancelledFailure) {
      // A workflow that reports what it had done when cancelled passes the report as the detail.
      const report = cause.details?.[0];
      return {
        outcome: 'cancelled',
        type: 'Cancelled',
        message: 'cancelled',
        ...(report && typeof report === 'object' ? { report } : {}),
      };
    }
    if (cause instanceof TerminatedFailure)
      return {
        outcome: 'terminated',
        type: 'Terminated',
        message: `terminated${cause.message ? `: ${cause.message}` : ''}`,
      };
    if (cause instanceof TimeoutFailure)
      return { outcome: 'timedOut', type: 'Timeout', message: `timed out (${cause.timeoutType})` };
    return { outcome: 'failed', message: cause?.message ?? err.message };
  }
  if (err instanceof WorkflowNotFoundError)
    return { type: 'NotFound', message: `workflow ${err.workflowId} not found` };
  if (err instanceof ApplicationFailure) return { type: err.type ?? undefined, message: err.message };
  if (err instanceof Error) return { message: err.message.split('\n')[0] ?? err.message };
  return { message: String(err) };
}

/** gRPC refusals of a server with authorization (the shared deployment): say which, and what to check. */
function refusal(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  if (code === 7) {
    return 'permission denied by the Temporal server: the token of this profile (TEMPORAL_PROFILE) does not allow this call';
  }
  if (code === 16) {
    return 'not authenticated by the Temporal server: the token is missing, expired or not signed by its key';
  }
  return undefined;
}

export function formatError(err: unknown): string {
  if (err instanceof CliError || err instanceof NksClientError) return err.message;
  const refused = refusal(err);
  if (refused) return refused;
  const { type, message } = describeFailure(err);
  return type ? `${type}: ${message}` : message;
}

/** A list command's output: JSON as asked, else a table under `header`, or `empty` when there are no rows. */
export function printRows<T>(
  rows: T[],
  opts: { json?: boolean; empty: string; header: string[]; row: (r: T) => string[] },
): void {
  if (opts.json) return printJson(rows);
  if (rows.length === 0) return console.log(opts.empty);
  console.log(table([opts.header, ...rows.map(opts.row)]));
}

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
