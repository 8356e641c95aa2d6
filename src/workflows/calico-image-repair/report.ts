/**
 * calicoImageRepair's result: bounded (every failure in full, successes listed while short, counts of
 * everything), so at 1,000 nodes it stays far below Temporal's payload limits; the progress query and
 * the history keep each pair.
 */
import { needsRollout, resourceRef } from '../../common/calico';
import { MAX_LISTED_SUCCESSES, notableFirst } from '../../common/report';
import type {
  CalicoImageRepairResult,
  CalicoNodeReport,
  CalicoPrePullOutcome,
  CalicoWorkloadPlan,
  CalicoWorkloadReport,
} from '../definitions';
import type { RepairRun } from './plan';

export function buildReport(
  run: RepairRun,
  outcome: CalicoImageRepairResult['outcome'],
  summary: string,
  extra: Partial<CalicoImageRepairResult> = {},
): CalicoImageRepairResult {
  const prePulls = extra.prePulls ?? [];
  const nodes = extra.nodes ?? [];
  const listedPulls = boundedList(prePulls, (o) => o.outcome !== 'pulled');
  const listedNodes = boundedList(nodes, (n) => n.outcome !== 'pulled');
  const planNodes = run.plan.nodes.slice(0, MAX_LISTED_SUCCESSES);
  const omitted = {
    prePulls: prePulls.length - listedPulls.length,
    nodes: nodes.length - listedNodes.length,
    planNodes: run.plan.nodes.length - planNodes.length,
  };
  const prePullCounts: Record<string, number> = {};
  for (const o of prePulls) prePullCounts[o.outcome] = (prePullCounts[o.outcome] ?? 0) + 1;
  return {
    cluster: run.input.cluster,
    outcome,
    dryRun: run.input.dryRun,
    plan: { ...run.plan, nodes: planNodes, nodeCount: run.plan.nodes.length },
    workloads: run.plan.workloads.map(initialWorkloadReport),
    failedResources: run.missing.map((w) => resourceRef(w.kind, w.name)),
    phaseDurationsMs: run.clock.durationsMs,
    summary,
    ...extra,
    prePulls: listedPulls,
    nodes: listedNodes,
    ...(prePulls.length ? { prePullCounts } : {}),
    ...(omitted.prePulls || omitted.nodes || omitted.planNodes ? { omitted } : {}),
  };
}

/** A short list as it is; a long one: the notable entries, then the others while short. */
function boundedList<T>(items: T[], notable: (item: T) => boolean): T[] {
  return items.length <= MAX_LISTED_SUCCESSES ? items : notableFirst(items, notable).listed;
}

/** A workload as the plan left it, before any rollout: not attempted, skipped (up to date) or missing. */
export function initialWorkloadReport(w: CalicoWorkloadPlan): CalicoWorkloadReport {
  const outcome = needsRollout(w) ? 'not-attempted' : w.action === 'skip-up-to-date' ? 'skipped' : 'missing';
  return { kind: w.kind, name: w.name, outcome, detail: w.note };
}

/** Per node: pulled (every image), failed (naming the images), or incomplete (some never decided). */
export function nodeReports(nodes: string[], outcomes: CalicoPrePullOutcome[]): CalicoNodeReport[] {
  const byNode = new Map<string, CalicoPrePullOutcome[]>();
  for (const o of outcomes) byNode.set(o.node, [...(byNode.get(o.node) ?? []), o]);
  return nodes.map((node) => {
    const mine = byNode.get(node) ?? [];
    const failedImages = mine.filter((o) => o.outcome === 'failed').map((o) => o.image);
    const outcome =
      failedImages.length > 0
        ? 'failed'
        : mine.every((o) => o.outcome === 'pulled')
          ? 'pulled'
          : 'incomplete';
    return { node, outcome, failedImages };
  });
}

/** "; images changed: a, b (maybe: c); not attempted: d" for a failed run's summary. */
export function changeNote(workloads: CalicoWorkloadReport[]): string {
  const named = (pred: (w: CalicoWorkloadReport) => boolean) =>
    workloads.filter(pred).map((w) => resourceRef(w.kind, w.name));
  if (workloads.every((w) => w.changed === undefined)) return '';
  const yes = named((w) => w.changed === 'yes');
  const maybe = named((w) => w.changed === 'unknown');
  const notAttempted = named((w) => w.outcome === 'not-attempted');
  return (
    `; images changed by this run: ${yes.length ? yes.join(', ') : 'none'}` +
    (maybe.length ? ` (maybe: ${maybe.join(', ')})` : '') +
    (notAttempted.length ? `; not attempted: ${notAttempted.join(', ')}` : '')
  );
}
