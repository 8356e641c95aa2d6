/** Writes that loop on a resourceVersion conflict (409) instead of leaving it to the activity's retry. */

/** HTTP 409 of a client-node ApiException (a write with a stale resourceVersion). */
export function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 409;
}

/** Writes retried after a conflict before the activity gives up (its own retry then starts afresh). */
export const MAX_CONFLICT_RETRIES = 5;
