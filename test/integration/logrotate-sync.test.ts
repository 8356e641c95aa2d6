/**
 * logrotateSync on the real stack: Temporal dev server, the shared simulator's Kubernetes API and its
 * real OpenSSH nodes, started as an operator would (`nksr run`, `nksr schedule`). What a user checks
 * is read from the simulator's disk: each node's /etc/logrotate.d/docker (inode, mtime, content), its
 * backups, the stand-ins' calls.log (every `logrotate` call) and sshd's log (every SSH login).
 *
 * The shared simulator starts with the default drift: node 2 (sim-default-worker-node-1) has no
 * /etc/logrotate.d/docker, node 4 (sim-default-worker-node-3) has another version. Every test starts
 * from that state (resetDrift) and the file's afterAll puts it back.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { LogrotateSyncResult } from '../../src/common/procedures/logrotate-sync';
import { resolveTemporalBinary } from '../../src/dev/temporal-binaries';
import { GUIDE_DOCKER_LOGROTATE, nodePaths, OTHER_DOCKER_LOGROTATE, setNodeFault } from '../../sim/nodes';
import { loadSim } from '../../sim';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import {
  connectTemporal,
  recordHistory,
  requiredEnv,
  runCli,
  type RunningWorker,
  runProcedure,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(240_000);

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const TARGET = 'docker';
/** A config logrotate rejects (`rotate` wants a number). */
const BROKEN = '/var/lib/docker/containers/*/*.log {\n    rotate ten\n    daily\n}\n';
/** The guide's config with a postrotate script: it would run as root at the next rotation. */
const SCRIPTED = GUIDE_DOCKER_LOGROTATE.replace(
  /}\n$/,
  '    postrotate\n        id > /tmp/owned\n    endscript\n}\n',
);

interface FileSnap {
  ino: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  sha256: string;
}

maybe('logrotateSync against the simulator', () => {
  let worker: RunningWorker;
  let nodes: string[] = [];
  let missing: string;
  let different: string;
  let inSync: string[];
  let connection: Connection;
  let client: Client;
  const simDir = () => path.resolve(requiredEnv('NKSR_SIM_DIR'));
  const filePath = (node: string) => path.join(nodePaths(simDir(), node).etcLogrotateD, TARGET);
  const backupDir = (node: string) =>
    path.join(nodePaths(simDir(), node).root, 'var-lib-nks-remediation', 'backups', 'etc', 'logrotate.d');

  function snap(node: string): FileSnap | null {
    const f = filePath(node);
    if (!existsSync(f)) return null;
    const st = statSync(f);
    return {
      ino: st.ino,
      mtimeMs: st.mtimeMs,
      mode: st.mode & 0o7777,
      uid: st.uid,
      sha256: sha256(readFileSync(f)),
    };
  }
  const snapAll = () => Object.fromEntries(nodes.map((n) => [n, snap(n)]));

  /** `logrotate` calls per node (the stand-in logs each), and SSH logins per node (sshd's log). */
  function logrotateCalls(node: string): string[] {
    const log = nodePaths(simDir(), node).callsLog;
    if (!existsSync(log)) return [];
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => / logrotate /.test(l));
  }
  function sshLogins(node: string): number {
    const log = nodePaths(simDir(), node).sshdLog;
    return existsSync(log) ? (readFileSync(log, 'utf8').match(/Accepted publickey/g) ?? []).length : 0;
  }
  const counters = () =>
    Object.fromEntries(nodes.map((n) => [n, { logrotate: logrotateCalls(n).length, logins: sshLogins(n) }]));

  function backups(node: string): string[] {
    const d = backupDir(node);
    return existsSync(d)
      ? readdirSync(d).filter((f) => new RegExp(`^${TARGET}\\.[0-9a-f]{64}$`).test(f))
      : [];
  }

  /** The simulator's default drift, rewritten on disk; backups of earlier tests removed. */
  function resetDrift(): void {
    for (const node of nodes) {
      const f = filePath(node);
      rmSync(f, { force: true });
      if (node === different) writeFileSync(f, OTHER_DOCKER_LOGROTATE, { mode: 0o644 });
      else if (node !== missing) writeFileSync(f, GUIDE_DOCKER_LOGROTATE, { mode: 0o644 });
      rmSync(path.join(nodePaths(simDir(), node).root, 'var-lib-nks-remediation', 'backups'), {
        recursive: true,
        force: true,
      });
    }
  }

  async function run(...flags: string[]) {
    const r = await runProcedure('logrotate-sync', 'sim', worker.taskQueue, '--wait', '--json', ...flags);
    let result: LogrotateSyncResult | undefined;
    try {
      result = JSON.parse(r.stdout) as LogrotateSyncResult;
    } catch {
      // not JSON: asserted by the caller
    }
    return { ...r, result };
  }

  beforeAll(async () => {
    const sim = loadSim(simDir());
    nodes = sim.nodes.map((n) => n.name).sort();
    expect(nodes.length).toBe(5);
    missing = nodes[1]!;
    different = nodes[3]!;
    inSync = nodes.filter((n) => n !== missing && n !== different);
    // The shared simulator's drift, as global setup started it (an earlier test file may have
    // synced it, e.g. diagnosis --fix: put it back first).
    resetDrift();
    expect(snap(missing)).toBeNull();
    expect(readFileSync(filePath(different), 'utf8')).toBe(OTHER_DOCKER_LOGROTATE);
    for (const n of inSync) expect(readFileSync(filePath(n), 'utf8')).toBe(GUIDE_DOCKER_LOGROTATE);
    // The worker's policy admits the guide's config and the one logrotate rejects (so that logrotate's
    // own check is what refuses it below); nothing else.
    const simEntry = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')).get('sim');
    worker = await startWorker({
      registry: registryFromEntries({
        sim: {
          ...simEntry,
          policy: {
            logrotateSync: {
              configs: [
                { sha256: sha256(GUIDE_DOCKER_LOGROTATE), allowScripts: false },
                { sha256: sha256(BROKEN), allowScripts: false },
                { sha256: sha256(SCRIPTED), allowScripts: false },
              ],
            },
          },
        },
      }),
    });
    ({ connection, client } = await connectTemporal());
  });
  afterAll(async () => {
    for (const n of nodes)
      await setNodeFault({ dir: simDir(), node: n, fault: 'none' }).catch(() => undefined);
    if (nodes.length) resetDrift();
    await worker?.stop();
    await connection?.close();
  });

  it('dry run: returns the plan (the two drifted nodes) and changes nothing', async () => {
    resetDrift();
    const before = snapAll();
    const r = await run('--dry-run');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = r.result!;
    expect(res).toMatchObject({ outcome: 'complete', dryRun: true, sha256: sha256(GUIDE_DOCKER_LOGROTATE) });
    expect(res.counts).toMatchObject({ 'would-sync': 2, 'in-sync': 3, synced: 0, failed: 0 });
    const byNode = Object.fromEntries(res.nodes.map((n) => [n.node, n]));
    expect(byNode[missing]).toMatchObject({ outcome: 'would-sync', before: { exists: false } });
    expect(byNode[different]).toMatchObject({
      outcome: 'would-sync',
      before: { exists: true, sha256: sha256(OTHER_DOCKER_LOGROTATE) },
    });
    // The plan includes logrotate's verdict, checked on a temp copy.
    expect(res.check).toMatchObject({ node: missing, accepted: true });
    expect(snapAll()).toEqual(before);
    for (const n of nodes) expect(backups(n)).toEqual([]);
  });

  it('changes exactly the drifted nodes, with backups and verified hashes; a rerun changes nothing', async () => {
    resetDrift();
    const before = snapAll();
    const calls0 = counters();
    const r = await run();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = r.result!;
    expect(res.outcome).toBe('complete');
    expect(res.counts).toMatchObject({ synced: 2, 'in-sync': 3, failed: 0, 'not-started': 0, skipped: 0 });
    await recordHistory(client, 'nks/sim/logrotateSync', 'logrotateSync-sim-2-drifted-synced');
    const calls1 = counters();

    // Drifted nodes: the guide's config, 0644 root, the old file kept as a backup.
    for (const n of [missing, different]) {
      const s = snap(n)!;
      expect(s).toMatchObject({ sha256: sha256(GUIDE_DOCKER_LOGROTATE), mode: 0o644, uid: 0 });
      // logrotate -d ran on this node (the first differing node: once for the check, once in the install).
      expect(calls1[n]!.logrotate - calls0[n]!.logrotate).toBe(n === missing ? 2 : 1);
    }
    expect(backups(missing)).toEqual([]); // nothing to keep
    expect(backups(different)).toEqual([`${TARGET}.${sha256(OTHER_DOCKER_LOGROTATE)}`]);
    expect(readFileSync(path.join(backupDir(different), backups(different)[0]!), 'utf8')).toBe(
      OTHER_DOCKER_LOGROTATE,
    );
    const byNode = Object.fromEntries(res.nodes.map((n) => [n.node, n]));
    expect(byNode[different]).toMatchObject({
      outcome: 'synced',
      sha256: sha256(GUIDE_DOCKER_LOGROTATE),
      backupPath: `/var/lib/nks-remediation/backups/etc/logrotate.d/${TARGET}.${sha256(OTHER_DOCKER_LOGROTATE)}`,
    });
    expect(byNode[missing]).toMatchObject({ outcome: 'synced', before: { exists: false } });
    expect(byNode[missing]!.backupPath).toBeUndefined();

    // The others: same inode, same mtime, same content; no logrotate call, no backup.
    for (const n of inSync) {
      expect(snap(n)).toEqual(before[n]);
      expect(calls1[n]!.logrotate).toBe(calls0[n]!.logrotate);
      expect(calls1[n]!.logins).toBeGreaterThan(calls0[n]!.logins); // it was read, over SSH
      expect(backups(n)).toEqual([]);
    }

    // Rerun: every node in sync, nothing written anywhere.
    const synced = snapAll();
    const again = await run();
    expect(again.code).toBe(0);
    expect(again.result!.counts).toMatchObject({ synced: 0, 'in-sync': 5, failed: 0 });
    expect(again.result!.check).toBeUndefined();
    expect(snapAll()).toEqual(synced);
    const calls2 = counters();
    for (const n of nodes) expect(calls2[n]!.logrotate).toBe(calls1[n]!.logrotate);

    // The human report: summary line first, a table, no JSON.
    const human = await runProcedure('logrotate-sync', 'sim', worker.taskQueue, '--wait');
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n')[0]).toBe(
      'complete: /etc/logrotate.d/docker on 5 nodes: 0 synced, 5 already in sync',
    );
    expect(human.stdout).toMatch(/NODE\s+OUTCOME\s+BEFORE \(md5\)/);
    expect(human.stdout).not.toContain('{');
  });

  it('a config logrotate rejects is refused after one check on the first node; no node changes', async () => {
    resetDrift();
    const before = snapAll();
    const calls0 = counters();
    const broken = BROKEN;
    const r = await run('--input-json', JSON.stringify({ content: broken }));
    expect(r.code).not.toBe(0);
    expect(r.result).toMatchObject({ status: 'failed', failure: { type: 'RemediationFailed' } });
    const report = (r.result as unknown as { failure: { report: LogrotateSyncResult } }).failure.report;
    expect(report.outcome).toBe('refused');
    // Every node differs from a new config: the first one checks it, and its verdict stops the run.
    expect(report.check).toMatchObject({ node: nodes[0], accepted: false });
    expect(report.check!.output).toMatch(/rotate/);
    expect(report.summary).toMatch(/logrotate rejected the config on .*no node changed/);
    expect(report.counts).toMatchObject({ synced: 0, 'not-started': 5 });
    expect(snapAll()).toEqual(before);
    const calls1 = counters();
    // One check, on one node; nothing else ran logrotate.
    expect(nodes.map((n) => calls1[n]!.logrotate - calls0[n]!.logrotate)).toEqual(
      nodes.map((n) => (n === nodes[0] ? 1 : 0)),
    );
    for (const n of nodes) expect(backups(n)).toEqual([]);

    // The human form names the failure and prints the report.
    const human = await runProcedure(
      'logrotate-sync',
      'sim',
      worker.taskQueue,
      '--wait',
      '--input-json',
      JSON.stringify({ content: broken }),
    );
    expect(human.code).toBe(1);
    expect(human.stdout.split('\n')[0]).toMatch(/^refused: logrotate rejected the config on /);
    expect(human.stderr).toMatch(/RemediationFailed: logrotate rejected the config/);
  });

  it("configs the worker's policy does not admit are refused before any SSH login; no node changes", async () => {
    resetDrift();
    const before = snapAll();
    const calls0 = counters();
    const cases: [string, string, RegExp][] = [
      ['not listed', `${GUIDE_DOCKER_LOGROTATE}# edited\n`, /policy\.logrotateSync\.configs/],
      [
        'listed, with a postrotate script it does not allow',
        SCRIPTED,
        /postrotate directive.*allowScripts: true/,
      ],
    ];
    for (const [what, content, message] of cases) {
      const r = await run('--input-json', JSON.stringify({ content }));
      expect({ what, code: r.code }).toEqual({ what, code: 1 });
      expect({ what, out: `${r.stdout}${r.stderr}` }).toEqual({
        what,
        out: expect.stringMatching(/PolicyRefused/),
      });
      expect({ what, out: `${r.stdout}${r.stderr}` }).toEqual({ what, out: expect.stringMatching(message) });
    }
    expect(snapAll()).toEqual(before);
    expect(counters()).toEqual(calls0);
    for (const n of nodes) expect(backups(n)).toEqual([]);
  });

  it('a node with sshd stopped is reported; the other drifted node is still synced', async () => {
    resetDrift();
    await setNodeFault({ dir: simDir(), node: different, fault: 'sshd-stopped' });
    try {
      const before = snapAll();
      const r = await run();
      expect(r.code).toBe(0);
      const res = r.result!;
      expect(res.outcome).toBe('partial');
      expect(res.counts).toMatchObject({ synced: 1, 'in-sync': 3, failed: 1 });
      expect(res.nodes[0]).toMatchObject({ node: different, outcome: 'failed' });
      expect(res.nodes[0]!.reason).toMatch(/^hash: SshConnectionFailed: /);
      expect(snap(missing)!.sha256).toBe(sha256(GUIDE_DOCKER_LOGROTATE));
      expect(snap(different)).toEqual(before[different]);
      for (const n of inSync) expect(snap(n)).toEqual(before[n]);
    } finally {
      await setNodeFault({ dir: simDir(), node: different, fault: 'none' });
    }
    // Back up: a rerun does only what is still different.
    const calls0 = counters();
    const again = await run();
    expect(again.result!.counts).toMatchObject({ synced: 1, 'in-sync': 4, failed: 0 });
    expect(again.result!.nodes.find((n) => n.outcome === 'synced')?.node).toBe(different);
    const calls1 = counters();
    expect(calls1[missing]!.logrotate).toBe(calls0[missing]!.logrotate);
  });

  it('shell metacharacters, traversal and option injection in the path and node names are refused before any SSH', async () => {
    resetDrift();
    const before = snapAll();
    const calls0 = counters();
    const bad: [string, Record<string, unknown>, RegExp][] = [
      [
        'traversal',
        { path: '/etc/logrotate.d/../cron.d/x' },
        /path: must be a file directly in \/etc\/logrotate\.d\//,
      ],
      ['metacharacters', { path: '/etc/logrotate.d/docker;id' }, /path: must be a file directly/],
      ['command substitution', { path: '/etc/logrotate.d/$(id)' }, /path: must be a file directly/],
      ['option', { path: '/etc/logrotate.d/-rf' }, /path: must be a file directly/],
      ['hidden', { path: '/etc/logrotate.d/.x' }, /path: must be a file directly/],
      ['outside', { path: '/etc/cron.d/docker' }, /path: must be a file directly/],
      ['node metacharacters', { nodes: ['w-1; reboot'] }, /nodes\.0: must be a Kubernetes node name/],
      ['node option', { nodes: ['--help'] }, /nodes\.0: must be a Kubernetes node name/],
      ['NUL in content', { content: 'a\u0000b' }, /content: must not contain NUL/],
    ];
    for (const [what, input, message] of bad) {
      const r = await runProcedure(
        'logrotate-sync',
        'sim',
        worker.taskQueue,
        '--input-json',
        JSON.stringify(input),
      );
      expect({ what, code: r.code }).toEqual({ what, code: 1 });
      expect(r.stderr).toMatch(/invalid logrotateSync input: /);
      expect(r.stderr).toMatch(message);
    }
    // Past the client (the Temporal CLI or another SDK): the workflow's edge refuses it too.
    const handle = await client.workflow.start('logrotateSync', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/logrotateSync/raw-${Date.now()}`,
      args: [{ cluster: 'sim', path: '/etc/logrotate.d/`reboot`' }],
    });
    await expect(handle.result()).rejects.toMatchObject({
      cause: { type: 'InvalidInput', message: expect.stringMatching(/path: must be a file directly/) },
    });
    expect(snapAll()).toEqual(before);
    expect(counters()).toEqual(calls0); // no logrotate call and no SSH login on any node
  });

  it('nksr schedule: a daily Schedule with overlap SKIP; the Temporal CLI sees it; a triggered run completes', async () => {
    resetDrift();
    const id = 'nks/sim/logrotateSync/daily';
    await client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
    const created = await runCli([
      'schedule',
      'create',
      'logrotate-sync',
      '--cluster',
      'sim',
      '--task-queue',
      worker.taskQueue,
      '--json',
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const info = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(info).toMatchObject({
      scheduleId: id,
      workflowType: 'logrotateSync',
      overlap: 'SKIP',
      catchupWindowMs: 3_600_000,
      cron: ['0 0 * * *'],
      timezone: 'Asia/Seoul',
      paused: false,
      taskQueue: worker.taskQueue,
    });
    // Next run: 00:00 in Seoul = 15:00 UTC.
    expect((info.nextActionTimes as string[])[0]).toMatch(/T15:00:00\.000Z$/);

    // The Temporal CLI sees the same Schedule.
    const temporal = resolveTemporalBinary('temporal');
    if (!temporal.path) throw new Error('no temporal CLI binary installed');
    const described = JSON.parse(
      execFileSync(
        temporal.path,
        [
          'schedule',
          'describe',
          '--schedule-id',
          id,
          '--address',
          requiredEnv('TEMPORAL_ADDRESS'),
          '-o',
          'json',
        ],
        { encoding: 'utf8' },
      ),
    ) as {
      schedule: {
        policies: { overlapPolicy: string };
        action: { startWorkflow: { workflowType: { name: string } } };
      };
    };
    expect(described.schedule.policies.overlapPolicy).toMatch(/SKIP/);
    expect(described.schedule.action.startWorkflow.workflowType.name).toBe('logrotateSync');

    const list = await runCli(['schedule', 'list', '--cluster', 'sim']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+logrotateSync\\s+active`));

    expect((await runCli(['schedule', 'pause', id, '--note', 'test'])).code).toBe(0);
    expect((await client.schedule.getHandle(id).describe()).state).toMatchObject({
      paused: true,
      note: 'test',
    });
    expect((await runCli(['schedule', 'unpause', id])).code).toBe(0);
    expect((await client.schedule.getHandle(id).describe()).state.paused).toBe(false);

    const trig = await runCli(['schedule', 'trigger', id]);
    expect(trig.code).toBe(0);
    let recent: { workflowId: string; runId: string } | undefined;
    for (let i = 0; i < 100 && !recent; i++) {
      const d = await client.schedule.getHandle(id).describe();
      const a = d.info.recentActions[0];
      if (a)
        recent = { workflowId: a.action.workflow.workflowId, runId: a.action.workflow.firstExecutionRunId };
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(recent?.workflowId).toMatch(/^nks\/sim\/logrotateSync\/scheduled-/);
    const result = (await client.workflow
      .getHandle(recent!.workflowId, recent!.runId)
      .result()) as LogrotateSyncResult;
    expect(result).toMatchObject({ outcome: 'complete', counts: { synced: 2, 'in-sync': 3 } });
    const described2 = await runCli(['schedule', 'describe', id]);
    expect(described2.stdout).toContain(recent!.workflowId);
    expect(described2.stdout).toMatch(/overlap:\s+SKIP; catch-up window 3600 s/);

    // A second Schedule with the same ID is refused; not-found is one clear line.
    const dup = await runCli(['schedule', 'create', 'logrotate-sync', '--cluster', 'sim']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    expect((await runCli(['schedule', 'delete', id])).code).toBe(0);
    const gone = await runCli(['schedule', 'describe', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`nksr: schedule ${id} not found (\`nksr schedule list\` shows them)\n`);
    // Only schedulable procedures.
    const nope = await runCli(['schedule', 'create', 'calico-image-repair', '--cluster', 'sim']);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toMatch(/calicoImageRepair cannot be scheduled/);
  });
});
