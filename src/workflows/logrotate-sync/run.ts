/**
 * One logrotateSync run's state (every node's entry as the run learns it) and its report.
 */
import { ActivityFailure, TimeoutFailure } from '@temporalio/workflow';
import type { ProgressTracker } from '../lib/progress';
import {
  type LogrotateInstallation,
  type LogrotateNodeEntry,
  type LogrotateNodeOutcome,
  type LogrotateSyncOptions,
  type LogrotateSyncResult,
} from '../../common/procedures/logrotate-sync';
import { MAX_LISTED_SUCCESSES } from '../../common/report';

/** Nodes listed in a result at most (failing ones first): about 40 KB at most per result. */
export const MAX_LISTED_NODES = 2 * MAX_LISTED_SUCCESSES;

/** One node's worst case in a batch (a connection's retries and its commands). */
export const NODE_SECONDS = 300;

/**
 * How a phase's nodes are cut into batches: `size` nodes per activity, `lanes` activities at once,
 * `inFlight` nodes at once in each, so at most maxParallel nodes over the run; `rounds` bounds a
 * batch's time.
 */
export function batchPlan(
  count: number,
  maxParallel: number,
  batchSize: number,
): { size: number; lanes: number; inFlight: number; rounds: number } {
  const batches = Math.max(1, Math.ceil(count / batchSize));
  const size = Math.max(1, Math.ceil(count / batches));
  const lanes = Math.max(1, Math.min(maxParallel, batches));
  const inFlight = Math.max(1, Math.min(size, Math.floor(maxParallel / lanes)));
  return { size, lanes, inFlight, rounds: Math.ceil(size / inFlight) };
}

/** What a batch that failed for good had done, from its last heartbeat (a timeout's details). */
export function lastInstalled(err: unknown): Record<string, LogrotateInstallation> {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  const details = cause instanceof TimeoutFailure ? cause.lastHeartbeatDetails : undefined;
  return (details as { done?: Record<string, LogrotateInstallation> } | undefined)?.done ?? {};
}

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
    (['in-sync', 'synced', 'would-sync', 'failed', 'not-started', 'skipped', 'not-applicable'] as const).map(
      (o) => [o, all.filter((e) => e.outcome === o).length],
    ),
  ) as Record<LogrotateNodeOutcome, number>;
  const of = (...outcomes: LogrotateNodeOutcome[]) => all.filter((e) => outcomes.includes(e.outcome));
  const listed = [
    ...all.filter((e) => FAILING.has(e.outcome)),
    ...of('synced', 'would-sync'),
    ...of('not-applicable'),
    ...of('in-sync'),
  ].slice(0, MAX_LISTED_NODES);
  const bad = counts.failed + counts['not-started'] + counts.skipped;
  const outcome = outcomeOverride ?? (bad ? 'partial' : 'complete');
  const parts = [
    input.dryRun ? `${counts['would-sync']} would be synced` : `${counts.synced} synced`,
    `${counts['in-sync']} already in sync`,
    ...(counts.failed ? [`${counts.failed} failed`] : []),
    ...(counts['not-started'] ? [`${counts['not-started']} not started (failure budget spent)`] : []),
    ...(counts.skipped ? [`${counts.skipped} skipped`] : []),
    ...(counts['not-applicable']
      ? [`${counts['not-applicable']} not applicable (containerd: kubelet rotates container logs)`]
      : []),
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
    nodes: listed,
    omitted: all.length - listed.length,
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
