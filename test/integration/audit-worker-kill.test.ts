/**
 * `nksr audit` on a run resumed after a worker kill: a logrotateSync over the shared simulator's 5 SSH
 * nodes, one node per activity, whose worker (a child process) is SIGKILLed after the first install; a
 * second worker finishes it. The audit, from the server and from the history exported by the Temporal
 * CLI (`temporal workflow show --output json`), shows the change of worker, each phase once, each
 * action completed once (an interrupted one retried on the new worker, when the kill caught one
 * in flight), and that today's workflow code replays it.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { AuditReport } from '../../src/client/audit';
import { resolveTemporalBinary } from '../../src/dev/temporal-binaries';
import {
  connectTemporal,
  requiredEnv,
  runCli,
  simAvailable,
  startWorkerProcess,
  tempDir,
  uniqueTaskQueue,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

maybe('nksr audit of a run resumed after a worker kill', () => {
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await connection?.close();
  });

  test('shows the worker change, each phase once, each action completed once, and replays', async () => {
    const taskQueue = uniqueTaskQueue('audit-kill');
    const workflowId = `nks/sim/logrotateSync/audit-${randomUUID().slice(0, 8)}`;
    const first = await startWorkerProcess(taskQueue);
    children.push(first);
    const handle = await client.workflow.start('logrotateSync', {
      taskQueue,
      workflowId,
      // One node per activity, so the kill falls between two nodes' installs.
      args: [{ cluster: 'sim', maxParallel: 1, batchSize: 1, requestedBy: 'audit-test' }],
    });
    // Kill once the first node is through: the next one is then in flight on the dying worker.
    const deadline = Date.now() + 120_000;
    while ((await nodeActivitiesDone()) < 1) {
      if (Date.now() > deadline) throw new Error('no node was done in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    first.kill('SIGKILL');
    expect(await nodeActivitiesDone()).toBeLessThan(5);
    const second = await startWorkerProcess(taskQueue);
    children.push(second);
    await handle.result();

    /** Installs (SSH to one node each) completed so far, from the run's history. */
    async function nodeActivitiesDone(): Promise<number> {
      const events = (await handle.fetchHistory()).events ?? [];
      const nodeSide = new Set(
        events
          .filter(
            (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'installLogrotateConfig',
          )
          .map((e) => String(e.eventId)),
      );
      return events.filter((e) =>
        nodeSide.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
      ).length;
    }

    const human = await runCli(['audit', workflowId]);
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/replay: +deterministic: today's workflow code replays this history/);
    expect(human.stdout).toMatch(/worker change at \S+: \S+ → \S+/);
    expect(human.stdout).toMatch(/worker changed: \S+ took over from \S+/);
    expect(human.stdout).toContain('(requested by audit-test, not signed)');

    const json = await runCli(['audit', workflowId, '--json', '--no-replay']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as AuditReport;
    expect(report.status).toBe('COMPLETED');
    expect(report.workers).toHaveLength(2);
    expect(report.workerChanges).toHaveLength(1);
    const phases = report.phases.map((p) => p.name);
    expect(phases).toEqual([...new Set(phases)]);
    expect(phases).toEqual(expect.arrayContaining(['preflight', 'completed']));
    const ids = report.actions.map((a) => a.activityId);
    expect(ids).toEqual([...new Set(ids)]);
    expect(report.actions.filter((a) => a.outcome !== 'completed')).toEqual([]);
    // Every node was acted on (a node-side activity whose target names it), each exactly once per activity type.
    const nodeActions = report.actions.filter((a) => a.target.startsWith('node='));
    const perTypeAndNode = nodeActions.map((a) => `${a.activityType} ${a.target}`);
    expect(perTypeAndNode).toEqual([...new Set(perTypeAndNode)]);
    const installed = nodeActions.filter((a) => a.activityType === 'installLogrotateConfig');
    expect(installed.length).toBeGreaterThan(1);
    console.log(
      `[audit-kill] ${report.actions.length} actions, ${report.retries} retried attempts, workers ${report.workers.map((w) => w.identity).join(' → ')}, phases ${phases.join(' → ')}`,
    );

    // The same history as the Temporal CLI exports it, audited from the file.
    const temporal = resolveTemporalBinary('temporal');
    if (temporal.path) {
      const file = join(tempDir('audit'), 'history.json');
      execFileSync(
        temporal.path,
        [
          'workflow',
          'show',
          '--workflow-id',
          workflowId,
          '--address',
          requiredEnv('TEMPORAL_ADDRESS'),
          '--namespace',
          process.env.TEMPORAL_NAMESPACE ?? 'default',
          '--output',
          'json',
        ],
        { stdio: ['ignore', openSync(file, 'w'), 'pipe'] },
      );
      const fromFile = await runCli(['audit', file, '--json']);
      expect(fromFile.stderr).toBe('');
      const r = JSON.parse(fromFile.stdout) as AuditReport;
      expect(r).toMatchObject({ workflowId, status: 'COMPLETED', replay: { deterministic: true } });
      expect(r.workerChanges).toEqual(report.workerChanges);
      expect(r.actions).toEqual(report.actions);
    }
  });
});
