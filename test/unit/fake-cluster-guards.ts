/**
 * FAKE activities for workflow unit tests on the time-skipping server: the cluster lock as an
 * in-memory Lease, the worker's approval policy evaluated on a policy the test gives (the real
 * rules, no clusters.yaml), and signed approvals checked for real against TEST_APPROVERS. The real lock against the simulator's API server is in the integration
 * tests.
 */
import { createHash } from 'node:crypto';
import type { Activities } from '../../src/activities';
import { verifyApproval } from '../../src/activities/approvals';
import type { LeaseInput } from '../../src/activities/kube/cluster-lock';
import { approvalDecision } from '../../src/activities/policy';
import { TEST_APPROVERS } from './test-approvers';
import type { ClusterPolicy } from '../../src/common/registry-schema';

export type ClusterGuardActivities = Pick<
  Activities,
  | 'acquireClusterLock'
  | 'renewClusterLock'
  | 'releaseClusterLock'
  | 'approvalPolicy'
  | 'verifyApproval'
  | 'digestText'
>;

/** One in-memory Lease per fake cluster; `calls` says who took and gave it back, in order. */
export function fakeClusterGuards(policy: ClusterPolicy = {}, calls: string[] = []): ClusterGuardActivities {
  const holders = new Map<string, string>();
  return {
    async acquireClusterLock(input: LeaseInput) {
      const holder = holders.get(input.cluster);
      if (holder && holder !== input.holder)
        return { acquired: false, holder, expiresAt: new Date(Date.now() + 60_000).toISOString() };
      holders.set(input.cluster, input.holder);
      calls.push('acquireClusterLock');
      return { acquired: true, how: holder ? ('already-held' as const) : ('created' as const) };
    },
    async renewClusterLock(input: LeaseInput) {
      const holder = holders.get(input.cluster);
      return holder === input.holder
        ? { held: true as const, renewedAt: new Date().toISOString() }
        : { held: false as const, ...(holder ? { holder } : {}) };
    },
    async releaseClusterLock(input: { cluster: string; holder: string }) {
      if (holders.get(input.cluster) !== input.holder) return { status: 'not-held' as const };
      holders.delete(input.cluster);
      calls.push('releaseClusterLock');
      return { status: 'released' as const };
    },
    async verifyApproval(input) {
      return verifyApproval(TEST_APPROVERS, input);
    },
    async digestText({ text }) {
      const hash = (alg: string) => createHash(alg).update(text).digest('hex');
      return { sha256: hash('sha256'), md5: hash('md5') };
    },
    async approvalPolicy(input: { cluster: string; procedure: string; risks: string[] }) {
      const entry = { kubeconfig: '/fake', nodeAddressType: 'InternalIP' as const, policy };
      return approvalDecision(entry, input.procedure, input.risks);
    },
  };
}
