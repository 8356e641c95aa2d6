/**
 * Replays a history against today's workflow code, as a worker would after a restart: a history that
 * no longer replays means running (or recorded) runs of it would fail with a non-determinism error on
 * the next deploy.
 */
import type { History } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

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
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by the embedding process (tests, a worker): keep its logger.
  }
}

export async function checkReplay(
  history: History,
  workflowId: string,
  opts: ReplayCodeOptions = {},
): Promise<ReplayVerdict> {
  quietRuntime();
  const bundle = opts.workflowsPath
    ? undefined
    : (opts.workflowBundlePath ?? process.env.NKSR_WORKFLOW_BUNDLE);
  const workflowsPath = opts.workflowsPath ?? require.resolve('../workflows');
  const checkedWith = bundle ? `bundle ${bundle}` : `sources ${workflowsPath}`;
  try {
    await Worker.runReplayHistory(
      bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath },
      history,
      workflowId,
    );
    return { deterministic: true, checkedWith };
  } catch (err) {
    const message = err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
    return { deterministic: false, error: message, checkedWith };
  }
}
