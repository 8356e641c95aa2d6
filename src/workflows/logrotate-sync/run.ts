/**
 * One logrotateSync run's state (every node's entry as the run learns it) and its report.
 */
import type { ProgressTracker } from '../lib/progress';
import {
  type LogrotateNodeEntry,
  type LogrotateNodeOutcome,
  type LogrotateSyncOptions,
  type LogrotateSyncResult,
} from '../../common/procedures/logrotate-sync';
import { MAX_LISTED_SUCCESSES } from '../../common/report';

export const FAILING = new Set<LogrotateNodeOutcome>(['failed', 'not-started', 'skipped']);

/** A node whose file differs from the wanted config, with what it has now. */
export interface Planned {
  node: string;
  before: NonNullable<LogrotateNodeEntry['before']>;
}

/** One run: its input, the wanted config's digests, and every node's entry as the run learns it. */
export class SyncRun {
  readonly entries = new Map<string, LogrotateNodeEntry>();
  wanted: string[] = [];
  check?: LogrotateSyncResult['check'];
  approvedBy?: string;
  /** How long an approval gate waited before it expired. */
  expiredAfter?: string;

  constructor(
    readonly input: LogrotateSyncOptions,
    readonly progress: ProgressTracker,
    readonly digest: { sha256: string; md5: string },
  ) {}

  set(e: LogrotateNodeEntry, detail?: string): void {
    this.entries.set(e.node, e);
    const state = e.outcome === 'failed' ? 'failed' : FAILING.has(e.outcome) ? 'skipped' : 'succeeded';
    this.progress.item(`node/${e.node}`, 'node', state, detail ?? e.reason ?? e.outcome);
  }
}

export function buildReport(
  run: SyncRun,
  outcomeOverride?: LogrotateSyncResult['outcome'],
): LogrotateSyncResult {
  const { input, check, digest } = run;
  const all = run.wanted.map((node) => run.entries.get(node)!).filter(Boolean);
  const counts = Object.fromEntries(
    (['in-sync', 'synced', 'would-sync', 'failed', 'not-started', 'skipped'] as const).map((o) => [
      o,
      all.filter((e) => e.outcome === o).length,
    ]),
  ) as Record<LogrotateNodeOutcome, number>;
  const inSync = all.filter((e) => e.outcome === 'in-sync');
  const listedInSync = inSync.slice(0, MAX_LISTED_SUCCESSES);
  const failing = all.filter((e) => FAILING.has(e.outcome));
  const changed = all.filter((e) => e.outcome === 'synced' || e.outcome === 'would-sync');
  const bad = counts.failed + counts['not-started'] + counts.skipped;
  const outcome = outcomeOverride ?? (bad ? 'partial' : 'complete');
  const parts = [
    input.dryRun ? `${counts['would-sync']} would be synced` : `${counts.synced} synced`,
    `${counts['in-sync']} already in sync`,
    ...(counts.failed ? [`${counts.failed} failed`] : []),
    ...(counts['not-started'] ? [`${counts['not-started']} not started (failure budget spent)`] : []),
    ...(counts.skipped ? [`${counts.skipped} skipped`] : []),
  ];
  const summary =
    outcome === 'refused'
      ? `logrotate rejected the config on ${check?.node}, no node changed: ${firstLines(check?.output ?? '')}`
      : outcome === 'approval-expired'
        ? `approval expired: no decision within ${run.expiredAfter}; no node changed`
        : `${input.path} on ${run.wanted.length} nodes: ${parts.join(', ')}`;
  return {
    cluster: input.cluster,
    path: input.path,
    dryRun: input.dryRun,
    outcome,
    sha256: digest.sha256,
    md5: digest.md5,
    ...(check ? { check } : {}),
    ...(run.approvedBy ? { approvedBy: run.approvedBy } : {}),
    counts,
    nodes: [...failing, ...changed, ...listedInSync],
    omitted: inSync.length - listedInSync.length,
    summary,
  };
}

function firstLines(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /error/i.test(l));
  return (lines.length ? lines : text.split('\n').filter(Boolean)).slice(0, 3).join(' | ').slice(0, 400);
}
