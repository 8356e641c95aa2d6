/** The human report of logrotateSync: summary first, failures first, logrotate's words when it refused. */
import { formatResult } from '../../src/client/cli/format';
import type { LogrotateSyncResult } from '../../src/common/procedures/logrotate-sync';

const base = {
  cluster: 'prod',
  path: '/etc/logrotate.d/docker',
  sha256: 'a'.repeat(64),
  md5: 'b'.repeat(32),
  omitted: 0,
};
const zero = {
  'in-sync': 0,
  synced: 0,
  'would-sync': 0,
  failed: 0,
  'not-started': 0,
  skipped: 0,
  'not-applicable': 0,
};

test('partial: the unreachable node heads the table; backups are named; next says rerun', () => {
  const r: LogrotateSyncResult = {
    ...base,
    dryRun: false,
    outcome: 'partial',
    counts: { ...zero, synced: 1, failed: 1, 'in-sync': 1 },
    nodes: [
      { node: 'w-2', outcome: 'failed', reason: 'hash: SshConnectionFailed: connect ECONNREFUSED' },
      {
        node: 'w-1',
        outcome: 'synced',
        before: { exists: true, sha256: 'c'.repeat(64), md5: 'd'.repeat(32) },
        sha256: 'a'.repeat(64),
        backupPath: `/var/lib/nks-remediation/backups/etc/logrotate.d/docker.${'c'.repeat(64)}`,
      },
      {
        node: 'w-3',
        outcome: 'in-sync',
        before: { exists: true, sha256: 'a'.repeat(64), md5: 'b'.repeat(32) },
      },
    ],
    summary: '/etc/logrotate.d/docker on 3 nodes: 1 synced, 1 already in sync, 1 failed',
  };
  const text = formatResult('logrotateSync', r);
  const lines = text.split('\n');
  expect(lines[0]).toBe('partial: /etc/logrotate.d/docker on 3 nodes: 1 synced, 1 already in sync, 1 failed');
  const header = lines.findIndex((l) => l.startsWith('NODE'));
  expect(lines[header + 1]).toMatch(/^w-2\s+failed\s+-\s+hash: SshConnectionFailed/);
  expect(lines[header + 2]).toMatch(/^w-1\s+synced\s+d{32}\s+\/var\/lib\/nks-remediation\/backups\//);
  expect(text).toMatch(/rerun/);
  expect(text).not.toContain('{');
});

test('refused: logrotate’s output is shown, nothing else to do but fix the config', () => {
  const r: LogrotateSyncResult = {
    ...base,
    dryRun: false,
    outcome: 'refused',
    check: {
      node: 'w-1',
      accepted: false,
      output:
        "reading config file /tmp/nksr-upload.x\nerror: /tmp/nksr-upload.x:2 bad rotation count 'ten'\n",
    },
    counts: { ...zero, 'not-started': 1 },
    nodes: [{ node: 'w-1', outcome: 'not-started', reason: 'config rejected by logrotate' }],
    summary:
      "logrotate rejected the config on w-1, no node changed: error: /tmp/nksr-upload.x:2 bad rotation count 'ten'",
  };
  const text = formatResult('logrotateSync', r);
  expect(text.split('\n')[0]).toMatch(/^refused: logrotate rejected the config on w-1, no node changed/);
  expect(text).toContain('logrotate -d on w-1');
  expect(text).toContain("bad rotation count 'ten'");
  expect(text).toContain('fix it');
  expect(text).not.toContain('check sshd');
});
