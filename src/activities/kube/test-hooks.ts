/**
 * Test hooks of the Kubernetes activities: a test running the worker in its own process sets one to
 * make a concurrent edit between an activity's read and its write (the write must then be refused by
 * the resourceVersion and re-read, never overwrite). Unset in production: a no-op.
 */
export interface WriteTarget {
  kind: string;
  namespace: string;
  name: string;
  /** 1 for the first write attempt of this activity call. */
  attempt: number;
}

type BeforeWriteHook = (target: WriteTarget) => Promise<void>;

let beforeWriteHook: BeforeWriteHook | undefined;

/** Tests only: called after the read and before the resourceVersion-checked write. */
export function setBeforeWriteHook(hook: BeforeWriteHook | undefined): void {
  beforeWriteHook = hook;
}

export async function beforeWrite(target: WriteTarget): Promise<void> {
  if (beforeWriteHook) await beforeWriteHook(target);
}

/** HTTP 409 of a client-node ApiException (a write with a stale resourceVersion). */
export function isConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 409;
}

/** Writes retried after a conflict before the activity gives up (its own retry then starts afresh). */
export const MAX_CONFLICT_RETRIES = 5;
