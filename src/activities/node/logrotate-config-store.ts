/**
 * Admitted logrotate configs by sha256, so logrotateSync's activities carry the digest and not the
 * text: the worker that admitted a config keeps it; a worker that did not (another process, or one
 * restarted since) reads it from the running workflow's own input in history, with the worker's
 * client, and checks it against the digest.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { GUIDE_DOCKER_LOGROTATE_CONFIG } from '../../common/procedures/logrotate-sync';

const sha256Of = (text: string) => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');

/** Configs this worker process admitted, by sha256 (a handful: one per config in clusters.yaml). */
const remembered = new Map<string, string>();
const MAX_REMEMBERED = 32;

/** Keeps an admitted config in this worker so batches get it by digest. */
export function rememberLogrotateConfig(content: string): void {
  const sha256 = sha256Of(content);
  remembered.delete(sha256);
  remembered.set(sha256, content);
  while (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
}

/** Test seam: a worker that admitted nothing (as another process would be). */
export function forgetLogrotateConfigs(): void {
  remembered.clear();
}

/**
 * The config with this sha256: the one this worker admitted, else the running workflow's own input
 * (its first history event, read with the worker's client), which must have that digest.
 */
export async function logrotateConfigByDigest(sha256: string): Promise<string> {
  const known = remembered.get(sha256);
  if (known !== undefined) return known;
  const content = await configFromRunInput();
  const got = sha256Of(content);
  if (got !== sha256) {
    throw ApplicationFailure.nonRetryable(
      `the run's logrotate config has sha256 ${got}, not the admitted ${sha256}`,
      ErrorType.InvalidInput,
    );
  }
  rememberLogrotateConfig(content);
  return content;
}

async function configFromRunInput(): Promise<string> {
  const ctx = Context.current();
  const { workflowExecution, workflowNamespace } = ctx.info;
  const page = await ctx.client.workflowService.getWorkflowExecutionHistory({
    namespace: workflowNamespace,
    execution: workflowExecution,
    maximumPageSize: 1,
  });
  const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const input = payload
    ? (ctx.client.options.loadedDataConverter.payloadConverter.fromPayload(payload) as { content?: unknown })
    : undefined;
  // The schema's default when the input left it out.
  const content = input?.content ?? GUIDE_DOCKER_LOGROTATE_CONFIG;
  if (typeof content !== 'string')
    throw ApplicationFailure.nonRetryable("the run's input has no logrotate config", ErrorType.InvalidInput);
  return content;
}
