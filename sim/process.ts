/**
 * Processes of the simulator: started detached in their own process group (so `down` can stop a
 * component and anything it forked with one signal), logging to files, found again by PID from
 * state.json. A PID is only trusted while /proc says it still runs the binary we started, so a
 * reused PID is never signalled.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export interface StartedProcess {
  name: string;
  pid: number;
  /** Absolute path of the executable; checked against /proc/<pid>/cmdline before any signal. */
  binary: string;
  log: string;
}

export class SimError extends Error {
  override name = 'SimError';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `lines` lines of a log file, or '' if it cannot be read. */
export function tail(file: string, lines = 5): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(could not read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

// How each process this one started ended, for start-up errors that would otherwise only say "exited".
const exits = new Map<number, { code: number | null; signal: NodeJS.Signals | null }>();

/** "exit code 1", "killed by SIGKILL", or "exit status unknown" (not started by this process, or not yet reaped). */
export function describeExit(pid: number): string {
  const e = exits.get(pid);
  if (!e) return 'exit status unknown';
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

export function startDetached(opts: {
  name: string;
  binary: string;
  args: string[];
  log: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this user (PostgreSQL refuses root). */
  owner?: { uid: number; gid: number };
}): StartedProcess {
  const fd = fs.openSync(opts.log, 'a');
  try {
    const child = spawn(opts.binary, opts.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      ...(opts.owner ?? {}),
    });
    if (child.pid === undefined) throw new SimError(`could not start ${opts.name} (${opts.binary})`);
    // A spawn failure (ENOENT, EACCES) arrives as an event; the caller notices through isRunning.
    child.on('error', () => undefined);
    const pid = child.pid;
    child.on('exit', (code, signal) => exits.set(pid, { code, signal }));
    child.unref();
    return { name: opts.name, pid, binary: opts.binary, log: opts.log };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * True while the PID exists, is not a zombie, and still runs `binary`. Only a missing process counts
 * as gone: a /proc read that fails for another reason (EMFILE under load) is not taken for an exit.
 */
export function isRunning(p: Pick<StartedProcess, 'pid' | 'binary'>): boolean {
  try {
    process.kill(p.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  let stat: string;
  let cmdline: string;
  try {
    stat = fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    cmdline = fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return !(code === 'ENOENT' || code === 'ESRCH');
  }
  // Field 3 follows the parenthesised command name, which may itself contain spaces or parens.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  return cmdline.split('\0')[0] === p.binary;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * SIGTERM to each process group, then SIGKILL to what is left after `graceMs`. Returns the names
 * of processes that were still running after SIGKILL (should be none).
 */
export async function stopAll(procs: StartedProcess[], graceMs = 10_000): Promise<string[]> {
  const live = procs.filter(isRunning);
  for (const p of live) signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (live.some(isRunning) && Date.now() < deadline) await sleep(100);
  for (const p of live.filter(isRunning)) signalGroup(p.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5_000;
  while (live.some(isRunning) && Date.now() < killDeadline) await sleep(100);
  return live.filter(isRunning).map((p) => p.name);
}

/**
 * Processes (other than those listed) whose executable lies in `binDir` and whose arguments name
 * `dir`: leftovers of this simulator instance, e.g. from an `up` that was killed before it wrote
 * state.json. Other instances use other dirs and are never matched.
 */
export function findStragglers(binDir: string, dir: string): StartedProcess[] {
  const out: StartedProcess[] = [];
  const prefix = binDir.endsWith('/') ? binDir : `${binDir}/`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const bin = argv[0] ?? '';
    if (!bin.startsWith(prefix)) continue;
    if (!argv.slice(1).some((a) => namesDir(a, dir))) continue;
    out.push({ name: bin.slice(prefix.length), pid: Number(entry), binary: bin, log: '' });
  }
  return out;
}

/** `--flag=<dir>/x`, `<dir>/x` or `<dir>`, but not `/elsewhere<dir>/x`. */
function namesDir(arg: string, dir: string): boolean {
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg;
  return value === dir || value.startsWith(`${dir}/`);
}

/** Distinct free TCP ports on 127.0.0.1, held open until all are chosen so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new SimError('could not pick a free port');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** Runs a command to completion; rejects with its stderr's last lines (never its stdout). */
export function run(
  binary: string,
  args: string[],
  opts: {
    input?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    what?: string;
    owner?: { uid: number; gid: number };
  } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      args,
      {
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        ...(opts.owner ?? {}),
      },
      (err, stdout, stderr) => {
        if (err) {
          const tail = String(stderr).trim().split('\n').slice(-5).join('\n');
          reject(new SimError(`${opts.what ?? binary} failed: ${tail || err.message}`));
        } else resolve(String(stdout));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Polls `check` until it returns a value (not undefined) or the deadline passes. Other errors are
 * taken as "not yet"; a SimError is a verdict (e.g. the process exited) and ends the wait at once.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; onTimeout?: () => string },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof SimError) throw e;
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      const detail = opts.onTimeout?.() ?? lastError;
      throw new SimError(
        `timed out after ${Math.round(opts.timeoutMs / 1000)}s waiting for ${what}${detail ? `: ${detail}` : ''}`,
      );
    }
    await sleep(opts.intervalMs ?? 250);
  }
}
