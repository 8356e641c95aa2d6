/**
 * How the simulator tells a started process's fate: a start-up error must say how the process ended
 * (exit code or signal), and a process only counts as gone once /proc says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, isRunning, startDetached, tail, waitFor } from '../../sim/process';

const dir = mkdtempSync(join(tmpdir(), 'nksr-sim-process-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Until this process has seen `pid` exit (its exit event recorded). */
const exited = (pid: number) =>
  waitFor('the exit event', async () => (describeExit(pid) !== 'exit status unknown' ? true : undefined), {
    timeoutMs: 5000,
    intervalMs: 20,
  });

test('a process that exits is reported with its exit code and its output', async () => {
  const log = join(dir, 'false.log');
  const p = startDetached({
    name: 'fails',
    binary: '/bin/sh',
    args: ['-c', 'echo bind failed >&2; exit 3'],
    log,
  });
  await exited(p.pid);
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
  await exited(p.pid);
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
