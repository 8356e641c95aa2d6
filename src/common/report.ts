/**
 * Pure helpers for human reports and bounded results: failures are always listed in full, successes
 * only while the list stays readable, so a 1,000-node run prints (and returns) a summary instead of
 * a thousand lines.
 */
import type { ReportTable } from './procedures/define';

/** Successes listed by name at most; beyond that they are counted. */
export const MAX_LISTED_SUCCESSES = 50;

/**
 * Every notable item (in order), then the others up to `maxOthers`; how many others were left out.
 * What bounded results and report tables list. Pure: workflows use it too.
 */
export function notableFirst<T>(
  items: readonly T[],
  isNotable: (item: T) => boolean,
  maxOthers = MAX_LISTED_SUCCESSES,
): { listed: T[]; omitted: number } {
  const others = items.filter((i) => !isNotable(i));
  const shown = others.slice(0, maxOthers);
  return { listed: [...items.filter(isNotable), ...shown], omitted: others.length - shown.length };
}

/**
 * Rows with the failing items first (in their order), then the others up to `maxOthers`; the rest are
 * counted in `omitted`.
 */
export function failuresFirst<T>(
  title: string,
  columns: readonly string[],
  items: readonly T[],
  isFailure: (item: T) => boolean,
  toRow: (item: T) => string[],
  maxOthers = MAX_LISTED_SUCCESSES,
): ReportTable {
  const { listed, omitted } = notableFirst(items, isFailure, maxOthers);
  return { title, columns, rows: listed.map(toRow), ...(omitted ? { omitted } : {}) };
}

/** `3 pulled, 1 failed` from a list of outcomes, in first-seen order. */
export function countOutcomes(outcomes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([o, n]) => `${n} ${o}`).join(', ');
}

/** A report's first line: the outcome (and whether it was a dry run), then the summary. */
export function outcomeLine(r: { outcome: string; dryRun?: boolean; summary: string }): string {
  return `${r.outcome}${r.dryRun ? ' (dry run)' : ''}: ${r.summary}`;
}

/** The outcome line of a run that may have waited for an approval, naming who gave it. */
export function approvedOutcomeLine(r: { outcome: string; summary: string; approvedBy?: string }): string {
  return `${r.outcome}: ${r.summary}${r.approvedBy ? ` (approved by ${r.approvedBy})` : ''}`;
}
