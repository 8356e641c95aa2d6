import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  installBinDir,
  resolveTemporalBinary,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_TEST_SERVER_VERSION,
} from '../../src/dev/temporal-binaries';

const root = mkdtempSync(join(tmpdir(), 'nksr-bins-'));

function fakeExecutable(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

describe('Temporal binary resolver', () => {
  const cache = join(root, 'cache');
  const installed = fakeExecutable(installBinDir({ NKSR_CACHE_DIR: cache }), 'temporal');
  const onPath = fakeExecutable(join(root, 'path-bin'), 'temporal');
  const explicit = fakeExecutable(join(root, 'explicit'), 'temporal');

  test('order: env var, then PATH, then the install dir, then the SDK download', () => {
    const base = { NKSR_CACHE_DIR: cache, PATH: join(root, 'path-bin') };
    expect(resolveTemporalBinary('temporal', { ...base, TEMPORAL_CLI_PATH: explicit })).toMatchObject({
      source: 'env',
      executable: { type: 'existing-path', path: explicit },
    });
    expect(resolveTemporalBinary('temporal', base)).toMatchObject({ source: 'path', path: onPath });
    expect(resolveTemporalBinary('temporal', { ...base, PATH: '/nonexistent' })).toMatchObject({
      source: 'install-dir',
      path: installed,
    });
    expect(
      resolveTemporalBinary('temporal-test-server', {
        NKSR_CACHE_DIR: join(root, 'empty'),
        PATH: '/nonexistent',
      }),
    ).toMatchObject({ source: 'download', executable: { type: 'cached-download' } });
  });

  test('an explicit path that is not executable is an error, not silently skipped', () => {
    expect(() => resolveTemporalBinary('temporal', { TEMPORAL_CLI_PATH: join(root, 'missing') })).toThrow(
      /TEMPORAL_CLI_PATH=.*missing is not an executable/,
    );
  });

  test('versions match scripts/install-temporal.sh', () => {
    const script = readFileSync(join(__dirname, '../../scripts/install-temporal.sh'), 'utf8');
    expect(script).toContain(`TEMPORAL_CLI_VERSION:-${TEMPORAL_CLI_VERSION}`);
    expect(script).toContain(`TEMPORAL_TEST_SERVER_VERSION:-${TEMPORAL_TEST_SERVER_VERSION}`);
  });
});
