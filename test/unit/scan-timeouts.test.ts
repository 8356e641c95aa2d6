/**
 * The one timeout rule for work that grows with the cluster (src/workflows/activity-profiles.ts):
 * scans by node count, rollouts by desired pods, calico's rollouts by the guide's 4 minutes per node.
 */
import {
  calicoRolloutTimeoutSeconds,
  CLUSTER_SCAN_TIMEOUT,
  clusterScan,
  ROLLOUT_SECONDS_PER_POD,
  rolloutTimeoutFromPods,
  SCAN_HEARTBEAT_TIMEOUT,
  timeoutFromCount,
} from '../../src/workflows/activity-profiles';

const rule = { floorSeconds: 100, secondsPerItem: 2.5 };

test('the count times the per-item seconds, rounded up, never below the floor', () => {
  expect(timeoutFromCount(0, rule)).toBe(100);
  expect(timeoutFromCount(39, rule)).toBe(100);
  expect(timeoutFromCount(41, rule)).toBe(103);
  expect(timeoutFromCount(1000, rule)).toBe(2500);
});

test('a count that is not a number of items (negative, NaN, infinite) gets the floor', () => {
  for (const bad of [-5, Number.NaN, Number.POSITIVE_INFINITY]) expect(timeoutFromCount(bad, rule)).toBe(100);
});

test('a scan of a small cluster keeps the old 5 minutes; one of 1,000 nodes gets more', () => {
  expect(clusterScan(5).scheduleToCloseTimeout).toBe('300s');
  expect(clusterScan(1000).scheduleToCloseTimeout).toBe(`${1000 * CLUSTER_SCAN_TIMEOUT.secondsPerItem}s`);
  expect(clusterScan(1000).heartbeatTimeout).toBe(SCAN_HEARTBEAT_TIMEOUT);
  expect(clusterScan(1000).startToCloseTimeout).toBeUndefined();
});

test('a rollout keeps the input timeout as its floor and grows by pods beyond it', () => {
  expect(rolloutTimeoutFromPods(1, 600)).toBe(600);
  expect(rolloutTimeoutFromPods(1000, 600)).toBe(1000 * ROLLOUT_SECONDS_PER_POD);
  expect(rolloutTimeoutFromPods(1000, 600)).toBeGreaterThan(600);
});

test("calico's rollouts are what they were: DaemonSet nodes × per-node (at least one node), Deployments fixed", () => {
  const options = { daemonSetRolloutSecondsPerNode: 240, deploymentRolloutTimeoutSeconds: 200 };
  for (const nodes of [0, 1, 3, 250]) {
    expect(calicoRolloutTimeoutSeconds('DaemonSet', nodes, options)).toBe(Math.max(1, nodes) * 240);
    expect(calicoRolloutTimeoutSeconds('Deployment', nodes, options)).toBe(200);
  }
});
