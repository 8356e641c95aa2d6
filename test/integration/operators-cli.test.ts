/**
 * What an operator sees from `nksr`, against the real stack (dev server, the shared simulator, one
 * worker in this process):
 * - `nksr cancel` during calicoImageRepair's pre-pulls waits for the run to end and shows what it
 *   left unfinished, as the workflow's progress reports it;
 * - `nksr watch` in a real terminal (tmux): the progress bar moves, the approval prompt shows, and
 *   the final report is printed;
 * - `nksr run --wait` off a terminal prints plain progress lines and the report; `nksr list` filters
 *   through the search attributes; `nksr status` summarizes.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import type { Client, Connection } from '@temporalio/client';
import { loadSim } from '../../sim';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { progressQuery, type Progress } from '../../src/workflows/definitions';
import {
  connectTemporal,
  requiredEnv,
  runCli,
  type RunningWorker,
  simAvailable,
  startWorker,
  tempDir,
  useSharedSim,
  writeFile,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

const CALICO_ID = 'nks/sim/calicoImageRepair';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

maybe('nksr for operators', () => {
  let connection: Connection;
  let client: Client;
  let worker: RunningWorker;

  beforeAll(async () => {
    // The cancel and watch tests need calico broken as `sim up` made it, whatever ran before.
    const sim = loadSim(requiredEnv('NKSR_SIM_DIR'));
    await sim.clearImageFaults();
    await sim.applyFixtures();
    ({ connection, client } = await connectTemporal());
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
  });

  async function waitForProgress(id: string, ok: (p: Progress) => boolean, what: string): Promise<Progress> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const p = await client.workflow
        .getHandle(id)
        .query(progressQuery)
        .catch(() => undefined);
      if (p && ok(p)) return p;
      if (Date.now() > deadline) throw new Error(`${what}: not reached; last progress ${JSON.stringify(p)}`);
      await sleep(100);
    }
  }

  test('nksr cancel waits for the end and shows what the run left unfinished', async () => {
    const start = await runCli([
      'run',
      'calico-image-repair',
      '--cluster',
      'sim',
      '--task-queue',
      worker.taskQueue,
      '--max-parallel',
      '1',
    ]);
    expect(start.code).toBe(0);
    await waitForProgress(
      CALICO_ID,
      (p) => p.items.filter((i) => i.kind === 'node-image' && i.outcome === 'succeeded').length >= 2,
      'two pre-pulls done',
    );
    const t0 = Date.now();
    const res = await runCli(['cancel', CALICO_ID], {}, 280_000);
    console.log(`[cancel] nksr cancel took ${((Date.now() - t0) / 1000).toFixed(1)} s:\n${res.stdout}`);
    expect(res).toMatchObject({
      code: 0,
      stderr: `cancellation requested for ${CALICO_ID}; waiting for it to end\n`,
    });
    expect(res.stdout).toMatch(
      /^nks\/sim\/calicoImageRepair \(run \S+\) calicoImageRepair: CANCELLED, phase cancelled$/m,
    );
    expect(res.stdout).toMatch(/^items: \d+ \(\d+ done, 0 failed, \d+ interrupted, \d+ not started\)$/m);
    expect(res.stdout).toContain('left unfinished:');
    expect(res.stdout).toMatch(/^prepull\/sim-default-worker-node-\d\/\S+ +node-image +not started$/m);
    expect(res.stdout).toMatch(/^deployment\/calico-typha +resource +not started /m);
    const d = await client.workflow.getHandle(CALICO_ID).describe();
    expect(d.status.name).toBe('CANCELLED');
  });

  test('nksr watch in a terminal: the bar moves, the approval prompt shows, then the report', async () => {
    const start = await runCli([
      'run',
      'calico-image-repair',
      '--cluster',
      'sim',
      '--task-queue',
      worker.taskQueue,
      '--max-parallel',
      '1',
      '--require-approval',
    ]);
    expect(start.code).toBe(0);

    const dir = tempDir('watch');
    const script = writeFile(
      dir,
      'watch.sh',
      [
        '#!/bin/sh',
        `cd '${REPO_ROOT}'`,
        `export TEMPORAL_ADDRESS='${requiredEnv('TEMPORAL_ADDRESS')}'`,
        `export TEMPORAL_NAMESPACE='${process.env.TEMPORAL_NAMESPACE ?? 'default'}'`,
        `'${process.execPath}' bin/nksr.js watch ${CALICO_ID} --interval 250`,
        'echo "EXIT=$?"',
        'sleep 600',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const socket = `nksr-test-${randomUUID().slice(0, 8)}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'watch', '-x', '200', '-y', '60', script);
    const socketPath = tmux('display-message', '-p', '#{socket_path}').trim();
    try {
      const bars: { finished: number; total: number; line: string }[] = [];
      let screen = '';
      let approved = false;
      const deadline = Date.now() + 240_000;
      while (!/^EXIT=\d+/m.test(screen)) {
        if (Date.now() > deadline) throw new Error(`nksr watch did not end:\n${screen}`);
        screen = tmux('capture-pane', '-p', '-J', '-t', 'watch');
        const bar = [
          ...screen.matchAll(/^.*?(\d+)\/(\d+) finished \| \d+ done, \d+ failed, \d+ running \| .*$/gm),
        ].pop();
        if (bar && bars[bars.length - 1]?.line !== bar[0])
          bars.push({ finished: Number(bar[1]), total: Number(bar[2]), line: bar[0] });
        // The bar is cleared and drawn again around each event line: a capture may fall between.
        if (!approved && bar && screen.includes(`>>> waiting for approval: nksr approve ${CALICO_ID}`)) {
          expect(bar?.[0]).toContain('awaiting-approval (awaiting approval)');
          const ok = await runCli(['approve', CALICO_ID]);
          expect(ok.code).toBe(0);
          approved = true;
        }
        await sleep(150);
      }
      const full = tmux('capture-pane', '-p', '-J', '-t', 'watch', '-S', '-400');
      expect(approved).toBe(true);
      // The bar is a real bar (cli-progress's shades) and it moved: several values, never back, to the end.
      expect(bars.some((b) => /[█░]{10,}/.test(b.line))).toBe(true);
      const values = [...new Set(bars.map((b) => b.finished))];
      expect(values.length).toBeGreaterThanOrEqual(4);
      expect(values).toEqual([...values].sort((a, b) => a - b));
      const last = bars[bars.length - 1]!;
      expect(last.finished).toBe(last.total);
      expect(last.line).toMatch(/\| completed\s*$/);
      // Events arrived above the bar; then the human report; then the exit code.
      expect(full).toMatch(/^ {2}\S+ approved by sim-operator \(signed\)$/m);
      expect(full).toMatch(/^repaired: /m);
      expect(full).toContain('workloads:');
      expect(full).toMatch(/^EXIT=0$/m);
      console.log(`[watch] bar values seen: ${values.join(', ')} of ${last.total}`);
    } finally {
      execFileSync('tmux', ['-L', socket, 'kill-server']);
      rmSync(socketPath, { force: true });
    }
  });

  test('run --wait off a terminal: plain lines and the report; list filters; status summarizes', async () => {
    const run = await runCli([
      'run',
      'logrotate-sync',
      '--cluster',
      'sim',
      '--task-queue',
      worker.taskQueue,
      '--max-parallel',
      '2',
      '--wait',
    ]);
    expect(run.code).toBe(0);
    // Off a terminal the progress lines go to stderr; stdout is the report alone.
    expect(run.stderr).toMatch(/^watching logrotateSync nks\/sim\/logrotateSync \(run \S+\)$/m);
    expect(run.stderr).toMatch(/^phase \S+: \d+\/\d+ items finished \(\d+ done, \d+ failed, \d+ running\)$/m);
    expect(run.stderr + run.stdout).not.toContain('\u001b['); // no terminal escape codes in a pipe
    expect(run.stdout).toMatch(/^complete: /);

    const ids = async (...flags: string[]) => {
      const res = await runCli(['list', '--json', ...flags]);
      expect(res.code).toBe(0);
      return (JSON.parse(res.stdout) as { workflowId: string }[]).map((r) => r.workflowId);
    };
    const lr = 'nks/sim/logrotateSync';
    expect(await ids('--cluster', 'sim', '--procedure', 'logrotate-sync', '--status', 'completed')).toContain(
      lr,
    );
    expect(await ids('--procedure', 'logrotateSync', '--phase', 'completed')).toContain(lr);
    expect(await ids('--procedure', 'logrotate-sync', '--phase', 'preflight')).not.toContain(lr);
    expect(await ids('--cluster', 'no-such-cluster')).toEqual([]);
    const calico = await ids('--procedure', 'calico-image-repair', '--status', 'canceled');
    expect(calico).toContain(CALICO_ID);
    expect(calico).not.toContain(lr);
    const bad = await runCli(['list', '--status', 'sleeping']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown status "sleeping"; known: Running, Completed/);

    const status = await runCli(['status', lr]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^items: \d+ \(\d+ done, 0 failed, 0 running, 0 pending\)$/m);
    expect(status.stdout).not.toContain('ITEM  '); // nothing failed or running: no item table
  });
});
