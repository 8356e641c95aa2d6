/** Stops what global-setup started: the dev server and the shared simulator (NKSR_TEST_SIM_KEEP=1 keeps it up). */
import { rmSync } from 'node:fs';
import { teardownTestSim } from '../../sim/testing';

export default async function globalTeardown(): Promise<void> {
  const problems: string[] = [];
  const simDir = globalThis.__NKSR_TEST_SIM_DIR__;
  if (simDir && process.env.NKSR_TEST_SIM_KEEP !== '1') {
    try {
      await teardownTestSim({ dir: simDir });
    } catch (err) {
      problems.push(`simulator down: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const server = globalThis.__NKSR_DEV_SERVER__;
  if (server) {
    try {
      await server.stop();
    } catch (err) {
      problems.push(`dev server stop: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (process.env.NKSR_WORKFLOW_BUNDLE) rmSync(process.env.NKSR_WORKFLOW_BUNDLE, { force: true });
  if (problems.length) throw new Error(problems.join('; '));
}
