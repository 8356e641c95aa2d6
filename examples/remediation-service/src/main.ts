/**
 * A small service built on the nks-remediation SDK: when told a cluster's nodes drifted from the
 * logrotate config (an alert, a cron job, a ticket), it runs `logrotateSync` on that cluster and waits
 * for the outcome, logging progress meanwhile. A run already going for that cluster is joined, not
 * duplicated. Connection from Temporal's environment configuration (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_PROFILE, ...); task queue NKSR_TASK_QUEUE.
 *
 *   npm run build && node dist/main.js <cluster>
 */
import {
  createNksClient,
  RemediationAlreadyRunningError,
  type NksClient,
  type RemediationHandle,
  type RemediationResult,
} from 'nks-remediation';

export async function syncLogrotate(
  nks: NksClient,
  cluster: string,
): Promise<RemediationResult<'logrotateSync'>> {
  let run: RemediationHandle;
  try {
    const started = await nks.start.logrotateSync({ cluster, requestedBy: 'example-service' });
    run = nks.getHandle(started.workflowId, started.runId);
    console.log(`started ${started.workflowId}`);
  } catch (err) {
    if (!(err instanceof RemediationAlreadyRunningError)) throw err;
    run = nks.getHandle(err.workflowId, err.runId);
    console.log(`joined the run already going: ${err.workflowId}`);
  }
  const report = () =>
    run.progress().then(
      (p) => {
        const finished = p.items.filter((i) => !['pending', 'running'].includes(i.outcome)).length;
        console.log(`phase ${p.phase}: ${finished}/${p.items.length} items finished`);
      },
      () => undefined, // no worker answered this time; the run goes on regardless
    );
  // Once at once (a run can end within the first interval), then every second.
  await report();
  const ticker = setInterval(() => void report(), 1000);
  try {
    return (await run.result()) as RemediationResult<'logrotateSync'>;
  } finally {
    clearInterval(ticker);
  }
}

async function main(): Promise<number> {
  const cluster = process.argv[2];
  if (!cluster) {
    console.error('usage: node dist/main.js <cluster>');
    return 2;
  }
  const nks = await createNksClient();
  try {
    const result = await syncLogrotate(nks, cluster);
    console.log(`outcome ${result.outcome}: ${JSON.stringify(result.counts)}`);
    return result.outcome === 'complete' ? 0 : 1;
  } finally {
    await nks.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`example-service: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
