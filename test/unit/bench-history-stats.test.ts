/**
 * The history figures of the benchmarks (bench/history-stats.ts), read from histories the
 * integration tests recorded, and the arithmetic that projects them to 5,000 nodes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { type ExecutionStats, fitLine, historyStats, treeMaxima } from '../../bench/history-stats';
import { type ProcedureRun, project } from '../../bench/histories';

const recorded = (name: string) =>
  historyFromJSON(
    JSON.parse(readFileSync(join(__dirname, '..', 'replay', 'histories', `${name}.json`), 'utf8')),
  );

const payload = (text: string): temporal.api.common.v1.IPayload => ({
  metadata: { encoding: new TextEncoder().encode('json/plain') },
  data: new TextEncoder().encode(JSON.stringify(text)),
});

test('a recorded run: its events, bytes, activity starts and the largest payload named by its activity', () => {
  const history = recorded('logrotateSync-sim-2-drifted-synced');
  const stats = historyStats(history);
  expect(stats.workflowType).toBe('logrotateSync');
  expect(stats.events).toBe(history.events!.length);
  expect(stats.bytes).toBe(temporal.api.history.v1.History.encode(history).finish().length);
  const starts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).length;
  expect([...stats.activityIdentities.values()].reduce((a, b) => a + b, 0)).toBe(starts);
  expect(stats.children).toEqual([]);
  expect(stats.continuedAsNewRunId).toBeUndefined();
  // Every payload in the history is at most the one reported.
  const scheduled = new Set(
    history.events!.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean),
  );
  const result = history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!
    .workflowExecutionCompletedEventAttributes!.result!.payloads![0]!;
  expect(stats.largestPayload!.bytes).toBeGreaterThanOrEqual(
    temporal.api.common.v1.Payload.encode(result).finish().length,
  );
  const label = /\(([^)]+)\)$/.exec(stats.largestPayload!.where)?.[1];
  if (stats.largestPayload!.where.startsWith('activityTask')) expect(scheduled).toContain(label);
  else expect(label).toBe('logrotateSync');
});

test('a child workflow, a continue-as-new and a payload nested in its input are found', () => {
  const history = recorded('logrotateSync-sim-2-drifted-synced');
  const events = history.events!.slice(0, -1);
  const big = 'x'.repeat(100 * 1024);
  events.push(
    temporal.api.history.v1.HistoryEvent.create({
      childWorkflowExecutionStartedEventAttributes: {
        workflowExecution: { workflowId: 'child-1', runId: 'run-c1' },
        workflowType: { name: 'syncBatch' },
      },
    }),
    temporal.api.history.v1.HistoryEvent.create({
      workflowExecutionContinuedAsNewEventAttributes: {
        newExecutionRunId: 'run-2',
        workflowType: { name: 'logrotateSync' },
        input: { payloads: [payload('small'), payload(big)] },
      },
    }),
  );
  const stats = historyStats({ events });
  expect(stats.children).toEqual([{ workflowId: 'child-1', runId: 'run-c1' }]);
  expect(stats.continuedAsNewRunId).toBe('run-2');
  expect(stats.largestPayload!.bytes).toBeGreaterThan(100 * 1024);
  expect(stats.largestPayload!.where).toBe(
    'workflowExecutionContinuedAsNew input.payloads[1] (logrotateSync)',
  );
});

test('the line through two sizes, and a history kind seen at one size only taken as constant', () => {
  const fit = fitLine([
    { nodes: 40, value: 100 },
    { nodes: 200, value: 420 },
  ]);
  expect([fit.a, fit.b, fit.at(5000)]).toEqual([20, 2, 10_020]);
  expect(fitLine([{ nodes: 200, value: 300 }]).at(5000)).toBe(300);

  const x = (
    role: ExecutionStats['role'],
    workflowType: string,
    events: number,
    sites: Record<string, number>,
  ): ExecutionStats => ({
    workflowId: `${workflowType}-${events}`,
    runId: `r-${events}`,
    role,
    workflowType,
    events,
    bytes: events * 100,
    activityIdentities: new Map(),
    children: [],
    payloadsBySite: new Map(Object.entries(sites)),
  });
  const run = (nodes: number, tree: ExecutionStats[]): ProcedureRun => ({
    workflowType: 'p',
    nodes,
    ms: 1,
    outcome: 'complete',
    approvals: 0,
    input: {},
    tree,
  });
  const RESULT = 'workflowExecutionCompleted result.payloads[0] (p)';
  const PAGE = 'activityTaskCompleted result.payloads[0] (listPage)';
  // The parent grows with its children and its result with the nodes; its node page is full at
  // both sizes; each child is one batch; a child type seen at 200 only; events that fell are flat.
  const small = run(40, [
    x('root', 'p', 60, { [RESULT]: 1_000, [PAGE]: 9_000 }),
    x('child', 'batch', 300, { [RESULT]: 20_000 }),
    x('child', 'cleanup', 30, {}),
  ]);
  const large = run(200, [
    x('root', 'p', 140, { [RESULT]: 3_000, [PAGE]: 9_000 }),
    x('child', 'batch', 300, { [RESULT]: 20_000 }),
    x('child', 'batch', 290, { [RESULT]: 19_000 }),
    x('child', 'extra', 50, { [RESULT]: 500 }),
    x('child', 'cleanup', 20, {}),
  ]);
  expect(treeMaxima(large.tree).mostEvents.events).toBe(300);
  const byKind = Object.fromEntries(project(small, large).map((p) => [p.kind, p]));
  expect(byKind['root p']!.events).toMatchObject({ small: 60, large: 140, b: 0.5, projected: 2540 });
  // The result (12.5 B a node) outgrows the full page (flat) by 5,000 nodes.
  expect(byKind['root p']!.payload).toMatchObject({ where: RESULT, projected: 3_000 + 12.5 * 4800 });
  expect(byKind['child batch']!.events.projected).toBe(300);
  expect(byKind['child extra']!.events).toMatchObject({ small: 0, large: 50, b: 0, projected: 50 });
  expect(byKind['child cleanup']!.events).toMatchObject({ fell: true, b: 0, projected: 30 });
});
