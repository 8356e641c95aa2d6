/**
 * Signed run requests: what the signature covers (canonicalInput) and the worker's check of it
 * (verifyRunRequest) against approvers made here, case by case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyRunRequest } from '../../src/activities/approvals';
import { generateApproverKey, readApproverKey, signRunRequest } from '../../src/client/approver-key';
import { canonicalInput } from '../../src/common/request-statement';

const dir = mkdtempSync(join(tmpdir(), 'nksr-request-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const alicePublic = generateApproverKey(join(dir, 'alice.key'));
const alice = readApproverKey(join(dir, 'alice.key'));
generateApproverKey(join(dir, 'mallory.key'));
const mallory = readApproverKey(join(dir, 'mallory.key'));
const approvers = [{ name: 'alice', publicKey: alicePublic }];
const target = { workflowId: 'nks/prod/logrotateSync', workflowType: 'logrotateSync' };
const input = { cluster: 'prod', nodes: ['a', 'b'], maxParallel: 2 };
const startedAt = new Date().toISOString();

const signed = (over: unknown = input, key = alice, opts = {}) => ({
  ...input,
  requestSignature: signRunRequest(key, target, over, opts),
});

test('canonical input: key order and undefined fields do not matter, the signature field is left out', () => {
  expect(canonicalInput({ b: 1, a: { d: [2, { y: 1, x: undefined }], c: 'x' } })).toBe(
    canonicalInput({
      a: { c: 'x', d: [2, { y: 1 }] },
      b: 1,
      requestSignature: { statement: 's', signature: 'g' },
    }),
  );
  expect(canonicalInput({ a: [1, 2] })).not.toBe(canonicalInput({ a: [2, 1] }));
});

test('a listed approver’s signature over this workflow and this input names the requester', () => {
  expect(verifyRunRequest(approvers, { ...target, startedAt, input: signed() })).toEqual({
    status: 'verified',
    requester: 'alice',
  });
});

test('a key the worker does not list leaves the requester unverified (not refused)', () => {
  expect(verifyRunRequest(approvers, { ...target, startedAt, input: signed(input, mallory) })).toEqual({
    status: 'unknown-signer',
  });
});

test.each([
  ['another input', () => ({ ...signed(), nodes: ['a', 'b', 'c'] }), /not the one the requester signed/],
  ['expired before the run started', () => signed(input, alice, { now: Date.now() - 7_200_000 }), /expired/],
  ['valid for too long', () => signed(input, alice, { validForMs: 2 * 3_600_000 }), /more than an hour/],
  ['no signature', () => input, /not signed/],
])('refused: %s', (_what, make, reason) => {
  const r = verifyRunRequest(approvers, { ...target, startedAt, input: make() });
  expect(r).toEqual({ status: 'refused', reason: expect.stringMatching(reason) });
});

test('refused: a request signed for another workflow or procedure', () => {
  const other = {
    ...input,
    requestSignature: signRunRequest(alice, { ...target, workflowId: 'nks/dev/logrotateSync' }, input),
  };
  expect(verifyRunRequest(approvers, { ...target, startedAt, input: other })).toEqual({
    status: 'refused',
    reason: 'the request was signed for workflow nks/dev/logrotateSync',
  });
  const proc = {
    ...input,
    requestSignature: signRunRequest(alice, { ...target, workflowType: 'calicoImageRepair' }, input),
  };
  expect(verifyRunRequest(approvers, { ...target, startedAt, input: proc })).toEqual({
    status: 'refused',
    reason: 'the request was signed for calicoImageRepair',
  });
});
