/**
 * The shared deployment's PostgreSQL: a cluster of its own from Debian's packages, on loopback, with
 * password (SCRAM) authentication for the one role the Temporal server uses. PostgreSQL refuses to
 * run as root, so when this runs as root the cluster belongs to the `postgres` system user and its
 * data lies under /tmp (a state dir under /root is not reachable by that user).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run, SimError, sleep } from '../sim/process';

export const PG_USER = 'temporal';

export interface PostgresPlan {
  binDir: string;
  dataDir: string;
  port: number;
  /** The file holding the role's password (0600); its content never leaves this module or the server config. */
  passwordFile: string;
  log: string;
}

export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new SimError('PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does it)');
  }
  return path.join(root, versions[0]!, 'bin');
}

export function postgresDataDir(stateDir: string): string {
  const tag = createHash('sha256').update(path.resolve(stateDir)).digest('hex').slice(0, 12);
  return process.getuid?.() === 0 ? `/tmp/nksr-shared-pg-${tag}` : path.join(stateDir, 'postgres');
}

/** The user PostgreSQL runs as: `postgres` when this process is root, else this process's own. */
export function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === 'postgres');
  if (!entry)
    throw new SimError('running as root needs the postgres system user (installed with postgresql)');
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/** initdb once; a data dir that already holds a cluster is kept. */
export async function initPostgres(plan: PostgresPlan): Promise<void> {
  if (fs.existsSync(path.join(plan.dataDir, 'PG_VERSION'))) return;
  fs.rmSync(plan.dataDir, { recursive: true, force: true });
  fs.mkdirSync(plan.dataDir, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file the owner can read; a copy beside the data is removed after.
  const pwCopy = path.join(plan.dataDir, '..', `${path.basename(plan.dataDir)}.pw`);
  fs.copyFileSync(plan.passwordFile, pwCopy);
  fs.chmodSync(pwCopy, 0o600);
  const owner = postgresOwner();
  if (owner) {
    fs.chownSync(plan.dataDir, owner.uid, owner.gid);
    fs.chownSync(pwCopy, owner.uid, owner.gid);
  }
  try {
    await run(
      path.join(plan.binDir, 'initdb'),
      [
        '-D',
        plan.dataDir,
        '-U',
        PG_USER,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        `--pwfile=${pwCopy}`,
        '-E',
        'UTF8',
        '--no-instructions',
      ],
      { what: 'initdb', timeoutMs: 120_000, owner },
    );
  } finally {
    fs.rmSync(pwCopy, { force: true });
  }
}

/** The postgres server command; the socket lives in the data dir so no system path is needed. */
export function postgresCommand(plan: PostgresPlan): { binary: string; args: string[] } {
  return {
    binary: path.join(plan.binDir, 'postgres'),
    args: [
      '-D',
      plan.dataDir,
      '-c',
      `port=${plan.port}`,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${plan.dataDir}`,
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=32MB',
      '-c',
      'fsync=on',
    ],
  };
}

export async function waitForPostgres(plan: PostgresPlan, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await run(
        path.join(plan.binDir, 'pg_isready'),
        ['-h', '127.0.0.1', '-p', String(plan.port), '-U', PG_USER],
        {
          what: 'pg_isready',
          timeoutMs: 5_000,
        },
      );
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new SimError(`PostgreSQL on port ${plan.port} is not ready: ${(err as Error).message}`);
      await sleep(300);
    }
  }
}
