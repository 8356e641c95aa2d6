/**
 * How the simulator tells a started process's fate: a start-up error must say how the process ended
 * (exit code or signal), and a process only counts as gone once /proc says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, isRunning, startDetached, tail } from '../../sim/process';

const dir = mkdtempSync(join(tmpdir(), 'nksr-sim-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a process that exits is reported with its exit code and its output', async () => {
  const log = join(dir, 'false.log');
  const p = startDetached({
    name: 'fails',
    binary: '/bin/sh',
    args: ['-c', 'echo bind failed >&2; exit 3'],
    log,
  });
  await until(() => describeExit(p.pid) !== 'exit status unknown');
  expect(isRunning(p)).toBe(false);
  expect(describeExit(p.pid)).toBe('exit code 3');
  expect(tail(log)).toBe('bind failed');
});

test('a process killed by a signal is reported with the signal', async () => {
  const p = startDetached({
    name: 'sleeps',
    binary: '/bin/sleep',
    args: ['30'],
    log: join(dir, 'sleep.log'),
  });
  expect(isRunning(p)).toBe(true);
  process.kill(p.pid, 'SIGKILL');
  await until(() => describeExit(p.pid) !== 'exit status unknown');
  expect(describeExit(p.pid)).toBe('killed by SIGKILL');
  expect(isRunning(p)).toBe(false);
});

test('a running PID that runs another binary is not ours', () => {
  const p = startDetached({
    name: 'sleeps',
    binary: '/bin/sleep',
    args: ['30'],
    log: join(dir, 'other.log'),
  });
  try {
    expect(isRunning({ pid: p.pid, binary: '/bin/not-sleep' })).toBe(false);
  } finally {
    process.kill(p.pid, 'SIGKILL');
  }
});

test('an unreadable log is named in the tail instead of reading as empty', () => {
  expect(tail(join(dir, 'missing.log'))).toMatch(/could not read .*missing\.log: ENOENT/);
});
