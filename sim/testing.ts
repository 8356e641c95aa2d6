/**
 * The simulator for test suites (jest global setup/teardown, benchmarks): always a fresh instance in
 * its own state dir and loopback prefix, so suites never share state with a developer's `.sim`.
 */
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
  log?: (line: string) => void;
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
    log: opts.log,
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
