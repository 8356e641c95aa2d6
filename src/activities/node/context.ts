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
import { type ExecOptions, type ExecResult, type SshPool, type SshTarget, withSshPool } from './ssh';

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

export class NodeCall {
  constructor(
    readonly ref: NodeRef,
    readonly target: SshTarget,
    private readonly pool: SshPool,
  ) {}

  /** Runs argv (each element one literal argument); `sudo` runs it as root. */
  async run(argv: readonly ShellWord[], opts: ExecOptions & { sudo?: boolean } = {}): Promise<ExecResult> {
    const command = shellCommand(opts.sudo ? [...SUDO, ...argv] : argv);
    const session = await this.pool.session(this.target);
    return heartbeating(session.exec(command, opts));
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

/** Resolves the node, runs `fn` with a pooled connection, closes the connection when done. */
export async function onNode<T>(
  deps: ActivityDeps,
  ref: NodeRef,
  fn: (call: NodeCall) => Promise<T>,
): Promise<T> {
  const target = await resolveSshTarget(deps, ref);
  return withSshPool((pool) => fn(new NodeCall(ref, target, pool)));
}
