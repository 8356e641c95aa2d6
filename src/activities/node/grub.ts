/**
 * The kernel command line in the bootloader config: GRUB_CMDLINE_LINUX in /etc/default/grub (edited
 * idempotently, other arguments kept byte for byte, the old file backed up) and grub.cfg regenerated
 * by grub2-mkconfig. The edit itself is src/common/grub.ts.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { validateNodeName } from '../../common/shell';
import {
  GRUB_CFG_PATH,
  GRUB_DEFAULTS_PATH,
  KMEM_KERNEL_ARG,
  addGrubCmdlineArg,
  cmdlineHasArg,
} from '../../common/grub';
import type { ActivityDeps } from '../deps';
import { bootState } from './boot';
import { type NodeCall, heartbeating, onNode } from './context';
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

/** Most nodes one checkKmemRebootPreconditions call takes: its result stays a few KB per call. */
export const MAX_PRECONDITION_NODES = 25;
/** Nodes of one call checked at the same time. */
const PRECONDITION_PARALLEL = 8;
/** Tries of a node whose SSH connection fails in a way that may pass. */
const CONNECT_ATTEMPTS = 4;
/** Room kept in /boot beyond the new grub.cfg itself (grub2-mkconfig writes it beside the old one). */
const BOOT_SPACE_MARGIN_KIB = 64;

export interface KmemPreconditions {
  node: string;
  /** What would make the reboot fail on this node, each in one line; empty: none found. */
  problems: string[];
  /** Read when the boot-ID probe worked: what a rerun compares against. */
  bootId?: string;
  cmdline?: string;
}

// Renders grub.cfg to stdout (grub2-mkconfig without -o writes nothing) and prints its size in bytes.
const MKCONFIG_DRY_RENDER = `command -v grub2-mkconfig >/dev/null 2>&1 || { echo "grub2-mkconfig: command not found" >&2; exit 127; }
out=$(grub2-mkconfig) || exit $?
printf '%s\n' "$out" | wc -c`;

// $1 = a directory: the KiB available on its filesystem (POSIX df output, fourth field).
const FREE_KIB = `df -Pk -- "$1" | awk 'NR==2 { print $4 }'`;

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}

/** Every check of one node; a failed check is a problem line, not an exception, so all are reported. */
async function nodePreconditions(call: NodeCall): Promise<Omit<KmemPreconditions, 'node'>> {
  const problems: string[] = [];
  const out: Omit<KmemPreconditions, 'node'> = { problems };
  try {
    Object.assign(out, await bootState(call));
  } catch (err) {
    problems.push(`boot-ID probe: ${oneLine(err)}`);
  }
  try {
    const { content } = await readGrubDefaults(call);
    const syntax = await call.script('sh -n -- "$1"', [GRUB_DEFAULTS_PATH], {
      sudo: true,
      timeoutMs: 30_000,
    });
    if (syntax.exitCode !== 0) {
      const why = syntax.stderr.trim().split('\n')[0]?.slice(0, 200) ?? '';
      problems.push(`${GRUB_DEFAULTS_PATH} does not parse (grub2-mkconfig sources it): ${why}`);
    } else addGrubCmdlineArg(content, KMEM_KERNEL_ARG);
  } catch (err) {
    problems.push(`${GRUB_DEFAULTS_PATH}: ${oneLine(err)}`);
  }
  let cfgBytes: number | undefined;
  const render = await call.script(MKCONFIG_DRY_RENDER, [], { sudo: true, timeoutMs: 60_000 });
  if (render.exitCode === 0 && /^\d+$/.test(render.stdout.trim())) cfgBytes = Number(render.stdout.trim());
  else {
    const why = render.stderr.trim().split('\n').pop()?.slice(0, 200) || `exit ${render.exitCode}`;
    problems.push(`grub2-mkconfig cannot run: ${why}`);
  }
  const bootDir = GRUB_CFG_PATH.slice(0, GRUB_CFG_PATH.lastIndexOf('/'));
  const df = await call.script(FREE_KIB, [bootDir], { timeoutMs: 30_000 });
  const freeKib = Number(df.stdout.trim());
  if (df.exitCode !== 0 || df.stdout.trim() === '' || !Number.isFinite(freeKib)) {
    problems.push(`free space in ${bootDir} unreadable: ${df.stderr.trim().slice(0, 200) || 'no df output'}`);
  } else if (cfgBytes !== undefined) {
    const needKib = Math.ceil(cfgBytes / 1024) + BOOT_SPACE_MARGIN_KIB;
    if (freeKib < needKib)
      problems.push(`${bootDir} has ${freeKib} KiB free; the new grub.cfg needs ${needKib} KiB`);
  }
  return out;
}

/** Failures that are about this node (unreachable, a command that failed there), not the cluster. */
function nodeSpecific(err: unknown): err is ApplicationFailure {
  return (
    err instanceof ApplicationFailure &&
    (err.type?.startsWith('Ssh') === true ||
      err.type === ErrorType.RemoteCommandFailed ||
      err.type === ErrorType.RemediationFailed)
  );
}

/**
 * One node's checks. A connection failure is tried again, 2, 4 and 8 s later (an sshd restart must
 * not skip a node; a node down for longer is skipped, saying why); any
 * failure that is not about the node (the API server, the registry) is thrown, so the activity
 * retries or fails as a whole instead of reporting a cluster problem as every node's.
 */
async function checkOne(deps: ActivityDeps, ref: NodeRef): Promise<Omit<KmemPreconditions, 'node'>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await onNode(deps, ref, nodePreconditions);
    } catch (err) {
      if (!nodeSpecific(err)) throw err;
      if (!err.nonRetryable && attempt < CONNECT_ATTEMPTS) {
        await new Promise((r) => setTimeout(r, 1_000 * 2 ** attempt));
        continue;
      }
      return { problems: [`${err.type?.startsWith('Ssh') ? 'SSH' : 'node'}: ${oneLine(err)}`] };
    }
  }
}

export function createGrubActivities(deps: ActivityDeps) {
  return {
    /**
     * Whether a node's reboot can work, found without changing anything: SSH reachable, the boot-ID
     * probe answering, /etc/default/grub readable and parseable, grub2-mkconfig present and able to
     * render (to stdout, writing nothing), room in /boot for the new grub.cfg. Read-only; safe to
     * retry. Per node, a problem is reported, never thrown: one node's failure does not hide the others'.
     */
    async checkKmemRebootPreconditions(input: {
      cluster: string;
      nodes: string[];
    }): Promise<KmemPreconditions[]> {
      const nodes = input?.nodes;
      if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > MAX_PRECONDITION_NODES) {
        throw ApplicationFailure.nonRetryable(
          `nodes must list 1 to ${MAX_PRECONDITION_NODES} nodes`,
          ErrorType.InvalidInput,
        );
      }
      for (const node of nodes) validateNodeName(node);
      const results: KmemPreconditions[] = new Array<KmemPreconditions>(nodes.length);
      let next = 0;
      const lane = async () => {
        while (next < nodes.length) {
          const i = next++;
          const node = nodes[i]!;
          results[i] = { node, ...(await checkOne(deps, { cluster: input.cluster, node })) };
        }
      };
      const lanes = Array.from({ length: Math.min(PRECONDITION_PARALLEL, nodes.length) }, lane);
      await heartbeating(Promise.all(lanes));
      return results;
    },

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
