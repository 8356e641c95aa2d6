/**
 * One time-skipping test server and one bundle of a test-only workflow file per test file, started
 * together in beforeAll and torn down in afterAll, and a worker of that bundle on a fresh task queue
 * per run (a task queue per test, as the TypeScript SDK's own tests do, so runs never share pollers).
 */
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/common/search-attributes';
import { startTimeSkippingEnv } from '../../src/dev/dev-server';

export interface TimeSkippingFixture {
  /** The server (set once beforeAll has run). */
  readonly env: TestWorkflowEnvironment;
  readonly bundle: WorkflowBundleWithSourceMap;
  /** Runs `fn` while a worker of the bundle, with these activities, polls a fresh task queue. */
  withWorker<T>(activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T>;
}

export interface TimeSkippingOptions {
  /**
   * Register the product's search attributes (NksCluster, NksPhase, ...): needed by the product's
   * own workflows, which set them; the time-skipping server knows none until told.
   */
  searchAttributes?: boolean;
}

export function useTimeSkipping(
  workflowsPath: string,
  queuePrefix: string,
  opts: TimeSkippingOptions = {},
): TimeSkippingFixture {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundleWithSourceMap | undefined;
  beforeAll(async () => {
    [env, bundle] = await Promise.all([
      startTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath, logger: undefined }),
    ]);
    if (opts.searchAttributes) await registerSearchAttributes(env);
  });
  afterAll(async () => {
    await env?.teardown();
  });
  const ready = () => {
    if (!env || !bundle) throw new Error('the time-skipping fixture is used before its beforeAll ran');
    return { env, bundle };
  };
  return {
    get env() {
      return ready().env;
    },
    get bundle() {
      return ready().bundle;
    },
    async withWorker(activities, fn) {
      const taskQueue = `${queuePrefix}-${randomUUID()}`;
      const worker = await Worker.create({
        connection: ready().env.nativeConnection,
        taskQueue,
        workflowBundle: ready().bundle,
        activities,
      });
      return worker.runUntil(fn(taskQueue));
    },
  };
}

async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const { INDEXED_VALUE_TYPE_BOOL, INDEXED_VALUE_TYPE_KEYWORD } = temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      SEARCH_ATTRIBUTE_DEFINITIONS.map((k) => [
        k.name,
        k.type === 'BOOL' ? INDEXED_VALUE_TYPE_BOOL : INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
}
