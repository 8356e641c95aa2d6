/**
 * The one place where values become remote shell text. Every value that reaches a node's shell goes
 * through `quoteArg`/`shellCommand`/`sh`, usually after one of the validators below.
 *
 * Quoting targets a POSIX shell (the SSH user's login shell: bash or sh on NKS images): a value in
 * single quotes is literal except for `'` itself, which is written as `'\''`. NUL cannot be carried by
 * any shell argument, so it is rejected rather than silently cut.
 *
 * Shared with workflow code, so no Node built-ins here.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from './errors';
import { parseImageReference } from './image-ref';

/** A rejected value: permanent, since retrying the same input cannot make it valid. */
export function invalidShellValue(what: string, value: string, why: string): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.InvalidInput,
    nonRetryable: true,
    message: `invalid ${what} ${describe(value)}: ${why}`,
  });
}

/** Shows a rejected value without letting control characters or huge inputs into logs. */
function describe(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}

// Characters that no POSIX shell treats specially in a word; such words need no quotes, which keeps
// logged commands readable.
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One shell word that the remote shell turns back into exactly `value`. */
export function quoteArg(value: string): string {
  if (typeof value !== 'string') throw invalidShellValue('shell argument', String(value), 'not a string');
  if (value.includes('\0')) throw invalidShellValue('shell argument', value, 'contains a NUL byte');
  if (value === '') return "''";
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Shell text that is passed through unquoted: only for constant operators such as `&&` or `2>&1`. */
export class ShellRaw {
  constructor(readonly text: string) {}
}

/** Marks constant shell syntax (never a value from input) to be inserted as is. */
export function shellRaw(text: string): ShellRaw {
  return new ShellRaw(text);
}

export type ShellWord = string | ShellRaw;

/** Joins an argv into one command line, each element one literal argument on the remote side. */
export function shellCommand(argv: readonly ShellWord[]): string {
  if (argv.length === 0) throw invalidShellValue('command', '', 'empty argv');
  return argv.map((w) => (w instanceof ShellRaw ? w.text : quoteArg(w))).join(' ');
}

/**
 * Tagged template: the literal parts are shell syntax written by us; every `${value}` becomes one
 * quoted word (an array becomes several words). `sh\`sudo -n install -m ${mode} -- ${tmp} ${dest}\``.
 */
export function sh(
  strings: TemplateStringsArray,
  ...values: readonly (ShellWord | readonly ShellWord[])[]
): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const words = Array.isArray(v) ? (v as readonly ShellWord[]) : [v as ShellWord];
    out += words.map((w) => (w instanceof ShellRaw ? w.text : quoteArg(w))).join(' ');
    out += strings[i + 1] ?? '';
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validators: each returns the value (normalised where stated) or throws InvalidInput.
// ---------------------------------------------------------------------------------------------

const PATH_CHARS = /^[A-Za-z0-9._@+=:,/-]+$/;

/**
 * An absolute path on a node: no `.`/`..` segments, no empty segments, only a conservative charset
 * (no spaces, quotes, globs or control characters), so it is also safe in places that are not
 * quoted by us, such as a path inside a config file.
 */
export function validateRemotePath(path: string, what = 'remote path'): string {
  if (typeof path !== 'string' || path.length === 0) throw invalidShellValue(what, String(path), 'empty');
  if (path.length > 4096) throw invalidShellValue(what, path, 'longer than 4096 characters');
  if (!path.startsWith('/')) throw invalidShellValue(what, path, 'must be absolute');
  if (!PATH_CHARS.test(path)) {
    throw invalidShellValue(what, path, 'only letters, digits and . _ @ + = : , / - are allowed');
  }
  const segments = path.split('/').slice(1);
  if (path !== '/' && segments.some((s) => s === ''))
    throw invalidShellValue(what, path, 'empty path segment');
  if (segments.some((s) => s === '.' || s === '..'))
    throw invalidShellValue(what, path, '`.` or `..` segment');
  if (segments.some((s) => s.startsWith('-'))) throw invalidShellValue(what, path, 'segment starts with `-`');
  return path;
}

/** Last segment of a validated absolute path. */
export function remoteBasename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

// systemd.unit(5): ASCII letters, digits, ":", "-", "_", ".", "\" and "@" (templates). Backslash
// escapes are left out: NKS services do not need them.
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,254}$/;
const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

/** A systemd unit name, e.g. `rpc-statd` or `rpc-statd.service`. */
export function validateUnitName(unit: string): string {
  if (typeof unit !== 'string' || !UNIT_NAME.test(unit)) {
    throw invalidShellValue('systemd unit name', String(unit), 'letters, digits and : _ . @ - only, max 255');
  }
  const dot = unit.lastIndexOf('.');
  if (dot > 0 && !UNIT_SUFFIX.test(unit) && /^[a-z]+$/.test(unit.slice(dot + 1))) {
    throw invalidShellValue('systemd unit name', unit, 'unknown unit type suffix');
  }
  return unit;
}

/** File mode in octal, `644`, `0644` or `1777`; returned as four digits (`0644`). */
export function validateFileMode(mode: string): string {
  if (typeof mode !== 'string' || !/^0?[0-7]{3,4}$/.test(mode) || mode.replace(/^0/, '').length > 4) {
    throw invalidShellValue('file mode', String(mode), 'expected octal like 0644');
  }
  const digits = mode.length === 5 ? mode.slice(1) : mode;
  return digits.padStart(4, '0');
}

const USER_OR_GROUP = /^([a-z_][a-z0-9_-]{0,31}\$?|[0-9]{1,10})$/;

/** `user` or `user:group` (names as useradd accepts them, or numeric ids). */
export function validateOwner(owner: string): { user: string; group: string | undefined } {
  if (typeof owner !== 'string') throw invalidShellValue('owner', String(owner), 'not a string');
  const parts = owner.split(':');
  const [user, group] = parts;
  if (
    parts.length > 2 ||
    user === undefined ||
    !USER_OR_GROUP.test(user) ||
    (group !== undefined && !USER_OR_GROUP.test(group))
  ) {
    throw invalidShellValue('owner', owner, 'expected user or user:group');
  }
  return { user, group };
}

/** A Kubernetes node name: a DNS-1123 subdomain of at most 253 characters. */
export const NODE_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const NODE_NAME_MAX_LENGTH = 253;

/** A Kubernetes node name (DNS-1123 subdomain). */
export function validateNodeName(name: string): string {
  if (typeof name !== 'string' || name.length > NODE_NAME_MAX_LENGTH || !NODE_NAME_PATTERN.test(name)) {
    throw invalidShellValue('node name', String(name), 'not a DNS-1123 subdomain');
  }
  return name;
}

/**
 * An OCI image reference such as `harbor-kr1.cloud.toastoven.net/container_service/pause:3.2`, in
 * the one grammar of image-ref.ts. That grammar admits only `[A-Za-z0-9._:@/+-]`, so a valid
 * reference is also safe in a shell word.
 */
export function validateImageReference(ref: string): string {
  if (typeof ref !== 'string') throw invalidShellValue('image reference', String(ref), 'not a string');
  try {
    parseImageReference(ref);
  } catch (err) {
    throw invalidShellValue('image reference', ref, (err as Error).message);
  }
  return ref;
}
