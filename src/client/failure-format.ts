/** One line for a Temporal failure and its causes, shared by the audit timeline and `nksr status`. */
import type { temporal } from '@temporalio/proto';

type FailureProto = temporal.api.failure.v1.IFailure | null | undefined;

export function formatFailureProto(f: FailureProto): string {
  const parts: string[] = [];
  for (let cur = f, depth = 0; cur && depth < 5; cur = cur.cause, depth++) {
    const type = cur.applicationFailureInfo?.type;
    if (cur.activityFailureInfo) continue; // "Activity task failed" adds nothing; its cause says why.
    const part = `${type ? `${type}: ` : ''}${cur.message ?? ''}`;
    // A workflow failing with its activity's failure repeats it one level down.
    if (parts[parts.length - 1] !== part) parts.push(part);
  }
  return parts.join(' ← ');
}
