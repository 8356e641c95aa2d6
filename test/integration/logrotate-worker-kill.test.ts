/**
 * Durability of logrotateSync: a sync of 20 SSH nodes (10 drifted) whose worker (a child process
 * running src/worker/main.ts) is SIGKILLed in the middle of the installs; a new worker finishes it.
 * Every drifted node's file is written exactly once (its inode, which each atomic install replaces,
 * polled from the simulator's disk), the others not at all, and the run reports all 10 synced.
 *
 * Runs its own 20-node simulator at the run's `logrotate-worker-kill` place (sim/testing.ts
 * testSimPlace).
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { LogrotateSyncResult } from '../../src/common/procedures/logrotate-sync';
import { type SimHandle } from '../../sim';
import { GUIDE_DOCKER_LOGROTATE, nodePaths } from '../../sim/nodes';
import { ensureTestSim, teardownTestSim, testSimPlace } from '../../sim/testing';
import { connectTemporal, simAvailable, startWorkerProcess, uniqueTaskQueue, useSharedSim } from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(480_000);

const { dir: DIR, ipPrefix: IP_PREFIX } = testSimPlace('logrotate-worker-kill');

maybe('logrotateSync survives a worker SIGKILL mid-install (20 nodes)', () => {
  let sim: SimHandle;
  let connection: Connection;
  let client: Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    // Half the nodes drifted: odd positions missing the file, positions 2, 6, 10, ... another version.
    const positions = Array.from({ length: 20 }, (_, i) => String(i + 1));
    sim = await ensureTestSim({
      dir: DIR,
      nodes: 20,
      ipPrefix: IP_PREFIX,
      // The docker logrotate config goes on docker nodes only.
      runtime: 'docker',
      drift: {
        logrotateMissing: positions.filter((p) => Number(p) % 4 === 1),
        logrotateDifferent: positions.filter((p) => Number(p) % 4 === 3),
      },
    });
    console.log(`[logrotate-kill] 20-node simulator up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await connection?.close();
    await teardownTestSim({ dir: DIR });
  });

  test('the run completes after the kill; each drifted node written exactly once, the others never', async () => {
    const nodes = sim.nodes.map((n) => n.name);
    const file = (node: string) => join(nodePaths(DIR, node).etcLogrotateD, 'docker');
    const ino = (node: string) => (existsSync(file(node)) ? statSync(file(node)).ino : 0);
    const drifted = nodes.filter(
      (n) => !existsSync(file(n)) || readFileSync(file(n), 'utf8') !== GUIDE_DOCKER_LOGROTATE,
    );
    expect(drifted).toHaveLength(10);

    // Every inode each node's file has had, polled from the simulator's disk while the run goes on.
    const seen = new Map(nodes.map((n) => [n, [ino(n)]]));
    const poll = setInterval(() => {
      for (const n of nodes) {
        const list = seen.get(n)!;
        const now = ino(n);
        if (list[list.length - 1] !== now) list.push(now);
      }
    }, 10);
    const synced = () => drifted.filter((n) => seen.get(n)!.length > 1).length;

    const taskQueue = uniqueTaskQueue('logrotate-kill');
    try {
      const first = await startWorkerProcess(taskQueue, { clustersFile: sim.clustersPath });
      children.push(first);
      const handle = await client.workflow.start('logrotateSync', {
        taskQueue,
        workflowId: `nks/sim/logrotateSync/kill-${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim', maxParallel: 2 }],
      });
      const deadline = Date.now() + 120_000;
      while (synced() < 3) {
        if (Date.now() > deadline) throw new Error('installs did not progress');
        await new Promise((r) => setTimeout(r, 20));
      }
      first.kill('SIGKILL');
      const atKill = synced();
      const t0 = Date.now();
      const second = await startWorkerProcess(taskQueue, { clustersFile: sim.clustersPath });
      children.push(second);
      const result = (await handle.result()) as LogrotateSyncResult;
      second.kill('SIGTERM');
      clearInterval(poll);
      for (const n of nodes) {
        const list = seen.get(n)!;
        if (list[list.length - 1] !== ino(n)) list.push(ino(n));
      }

      expect(result).toMatchObject({ outcome: 'complete', counts: { synced: 10, 'in-sync': 10, failed: 0 } });
      for (const n of nodes) {
        expect(readFileSync(file(n), 'utf8')).toBe(GUIDE_DOCKER_LOGROTATE);
        // Drifted: one write (the first inode, or none for a missing file, then the installed one).
        expect({ n, writes: seen.get(n)!.length - 1 }).toEqual({ n, writes: drifted.includes(n) ? 1 : 0 });
      }

      const events = (await handle.fetchHistory()).events ?? [];
      const identities = new Set(
        events.map((e) => e.activityTaskStartedEventAttributes?.identity).filter((i): i is string => !!i),
      );
      const retried = events.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
      console.log(
        `[logrotate-kill] synced at kill: ${atKill}/10; finished ${((Date.now() - t0) / 1000).toFixed(1)} s after the kill; ` +
          `retried activities: ${retried}; history events: ${events.length}; workers: ${[...identities].join(', ')}`,
      );
      expect(identities.size).toBe(2);
    } finally {
      clearInterval(poll);
    }
  });
});
