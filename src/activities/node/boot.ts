/**
 * Boot state of a node (kernel command line, boot ID), rebooting it, and waiting for it to come
 * back: the reboot half of disableKmemAccounting.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import type { ActivityDeps } from '../deps';
import { type NodeCall, onNode } from './context';
import { type NodeRef, readNodeStatus, resolveNode, validateNodeRef } from './nodes';
import { SshSession } from './ssh';

export interface NodeBootState {
  /** /proc/cmdline, trimmed. */
  cmdline: string;
  /** /proc/sys/kernel/random/boot_id: changes on every boot (kubelet reports the same as nodeInfo.bootID). */
  bootId: string;
}

const BOOT_STATE_SCRIPT = `set -eu
cat /proc/cmdline
cat /proc/sys/kernel/random/boot_id`;

const READ_BOOT_ID = 'cat /proc/sys/kernel/random/boot_id';

const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function bootState(call: NodeCall): Promise<NodeBootState> {
  const r = await call.scriptOk(BOOT_STATE_SCRIPT, [], { operation: 'read boot state', timeoutMs: 30_000 });
  const lines = r.stdout.split('\n');
  const cmdline = (lines[0] ?? '').trim();
  const bootId = (lines[1] ?? '').trim();
  if (!BOOT_ID.test(bootId)) throw call.commandFailed('read boot state (boot_id is not a UUID)', r);
  return { cmdline, bootId };
}

export interface RebootNodeInput extends NodeRef {
  /** The boot ID read before deciding to reboot (readNodeBootState). */
  expectedBootId: string;
}

export interface RebootNodeResult {
  status: 'reboot-requested' | 'already-rebooted';
  bootId: string;
}

export interface WaitForNodeRebootInput extends NodeRef {
  /** Boot ID before the reboot. */
  previousBootId: string;
  /** Between checks; default 2000 ms. */
  pollIntervalMs?: number;
}

export interface WaitForNodeRebootResult {
  previousBootId: string;
  /** Boot ID the node reports over SSH now. */
  bootId: string;
  /** status.nodeInfo.bootID from the Kubernetes API. */
  kubeBootId: string;
  /** Whether SSH was seen unreachable during the wait. */
  sawSshDown: boolean;
  /** Whether the Kubernetes node was seen not Ready during the wait. */
  sawNotReady: boolean;
  waitedMs: number;
}

/** Heartbeat details: what a retried attempt picks up from. */
interface RebootWaitProgress {
  previousBootId: string;
  startedAt: number;
  sawSshDown: boolean;
  sawNotReady: boolean;
  /** New boot ID once seen over SSH. */
  bootId?: string;
  phase: 'waiting-for-reboot' | 'waiting-for-ready';
}

function retryableFailure(err: unknown): boolean {
  return err instanceof ApplicationFailure && !err.nonRetryable;
}

export function createBootActivities(deps: ActivityDeps) {
  return {
    /** Kernel command line and boot ID of a node. Read-only; safe to retry. */
    async readNodeBootState(input: NodeRef): Promise<NodeBootState> {
      return onNode(deps, input, bootState);
    },

    /**
     * Reboots a node unless it has already rebooted since `expectedBootId` was read: a retry of
     * this activity (say, its result was lost) finds a new boot ID and does not reboot again. The
     * reboot is started in the background a second after the command returns, so its exit status
     * reaches us before the connection drops.
     */
    async rebootNode(input: RebootNodeInput): Promise<RebootNodeResult> {
      if (!BOOT_ID.test(input?.expectedBootId ?? '')) {
        throw ApplicationFailure.nonRetryable(
          'expectedBootId must be a boot ID (UUID)',
          ErrorType.InvalidInput,
        );
      }
      return onNode(deps, input, async (call) => {
        const { bootId } = await bootState(call);
        if (bootId !== input.expectedBootId) return { status: 'already-rebooted', bootId };
        await call.scriptOk('(sleep 1; reboot) </dev/null >/dev/null 2>&1 &', [], {
          sudo: true,
          operation: 'reboot',
          timeoutMs: 30_000,
        });
        return { status: 'reboot-requested', bootId };
      });
    },

    /**
     * Waits until the node has rebooted: SSH answers with a boot ID other than `previousBootId`, and
     * the Kubernetes node is Ready with a bootID other than it. Read-only and heartbeating; a
     * retried attempt resumes from its heartbeat details (what it saw so far, when it started).
     * Connection refusals and timeouts while the node is down are expected and polled through; a
     * host key or authentication refusal ends the wait as the non-retryable failure it is. The wait
     * is bounded by the activity's start-to-close timeout, not by a loop of its own.
     */
    async waitForNodeReboot(input: WaitForNodeRebootInput): Promise<WaitForNodeRebootResult> {
      validateNodeRef(input);
      if (!BOOT_ID.test(input.previousBootId ?? '')) {
        throw ApplicationFailure.nonRetryable(
          'previousBootId must be a boot ID (UUID)',
          ErrorType.InvalidInput,
        );
      }
      const ctx = Context.current();
      const interval = Math.max(200, input.pollIntervalMs ?? 2000);
      const resumed = ctx.info.heartbeatDetails as RebootWaitProgress | undefined;
      const progress: RebootWaitProgress =
        resumed?.previousBootId === input.previousBootId
          ? resumed
          : {
              previousBootId: input.previousBootId,
              startedAt: Date.now(),
              sawSshDown: false,
              sawNotReady: false,
              phase: 'waiting-for-reboot',
            };

      for (;;) {
        ctx.heartbeat(progress);
        if (progress.phase === 'waiting-for-reboot') {
          try {
            const { target, status } = await resolveNode(deps, input);
            if (!status.ready) progress.sawNotReady = true;
            // A fresh connection each time: the old one dies with the node.
            const session = await SshSession.connect(target);
            try {
              const r = await session.exec(READ_BOOT_ID, { timeoutMs: 15_000, operation: 'read boot ID' });
              const bootId = r.stdout.trim();
              if (r.exitCode === 0 && BOOT_ID.test(bootId) && bootId !== input.previousBootId) {
                progress.bootId = bootId;
                progress.phase = 'waiting-for-ready';
                continue;
              }
            } finally {
              session.close();
            }
          } catch (err) {
            if (!retryableFailure(err)) throw err;
            if (err instanceof ApplicationFailure && err.type?.startsWith('Ssh')) progress.sawSshDown = true;
          }
        } else {
          try {
            const status = await readNodeStatus(deps, input);
            if (!status.ready) progress.sawNotReady = true;
            else if (status.bootID && status.bootID !== input.previousBootId) {
              return {
                previousBootId: input.previousBootId,
                bootId: progress.bootId!,
                kubeBootId: status.bootID,
                sawSshDown: progress.sawSshDown,
                sawNotReady: progress.sawNotReady,
                waitedMs: Date.now() - progress.startedAt,
              };
            }
          } catch (err) {
            if (!retryableFailure(err)) throw err;
          }
        }
        await ctx.sleep(interval);
      }
    },
  };
}
