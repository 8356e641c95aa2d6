import { SCENARIOS, phaseName, phaseWindows, planScenarios, pointIn, rng } from '../../faults/suite';

describe('fault suite plan', () => {
  test('a seed names one sequence of faults', () => {
    const a = rng(42);
    const b = rng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(rng(43)()).not.toBe(xs[0]);
  });

  test('every scenario once per cycle, in a seeded order', () => {
    const plan = planScenarios(SCENARIOS.length * 2 + 3, rng(7), SCENARIOS);
    expect(plan).toHaveLength(SCENARIOS.length * 2 + 3);
    expect([...plan.slice(0, SCENARIOS.length)].sort()).toEqual([...SCENARIOS].sort());
    expect([...plan.slice(SCENARIOS.length, 2 * SCENARIOS.length)].sort()).toEqual([...SCENARIOS].sort());
    expect(planScenarios(10, rng(7), SCENARIOS)).toEqual(plan.slice(0, 10));
    expect(planScenarios(10, rng(8), SCENARIOS)).not.toEqual(plan.slice(0, 10));
  });

  test("fault points fall inside the reference run's phases, never after its end", () => {
    const seen = [
      { phase: 'preflight', atMs: 0 },
      { phase: 'pre-pull', atMs: 1000 },
      { phase: 'rollout', atMs: 9000 },
      { phase: 'completed', atMs: 12_000 },
    ];
    const windows = phaseWindows(seen, 12_500);
    expect(windows).toEqual([
      { phase: 'preflight', fromMs: 0, toMs: 1000 },
      { phase: 'pre-pull', fromMs: 1000, toMs: 9000 },
      { phase: 'rollout', fromMs: 9000, toMs: 12_000 },
    ]);
    expect(pointIn(windows, 0)).toEqual({ phase: 'preflight', offsetMs: 0 });
    expect(pointIn(windows, 0.5)).toEqual({ phase: 'pre-pull', offsetMs: 5000 });
    expect(pointIn(windows, 0.999)).toMatchObject({ phase: 'rollout' });
    // Restricted to phases (a cancel during the pre-pull); an unknown phase falls back to all.
    for (const u of [0, 0.3, 0.99]) expect(pointIn(windows, u, ['pre-pull'])!.phase).toBe('pre-pull');
    expect(pointIn(windows, 0.1, ['pre-pull'])).toEqual({ phase: 'pre-pull', offsetMs: 800 });
    expect(pointIn(windows, 0.1, ['reboot'])).toEqual(pointIn(windows, 0.1));
    expect(pointIn([], 0.5)).toBeUndefined();
    expect(phaseName('waiting-for-lock (held by nks/sim/x)')).toBe('waiting-for-lock');
  });
});
