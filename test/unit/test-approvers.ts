/**
 * Approvers for workflow unit tests: keys made here for alice, bob and carol (the worker's list)
 * and mallory (not in it), and statements signed as nksr approve signs them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { generateApproverKey, readApproverKey, signApproval } from '../../src/client/approver-key';
import type { ApprovalStatement, SignedApproval } from '../../src/common/approval-statement';
import type { Approver } from '../../src/common/registry-schema';
import { progressQuery } from '../../src/workflows/definitions';

const keyDir = mkdtempSync(join(tmpdir(), 'nksr-approvers-'));
const KEYS: Record<string, string> = {};
export const TEST_APPROVERS: Approver[] = [];
for (const name of ['alice', 'bob', 'carol', 'mallory']) {
  const file = join(keyDir, `${name}.key`);
  const publicKey = generateApproverKey(file);
  KEYS[name] = readApproverKey(file);
  if (name !== 'mallory') TEST_APPROVERS.push({ name, publicKey });
}

/** A statement signed by `who` on what the run waits with; `over` changes what is signed. */
export async function signedBy(
  handle: WorkflowHandle,
  who: 'alice' | 'bob' | 'carol' | 'mallory',
  decision: ApprovalStatement['decision'] = 'approve',
  opts: { comment?: string; over?: Partial<{ runId: string; planDigest: string }>; now?: number } = {},
): Promise<SignedApproval> {
  const view = (await handle.query(progressQuery)).approval;
  if (!view) throw new Error(`${handle.workflowId} is not waiting for approval`);
  return signApproval(
    KEYS[who]!,
    { workflowId: handle.workflowId, runId: view.runId, planDigest: view.planDigest, ...opts.over },
    decision,
    {
      ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    },
  );
}
