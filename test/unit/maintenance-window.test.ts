/**
 * Maintenance windows: the window arithmetic (src/common/disruption.ts windowState: days, midnight
 * crossing, time zones, DST) and the workflow gate (awaitMaintenanceWindow) on the time-skipping test
 * server: a run started outside its window waits on a durable timer, in a phase that says when the
 * window opens, and goes on exactly when it opens; inside the window it does not wait.
 */
import { randomUUID } from 'node:crypto';
import { MaintenanceWindowSchema, windowState } from '../../src/common/disruption';
import { useTimeSkipping } from './time-skipping';
import type { WindowGateResult } from './workflows/window-test-workflows';

jest.setTimeout(120_000);

const w = (raw: unknown) => MaintenanceWindowSchema.parse(raw);
const at = (iso: string) => Date.parse(iso);

describe('windowState', () => {
  test('inside and outside a same-day window (UTC)', () => {
    const win = w({ start: '02:00', end: '04:00' });
    expect(windowState(win, at('2026-11-28T03:00:00Z'))).toMatchObject({
      open: true,
      closesAt: '2026-11-28T04:00:00.000Z',
    });
    expect(windowState(win, at('2026-11-28T04:00:00Z'))).toMatchObject({
      open: false,
      opensAt: '2026-11-29T02:00:00.000Z',
      waitMs: 22 * 3_600_000,
    });
    expect(windowState(win, at('2026-11-28T01:59:00Z'))).toMatchObject({ open: false, waitMs: 60_000 });
  });

  test('a window crossing midnight is open after start and before end; days name the opening day', () => {
    // 2026-11-27 is a Friday.
    const win = w({ days: ['fri'], start: '22:00', end: '02:00', timezone: 'UTC' });
    expect(windowState(win, at('2026-11-27T23:00:00Z')).open).toBe(true);
    expect(windowState(win, at('2026-11-28T01:30:00Z')).open).toBe(true); // Saturday, Friday's window
    const sat = windowState(win, at('2026-11-28T03:00:00Z'));
    expect(sat).toMatchObject({ open: false, opensAt: '2026-12-04T22:00:00.000Z' });
  });

  test('local time of the zone: Asia/Seoul is UTC+9', () => {
    const win = w({ start: '01:00', end: '05:00', timezone: 'Asia/Seoul' });
    // 16:30 UTC = 01:30 KST.
    expect(windowState(win, at('2026-11-28T16:30:00Z')).open).toBe(true);
    expect(windowState(win, at('2026-11-28T12:00:00Z'))).toMatchObject({
      open: false,
      opensAt: '2026-11-28T16:00:00.000Z',
    });
  });

  test('across a DST change the window opens at local wall-clock time', () => {
    // New York: 2026-03-08 02:00 EST → 03:00 EDT. 04:00 local is 09:00 UTC before, 08:00 UTC after.
    const win = w({ start: '04:00', end: '05:00', timezone: 'America/New_York' });
    expect(windowState(win, at('2026-03-07T12:00:00Z')).opensAt).toBe('2026-03-08T08:00:00.000Z');
    expect(windowState(win, at('2026-03-06T12:00:00Z')).opensAt).toBe('2026-03-07T09:00:00.000Z');
  });

  test('bad windows are refused by the schema', () => {
    expect(() => w({ start: '25:00', end: '01:00' })).toThrow();
    expect(() => w({ start: '01:00', end: '01:00' })).toThrow();
    expect(() => w({ start: '01:00', end: '02:00', timezone: 'Mars/Olympus' })).toThrow();
    expect(() => w({ start: '01:00', end: '02:00', days: [] })).toThrow();
  });
});

describe('awaitMaintenanceWindow on the time-skipping server', () => {
  const ts = useTimeSkipping(require.resolve('./workflows/window-test-workflows'), 'window');

  function run(window: unknown): Promise<WindowGateResult> {
    return ts.withWorker(
      {},
      (taskQueue) =>
        ts.env.client.workflow.execute('windowGate', {
          taskQueue,
          workflowId: `window/${randomUUID()}`,
          args: [window],
        }) as Promise<WindowGateResult>,
    );
  }

  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

  test('a window in the future: the run waits (phase says when) and goes on when it opens', async () => {
    const now = await ts.env.currentTimeMs();
    // Opens in about three hours, on the minute.
    const opens = Math.ceil((now + 3 * 3_600_000) / 60_000) * 60_000;
    const window = { start: hhmm(opens), end: hhmm(opens + 3_600_000), timezone: 'UTC' };
    const r = await run(window);
    expect(r.phases).toEqual([`waiting-for-window (opens ${new Date(opens).toISOString()})`]);
    expect(r.openedAt).toBeGreaterThanOrEqual(opens);
    expect(r.openedAt - opens).toBeLessThan(60_000);
    expect(r.openedAt - r.startedAt).toBeGreaterThan(2.9 * 3_600_000);
  });

  test('inside the window: no wait', async () => {
    const now = await ts.env.currentTimeMs();
    const window = { start: hhmm(now - 3_600_000), end: hhmm(now + 3_600_000), timezone: 'UTC' };
    const r = await run(window);
    expect(r.phases).toEqual([]);
    expect(r.openedAt - r.startedAt).toBeLessThan(60_000);
  });
});
