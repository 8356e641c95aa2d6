/**
 * Replays a history against today's workflow code, as a worker would after a restart: a history that
 * no longer replays means running (or recorded) runs of it would fail with a non-determinism error on
 * the next deploy.
 */
import { existsSync } from 'node:fs';
import type { History } from '@temporalio/common/lib/proto-utils';
// Types only: the worker package (and its native core) loads on the first replay, not with the SDK, so a
// service that only starts and watches remediations never loads it.
import type * as TemporalWorker from '@temporalio/worker';

export interface ReplayVerdict {
  /** True when today's workflow code replays the history without a non-determinism error. */
  deterministic: boolean;
  error?: string;
  /** The workflow code replayed: a bundle file or the sources. */
  checkedWith: string;
}

export interface ReplayCodeOptions {
  /** A prebuilt workflow bundle to replay with (default NKSR_WORKFLOW_BUNDLE, else the sources). */
  workflowBundlePath?: string;
  /** Workflow sources to bundle instead (tests use a modified copy). */
  workflowsPath?: string;
}

let runtimeInstalled = false;

/** The worker runtime logs at INFO by default; an audit prints its own verdict. */
function quietRuntime({ DefaultLogger, Runtime }: typeof TemporalWorker): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // The core would log the expected non-determinism as a WARN with its whole failure; the verdict says it.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed by the embedding process (tests, a worker): keep its logger.
  }
}

export async function checkReplay(
  history: History,
  workflowId: string,
  opts: ReplayCodeOptions = {},
): Promise<ReplayVerdict> {
  const bundle = opts.workflowsPath
    ? undefined
    : (opts.workflowBundlePath ?? process.env.NKSR_WORKFLOW_BUNDLE);
  const workflowsPath = opts.workflowsPath ?? require.resolve('../workflows');
  const checkedWith = bundle ? `bundle ${bundle}` : `sources ${workflowsPath}`;
  if (bundle && !existsSync(bundle)) throw new Error(`workflow bundle ${bundle}: no such file`);
  const temporalWorker = await import('@temporalio/worker');
  quietRuntime(temporalWorker);
  try {
    await temporalWorker.Worker.runReplayHistory(
      bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath },
      history,
      workflowId,
    );
    return { deterministic: true, checkedWith };
  } catch (err) {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    // The core's message wraps the one line that matters in a debug dump of the failure.
    const core = /\[TMPRL\d+\][^"]*/.exec(text)?.[0];
    const message = core ? `${err instanceof Error ? err.name : 'Error'}: ${core}` : text.split('\n')[0]!;
    return { deterministic: false, error: message, checkedWith };
  }
}
