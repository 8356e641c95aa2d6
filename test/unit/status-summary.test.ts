/**
 * `nksr status` of a large run: counts first, then the failures, then what is running, each bounded,
 * instead of one line per item; `--all` lists every item.
 */
import { countItems, formatProgress, MAX_STATUS_ITEMS } from '../../src/client/cli/format';
import type { Progress, ProgressItem } from '../../src/workflows/definitions';

function fleet(): Progress {
  const items: ProgressItem[] = [];
  for (let i = 0; i < 1000; i++) {
    const outcome = i < 900 ? 'succeeded' : i < 930 ? 'failed' : i < 940 ? 'running' : 'pending';
    items.push({
      key: `node/n-${i}`,
      kind: 'node',
      outcome,
      detail: outcome === 'failed' ? 'ssh: timed out' : undefined,
    });
  }
  items.push({ key: 'daemonset/calico-node', kind: 'resource', outcome: 'unchanged' });
  const events = Array.from({ length: 200 }, (_, i) => `2026-01-01T00:00:00Z event ${i}`);
  return {
    workflowType: 'logrotateSync',
    cluster: 'c',
    phase: 'sync',
    dryRun: false,
    awaitingApproval: false,
    items,
    events,
  };
}

test('counts, then bounded failures and running items, then the latest events', () => {
  const text = formatProgress(fleet());
  const lines = text.split('\n');
  expect(lines.length).toBeLessThan(100);
  expect(lines[0]).toBe('phase: sync');
  expect(lines[1]).toBe('items: 1001 (901 done, 30 failed, 10 running, 60 pending)');
  expect(text).toContain('  node: 900 succeeded, 30 failed, 10 running, 60 pending');
  expect(text).toContain('  resource: 1 unchanged');
  const failed = text.indexOf('failed (30):');
  const running = text.indexOf('running (10):');
  expect(failed).toBeGreaterThan(0);
  expect(running).toBeGreaterThan(failed);
  expect(text).toContain(`… and ${30 - MAX_STATUS_ITEMS} more (nksr status --all)`);
  expect(text).toContain('node/n-900  node  failed   ssh: timed out');
  expect(text).not.toContain('node/n-0 '); // successes are counted, not listed
  expect(text).toContain('event 199');
  expect(text).not.toContain('event 184');
});

test('--all lists every item', () => {
  const text = formatProgress(fleet(), { all: true });
  expect(text).toContain('node/n-0 ');
  expect(text).toContain('items (1001):');
});

test('the bar counts: done includes unchanged and skipped; finished is done + failed', () => {
  expect(countItems(fleet().items)).toEqual({
    total: 1001,
    done: 901,
    failed: 30,
    running: 10,
    pending: 60,
    finished: 931,
  });
});
