/**
 * The approval gate (src/workflows/lib/approval.ts) through calicoImageRepair, on the time-skipping
 * test server with FAKE cluster activities (an in-memory cluster) and the real signature check
 * (verifyApproval against approvers made here): expiry, the verified approver recorded in history,
 * forged statements refused while the run keeps waiting, the distinct-approver rule, rejection, and
 * an approve sent when the run is not waiting.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { Activities } from '../../src/activities';
import { useTimeSkipping } from './time-skipping';
import { NksPhase } from '../../src/common/search-attributes';
import {
  approveUpdate,
  progressQuery,
  type ApprovalRequest,
  type CalicoImageRepairResult,
  type CalicoPrePullOutcome,
  type NodeReport,
} from '../../src/workflows/definitions';
import { fakeClusterGuards } from './fake-cluster-guards';
import { signedBy } from './test-approvers';

jest.setTimeout(180_000);

const BROKEN = 'registry.broken.example/calico';
const EventType = temporal.api.enums.v1.EventType;

/** A fake cluster: 2 Ready nodes, the three calico workloads on a broken repository. */
interface FakeCluster {
  calls: string[];
  /** While set, listClusterNodesPage (preflight) waits for it. */
  holdPreflight?: Promise<void>;
}

function fakeActivities(c: FakeCluster): Partial<Activities> {
  const nodes: NodeReport[] = ['w-1', 'w-2'].map((name, i) => ({
    name,
    ready: true,
    kubeletVersion: 'v1.34.4',
    containerRuntime: 'containerd://1.7',
    unschedulable: false,
    internalIP: `127.0.1.${i + 1}`,
  }));
  const images: Record<string, Record<string, string>> = {
    'calico-node': {
      'calico-node': `${BROKEN}/node:v3.24.1`,
      'init:install-cni': `${BROKEN}/cni:v3.24.1`,
      'init:mount-bpffs': `${BROKEN}/node:v3.24.1`,
    },
    'calico-kube-controllers': { 'calico-kube-controllers': `${BROKEN}/kube-controllers:v3.24.1` },
    'calico-typha': { 'calico-typha': `${BROKEN}/typha:v3.24.1` },
  };
  return {
    ...fakeClusterGuards(),
    async deleteStalePrePullPods() {
      return { deleted: [] };
    },
    async checkImagesAllowed() {
      // The worker's clusters.yaml allows the default registry these tests use.
      return { allowedRegistries: ['docker.io/calico'] };
    },
    async deleteStalePrePullSecrets() {
      return { deleted: [] };
    },
    async checkPrePullCredential() {
      return { mode: 'anonymous', reason: 'no dockerHub.credentialsFile for cluster "sim"' };
    },
    async listClusterNodesPage() {
      c.calls.push('listClusterNodesPage');
      await c.holdPreflight;
      return { nodes };
    },
    async readWorkloadImages({ workloads }) {
      c.calls.push('readWorkloadImages');
      return workloads.map((w) => ({
        ...w,
        found: true,
        containers: Object.entries(images[w.name] ?? {}).map(([k, image]) => ({
          name: k.replace(/^init:/, ''),
          init: k.startsWith('init:'),
          image,
        })),
      }));
    },
    async prePullImagesOnNodes({ pairs }) {
      for (const { node, image } of pairs) c.calls.push(`prePullImagesOnNodes ${node} ${image}`);
      return {
        outcomes: pairs.map((p): CalicoPrePullOutcome => ({
          ...p,
          outcome: 'pulled',
          podCreated: true,
          durationMs: 1,
        })),
        deleted: [],
      };
    },
    async deletePrePullPods() {
      c.calls.push('deletePrePullPods');
      return { deleted: [] };
    },
    async setWorkloadImages({ name, images: wanted }) {
      c.calls.push(`setWorkloadImages ${name}`);
      const imgs = images[name]!;
      const previousImages = wanted.map((i) => ({
        ...i,
        image: imgs[i.init ? `init:${i.container}` : i.container]!,
      }));
      for (const i of wanted) imgs[i.init ? `init:${i.container}` : i.container] = i.image;
      return { changed: true, previousImages, generation: 2 };
    },
    async listWorkloadPods({ name }) {
      c.calls.push(`listWorkloadPods ${name}`);
      return [];
    },
    async deletePodsByUid({ pods }) {
      c.calls.push(`deletePodsByUid ${pods.map((p) => p.name).join(',')}`);
      return { deleted: pods.map((p) => p.name), alreadyGone: [] };
    },
    async waitForRollout({ name }) {
      c.calls.push(`waitForRollout ${name}`);
      return { outcome: 'complete' as const, message: `"${name}" successfully rolled out`, durationMs: 1 };
    },
  };
}

/** Every fake call that would change the cluster (pre-pull pods included). */
const mutating = (calls: string[]) =>
  calls.filter((c) => /^(prePullImage|deletePrePull|setWorkloadImages|deletePodsByUid)/.test(c));

const ts = useTimeSkipping(require.resolve('../../src/workflows'), 'approval-fake', {
  searchAttributes: true,
});

/** Starts calicoImageRepair on a fresh task queue with the fakes and runs `body` while the worker runs. */
async function withRun<T>(
  cluster: FakeCluster,
  input: Record<string, unknown>,
  body: (handle: WorkflowHandle) => Promise<T>,
): Promise<T> {
  return ts.withWorker(fakeActivities(cluster), async (taskQueue) => {
    const handle = await ts.env.client.workflow.start('calicoImageRepair', {
      taskQueue,
      workflowId: `nks/sim/calicoImageRepair/${randomUUID()}`,
      args: [{ cluster: 'sim', ...input }],
    });
    return body(handle);
  });
}

/** Polls the progress query until the run waits at the gate (time does not skip while polling). */
async function untilAwaitingApproval(handle: WorkflowHandle): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await handle.query(progressQuery)).awaitingApproval) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('the run never reached the approval gate');
}

async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
  const err: unknown = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** The args of every accepted `approve` Update, from the run's history. */
async function acceptedApprovals(handle: WorkflowHandle): Promise<ApprovalRequest[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? [])
    .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    .map((e) => {
      const request = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      expect(request?.name).toBe('approve');
      return defaultPayloadConverter.fromPayload<ApprovalRequest>(request!.args!.payloads![0]!);
    });
}

/** The validator's message of a refused Update. */
async function refusal(handle: WorkflowHandle, req: ApprovalRequest): Promise<string> {
  const err: unknown = await handle.executeUpdate(approveUpdate, { args: [req] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeDefined();
  return (err as { cause?: { message?: string } }).cause?.message ?? String(err);
}

test('expiry: with approvalTimeoutMinutes 30 and nobody deciding, the run ends approval-expired and changes nothing', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true, approvalTimeoutMinutes: 30 }, async (handle) => {
    const r = (await handle.result()) as CalicoImageRepairResult; // time skips the 30 minutes here
    expect(r.outcome).toBe('approval-expired');
    expect(r.summary).toMatch(/no decision within 30m; nothing changed/);
    expect(r.approvedBy).toBeUndefined();
    expect(r.prePulls).toEqual([]);
    expect(r.workloads.every((w) => w.outcome === 'not-attempted')).toBe(true);
    expect(mutating(c.calls)).toEqual([]);
    expect(c.calls).toEqual(['listClusterNodesPage', 'readWorkloadImages']);

    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(NksPhase)).toBe('approval-expired');
    const progress = await handle.query(progressQuery);
    expect(progress.phase).toBe('approval-expired');
    expect(progress.awaitingApproval).toBe(false);

    // The gate's expiry is a durable timer in history: 30 minutes, and it fired.
    const { events } = await handle.fetchHistory();
    const timer = events!.find((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED);
    expect(Number(timer!.timerStartedEventAttributes!.startToFireTimeout!.seconds)).toBe(30 * 60);
    expect(events!.some((e) => e.eventType === EventType.EVENT_TYPE_TIMER_FIRED)).toBe(true);
  });
});

test('the default expiry is 24 h', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true }, async (handle) => {
    const r = (await handle.result()) as CalicoImageRepairResult;
    expect(r.outcome).toBe('approval-expired');
    expect(r.summary).toContain('no decision within 24h');
    expect(mutating(c.calls)).toEqual([]);
  });
});

test('approver recorded: the verified name from the signing key, never one the client sends', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true, requestedBy: 'alice' }, async (handle) => {
    await untilAwaitingApproval(handle);
    expect(mutating(c.calls)).toEqual([]);
    const view = (await handle.query(progressQuery)).approval!;
    expect(view.planDigest).toBe(createHash('sha256').update(view.plan).digest('hex'));
    expect(view.plan).toMatch(/^pre-pull 4 images on 2 nodes, then roll/);
    const signed = await signedBy(handle, 'bob', 'approve', { comment: 'change 4711' });
    const answer = await handle.executeUpdate(approveUpdate, { args: [signed] });
    expect(answer).toEqual({
      accepted: true,
      approver: 'bob',
      decision: 'approved',
      phase: 'awaiting-approval',
    });
    const r = (await handle.result()) as CalicoImageRepairResult;
    expect(r.outcome).toBe('repaired');
    expect(r.approvedBy).toBe('bob');
    // History holds the signed statement itself: anyone can verify it again with bob's public key.
    expect(await acceptedApprovals(handle)).toEqual([signed]);
    const progress = await handle.query(progressQuery);
    expect(progress.events.some((e) => e.endsWith('approved by bob (signed): change 4711'))).toBe(true);
    expect(progress.phase).toBe('completed');
  });
});

test('forged or stale statements are refused with the reason, the run keeps waiting; a real one then proceeds', async () => {
  const c: FakeCluster = { calls: [] };
  const input = { requireApproval: true, requireDistinctApprover: true, requestedBy: 'alice' };
  await withRun(c, input, async (handle) => {
    await untilAwaitingApproval(handle);
    const view = (await handle.query(progressQuery)).approval!;
    const good = await signedBy(handle, 'bob');
    const cases: [string, ApprovalRequest, RegExp][] = [
      ['a key the worker does not list', await signedBy(handle, 'mallory'), /signed by no key in the worker/],
      [
        'a statement altered after signing',
        { ...good, statement: good.statement.replace('"approve"', '"reject"') },
        /signed by no key/,
      ],
      [
        'another signature pasted on',
        { ...good, signature: (await signedBy(handle, 'carol')).signature },
        /signed by no key/,
      ],
      [
        "another run's statement",
        await signedBy(handle, 'bob', 'approve', { over: { runId: randomUUID() } }),
        /another run/,
      ],
      [
        "another plan's statement",
        await signedBy(handle, 'bob', 'approve', { over: { planDigest: 'a'.repeat(64) } }),
        /another plan/,
      ],
      [
        'an expired statement',
        await signedBy(handle, 'bob', 'approve', { now: Date.now() - 3600_000 }),
        /expired/,
      ],
      [
        'the requester approving their own run',
        await signedBy(handle, 'alice'),
        /alice asked for this run; another approver must decide/,
      ],
    ];
    for (const [what, req, reason] of cases) {
      const answer = await handle.executeUpdate(approveUpdate, { args: [req] });
      expect({ what, answer }).toEqual({
        what,
        answer: { accepted: false, reason: expect.stringMatching(reason), phase: 'awaiting-approval' },
      });
    }
    expect((await handle.query(progressQuery)).awaitingApproval).toBe(true);
    expect((await handle.query(progressQuery)).approval!.planDigest).toBe(view.planDigest);
    expect(mutating(c.calls)).toEqual([]);
    const notes = (await handle.query(progressQuery)).events.filter((e) => e.includes('approval refused:'));
    expect(notes).toHaveLength(cases.length);

    expect(await handle.executeUpdate(approveUpdate, { args: [good] })).toMatchObject({
      accepted: true,
      approver: 'bob',
    });
    const r = (await handle.result()) as CalicoImageRepairResult;
    expect(r.outcome).toBe('repaired');
    expect(r.approvedBy).toBe('bob');
    // The same statement again, once the run is over: nothing takes it.
    expect(await refusal(handle, good)).toMatch(/not awaiting approval|not found|completed/i);
  });
});

test('an approve without a signed statement is refused by the validator and leaves no trace', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true }, async (handle) => {
    await untilAwaitingApproval(handle);
    const unsigned = { approver: 'bob' } as unknown as ApprovalRequest;
    expect(await refusal(handle, unsigned)).toMatch(/a signed statement is required/);
    expect(await acceptedApprovals(handle)).toEqual([]);
    expect((await handle.query(progressQuery)).awaitingApproval).toBe(true);
    await handle.terminate('test over');
  });
});

test('requireDistinctApprover without requestedBy fails with InvalidInput at the gate, changing nothing', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true, requireDistinctApprover: true }, async (handle) => {
    const failure = await failureOf(handle);
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toContain('requestedBy');
    expect(mutating(c.calls)).toEqual([]);
  });
});

test('rejection (approve: false) fails the run with ApprovalRejected and changes nothing', async () => {
  const c: FakeCluster = { calls: [] };
  await withRun(c, { requireApproval: true, requestedBy: 'alice' }, async (handle) => {
    await untilAwaitingApproval(handle);
    const signed = await signedBy(handle, 'bob', 'reject', { comment: 'not during the sale' });
    const answer = await handle.executeUpdate(approveUpdate, { args: [signed] });
    expect(answer).toMatchObject({ accepted: true, approver: 'bob', decision: 'rejected' });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('ApprovalRejected');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe('rejected by bob: not during the sale');
    expect(mutating(c.calls)).toEqual([]);
    expect(await acceptedApprovals(handle)).toEqual([signed]);
    expect((await handle.describe()).typedSearchAttributes.get(NksPhase)).toBe('failed');
  });
});

test('an approve sent when the run is not waiting (still in preflight) is refused and leaves no trace', async () => {
  let release!: () => void;
  const c: FakeCluster = { calls: [], holdPreflight: new Promise<void>((res) => (release = res)) };
  await withRun(c, { requireApproval: true }, async (handle) => {
    for (let i = 0; i < 200 && !c.calls.includes('listClusterNodesPage'); i++) {
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(c.calls).toEqual(['listClusterNodesPage']);
    const early = { statement: '{}', signature: 'AAAA' };
    expect(await refusal(handle, early)).toBe('not awaiting approval (phase: preflight)');
    release();
    await untilAwaitingApproval(handle);
    const signed = await signedBy(handle, 'carol');
    await handle.executeUpdate(approveUpdate, { args: [signed] });
    const r = (await handle.result()) as CalicoImageRepairResult;
    expect(r.approvedBy).toBe('carol');
    expect(await acceptedApprovals(handle)).toEqual([signed]);
  });
});

test("the UI's current details while waiting: counts per kind of item, the whole approve command (no <…> for its HTML to swallow)", async () => {
  const cluster: FakeCluster = { calls: [] };
  await withRun(cluster, { requireApproval: true }, async (handle) => {
    await untilAwaitingApproval(handle);
    const metadata = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    const lines = (metadata.currentDetails ?? '').split('\n');
    expect(lines.slice(0, 4)).toEqual([
      '**calicoImageRepair** on cluster `sim`',
      'Phase: **awaiting-approval** — waiting for `nksr approve`',
      'Nodes: 2 succeeded',
      'Resources: 3 pending',
    ]);
    expect(lines[4]).toMatch(
      new RegExp(`\\(plan sha256 [0-9a-f]{12}; send: nksr approve ${handle.workflowId}; expires in 24h\\)`),
    );
    expect(metadata.currentDetails).not.toMatch(/<[^>]*>/);
    await handle.terminate('test over');
  });
});
