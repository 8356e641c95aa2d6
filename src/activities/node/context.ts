/**
 * What every node activity does around its commands: resolve the node, take the activity's SSH
 * connection from the pool, prefix sudo, and heartbeat while a command runs.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { type ShellWord, shellCommand } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { type NodeRef, resolveSshTarget } from './nodes';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  type ExecOptions,
  type ExecResult,
  type SshPool,
  type SshTarget,
  withSshPool,
} from './ssh';

/** `sudo -n`: never prompt; a node without passwordless sudo fails fast instead of hanging. */
export const SUDO: readonly string[] = ['sudo', '-n', '--'];

export const HEARTBEAT_EVERY_MS = 10_000;

/** Heartbeats (when running as an activity) until `work` settles. */
export async function heartbeating<T>(work: Promise<T>, details?: () => unknown): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work; // not inside an activity (plain unit use)
  }
  const timer = setInterval(() => ctx.heartbeat(details?.()), HEARTBEAT_EVERY_MS);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** Time kept between a command's deadline and its attempt's start-to-close timeout. */
export const COMMAND_DEADLINE_MARGIN_MS = 10_000;

/**
 * The activity's cancellation signal, and the command timeout cut to what is left of the attempt's
 * start-to-close time (less a margin) counted from `startedAt`, when the activity began its work
 * (no later than the attempt's real start, so the cut is never too generous); outside an
 * activity, the timeout as given.
 */
export function withinActivity(
  timeoutMs: number | undefined,
  startedAt: number,
): { timeoutMs?: number; signal?: AbortSignal } {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return timeoutMs === undefined ? {} : { timeoutMs };
  }
  const wanted = timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const budget = ctx.info.startToCloseTimeoutMs;
  if (!budget) return { timeoutMs: wanted, signal: ctx.cancellationSignal };
  const left = startedAt + budget - COMMAND_DEADLINE_MARGIN_MS - Date.now();
  return { timeoutMs: Math.max(1_000, Math.min(wanted, left)), signal: ctx.cancellationSignal };
}

export class NodeCall {
  constructor(
    readonly ref: NodeRef,
    readonly target: SshTarget,
    private readonly pool: SshPool,
    /** When the activity began (before the node was resolved): commands end before its start-to-close. */
    private readonly startedAt = Date.now(),
    /** What the activity's heartbeats carry while a command runs (a batch's per-node progress). */
    private readonly heartbeatDetails?: () => unknown,
  ) {}

  /**
   * Runs argv (each element one literal argument); `sudo` runs it as root. Inside an activity the
   * command ends with it: it is aborted on the activity's cancellation, and its timeout is cut to
   * end before the attempt's start-to-close timeout, so a timed-out attempt never runs on beside
   * its retry.
   */
  async run(argv: readonly ShellWord[], opts: ExecOptions & { sudo?: boolean } = {}): Promise<ExecResult> {
    const command = shellCommand(opts.sudo ? [...SUDO, ...argv] : argv);
    const session = await this.pool.session(this.target);
    return heartbeating(
      session.exec(command, { ...opts, ...withinActivity(opts.timeoutMs, this.startedAt) }),
      this.heartbeatDetails,
    );
  }

  /**
   * Runs a constant POSIX sh script with positional arguments ($1...): values never become script
   * text, so the script needs no quoting of its own.
   */
  async script(
    script: string,
    args: readonly string[],
    opts: ExecOptions & { sudo?: boolean } = {},
  ): Promise<ExecResult> {
    return this.run(['sh', '-c', script, 'sh', ...args], opts);
  }

  /** Like `script`, but a non-zero exit is a RemoteCommandFailed (non-retryable) naming the operation. */
  async scriptOk(
    script: string,
    args: readonly string[],
    opts: ExecOptions & { sudo?: boolean; operation: string },
  ): Promise<ExecResult> {
    const result = await this.script(script, args, opts);
    if (result.exitCode !== 0) throw this.commandFailed(opts.operation, result);
    return result;
  }

  commandFailed(operation: string, result: ExecResult): ApplicationFailure {
    const stderr = result.stderr.trim().slice(0, 500);
    return ApplicationFailure.create({
      type: ErrorType.RemoteCommandFailed,
      nonRetryable: true,
      message: `cluster "${this.ref.cluster}", node ${this.ref.node}: ${operation} failed (exit ${result.exitCode ?? result.signal ?? 'unknown'})${stderr ? `: ${stderr}` : ''}`,
      details: [{ cluster: this.ref.cluster, node: this.ref.node, operation, exitCode: result.exitCode }],
    });
  }
}

/**
 * Resolves the node, runs `fn` with a pooled connection, closes the connection when done.
 * `heartbeatDetails`: what heartbeats carry meanwhile (an activity working on many nodes keeps its
 * per-node progress in them; without it they carry nothing).
 */
export async function onNode<T>(
  deps: ActivityDeps,
  ref: NodeRef,
  fn: (call: NodeCall) => Promise<T>,
  heartbeatDetails?: () => unknown,
): Promise<T> {
  const startedAt = Date.now();
  const target = await resolveSshTarget(deps, ref);
  return withSshPool((pool) => fn(new NodeCall(ref, target, pool, startedAt, heartbeatDetails)));
}
