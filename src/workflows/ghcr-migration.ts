/**
 * ghcrMigration (docs/procedures.md §4): every Deployment, DaemonSet, StatefulSet and CronJob template on
 * docker.pkg.github.com moved to ghcr.io (tags and digests kept), each write checked against the
 * object's resourceVersion, then each rollout waited for. Jobs (immutable templates) and bare pods
 * are reported, never touched; pull secrets that only cover the old host are named.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  type GhcrMigrationInput,
  GhcrMigrationInputSchema,
  type GhcrMigrationOptions,
  type GhcrMigrationResult,
  type GhcrWorkloadPlan,
  type GhcrWorkloadReport,
} from '../common/procedures/ghcr-migration';
import {
  clusterScanActivities,
  quickActivities,
  rolloutTimeoutFromPods,
  WAIT_SLACK_SECONDS,
  waitActivities,
} from './activity-profiles';
import { approvalStep } from './lib/approval';
import { withClusterLock } from './lib/cluster-lock';
import { failIfFailed, failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { runPreflight } from './lib/preflight';

const keyOf = (w: { kind: string; namespace: string; name: string }) => `${w.kind}/${w.namespace}/${w.name}`;

export function ghcrMigration(raw: GhcrMigrationInput): Promise<GhcrMigrationResult> {
  return runRemediation('ghcrMigration', raw, GhcrMigrationInputSchema, async (input, progress) =>
    failIfFailed(await migrate(input, progress)),
  );
}

async function migrate(input: GhcrMigrationOptions, progress: ProgressTracker): Promise<GhcrMigrationResult> {
  const { findOldHostPullSecrets } = quickActivities();
  const preflight = await runPreflight(progress, input);
  const { scanGhcr } = clusterScanActivities(preflight.nodes.length);
  progress.phase('scan', input.namespaces ? input.namespaces.join(', ') : 'all namespaces');
  const scan = await scanGhcr({
    cluster: input.cluster,
    namespaces: input.namespaces,
    mapping: input.mapping,
  });
  const affected = [
    ...new Set([...scan.workloads.map((w) => w.namespace), ...scan.untouched.map((o) => o.namespace)]),
  ].sort();
  const secretReport = affected.length
    ? await findOldHostPullSecrets({ cluster: input.cluster, namespaces: affected })
    : undefined;
  const secrets = secretReport?.secrets ?? [];
  const planned = scan.workloads.map(plannedReport);
  for (const w of planned)
    progress.item(keyOf(w), 'resource', w.outcome === 'unmappable' ? 'failed' : 'pending', w.detail);
  for (const o of scan.untouched)
    progress.item(`${o.kind}/${o.namespace}/${o.name}`, 'object', 'skipped', o.note);

  const result = (
    outcome: GhcrMigrationResult['outcome'],
    summary: string,
    workloads: GhcrWorkloadReport[],
    approvedBy?: string,
  ): GhcrMigrationResult => ({
    cluster: input.cluster,
    outcome,
    dryRun: input.dryRun,
    mapping: input.mapping,
    namespaces: input.namespaces ?? 'all',
    workloads,
    untouched: scan.untouched,
    oldHostOnlyPullSecrets: secrets,
    secretReport: secretReport?.enabled === false ? 'off' : 'reported',
    ...(approvedBy ? { approvedBy } : {}),
    summary,
  });
  const toMigrate = scan.workloads.filter((w) => w.unmappable.length === 0);
  const counts = `${scan.workloads.length} workload(s) on docker.pkg.github.com, ${scan.untouched.length} Job(s)/bare pod(s) reported, ${secretReport?.enabled === false ? 'pull secrets not checked (policy.ghcrMigration.secretReport is off)' : `${secrets.length} old-host-only pull secret(s)`}`;
  if (toMigrate.length === 0) {
    const unmappable = planned.filter((w) => w.outcome === 'unmappable');
    return result(
      unmappable.length ? 'failed' : 'nothing-to-do',
      unmappable.length
        ? `${unmappable.length} workload(s) cannot be mapped; ${counts}`
        : `nothing to migrate; ${counts}`,
      planned,
    );
  }
  if (input.dryRun)
    return result('planned', `dry run: would migrate ${toMigrate.length}; ${counts}`, planned);

  let approvedBy: string | undefined;
  const gate = await approvalStep(
    progress,
    `move ${toMigrate.length} workload(s) to ghcr.io (${input.mapping}) and roll them`,
    input,
  );
  if (gate) {
    if (gate.decision === 'expired')
      return result('approval-expired', `approval expired after ${gate.after}; nothing changed`, planned);
    approvedBy = gate.approver;
  }

  const workloads = await withClusterLock(progress, input, () =>
    migrateAll(input, progress, planned, toMigrate),
  );
  const failed = workloads.filter((w) => w.outcome === 'failed' || w.outcome === 'unmappable');
  const moved = workloads.filter((w) => w.outcome === 'migrated' || w.outcome === 'patched').length;
  return result(
    failed.length ? 'failed' : 'migrated',
    `${moved} migrated${failed.length ? `, ${failed.length} failed` : ''}; ${counts}`,
    workloads,
    approvedBy,
  );
}

/** Every workload that can be mapped, bounded; every workload of the plan as it ended. */
async function migrateAll(
  input: GhcrMigrationOptions,
  progress: ProgressTracker,
  planned: GhcrWorkloadReport[],
  toMigrate: GhcrWorkloadPlan[],
): Promise<GhcrWorkloadReport[]> {
  progress.phase('migrate', `${toMigrate.length} workload(s), ${input.maxParallel} at a time`);
  const fan = await fanOut<GhcrWorkloadPlan, GhcrWorkloadReport>({
    items: toMigrate,
    key: keyOf,
    maxParallel: input.maxParallel,
    maxFailures: Number.POSITIVE_INFINITY,
    run: (w) => migrateOne(input, w),
    isFailure: (r) => r.outcome === 'failed',
    onError: (w, err) => ({ ...plannedReport(w), outcome: 'failed', detail: failureSummary(err) }),
    onStart: (w) => progress.item(keyOf(w), 'resource', 'running', 'writing images'),
    onDone: (w, r) =>
      progress.item(keyOf(w), 'resource', r.outcome === 'failed' ? 'failed' : 'succeeded', r.detail),
  });
  const done = new Map(fan.results.map((r) => [keyOf(r.item), r.result!]));
  return planned.map((w) => done.get(keyOf(w)) ?? w);
}

function plannedReport(w: GhcrWorkloadPlan): GhcrWorkloadReport {
  return {
    kind: w.kind,
    namespace: w.namespace,
    name: w.name,
    outcome: w.unmappable.length ? 'unmappable' : 'planned',
    changes: w.changes,
    detail: w.unmappable.length
      ? `not changed: ${w.unmappable.map((u) => u.problem).join('; ')}`
      : `${w.changes.length} container(s) to move`,
    resourceVersionBefore: w.resourceVersion,
  };
}

async function migrateOne(input: GhcrMigrationOptions, w: GhcrWorkloadPlan): Promise<GhcrWorkloadReport> {
  const { migrateWorkloadImages } = quickActivities();
  const ref = { cluster: input.cluster, kind: w.kind, namespace: w.namespace, name: w.name };
  const written = await migrateWorkloadImages({ ...ref, mapping: input.mapping });
  const base: GhcrWorkloadReport = {
    ...plannedReport(w),
    changes: written.changed ? written.changes : w.changes,
    conflicts: written.conflicts,
    resourceVersionBefore: written.resourceVersionBefore,
  };
  const conflictNote = written.conflicts ? `; ${written.conflicts} concurrent edit(s) re-read` : '';
  if (w.kind === 'CronJob')
    return { ...base, outcome: 'patched', detail: `template patched (next Jobs use ghcr.io)${conflictNote}` };
  const timeoutSeconds = rolloutTimeoutFromPods(w.desiredPods ?? 1, input.rolloutTimeoutSeconds);
  const { waitForRollout } = waitActivities({
    scheduleToCloseTimeout: `${timeoutSeconds + WAIT_SLACK_SECONDS}s`,
  });
  let rollout: { outcome: string; message: string };
  try {
    // The shared rollout wait (kubectl's rules for Deployments, DaemonSets and StatefulSets).
    rollout = await waitForRollout({ ...ref, kind: w.kind, timeoutSeconds });
  } catch (err) {
    if (isCancellation(err)) throw err;
    rollout = { outcome: 'failed', message: failureSummary(err) };
  }
  return rollout.outcome === 'complete'
    ? { ...base, outcome: 'migrated', detail: `${rollout.message}${conflictNote}` }
    : { ...base, outcome: 'failed', detail: `rollout ${rollout.outcome}: ${rollout.message}${conflictNote}` };
}
