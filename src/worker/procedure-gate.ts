/**
 * The worker's `procedures:` setting (clusters.yaml), enforced for every activity in one place: an
 * activity scheduled by a procedure its cluster does not enable fails PolicyRefused before it runs,
 * whoever started the run (CLI, UI, SDK, a Schedule) and whatever its input says.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
  Next,
} from '@temporalio/worker';
import type { ClusterRegistry } from '../activities/deps';
import { ErrorType } from '../common/errors';
import type { ClusterEntry } from '../common/registry-schema';
import { requireProcedureEnabled } from '../activities/policy';

class ProcedureGate implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly registry: ClusterRegistry,
    private readonly ctx: Context,
  ) {}

  async execute(
    input: ActivityExecuteInput,
    next: Next<ActivityInboundCallsInterceptor, 'execute'>,
  ): Promise<unknown> {
    const { workflowType, activityType } = this.ctx.info;
    if (workflowType === undefined) {
      // A standalone activity (started by a client, no workflow): it would skip every gate a
      // procedure's workflow has (preflight, approval, lock).
      throw ApplicationFailure.nonRetryable(
        `activity ${activityType} runs only as part of a procedure's workflow`,
        ErrorType.PolicyRefused,
      );
    }
    const cluster = (input.args[0] as { cluster?: unknown } | null | undefined)?.cluster;
    if (typeof cluster === 'string') {
      let entry: ClusterEntry | undefined;
      try {
        entry = this.registry.get(cluster);
      } catch {
        // An unknown cluster: the activity reports it itself (UnknownCluster).
      }
      if (entry) requireProcedureEnabled(cluster, entry, workflowType);
    }
    return next(input);
  }
}

export function procedureGate(registry: ClusterRegistry): ActivityInterceptorsFactory {
  return (ctx) => ({ inbound: new ProcedureGate(registry, ctx) });
}
