import { SCENARIOS, planScenarios, rng } from '../../faults/suite';

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
});
