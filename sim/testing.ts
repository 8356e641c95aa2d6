/**
 * The simulator for test suites (jest global setup/teardown, benchmarks): always a fresh instance in
 * its own state dir and loopback prefix, so suites never share state with a developer's `.sim`.
 */
import path from 'node:path';
import { REPO_ROOT } from './config';
import type { ContainerRuntime } from './config';
import { type SimHandle, SimError, simDown, simUp } from './index';
import { findStragglers } from './process';
import { readState } from './state';

export interface TestSimOptions {
  dir: string;
  nodes: number;
  /** Default: all nodes get an SSH server. */
  sshNodes?: number;
  ipPrefix: string;
  drift?: Record<string, unknown>;
  sshDelayMs?: number;
  /** Every node's container runtime (the simulator's default: containerd) ... */
  runtime?: ContainerRuntime;
  /** ... except these, by node index. */
  nodeRuntimes?: Record<number, ContainerRuntime>;
  log?: (line: string) => void;
  /** Overall limit for simUp's waits (its default: 180 s + 0.3 s per node). */
  timeoutMs?: number;
}

/**
 * Stops whatever ran in `dir` and starts a clean simulator there (the directory is recreated).
 * The handle's `timings` say how long each phase of `up` took.
 */
export async function ensureTestSim(opts: TestSimOptions): Promise<SimHandle> {
  await simDown({ dir: opts.dir, log: opts.log });
  return simUp({
    dir: opts.dir,
    nodes: opts.nodes,
    sshNodes: opts.sshNodes,
    ipPrefix: opts.ipPrefix,
    drift: opts.drift,
    sshDelayMs: opts.sshDelayMs,
    runtime: opts.runtime,
    nodeRuntimes: opts.nodeRuntimes,
    log: opts.log,
    timeoutMs: opts.timeoutMs,
  });
}

/** Stops the test simulator and fails loudly if any of its processes survived. */
export async function teardownTestSim(opts: { dir: string; log?: (line: string) => void }): Promise<void> {
  await simDown({ dir: opts.dir, log: opts.log });
  const state = readState(opts.dir);
  if (!state) return;
  const left = findStragglers(state.binDir, state.dir);
  if (left.length) {
    throw new SimError(
      `processes of ${opts.dir} still running: ${left.map((p) => `${p.name} (${p.pid})`).join(', ')}`,
    );
  }
}

/**
 * Every simulator one test run starts, each with a /24 and a state dir of its own, all derived from
 * one base so no two of a run (and no two runs with different bases) can collide:
 * NKSR_TEST_RUN_BASE (third octet of the first /24, default 20; scripts/test.sh claims a free one)
 * and NKSR_TEST_RUN_DIR (default <repo>/.sim-tests/<base>).
 */
export const TEST_SIM_ROLES = [
  'shared',
  'dead-apiserver',
  'sim-nodes',
  'sim-control-plane',
  'guide-sync',
  'logrotate-worker-kill',
  'logrotate-scale',
  'closed-network',
  'calico-two-workers',
  'faults',
  'shared-deployment',
  'large-cluster-scans',
] as const;
export type TestSimRole = (typeof TEST_SIM_ROLES)[number];

export function testSimPlace(role: TestSimRole): { dir: string; ipPrefix: string } {
  if (!TEST_SIM_ROLES.includes(role)) {
    throw new SimError(
      `no test simulator role ${JSON.stringify(role)} (roles: ${TEST_SIM_ROLES.join(', ')})`,
    );
  }
  const raw = process.env.NKSR_TEST_RUN_BASE ?? '20';
  const base = Number(raw);
  const last = 255 - TEST_SIM_ROLES.length + 1;
  if (!/^\d{1,3}$/.test(raw) || base < 2 || base > last) {
    throw new SimError(
      `NKSR_TEST_RUN_BASE must be a whole number from 2 to ${last} (got ${JSON.stringify(raw)})`,
    );
  }
  const runDir = path.resolve(
    process.env.NKSR_TEST_RUN_DIR ?? path.join(REPO_ROOT, '.sim-tests', String(base)),
  );
  return { dir: path.join(runDir, role), ipPrefix: `127.0.${base + TEST_SIM_ROLES.indexOf(role)}` };
}
