/**
 * logrotateSync on a mixed cluster and at scale, on its own 22-node simulator (the run's
 * `logrotate-scale` place, sim/testing.ts testSimPlace): nodes 1–20 run docker, 21–22 containerd.
 *
 * 1. The docker config goes on docker nodes only: containerd nodes (Kubernetes ≥ 1.24: kubelet
 *    rotates container logs itself) are reported not applicable with kubelet's values, their files
 *    stay as they were and logrotate is never run there; clusterDiagnosis agrees.
 * 2. History stays bounded: runs over 8 and 20 drifted nodes in batches of 2 give the events each
 *    batch adds and the bytes each node adds to the largest payload; with the default batch size a
 *    5,000-node run stays under 10,240 events and every payload under 64 KB, and the config's text is
 *    in history once (the admit activity's input), not in every install.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { ClusterDiagnosisResult } from '../../src/common/procedures/cluster-diagnosis';
import {
  LOGROTATE_SYNC_DEFAULTS,
  type LogrotateSyncInput,
  type LogrotateSyncResult,
} from '../../src/common/procedures/logrotate-sync';
import { MAX_LISTED_NODES } from '../../src/workflows/logrotate-sync/run';
import { type SimHandle } from '../../sim';
import { GUIDE_DOCKER_LOGROTATE, nodePaths, OTHER_DOCKER_LOGROTATE } from '../../sim/nodes';
import { ensureTestSim, teardownTestSim, testSimPlace } from '../../sim/testing';
import { connectTemporal, type RunningWorker, simAvailable, startWorker, useSharedSim } from './helpers';
import { loadClusterRegistry } from '../../src/worker/registry';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(600_000);

const { dir: DIR, ipPrefix: IP_PREFIX } = testSimPlace('logrotate-scale');
const DOCKER_NODES = 20;
const CONTAINERD_NODES = 2;
const EVENT_LIMIT = 10_240;
const PAYLOAD_LIMIT = 64 * 1024;

/** Every payload's data in an event, wherever it sits (inputs, results, failures, details). */
function payloadSizes(value: unknown, out: number[] = []): number[] {
  if (!value || typeof value !== 'object') return out;
  const v = value as Record<string, unknown>;
  if (v.data instanceof Uint8Array && 'metadata' in v) out.push(v.data.length);
  else for (const child of Object.values(v)) payloadSizes(child, out);
  return out;
}

function eventText(e: temporal.api.history.v1.IHistoryEvent): string {
  const texts: string[] = [];
  const walk = (value: unknown) => {
    if (!value || typeof value !== 'object') return;
    const v = value as Record<string, unknown>;
    if (v.data instanceof Uint8Array && 'metadata' in v) texts.push(Buffer.from(v.data).toString('utf8'));
    else Object.values(v).forEach(walk);
  };
  walk(e);
  return texts.join('\n');
}

maybe('logrotateSync on docker and containerd nodes, in batches', () => {
  let sim: SimHandle;
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;
  let docker: string[];
  let containerd: string[];
  const file = (node: string) => join(nodePaths(DIR, node).etcLogrotateD, 'docker');
  const content = (node: string) => (existsSync(file(node)) ? readFileSync(file(node), 'utf8') : null);
  const logrotateCalls = (node: string) => {
    const log = nodePaths(DIR, node).callsLog;
    return existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => / logrotate /.test(l))
      : [];
  };
  /** The guide's config everywhere except `missing` (no file) and `other` (another version). */
  function setFiles(missing: string[], other: string[] = []): void {
    for (const n of [...docker, ...containerd]) {
      rmSync(file(n), { force: true });
      if (other.includes(n)) writeFileSync(file(n), OTHER_DOCKER_LOGROTATE, { mode: 0o644 });
      else if (!missing.includes(n)) writeFileSync(file(n), GUIDE_DOCKER_LOGROTATE, { mode: 0o644 });
    }
  }

  async function sync(input: Omit<LogrotateSyncInput, 'cluster'>) {
    const handle = await client.workflow.start('logrotateSync', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/logrotateSync/scale-${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim', ...input }],
    });
    const result = (await handle.result()) as LogrotateSyncResult;
    const events = (await handle.fetchHistory()).events ?? [];
    return { result, events };
  }

  beforeAll(async () => {
    const t0 = Date.now();
    const nodeRuntimes = Object.fromEntries(
      Array.from({ length: CONTAINERD_NODES }, (_, i) => [DOCKER_NODES + i, 'containerd' as const]),
    );
    sim = await ensureTestSim({
      dir: DIR,
      nodes: DOCKER_NODES + CONTAINERD_NODES,
      ipPrefix: IP_PREFIX,
      runtime: 'docker',
      nodeRuntimes,
    });
    console.log(`[logrotate-scale] simulator up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const names = sim.nodes.map((n) => n.name);
    docker = names.slice(0, DOCKER_NODES);
    containerd = names.slice(DOCKER_NODES);
    ({ connection, client } = await connectTemporal());
    worker = await startWorker({ registry: loadClusterRegistry(sim.clustersPath) });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await teardownTestSim({ dir: DIR });
  });

  test('a mixed cluster: installed on the drifted docker nodes only; containerd nodes not applicable', async () => {
    setFiles([docker[1]!, containerd[0]!], [docker[3]!, containerd[1]!]);
    const callsBefore = containerd.map((n) => logrotateCalls(n).length);
    const { result } = await sync({});

    expect(result.outcome).toBe('complete');
    expect(result.counts).toMatchObject({
      synced: 2,
      'in-sync': DOCKER_NODES - 2,
      'not-applicable': CONTAINERD_NODES,
      failed: 0,
    });
    for (const n of docker)
      expect({ n, content: content(n) }).toEqual({ n, content: GUIDE_DOCKER_LOGROTATE });
    // Left exactly as they were: no install, no logrotate run (not even the check) on them.
    expect(content(containerd[0]!)).toBeNull();
    expect(content(containerd[1]!)).toBe(OTHER_DOCKER_LOGROTATE);
    expect(containerd.map((n) => logrotateCalls(n).length)).toEqual(callsBefore);
    const entries = result.nodes.filter((e) => containerd.includes(e.node));
    expect(entries.map((e) => e.outcome)).toEqual(['not-applicable', 'not-applicable']);
    for (const e of entries)
      expect(e.reason).toMatch(
        /^not applicable: kubelet rotates container logs \(containerLogMaxSize 10Mi, containerLogMaxFiles 5; kubelet's defaults/,
      );
    expect(result.summary).toMatch(/2 not applicable \(containerd: kubelet rotates container logs\)/);

    // The diagnosis agrees: drift only where logrotateSync would install.
    setFiles([docker[1]!, containerd[0]!], [containerd[1]!]);
    const diag = (await client.workflow.execute('clusterDiagnosis', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/clusterDiagnosis/scale-${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim' }],
    })) as ClusterDiagnosisResult;
    const report = diag.detectors.find((d) => d.detector === 'logrotate')!;
    expect(report.status).toBe('checked');
    expect(report.detail).toMatch(/2 containerd node\(s\) not applicable \(kubelet rotates container logs/);
    const finding = diag.findings.find((f) => f.detector === 'logrotate')!;
    expect(finding.nodes).toEqual([docker[1]]);
    expect(finding.fix).toEqual({ procedure: 'logrotateSync', input: { nodes: [docker[1]] } });
  });

  test('history: bounded events and payloads for 5,000 nodes; the config travels once', async () => {
    const measure = async (count: number, batchSize?: number) => {
      const nodes = docker.slice(0, count);
      setFiles(nodes);
      const run = await sync({ nodes, ...(batchSize ? { batchSize } : {}) });
      expect(run.result).toMatchObject({ outcome: 'complete', counts: { synced: count } });
      for (const n of nodes) expect(content(n)).toBe(GUIDE_DOCKER_LOGROTATE);
      const typeOf = new Map(
        run.events.map((e) => [
          e.eventId?.toString(),
          e.activityTaskScheduledEventAttributes?.activityType?.name ?? undefined,
        ]),
      );
      const activity = (e: temporal.api.history.v1.IHistoryEvent) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name ??
        typeOf.get(e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString());
      const batchPayload = Math.max(
        0,
        ...run.events
          .filter((e) => ['inspectLogrotateNodes', 'installLogrotateConfig'].includes(activity(e) ?? ''))
          .flatMap((e) => payloadSizes(e)),
      );
      const completed = run.events.find((e) => e.workflowExecutionCompletedEventAttributes);
      return {
        events: run.events.length,
        largest: Math.max(0, ...run.events.flatMap((e) => payloadSizes(e))),
        batchPayload,
        resultBytes: Math.max(0, ...payloadSizes(completed)),
        withContent: run.events.filter((e) => eventText(e).includes('copytruncate')).length,
        entry: Math.max(...run.result.nodes.map((n) => JSON.stringify(n).length)),
        listed: run.result.nodes.length,
      };
    };

    // Default batch size: every node's hash and install in one activity each; the text once.
    const whole = await measure(8);
    expect(whole.withContent).toBe(1);

    const small = await measure(8, 2);
    const large = await measure(DOCKER_NODES, 2);
    const batches = (nodes: number, size: number) => 2 * Math.ceil(nodes / size); // hash + install
    const perBatch = (large.events - small.events) / (batches(DOCKER_NODES, 2) - batches(8, 2));
    const at5000 =
      small.events + perBatch * (batches(5000, LOGROTATE_SYNC_DEFAULTS.batchSize) - batches(8, 2));
    // A batch's payloads grow with its nodes: the largest per node, times the default batch size.
    const perNode = large.batchPayload / 2;
    const batchAt5000 = perNode * LOGROTATE_SYNC_DEFAULTS.batchSize;
    // The result lists at most MAX_LISTED_NODES nodes, whatever the cluster's size (room for a
    // failure's reason in each).
    const resultAt5000 = large.resultBytes + (MAX_LISTED_NODES - large.listed) * (large.entry + 300);
    console.log(
      `[logrotate-scale] events: 8 nodes in 2 batches ${whole.events}, 8 in 8 ${small.events}, 20 in 20 ${large.events} ` +
        `(${perBatch.toFixed(1)} per batch; 5,000 nodes ≈ ${Math.round(at5000)}); largest payload ${large.largest} B, ` +
        `batch payload ${perNode.toFixed(0)} B per node (≈ ${Math.round(batchAt5000)} B per batch of ${LOGROTATE_SYNC_DEFAULTS.batchSize}), ` +
        `result at 5,000 ≈ ${Math.round(resultAt5000)} B`,
    );
    expect(small.withContent).toBe(1);
    expect(large.withContent).toBe(1);
    // Events come with batches, not nodes: the same 8 nodes in 2 batches cost fewer than in 8.
    expect(whole.events).toBeLessThan(small.events);
    expect(at5000).toBeLessThan(EVENT_LIMIT);
    expect(batchAt5000).toBeLessThan(PAYLOAD_LIMIT);
    expect(resultAt5000).toBeLessThan(PAYLOAD_LIMIT);
    expect(large.largest).toBeLessThan(PAYLOAD_LIMIT);
  });
});
