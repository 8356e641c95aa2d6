import { batchPlan } from '../../src/workflows/logrotate-sync/run';

describe('logrotateSync batch plan', () => {
  test.each([
    // nodes, maxParallel, batchSize → batches of size, lanes, nodes in flight per batch
    [200, 10, 100, { size: 100, lanes: 2, inFlight: 5, rounds: 20 }],
    [5000, 10, 100, { size: 100, lanes: 10, inFlight: 1, rounds: 100 }],
    [10, 2, 100, { size: 10, lanes: 1, inFlight: 2, rounds: 5 }],
    [20, 10, 2, { size: 2, lanes: 10, inFlight: 1, rounds: 2 }],
    [101, 10, 100, { size: 51, lanes: 2, inFlight: 5, rounds: 11 }],
    [3, 200, 100, { size: 3, lanes: 1, inFlight: 3, rounds: 1 }],
  ])('%i nodes, maxParallel %i, batchSize %i', (count, maxParallel, batchSize, plan) => {
    const p = batchPlan(count, maxParallel, batchSize);
    expect(p).toEqual(plan);
    // Never more nodes at once than maxParallel, never a batch above batchSize, every node in one.
    expect(p.lanes * p.inFlight).toBeLessThanOrEqual(maxParallel);
    expect(p.size).toBeLessThanOrEqual(batchSize);
    expect(Math.ceil(count / p.size) * p.size).toBeGreaterThanOrEqual(count);
  });
});
