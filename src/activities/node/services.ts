/**
 * systemd units on nodes (nfsLockServicesRestart), and the general-purpose command activity that only
 * tests register (createNodeCommandActivities).
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { validateUnitName } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { requireUnitAllowed } from '../policy';
import { type NodeCall, onNode } from './context';
import type { NodeRef } from './nodes';
import { DEFAULT_MAX_OUTPUT_BYTES, type ExecResult } from './ssh';

export interface NodeServiceInput extends NodeRef {
  /** systemd unit, e.g. `rpc-statd` or `rpcbind.service`. */
  unit: string;
}

export interface RestartNodeServiceInput extends NodeServiceInput {
  /**
   * `restart` (default) always restarts; `start` starts the unit only when it is not active, so
   * a running service is left alone.
   */
  mode?: 'restart' | 'start';
}

export interface RestartNodeServiceResult {
  unit: string;
  /** `systemctl is-active` before and after: active, inactive, failed, activating, ... */
  stateBefore: string;
  stateAfter: string;
  action: 'restarted' | 'started' | 'none';
}

export interface VerifyNodeServiceResult {
  unit: string;
  state: string;
  active: boolean;
}

async function unitState(call: NodeCall, unit: string): Promise<string> {
  // is-active exits non-zero for anything but active; its stdout is the state either way.
  const r = await call.run(['systemctl', 'is-active', '--', unit], {
    timeoutMs: 30_000,
    operation: `is-active ${unit}`,
  });
  const state = r.stdout.trim().split('\n')[0] ?? '';
  if (!/^[a-z-]+$/.test(state)) throw call.commandFailed(`systemctl is-active ${unit}`, r);
  return state;
}

/** How long rpcinfo may take to answer before rpcbind counts as hung (a healthy one answers in ms). */
const RPCINFO_TIMEOUT_SECONDS = 10;

async function rpcbindAnswers(call: NodeCall): Promise<boolean> {
  // timeout(1) bounds the query: a wedged rpcbind accepts the connection and never replies.
  const r = await call.run(['timeout', String(RPCINFO_TIMEOUT_SECONDS), 'rpcinfo', '-p', '127.0.0.1'], {
    timeoutMs: (RPCINFO_TIMEOUT_SECONDS + 20) * 1000,
    operation: 'rpcinfo -p',
  });
  return r.exitCode === 0 && /\bportmapper\b/.test(r.stdout);
}

export interface EnsureRpcbindResult {
  stateBefore: string;
  /** rpcinfo got an answer before anything was done (false when rpcbind was not active). */
  answeredBefore: boolean;
  stateAfter: string;
  answeredAfter: boolean;
  action: 'none' | 'restarted';
}

export interface RunNodeCommandInput extends NodeRef {
  /** The command as argv: each element reaches the node as one literal argument. */
  argv: string[];
  /** Run as root through `sudo -n`. */
  sudo?: boolean;
  /** Text written to the command's stdin. */
  stdin?: string;
  /** Default 5 minutes. */
  timeoutMs?: number;
  /** Per stream, at most 64 KiB (the default). */
  maxOutputBytes?: number;
  /** When given, an exit status outside this list is a RemoteCommandFailed (non-retryable). */
  okExitCodes?: number[];
}

export type RunNodeCommandResult = ExecResult;

export function createServiceActivities(deps: ActivityDeps) {
  return {
    /**
     * Restarts (or, with mode `start`, starts if not active) a systemd unit and reports its state
     * before and after. With `start` it is check-then-act and a rerun changes nothing; a repeated
     * `restart` restarts again, which these node services (rpcbind, rpc-statd) tolerate.
     */
    async restartNodeService(input: RestartNodeServiceInput): Promise<RestartNodeServiceResult> {
      const unit = validateUnitName(input?.unit);
      const mode = input.mode ?? 'restart';
      if (mode !== 'restart' && mode !== 'start') {
        throw ApplicationFailure.nonRetryable('mode must be restart or start', ErrorType.InvalidInput);
      }
      requireUnitAllowed(input.cluster, deps.registry.get(input.cluster), unit);
      return onNode(deps, input, async (call) => {
        const stateBefore = await unitState(call, unit);
        if (mode === 'start' && stateBefore === 'active') {
          return { unit, stateBefore, stateAfter: stateBefore, action: 'none' };
        }
        const r = await call.run(['systemctl', mode, '--', unit], { sudo: true, timeoutMs: 120_000 });
        if (r.exitCode !== 0) throw call.commandFailed(`systemctl ${mode} ${unit}`, r);
        const stateAfter = await unitState(call, unit);
        return { unit, stateBefore, stateAfter, action: mode === 'start' ? 'started' : 'restarted' };
      });
    },

    /**
     * rpcbind running and answering: restarted when it is not active, or active but rpcinfo gets no
     * answer (hung; `systemctl start` would leave it so). Check-then-act: an answering rpcbind is
     * left alone, so a rerun or a retry after the restart changes nothing.
     */
    async ensureRpcbindAnswers(input: NodeRef): Promise<EnsureRpcbindResult> {
      const unit = validateUnitName('rpcbind');
      requireUnitAllowed(input.cluster, deps.registry.get(input.cluster), unit);
      return onNode(deps, input, async (call) => {
        const stateBefore = await unitState(call, unit);
        const answeredBefore = stateBefore === 'active' && (await rpcbindAnswers(call));
        if (answeredBefore) {
          return {
            stateBefore,
            answeredBefore,
            stateAfter: stateBefore,
            answeredAfter: true,
            action: 'none',
          };
        }
        const r = await call.run(['systemctl', 'restart', '--', unit], { sudo: true, timeoutMs: 120_000 });
        if (r.exitCode !== 0) throw call.commandFailed(`systemctl restart ${unit}`, r);
        const stateAfter = await unitState(call, unit);
        const answeredAfter = stateAfter === 'active' && (await rpcbindAnswers(call));
        return { stateBefore, answeredBefore, stateAfter, answeredAfter, action: 'restarted' };
      });
    },

    /** Whether a systemd unit is active (`systemctl is-active`). Read-only; safe to retry. */
    async verifyNodeService(input: NodeServiceInput): Promise<VerifyNodeServiceResult> {
      const unit = validateUnitName(input?.unit);
      return onNode(deps, input, async (call) => {
        const state = await unitState(call, unit);
        return { unit, state, active: state === 'active' };
      });
    },
  };
}

/**
 * Any command as any user (root with `sudo`) on a node: for tests and the simulator's checks only.
 * Not part of createActivities, so the production task queue never serves it: whoever can start a
 * workflow there must not be able to run arbitrary commands as root on every node.
 */
export function createNodeCommandActivities(deps: ActivityDeps) {
  return {
    /**
     * Runs one command on a node and returns its exit status and bounded output. Not idempotent by
     * itself: Temporal may run it more than once (retries), so callers pass only commands that are
     * safe to repeat. Output is returned as is and lands in workflow history, and a failing exit
     * puts up to 500 characters of stderr into the failure message: do not run commands that print
     * secrets on either stream.
     */
    async runNodeCommand(input: RunNodeCommandInput): Promise<RunNodeCommandResult> {
      const argv = input?.argv;
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
        throw ApplicationFailure.nonRetryable(
          'argv must be a non-empty array of strings',
          ErrorType.InvalidInput,
        );
      }
      const max = Math.min(input.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_OUTPUT_BYTES);
      return onNode(deps, input, async (call) => {
        const r = await call.run(argv, {
          sudo: input.sudo ?? false,
          stdin: input.stdin,
          timeoutMs: input.timeoutMs,
          maxOutputBytes: max,
          operation: `run ${argv[0]}`,
        });
        if (input.okExitCodes && (r.exitCode === null || !input.okExitCodes.includes(r.exitCode))) {
          throw call.commandFailed(`command ${argv[0]}`, r);
        }
        return r;
      });
    },
  };
}
