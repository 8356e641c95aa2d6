/**
 * Who asked for a run, verified: the signer of its request (nksr run and the SDK's `signWith` sign
 * it with the requester's approver key), checked by the worker against its approvers. An approval
 * policy that wants two people compares the approver with this name, never with a name a client
 * typed.
 */
import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { ErrorType } from '../../common/errors';
import { quickActivities } from '../activity-profiles';

/**
 * The verified requester of the run whose input is `request`; undefined for an unsigned request.
 * A listed key's signature that does not hold (another run's, another input's, expired) fails the
 * run, PolicyRefused: someone tried to speak for another. A key the worker does not list leaves the
 * requester unverified (noted), as an unsigned request does.
 */
export async function verifyRequest(
  request: unknown,
  note: (message: string) => void,
): Promise<string | undefined> {
  const signed = (request as { requestSignature?: unknown } | null | undefined)?.requestSignature;
  if (signed === undefined) return undefined;
  const { workflowId, workflowType, startTime } = workflowInfo();
  const verified = await quickActivities().verifyRunRequest({
    workflowId,
    workflowType,
    startedAt: startTime.toISOString(),
    input: request,
  });
  if (verified.status === 'unknown-signer') {
    note('the request is signed with a key this worker does not list: requester not verified');
    return undefined;
  }
  if (verified.status === 'refused') {
    throw ApplicationFailure.nonRetryable(
      `the run's request signature is refused: ${verified.reason}; nothing changed`,
      ErrorType.PolicyRefused,
    );
  }
  note(`requested by ${verified.requester} (signed)`);
  return verified.requester;
}
