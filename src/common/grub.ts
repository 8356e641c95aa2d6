/**
 * The kernel command line in /etc/default/grub, edited the way an operator would by hand: one
 * argument appended to GRUB_CMDLINE_LINUX, nothing else in the file touched. Pure (no Node
 * built-ins): the workflow's dry run and the node activities both use it.
 */

/** What disableKmemAccounting adds (docs/procedures.md §5). */
export const KMEM_KERNEL_ARG = 'cgroup.memory=nokmem';

/** Where grub2-mkconfig writes on the CentOS 7 images NKS runs. */
export const GRUB_DEFAULTS_PATH = '/etc/default/grub';
export const GRUB_CFG_PATH = '/boot/grub2/grub.cfg';

// `GRUB_CMDLINE_LINUX=` at the start of a line (not _DEFAULT), then a quoted or bare value.
const CMDLINE_LINE = /^(\s*GRUB_CMDLINE_LINUX=)(?:"([^"]*)"|'([^']*)'|([^\s#"']*))(.*)$/m;

export interface GrubArgEdit {
  /** `unchanged` when the argument is already there (the file is returned byte for byte). */
  status: 'added' | 'unchanged';
  content: string;
  /** The GRUB_CMDLINE_LINUX line before and after (the same when unchanged; `before` absent if there was none). */
  before?: string;
  after: string;
}

/** The kernel command line's words (split on whitespace). */
export function cmdlineWords(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter(Boolean);
}

/** Whether a kernel command line (or GRUB_CMDLINE_LINUX value) carries `arg` as one whole word. */
export function cmdlineHasArg(cmdline: string, arg: string): boolean {
  return cmdlineWords(cmdline).includes(arg);
}

/**
 * Adds `arg` to GRUB_CMDLINE_LINUX: at the end of its value, after one space, inside its quotes.
 * Everything else (other arguments, their spacing, the other lines, a trailing comment) stays byte
 * for byte. An argument already present (as a whole word) is not added again, so a second edit is a
 * no-op. A file without the variable gets `GRUB_CMDLINE_LINUX="arg"` appended.
 */
export function addGrubCmdlineArg(content: string, arg: string): GrubArgEdit {
  if (!/^[A-Za-z0-9_.=,:/-]+$/.test(arg)) throw new Error(`not a plain kernel argument: ${arg}`);
  const m = CMDLINE_LINE.exec(content);
  if (!m) {
    const after = `GRUB_CMDLINE_LINUX="${arg}"`;
    const sep = content === '' || content.endsWith('\n') ? '' : '\n';
    return { status: 'added', content: `${content}${sep}${after}\n`, after };
  }
  const [line, prefix, dq, sq, bare, rest] = m;
  const value = dq ?? sq ?? bare ?? '';
  if (cmdlineHasArg(value, arg)) return { status: 'unchanged', content, before: line, after: line };
  const quote = sq !== undefined ? "'" : '"';
  const joined = value.trim() === '' ? arg : `${value.replace(/\s+$/, '')} ${arg}`;
  const after = `${prefix}${quote}${joined}${quote}${rest}`;
  return {
    status: 'added',
    content: content.slice(0, m.index) + after + content.slice(m.index + line.length),
    before: line,
    after,
  };
}

/** Kernel major version from a release string (`3.10.0-1160.el7.x86_64` → 3); undefined if unreadable. */
export function kernelMajor(release: string | undefined): number | undefined {
  const m = /^(\d+)\./.exec(release ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The user script of a custom image for new node groups: the guide's `sed`, guarded so a second
 * run (an image rebuilt from an image that already has it) does not add the argument twice.
 */
export function kmemUserScript(arg: string = KMEM_KERNEL_ARG): string {
  return [
    '#!/bin/bash',
    '# Adds the kernel argument to GRUB_CMDLINE_LINUX once, regenerates grub.cfg (docs/procedures.md §5).',
    'set -eu',
    `args="${arg}"`,
    `grub_file="${GRUB_DEFAULTS_PATH}"`,
    `if ! grep -Eq '^GRUB_CMDLINE_LINUX="([^"]* )?'"$args"'( [^"]*)?"' "$grub_file"; then`,
    '  sudo sed -i "s/^GRUB_CMDLINE_LINUX=\\"\\(.*\\)\\"/GRUB_CMDLINE_LINUX=\\"\\1 $args\\"/" "$grub_file"',
    'fi',
    `sudo grub2-mkconfig -o ${GRUB_CFG_PATH}`,
    '',
  ].join('\n');
}
