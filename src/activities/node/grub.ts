/**
 * The kernel command line in the bootloader config: GRUB_CMDLINE_LINUX in /etc/default/grub (edited
 * idempotently, other arguments kept byte for byte, the old file backed up) and grub.cfg regenerated
 * by grub2-mkconfig. The edit itself is src/common/grub.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  GRUB_CFG_PATH,
  GRUB_DEFAULTS_PATH,
  KMEM_KERNEL_ARG,
  addGrubCmdlineArg,
  cmdlineHasArg,
} from '../../common/grub';
import type { ActivityDeps } from '../deps';
import { type NodeCall, onNode } from './context';
import { MAX_FILE_CONTENT_BYTES, type PreviousFile, installFile, readFileState } from './files';
import type { NodeRef } from './nodes';

export interface GrubArgResult {
  status: 'added' | 'unchanged' | 'would-add';
  path: string;
  /** The GRUB_CMDLINE_LINUX line before and after (absent before when the file had none). */
  before?: string;
  after: string;
  /** What the edit replaced (installNodeFile's backup), when it wrote. */
  previous?: PreviousFile;
}

async function readGrubDefaults(call: NodeCall) {
  const state = await readFileState(call, GRUB_DEFAULTS_PATH, true);
  if (!state) throw nodeProblem(call, `${GRUB_DEFAULTS_PATH} does not exist`);
  if (state.size > MAX_FILE_CONTENT_BYTES) {
    throw nodeProblem(call, `${GRUB_DEFAULTS_PATH} is larger than a config file`);
  }
  const r = await call.scriptOk('cat -- "$1"', [GRUB_DEFAULTS_PATH], {
    sudo: true,
    operation: `read ${GRUB_DEFAULTS_PATH}`,
    timeoutMs: 30_000,
  });
  return { state, content: r.stdout };
}

/** A non-retryable RemoteCommandFailed that is about what a command left behind, not its exit status. */
function nodeProblem(call: NodeCall, message: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.RemoteCommandFailed,
    nonRetryable: true,
    message: `cluster "${call.ref.cluster}", node ${call.ref.node}: ${message}`,
    details: [{ cluster: call.ref.cluster, node: call.ref.node }],
  });
}

// The first linux/linux16/linuxefi line of grub.cfg: what the node boots with.
const LINUX_LINE = /^\s*linux(?:16|efi)?\s+(.*)$/m;

async function bootConfigHasArg(call: NodeCall, arg: string): Promise<boolean> {
  const r = await call.script('cat -- "$1" 2>/dev/null || true', [GRUB_CFG_PATH], {
    sudo: true,
    timeoutMs: 30_000,
  });
  const m = LINUX_LINE.exec(r.stdout);
  return m ? cmdlineHasArg(m[1] ?? '', arg) : false;
}

export function createGrubActivities(deps: ActivityDeps) {
  return {
    /**
     * What adding cgroup.memory=nokmem to GRUB_CMDLINE_LINUX would change (`would-add` with the
     * line before and after) or `unchanged`. Read-only (dry runs).
     */
    async planKmemGrubArg(input: NodeRef): Promise<GrubArgResult> {
      return onNode(deps, input, async (call) => {
        const { content } = await readGrubDefaults(call);
        const edit = addGrubCmdlineArg(content, KMEM_KERNEL_ARG);
        return {
          status: edit.status === 'added' ? 'would-add' : 'unchanged',
          path: GRUB_DEFAULTS_PATH,
          ...(edit.before !== undefined ? { before: edit.before } : {}),
          after: edit.after,
        };
      });
    },

    /**
     * Adds cgroup.memory=nokmem to GRUB_CMDLINE_LINUX in /etc/default/grub. Check-then-act: a file
     * that already has the argument is `unchanged` (so it is never added twice); otherwise the
     * edited file (every other byte as it was) is installed atomically with the file's own mode and
     * owner, the old one kept as a backup.
     */
    async ensureKmemGrubArg(input: NodeRef): Promise<GrubArgResult> {
      return onNode(deps, input, async (call) => {
        const { state, content } = await readGrubDefaults(call);
        const edit = addGrubCmdlineArg(content, KMEM_KERNEL_ARG);
        const lines = { ...(edit.before !== undefined ? { before: edit.before } : {}), after: edit.after };
        if (edit.status === 'unchanged') return { status: 'unchanged', path: GRUB_DEFAULTS_PATH, ...lines };
        const installed = await installFile(call, {
          ...input,
          path: GRUB_DEFAULTS_PATH,
          content: edit.content,
          mode: state.mode,
          owner: `${state.uid}:${state.gid}`,
        });
        return {
          status: 'added',
          path: GRUB_DEFAULTS_PATH,
          ...lines,
          ...(installed.previous ? { previous: installed.previous } : {}),
        };
      });
    },

    /**
     * `grub2-mkconfig -o /boot/grub2/grub.cfg` unless grub.cfg's kernel line already carries
     * cgroup.memory=nokmem (`unchanged`); then checks that it does. Idempotent.
     */
    async regenerateGrubConfig(input: NodeRef): Promise<{ status: 'regenerated' | 'unchanged' }> {
      return onNode(deps, input, async (call) => {
        if (await bootConfigHasArg(call, KMEM_KERNEL_ARG)) return { status: 'unchanged' };
        await call.scriptOk('grub2-mkconfig -o "$1"', [GRUB_CFG_PATH], {
          sudo: true,
          operation: `grub2-mkconfig -o ${GRUB_CFG_PATH}`,
          timeoutMs: 90_000,
        });
        if (!(await bootConfigHasArg(call, KMEM_KERNEL_ARG))) {
          throw nodeProblem(call, `after grub2-mkconfig, ${GRUB_CFG_PATH} still lacks ${KMEM_KERNEL_ARG}`);
        }
        return { status: 'regenerated' };
      });
    },
  };
}
