/**
 * `nksr audit` on recorded histories, no server needed: the replay check says whether today's
 * workflow code still replays a history (and says no for a deliberately incompatible change), and
 * the analysis of a run resumed after a worker kill shows the worker change, each phase once and
 * each action completed once.
 */
import { join } from 'node:path';
import { auditHistoryFile } from '../../src/client/audit';
import { renderAudit } from '../../src/client/cli/audit';

jest.setTimeout(180_000);

const histories = join(__dirname, '..', 'replay', 'histories');

test('the replay check passes with today’s code and fails on an incompatible change', async () => {
  const file = join(histories, 'nodeInventory-sim-5-nodes.json');
  const today = await auditHistoryFile(file);
  expect(today.replay).toMatchObject({ deterministic: true });

  const changed = await auditHistoryFile(file, {
    workflowsPath: require.resolve('./workflows/incompatible-node-inventory'),
  });
  expect(changed.replay?.deterministic).toBe(false);
  expect(changed.replay?.error).toMatch(/DeterminismViolation|[Nn]ondetermin/);
  expect(renderAudit(changed)).toContain('replay:    NOT deterministic');
});

test('a run resumed after a worker kill: the worker change, each phase once, each action completed once', async () => {
  const report = await auditHistoryFile(join(histories, 'calicoImageRepair-sim-worker-killed.json'), {
    replay: false,
  });
  expect(report.status).toBe('COMPLETED');
  expect(report.workers).toHaveLength(2);
  expect(report.workerChanges).toHaveLength(1);
  expect(report.workerChanges[0]).toMatchObject({
    from: report.workers[0]!.identity,
    to: report.workers[1]!.identity,
  });
  const names = report.phases.map((p) => p.name);
  expect(names).toEqual([...new Set(names)]);
  expect(names).toEqual(expect.arrayContaining(['preflight', 'pre-pull', 'completed']));
  // The kill interrupted pre-pulls: they were retried (attempt 2) and each still completed once.
  expect(report.retries).toBeGreaterThan(0);
  const ids = report.actions.map((a) => a.activityId);
  expect(ids).toEqual([...new Set(ids)]);
  expect(report.actions.every((a) => a.outcome === 'completed')).toBe(true);
  const retried = report.actions.filter((a) => a.attempts > 1);
  expect(retried.length).toBeGreaterThan(0);
  for (const a of retried) expect(a.retriedAfter.join()).toMatch(/timeout/i);

  const text = renderAudit(report);
  expect(text).toContain(`worker change at ${report.workerChanges[0]!.time}`);
  expect(text).toMatch(/worker changed: \S+ took over from \S+/);
  expect(text).toContain('phases:    started → preflight → pre-pull');
});
