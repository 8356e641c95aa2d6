/**
 * `node dist/src/worker/register-search-attributes.js`: registers the search attributes on the
 * namespace of the envconfig profile (TEMPORAL_* as for the worker) and exits; the chart runs it as
 * a Job, `npm run shared -- up` in-process. Idempotent (search-attributes.ts).
 */
import { Connection } from '@temporalio/client';
import { temporalConnectConfig } from './config';
import { registerSearchAttributes } from './search-attributes';

async function main(): Promise<void> {
  const { connectionOptions, namespace } = temporalConnectConfig();
  const connection = await Connection.connect(connectionOptions);
  try {
    const added = await registerSearchAttributes(connection, namespace);
    console.log(
      added.length > 0
        ? `registered search attributes on ${namespace}: ${added.join(', ')}`
        : `search attributes already registered on ${namespace}`,
    );
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`register-search-attributes: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
