/**
 * The worker of the fault suite (a child process, so the suite can SIGKILL it): the product's worker
 * with the activity test seams wired to stdout and to a self-kill. Every write an activity announces
 * through ActivityDeps.testHooks prints `hook <when> <kind> <namespace>/<name>`; with
 * NKSR_FAULT_KILL_AT_HOOK=n the process SIGKILLs itself at the n-th such call, i.e. between an
 * activity's read and its write (beforeWrite) or between its write and its completion (afterWrite,
 * where the activities have that seam).
 *
 * Environment: TEMPORAL_ADDRESS, NKSR_TASK_QUEUE, NKSR_CLUSTERS_FILE, NKSR_WORKFLOW_BUNDLE (optional).
 */
import { NativeConnection } from '@temporalio/worker';
import type { ActivityTestHooks, WriteTarget } from '../src/activities/deps';
import { loadClusterRegistry } from '../src/worker/registry';
import { createWorker, installRuntime } from '../src/worker/worker';

async function main(): Promise<void> {
  const env = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const killAt = Number(process.env.NKSR_FAULT_KILL_AT_HOOK ?? 0);
  let calls = 0;
  const hook = (when: string) => async (t: WriteTarget) => {
    calls += 1;
    process.stdout.write(`hook ${when} ${t.kind} ${t.namespace}/${t.name}\n`);
    if (calls === killAt) {
      process.stdout.write(`killing myself at hook call ${calls}\n`);
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
    }
  };
  // afterWrite exists once the activities have that seam; an extra property is harmless before.
  const testHooks = { beforeWrite: hook('beforeWrite'), afterWrite: hook('afterWrite') } as ActivityTestHooks;
  installRuntime({ metricsPort: 0, metricsHost: '127.0.0.1', logLevel: 'WARN' });
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const worker = await createWorker({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env('NKSR_TASK_QUEUE'),
    registry: loadClusterRegistry(env('NKSR_CLUSTERS_FILE')),
    workflowBundlePath: process.env.NKSR_WORKFLOW_BUNDLE,
    shutdownGraceTime: '1s',
    testHooks,
  });
  process.stdout.write('fault worker ready\n');
  await worker.run();
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`fault worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
