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

export interface FailureDescription {
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
      return { type: cause.type ?? undefined, message: cause.message, ...(report ? { report } : {}) };
    }
    if (cause instanceof CancelledFailure) {
      // A workflow that reports what it had done when cancelled passes the report as the detail.
      const report = cause.details?.[0];
      return {
        type: 'Cancelled',
        message: 'cancelled',
        ...(report && typeof report === 'object' ? { report } : {}),
      };
    }
    if (cause instanceof TerminatedFailure)
      return { type: 'Terminated', message: `terminated${cause.message ? `: ${cause.message}` : ''}` };
    if (cause instanceof TimeoutFailure)
      return { type: 'Timeout', message: `timed out (${cause.timeoutType})` };
    return { message: cause?.message ?? err.message };
  }
  if (err instanceof WorkflowNotFoundError)
    return { type: 'NotFound', message: `workflow ${err.workflowId} not found` };
  if (err instanceof ApplicationFailure) return { type: err.type ?? undefined, message: err.message };
  if (err instanceof Error) return { message: err.message.split('\n')[0] ?? err.message };
  return { message: String(err) };
}

export function formatError(err: unknown): string {
  if (err instanceof CliError || err instanceof NksClientError) return err.message;
  const { type, message } = describeFailure(err);
  return type ? `${type}: ${message}` : message;
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
