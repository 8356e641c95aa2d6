/**
 * Files on nodes: hash, atomic install with a backup of what it replaces, restore from that backup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  invalidShellValue,
  quoteArg,
  remoteBasename,
  validateFileMode,
  validateOwner,
  validateRemotePath,
} from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { requireLogrotateConfigAllowed } from '../policy';
import { type NodeCall, onNode } from './context';
import type { ExecResult } from './ssh';
import type { NodeRef } from './nodes';
import { rememberLogrotateConfig } from './logrotate-config-store';

/** Backups live outside the target directory: tools such as logrotate read every file in theirs. */
export const BACKUP_ROOT = '/var/lib/nks-remediation/backups';

/** Files larger than this are not config files; they do not belong in workflow history either. */
export const MAX_FILE_CONTENT_BYTES = 1024 * 1024;

export interface FileState {
  sha256: string;
  md5: string;
  size: number;
  /** Octal, four digits (`0644`). */
  mode: string;
  owner: string;
  group: string;
  uid: number;
  gid: number;
}

export interface HashNodeFileInput extends NodeRef {
  path: string;
  /** Read as root (default true): config files may not be world-readable. */
  sudo?: boolean;
}

export type HashNodeFileResult = ({ exists: true } & FileState) | { exists: false };

// $1 = path. Prints "absent", or sha256, md5 and "size mode owner group" on three lines.
const HASH_SCRIPT = `set -eu
if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo absent; exit 0; fi
if [ ! -f "$1" ]; then echo "not a regular file" >&2; exit 3; fi
sha256sum -- "$1" | cut -c1-64
md5sum -- "$1" | cut -c1-32
stat -L -c '%s %a %U %G %u %g' -- "$1"`;

export async function readFileState(
  call: NodeCall,
  path: string,
  sudo: boolean,
): Promise<FileState | undefined> {
  const r = await call.scriptOk(HASH_SCRIPT, [path], { sudo, operation: `hash ${path}`, timeoutMs: 60_000 });
  const lines = r.stdout.trim().split('\n');
  if (lines[0] === 'absent') return undefined;
  const [sha256, md5, meta] = lines;
  const [size, mode, owner, group, uid, gid] = (meta ?? '').split(' ');
  if (
    !sha256 ||
    !/^[0-9a-f]{64}$/.test(sha256) ||
    !md5 ||
    !/^[0-9a-f]{32}$/.test(md5) ||
    !mode ||
    !owner ||
    !group
  ) {
    throw call.commandFailed(`hash ${path} (unexpected output)`, r);
  }
  return {
    sha256,
    md5,
    size: Number(size),
    mode: mode.padStart(4, '0'),
    owner,
    group,
    uid: Number(uid),
    gid: Number(gid),
  };
}

export interface InstallNodeFileInput extends NodeRef {
  /** Absolute target path, e.g. /etc/logrotate.d/docker. */
  path: string;
  /** The file's full text (UTF-8). */
  content: string;
  /** Default 0644. */
  mode?: string;
  /** `user` or `user:group`; default root:root. */
  owner?: string;
  /**
   * Checks the uploaded copy before it is installed: a name from NODE_FILE_VALIDATORS (the command
   * itself is fixed here, never taken from input), allowed for the path by NODE_FILE_ALLOWLIST.
   * A non-zero exit stops the install.
   */
  validator?: NodeFileValidator;
}

/**
 * Validators by name: the closed set of commands an install may run on the uploaded copy (as root).
 * `logrotate -d FILE` parses the config and dry-runs it without rotating anything.
 */
export const NODE_FILE_VALIDATORS = {
  logrotate: (tmp: string): string[] => ['logrotate', '-d', tmp],
} as const;

export type NodeFileValidator = keyof typeof NODE_FILE_VALIDATORS;

/**
 * The files these activities may write or restore: a file directly in `dir`, or exactly `file`, with
 * the validators allowed for it. Anything else is InvalidInput before a connection is opened.
 */
const LOGROTATE_DIR = '/etc/logrotate.d';

export const NODE_FILE_ALLOWLIST: readonly (
  | { dir: string; validators: readonly NodeFileValidator[] }
  | { file: string; validators: readonly NodeFileValidator[] }
)[] = [
  { dir: LOGROTATE_DIR, validators: ['logrotate'] },
  { file: '/etc/default/grub', validators: [] },
];

/** The validated path, if the allowlist admits it (and the validator for it); else InvalidInput. */
export function allowedNodeFile(rawPath: string, validator?: unknown): string {
  const path = validateRemotePath(rawPath);
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  const base = remoteBasename(path);
  const entry = NODE_FILE_ALLOWLIST.find((e) =>
    'dir' in e ? e.dir === dir && base.length > 0 && !base.startsWith('.') : e.file === path,
  );
  if (!entry) {
    const allowed = NODE_FILE_ALLOWLIST.map((e) => ('dir' in e ? `${e.dir}/*` : e.file)).join(', ');
    throw invalidShellValue('node file path', path, `not an allowed file (allowed: ${allowed})`);
  }
  if (validator !== undefined) {
    if (typeof validator !== 'string' || !Object.hasOwn(NODE_FILE_VALIDATORS, validator)) {
      throw invalidShellValue(
        'validator',
        String(validator),
        `not one of ${Object.keys(NODE_FILE_VALIDATORS).join(', ')}`,
      );
    }
    if (!entry.validators.includes(validator as NodeFileValidator)) {
      throw invalidShellValue('validator', validator, `not allowed for ${path}`);
    }
  }
  return path;
}

/** What the install replaced: the backup to restore, or that there was no file. */
export type PreviousFile = { existed: false } | { existed: true; sha256: string; backupPath: string };

export interface InstallNodeFileResult {
  status: 'installed' | 'unchanged';
  path: string;
  sha256: string;
  md5: string;
  /**
   * For 'installed': what was replaced. For 'unchanged': what the last install by this activity
   * replaced, when the node's record says the current content came from it (so a retry after a lost
   * result still learns the backup); absent otherwise.
   */
  previous?: PreviousFile;
  /** Stdout/stderr of the validation command, bounded, when one ran. */
  validationOutput?: string;
}

function backupPathFor(path: string, sha256: string): string {
  return `${BACKUP_ROOT}${path}.${sha256}`;
}

/**
 * Uploads go to a directory only root can enter, so no other user on the node can see, replace or
 * pre-create a temp file (a shared /tmp would let them race for its name).
 */
export const TEMP_ROOT = '/var/lib/nks-remediation/tmp';

// Creates TEMP_ROOT if needed and refuses one that is not a root-owned 0700 directory. Exit 6.
const PRIVATE_TEMP_DIR = `umask 077
mkdir -p -m 0700 -- ${TEMP_ROOT}
if [ -L ${TEMP_ROOT} ] || [ ! -d ${TEMP_ROOT} ] || [ "$(stat -c '%u %a' -- ${TEMP_ROOT})" != "0 700" ]; then
  echo "${TEMP_ROOT} is not a directory only root can use" >&2; exit 6
fi`;

// stdin = content; prints the temp path and its sha256.
const UPLOAD_SCRIPT = `set -eu
${PRIVATE_TEMP_DIR}
tmp=$(mktemp ${TEMP_ROOT}/upload.XXXXXXXXXX)
cat > "$tmp"
echo "$tmp"
sha256sum -- "$tmp" | cut -c1-64`;

const TEMP_PATH = /^\/var\/lib\/nks-remediation\/tmp\/upload\.[A-Za-z0-9]{10}$/;

function parsePrevious(path: string, backup: string | undefined): PreviousFile | undefined {
  if (backup === 'absent') return { existed: false };
  const prefix = `${BACKUP_ROOT}${path}.`;
  if (backup?.startsWith(prefix) && /^[0-9a-f]{64}$/.test(backup.slice(prefix.length))) {
    return { existed: true, sha256: backup.slice(prefix.length), backupPath: backup };
  }
  return undefined;
}

async function removeTemp(call: NodeCall, tmp: string): Promise<void> {
  await call.run(['rm', '-f', '--', tmp], { sudo: true, timeoutMs: 30_000 }).catch(() => undefined);
}

function contentBytes(content: unknown): Buffer {
  if (typeof content !== 'string') {
    throw ApplicationFailure.nonRetryable('content must be a string', ErrorType.InvalidInput);
  }
  const bytes = Buffer.from(content, 'utf8');
  if (bytes.length > MAX_FILE_CONTENT_BYTES) {
    throw ApplicationFailure.nonRetryable(
      `content is larger than ${MAX_FILE_CONTENT_BYTES} bytes`,
      ErrorType.InvalidInput,
    );
  }
  return bytes;
}

/** Uploads `content` to a private temp file on the node and checks it arrived whole; returns its path. */
async function upload(call: NodeCall, path: string, content: Buffer, sha256: string): Promise<string> {
  const r = await call.scriptOk(UPLOAD_SCRIPT, [], {
    sudo: true,
    stdin: content,
    operation: `upload ${path}`,
  });
  const [tmp, uploadedSha] = r.stdout.trim().split('\n');
  if (!tmp || !TEMP_PATH.test(tmp)) throw call.commandFailed(`upload ${path} (unexpected temp path)`, r);
  if (uploadedSha !== sha256) {
    await removeTemp(call, tmp);
    throw call.commandFailed(`upload ${path} (hash of the uploaded copy differs)`, r);
  }
  return tmp;
}

/** Runs the named validator on the uploaded copy: its exit status and bounded output. */
async function runValidator(
  call: NodeCall,
  validator: NodeFileValidator,
  tmp: string,
): Promise<{ ok: boolean; output: string; argv: string[]; result: ExecResult }> {
  const argv = NODE_FILE_VALIDATORS[validator](tmp);
  const result = await call.run(argv, { sudo: true, timeoutMs: 120_000 });
  const output = `${result.stdout}${result.stderr}`.slice(0, 4096);
  return { ok: result.exitCode === 0, output, argv, result };
}

// One exec does the whole install: each exec costs a channel's round trips, which add up per node
// on a real network. $1 dest, $2 mode, $3 owner, $4 group, $5 backup root, $6 wanted sha256, $7 temp
// path (chosen by the caller, created exclusively), then the validator's argv (may be none); the
// content on stdin. Check: the target already has the content, mode and owner (owner and group by
// name or number) -> "unchanged" and the record of the last install. Act: upload to the temp file,
// verify its hash, validate it; keep the current file under the backup root (named by its hash, so a
// rerun finds the same one), stage the new one next to the target under a hidden name and rename it
// into place (atomic on one filesystem), record "new-hash backup-path|absent" for reruns -> "installed",
// the new hash, the backup, a marker line and the validator's output. Exit 3: target not a regular file; 4: upload damaged;
// 5: the validator refused (its output on stderr); 6: TEMP_ROOT is not root's alone; 7: the installed
// file's hash differed, and what was there before is back.
const INSTALL_ONCE_SCRIPT = `set -eu
dest=$1 mode=$2 owner=$3 group=$4 broot=$5 want=$6 tmp=$7
shift 7
dir=\${dest%/*}; [ -n "$dir" ] || dir=/
base=\${dest##*/}
bdir=$broot$dir
if [ -e "$dest" ] || [ -L "$dest" ]; then
  if [ ! -f "$dest" ]; then echo "not a regular file" >&2; exit 3; fi
  cur=$(sha256sum -- "$dest" | cut -c1-64)
  meta=$(stat -L -c '%a %U %G %u %g' -- "$dest")
  m=\${meta%% *}; meta=\${meta#* }
  o=\${meta%% *}; meta=\${meta#* }
  g=\${meta%% *}; meta=\${meta#* }
  u=\${meta%% *}; gi=\${meta#* }
  if [ "$cur" = "$want" ] && [ "$(printf '%04d' "$m")" = "$mode" ] &&
     { [ "$o" = "$owner" ] || [ "$u" = "$owner" ]; } && { [ "$g" = "$group" ] || [ "$gi" = "$group" ]; }; then
    cat >/dev/null
    echo unchanged
    cat -- "$bdir/$base.nksr-last" 2>/dev/null || true
    exit 0
  fi
fi
${PRIVATE_TEMP_DIR}
trap 'rm -f -- "$tmp"' EXIT
(set -C; cat > "$tmp")
if [ -L "$tmp" ] || [ ! -f "$tmp" ]; then echo "temp copy is not a regular file" >&2; exit 4; fi
got=$(sha256sum -- "$tmp" | cut -c1-64)
if [ "$got" != "$want" ]; then echo "uploaded copy has sha256 $got" >&2; exit 4; fi
out=
if [ $# -gt 0 ]; then
  if ! out=$("$@" 2>&1); then printf '%s\\n' "$out" >&2; exit 5; fi
fi
umask 022
mkdir -p -m 0700 -- "$broot"
mkdir -p -- "$bdir" "$dir"
backup=absent
if [ -e "$dest" ]; then
  old=$(sha256sum -- "$dest" | cut -c1-64)
  backup=$bdir/$base.$old
  if [ ! -e "$backup" ]; then
    cp -p -- "$dest" "$backup.partial"
    mv -f -- "$backup.partial" "$backup"
  fi
fi
stage=$(mktemp -- "$dir/.$base.nksr-XXXXXXXX")
trap 'rm -f -- "$tmp" "$stage"' EXIT
install -m "$mode" -o "$owner" -g "$group" -- "$tmp" "$stage"
mv -f -- "$stage" "$dest"
new=$(sha256sum -- "$dest" | cut -c1-64)
if [ "$new" != "$want" ]; then
  if [ "$backup" = absent ]; then rm -f -- "$dest"
  else cp -p -- "$backup" "$stage"; mv -f -- "$stage" "$dest"; fi
  echo "installed file has sha256 $new, not $want: put back what was there" >&2; exit 7
fi
trap 'rm -f -- "$tmp"' EXIT
printf '%s %s\\n' "$new" "$backup" > "$bdir/$base.nksr-last"
echo installed
echo "$new"
echo "$backup"
echo "--validation--"
printf '%s' "$out"`;

/** A fresh name in mktemp's pattern (TEMP_PATH); the script creates it exclusively. */
function tempUploadPath(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `${TEMP_ROOT}/upload.${Array.from(randomBytes(10), (b) => alphabet[b % alphabet.length]).join('')}`;
}

export async function installFile(
  call: NodeCall,
  input: InstallNodeFileInput,
): Promise<InstallNodeFileResult> {
  const path = allowedNodeFile(input.path, input.validator);
  const mode = validateFileMode(input.mode ?? '0644');
  const { user, group = user } = validateOwner(input.owner ?? 'root:root');
  const content = contentBytes(input.content);
  const validator = input.validator;
  const sha256 = createHash('sha256').update(content).digest('hex');
  const md5 = createHash('md5').update(content).digest('hex');
  const tmp = tempUploadPath();
  const validatorArgv = validator ? NODE_FILE_VALIDATORS[validator](tmp) : [];

  const r = await call.script(
    INSTALL_ONCE_SCRIPT,
    [path, mode, user, group, BACKUP_ROOT, sha256, tmp, ...validatorArgv],
    { sudo: true, stdin: content },
  );
  if (r.exitCode !== 0) {
    const operation =
      r.exitCode === 3
        ? `hash ${path}`
        : r.exitCode === 4
          ? `upload ${path} (hash of the uploaded copy differs)`
          : r.exitCode === 5
            ? `validation of ${path} (${validatorArgv.map(quoteArg).join(' ')})`
            : r.exitCode === 6
              ? `install ${path} (${TEMP_ROOT} is not a directory only root can use)`
              : r.exitCode === 7
                ? `install ${path} (the installed file's hash differed; the previous file is back)`
                : `install ${path}`;
    throw call.commandFailed(operation, r);
  }
  const [status, ...rest] = r.stdout.split('\n');
  if (status === 'unchanged') {
    // A rerun still learns what the first install replaced (from the node's record).
    const [recordedSha, backup] = (rest[0] ?? '').trim().split(' ');
    const previous = recordedSha === sha256 ? parsePrevious(path, backup) : undefined;
    return { status: 'unchanged', path, sha256, md5, ...(previous ? { previous } : {}) };
  }
  const [installedSha, backup, marker] = rest;
  if (status !== 'installed' || marker !== '--validation--')
    throw call.commandFailed(`install ${path} (unexpected output)`, r);
  if (installedSha !== sha256) throw call.commandFailed(`install ${path} (installed file's hash differs)`, r);
  const previous = parsePrevious(path, backup);
  const validationOutput = validator ? rest.slice(3).join('\n').slice(0, 4096) : undefined;
  return {
    status: 'installed',
    path,
    sha256,
    md5,
    ...(previous ? { previous } : {}),
    ...(validationOutput !== undefined ? { validationOutput } : {}),
  };
}

export interface CheckNodeFileInput extends NodeRef {
  /** The path the content is meant for (allowlisted with this validator). */
  path: string;
  content: string;
  validator: NodeFileValidator;
}

export interface CheckNodeFileResult {
  /** The validator accepted the content. */
  accepted: boolean;
  /** The validator's exit status and bounded output (what logrotate said). */
  exitCode: number | null;
  output: string;
}

/**
 * Runs the validator on a temp copy of `content` and removes the copy; the target is not touched.
 * A rejection is a result (accepted: false), not a failure.
 */
export async function checkFile(call: NodeCall, input: CheckNodeFileInput): Promise<CheckNodeFileResult> {
  if (input.validator === undefined) {
    throw ApplicationFailure.nonRetryable('validator is required', ErrorType.InvalidInput);
  }
  const path = allowedNodeFile(input.path, input.validator);
  const content = contentBytes(input.content);
  const sha256 = createHash('sha256').update(content).digest('hex');
  const tmp = await upload(call, path, content, sha256);
  try {
    const check = await runValidator(call, input.validator, tmp);
    return { accepted: check.ok, exitCode: check.result.exitCode, output: check.output };
  } finally {
    await removeTemp(call, tmp);
  }
}

export interface RestoreNodeFileInput extends NodeRef {
  path: string;
  /** `previous` from installNodeFile's result. */
  previous: PreviousFile;
  /**
   * Only restore if the file still has this hash (normally installNodeFile's `sha256`), so a later
   * change by someone else is not overwritten.
   */
  ifCurrentSha256?: string;
}

export interface RestoreNodeFileResult {
  status: 'restored' | 'removed' | 'unchanged' | 'modified-since';
  path: string;
  /** The file's hash after the call, absent if there is no file. */
  sha256?: string;
}

// $1 backup, $2 dest: copy (with mode/owner) next to the target, then rename into place.
const RESTORE_SCRIPT = `set -eu
backup=$1 dest=$2
dir=\${dest%/*}; [ -n "$dir" ] || dir=/
base=\${dest##*/}
stage=$(mktemp -- "$dir/.$base.nksr-XXXXXXXX")
trap 'rm -f -- "$stage"' EXIT
cp -p -- "$backup" "$stage"
mv -f -- "$stage" "$dest"
trap - EXIT`;

export async function restoreFile(
  call: NodeCall,
  input: RestoreNodeFileInput,
): Promise<RestoreNodeFileResult> {
  const path = allowedNodeFile(input.path);
  const prev = input.previous;
  if (!prev || typeof prev !== 'object' || typeof prev.existed !== 'boolean') {
    throw ApplicationFailure.nonRetryable(
      'previous must be installNodeFile’s `previous`',
      ErrorType.InvalidInput,
    );
  }
  if (prev.existed && !/^[0-9a-f]{64}$/.test(prev.sha256)) {
    throw ApplicationFailure.nonRetryable(
      'previous.sha256 must be a sha256 hex digest',
      ErrorType.InvalidInput,
    );
  }
  const current = await readFileState(call, path, true);
  if (!prev.existed) {
    if (!current) return { status: 'unchanged', path };
    if (input.ifCurrentSha256 && current.sha256 !== input.ifCurrentSha256) {
      return { status: 'modified-since', path, sha256: current.sha256 };
    }
    await call.scriptOk('rm -f -- "$1"', [path], {
      sudo: true,
      operation: `remove ${path}`,
      timeoutMs: 30_000,
    });
    return { status: 'removed', path };
  }
  if (current?.sha256 === prev.sha256) return { status: 'unchanged', path, sha256: current.sha256 };
  if (input.ifCurrentSha256 && current?.sha256 !== input.ifCurrentSha256) {
    return { status: 'modified-since', path, ...(current ? { sha256: current.sha256 } : {}) };
  }
  // The backup path is derived, not taken from input: only our own backups can be restored.
  const backupPath = backupPathFor(path, prev.sha256);
  const backup = await readFileState(call, backupPath, true);
  if (backup?.sha256 !== prev.sha256) {
    throw ApplicationFailure.create({
      type: ErrorType.RemediationFailed,
      nonRetryable: true,
      message: `cluster "${call.ref.cluster}", node ${call.ref.node}: backup ${backupPath} is ${backup ? 'corrupt' : 'missing'}`,
    });
  }
  await call.scriptOk(RESTORE_SCRIPT, [backupPath, path], { sudo: true, operation: `restore ${path}` });
  const after = await readFileState(call, path, true);
  if (after?.sha256 !== prev.sha256) {
    throw ApplicationFailure.create({
      type: ErrorType.RemoteCommandFailed,
      nonRetryable: true,
      message: `cluster "${call.ref.cluster}", node ${call.ref.node}: restored ${path} does not match its backup`,
    });
  }
  return { status: 'restored', path, sha256: after.sha256 };
}

/**
 * Path, validator and content checked before any connection: the allowlist, and for a logrotate
 * config the cluster's policy (its scripts would run as root at the next rotation, and
 * `logrotate -d` runs none of them, so the validator cannot be what stops them).
 */
function checkBeforeConnecting(deps: ActivityDeps, input: InstallNodeFileInput | CheckNodeFileInput): void {
  const path = allowedNodeFile(input?.path, input?.validator);
  contentBytes(input.content); // InvalidInput for what is not text
  if (path.startsWith(`${LOGROTATE_DIR}/`))
    requireLogrotateConfigAllowed(input.cluster, deps.registry.get(input.cluster), input.content);
}

export function createFileActivities(deps: ActivityDeps) {
  return {
    /**
     * sha256 and md5 (the guide compares md5), size, mode and owner of a file on a node, or
     * `exists: false`. Read-only; safe to retry.
     */
    async hashNodeFile(input: HashNodeFileInput): Promise<HashNodeFileResult> {
      const path = validateRemotePath(input?.path);
      return onNode(deps, input, async (call) => {
        const state = await readFileState(call, path, input.sudo ?? true);
        return state ? { exists: true, ...state } : { exists: false };
      });
    },

    /**
     * Installs `content` at an allowlisted `path` atomically (temp upload, optional validation of
     * the temp copy by a named validator,
     * install with mode/owner next to the target, rename). Check-then-act: when the file already
     * has this content, mode and owner it changes nothing and reports `unchanged`, so retries and
     * reruns are no-ops. The file it replaces is kept under BACKUP_ROOT, named by its hash
     * (`previous` in the result feeds restoreNodeFile).
     */
    async installNodeFile(input: InstallNodeFileInput): Promise<InstallNodeFileResult> {
      checkBeforeConnecting(deps, input);
      return onNode(deps, input, (call) => installFile(call, input));
    },

    /**
     * sha256 and md5 of a text as a node's sha256sum/md5sum would print them for a file with that
     * content (workflow code has no hash functions). Pure; safe to retry.
     */
    async digestText(input: { text: string }): Promise<{ sha256: string; md5: string }> {
      const bytes = contentBytes(input?.text);
      return {
        sha256: createHash('sha256').update(bytes).digest('hex'),
        md5: createHash('md5').update(bytes).digest('hex'),
      };
    },

    /**
     * The digests of a logrotate config the cluster's policy admits (PolicyRefused otherwise), asked
     * before a run logs in anywhere; the worker keeps the config so the run's batches get it by
     * digest. Read-only (clusters.yaml, an in-memory cache); safe to retry.
     */
    async admitLogrotateConfig(input: {
      cluster: string;
      content: string;
    }): Promise<{ sha256: string; md5: string }> {
      const bytes = contentBytes(input?.content);
      requireLogrotateConfigAllowed(input.cluster, deps.registry.get(input.cluster), input.content);
      // Batches on this worker get it by digest; another worker reads it from the run's input.
      rememberLogrotateConfig(input.content);
      return {
        sha256: createHash('sha256').update(bytes).digest('hex'),
        md5: createHash('md5').update(bytes).digest('hex'),
      };
    },

    /**
     * Checks `content` with a validator (e.g. `logrotate -d`) on a temp copy on the node, then
     * removes the copy; the target file is never touched. Safe to retry (each attempt uses its own
     * temp file and removes it).
     */
    async checkNodeFile(input: CheckNodeFileInput): Promise<CheckNodeFileResult> {
      checkBeforeConnecting(deps, input);
      return onNode(deps, input, (call) => checkFile(call, input));
    },

    /**
     * Undoes installNodeFile from its `previous`: puts the backup back (atomically, with its mode
     * and owner) or removes the file if there was none. Idempotent: when the file already equals
     * the backup (or is already gone) it reports `unchanged`; with `ifCurrentSha256` it leaves a file
     * changed by someone else alone and reports `modified-since`.
     */
    async restoreNodeFile(input: RestoreNodeFileInput): Promise<RestoreNodeFileResult> {
      allowedNodeFile(input?.path);
      return onNode(deps, input, (call) => restoreFile(call, input));
    },
  };
}
