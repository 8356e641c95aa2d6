/**
 * Pure helpers for human reports and bounded results: failures are always listed in full, successes
 * only while the list stays readable, so a 1,000-node run prints (and returns) a summary instead of
 * a thousand lines.
 */
import type { ReportTable } from './procedures/define';

/** Successes listed by name at most; beyond that they are counted. */
export const MAX_LISTED_SUCCESSES = 50;

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
  const failing = items.filter(isFailure);
  const others = items.filter((i) => !isFailure(i));
  const shown = others.slice(0, maxOthers);
  return {
    title,
    columns,
    rows: [...failing, ...shown].map(toRow),
    ...(others.length > shown.length ? { omitted: others.length - shown.length } : {}),
  };
}

/** `3 pulled, 1 failed` from a list of outcomes, in first-seen order. */
export function countOutcomes(outcomes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([o, n]) => `${n} ${o}`).join(', ');
}
