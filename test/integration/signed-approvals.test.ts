/**
 * Signed requests and approvals on the real stack: a worker whose policy wants approval for
 * cinderRescanOnResize by someone other than the requester, two approvers with keys made here
 * (the simulator's sim-operator and a second one), runs started through the SDK with and without a
 * request signature. Statements that must not decide (the requester's own, an unlisted key's,
 * another run's, another plan's, an expired one) are refused with the reason while the run keeps
 * waiting and nothing changes; the second approver's then proceeds, and `nksr audit` shows the
 * verified requester and approver. An unsigned or tampered request is refused before any change.
 * Then the worker's approval policy, table-driven: which runs stop at a gate whatever their input says.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  generateApproverKey,
  readApproverKey,
  signApproval,
  signRunRequest,
} from '../../src/client/approver-key';
import { createNksClient, type NksClient } from '../../src/client/sdk';
import type { CinderRescanOnResizeResult } from '../../src/common/procedures/cinder-rescan-on-resize';
import { GUIDE_DOCKER_LOGROTATE_CONFIG } from '../../src/common/procedures/logrotate-sync';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import { approveUpdate, progressQuery } from '../../src/workflows/definitions';
import { nodePaths } from '../../sim/nodes';
import {
  connectSim,
  connectTemporal,
  requiredEnv,
  runCli,
  type RunningWorker,
  SIM_APPROVER_NAME,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
const SECRET = 'cinder-csi-cloud-config';

maybe('signed requests and approvals: two people, verified', () => {
  let dir: string;
  let core: CoreV1Api;
  let worker: RunningWorker;
  let connection: Connection;
  let client: Client;
  let nks: NksClient;
  let simKey: string;
  let secondKey: string;
  let strangerKey: string;

  /** The cloud-config as the fixtures made it (without rescan-on-resize): each test starts from it. */
  let cinderData: Record<string, string> | undefined;
  const restoreCinder = async () => {
    const secret = await core.readNamespacedSecret({ name: SECRET, namespace: 'kube-system' });
    await core.replaceNamespacedSecret({
      name: SECRET,
      namespace: 'kube-system',
      body: { ...secret, data: cinderData },
    });
  };
  beforeEach(async () => {
    if (cinderData) await restoreCinder();
  });

  const secretVersion = async () =>
    (await core.readNamespacedSecret({ name: SECRET, namespace: 'kube-system' })).metadata?.resourceVersion;

  beforeAll(async () => {
    ({ core } = connectSim());
    cinderData = (await core.readNamespacedSecret({ name: SECRET, namespace: 'kube-system' })).data;
    dir = mkdtempSync(join(tmpdir(), 'nksr-signed-'));
    simKey = readApproverKey(requiredEnv('NKSR_APPROVER_KEY'));
    const secondPublic = generateApproverKey(join(dir, 'second.key'));
    secondKey = readApproverKey(join(dir, 'second.key'));
    generateApproverKey(join(dir, 'stranger.key'));
    strangerKey = readApproverKey(join(dir, 'stranger.key'));
    const file = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE'));
    worker = await startWorker({
      registry: registryFromEntries(
        {
          sim: {
            ...file.get('sim'),
            policy: { approvals: { cinderRescanOnResize: 'required' }, approverOtherThanRequester: true },
          },
        },
        'in-memory',
        [...file.approvers(), { name: 'second-approver', publicKey: secondPublic }],
      ),
    });
    ({ connection, client } = await connectTemporal());
    nks = await createNksClient({ connection, taskQueue: worker.taskQueue });
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function waitAtGate(handle: WorkflowHandle) {
    for (let i = 0; i < 240; i++) {
      const p = await handle.query(progressQuery);
      if (p.approval) return p.approval;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('the run never reached its approval gate');
  }

  async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let cause: unknown = (err as WorkflowFailedError).cause;
    while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: unknown }).cause;
    return cause as ApplicationFailure;
  }

  test('statements that must not decide are refused and the run waits; the other approver’s proceeds; audit shows both people', async () => {
    const before = await secretVersion();
    const { handle } = await nks.startRemediation(
      'cinderRescanOnResize',
      { cluster: 'sim' },
      { signWith: simKey },
    );
    const gate = await waitAtGate(handle);
    expect((await handle.query(progressQuery)).events.join('\n')).toContain(
      `requested by ${SIM_APPROVER_NAME} (signed)`,
    );
    const target = { workflowId: handle.workflowId, runId: gate.runId, planDigest: gate.planDigest };
    const send = (statement: ReturnType<typeof signApproval>) =>
      handle.executeUpdate(approveUpdate, { args: [statement] });
    const cases: [string, ReturnType<typeof signApproval>, RegExp][] = [
      ['the requester’s own', signApproval(simKey, target, 'approve'), /sim-operator asked for this run/],
      ['an unlisted key', signApproval(strangerKey, target, 'approve'), /signed by no key in the worker/],
      [
        'another run’s',
        signApproval(secondKey, { ...target, runId: 'another-run' }, 'approve'),
        /for another run/,
      ],
      [
        'another plan’s',
        signApproval(secondKey, { ...target, planDigest: 'a'.repeat(64) }, 'approve'),
        /another plan/,
      ],
      [
        'an expired one',
        signApproval(secondKey, target, 'approve', { now: Date.now() - 3_600_000, validForMs: 60_000 }),
        /expired/,
      ],
    ];
    for (const [what, statement, reason] of cases) {
      const r = await send(statement);
      expect([what, r.accepted, r.reason]).toEqual([what, false, expect.stringMatching(reason)]);
    }
    // Still waiting, nothing changed.
    expect((await handle.query(progressQuery)).awaitingApproval).toBe(true);
    expect(await secretVersion()).toBe(before);

    const accepted = await send(signApproval(secondKey, target, 'approve', { comment: 'checked' }));
    expect(accepted).toMatchObject({ accepted: true, approver: 'second-approver', decision: 'approved' });
    const result = (await handle.result()) as CinderRescanOnResizeResult;
    expect(result.outcome).toBe('fixed');
    expect(result.approvedBy).toBe('second-approver');

    const audit = await runCli(['audit', handle.workflowId, '--run-id', gate.runId]);
    expect(audit.code).toBe(0);
    expect(audit.stdout).toContain(`(requested by ${SIM_APPROVER_NAME}, signature verified)`);
    expect(audit.stdout).toMatch(/approval by second-approver \(signature verified/);
  });

  test('an unsigned request cannot be approved under the two-person policy: refused before any change', async () => {
    const before = await secretVersion();
    const { handle } = await nks.startRemediation('cinderRescanOnResize', { cluster: 'sim' });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('PolicyRefused');
    expect(failure.message).toMatch(/this run's request is not signed/);
    expect(await secretVersion()).toBe(before);
  });

  test('a request signature over another input (or another workflow) fails the run before any change', async () => {
    const before = await secretVersion();
    const workflowId = 'nks/sim/cinderRescanOnResize';
    const signedFor = { cluster: 'sim', dryRun: true };
    const tampered = {
      cluster: 'sim',
      requestSignature: signRunRequest(
        simKey,
        { workflowId, workflowType: 'cinderRescanOnResize' },
        signedFor,
      ),
    };
    const handle = await client.workflow.start('cinderRescanOnResize', {
      taskQueue: worker.taskQueue,
      workflowId,
      args: [tampered],
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('PolicyRefused');
    expect(failure.message).toBe(
      "the run's request signature is refused: the input is not the one the requester signed; nothing changed",
    );
    expect(await secretVersion()).toBe(before);
  });
});

maybe("the worker's approval policy: runs that wait whatever their input says", () => {
  const CUSTOM = '/var/log/nginx/*.log {\n  daily\n  rotate 3\n  missingok\n}\n';
  let worker: RunningWorker;
  let connection: Connection;
  let client: Client;
  let nodes: string[];

  beforeAll(async () => {
    const { sim } = connectSim();
    nodes = sim.nodes.map((n) => n.name);
    const file = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE'));
    const sha256 = createHash('sha256').update(CUSTOM).digest('hex');
    worker = await startWorker({
      registry: registryFromEntries(
        {
          sim: {
            ...file.get('sim'),
            policy: {
              logrotateSync: {
                configs: [
                  { sha256, allowScripts: false },
                  {
                    sha256: createHash('sha256').update(GUIDE_DOCKER_LOGROTATE_CONFIG).digest('hex'),
                    allowScripts: false,
                  },
                ],
              },
              calicoImageRepair: { registries: ['docker.io/calico', 'registry.example.com/calico'] },
              approvals: { nfsLockServicesRestart: 'required' },
            },
          },
        },
        'in-memory',
        file.approvers(),
      ),
    });
    ({ connection, client } = await connectTemporal());
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
  });

  const logrotateFile = (node: string) =>
    readFileSync(join(nodePaths(requiredEnv('NKSR_SIM_DIR'), node).etcLogrotateD, 'nginx'), 'utf8');

  test.each([
    [
      'logrotateSync with a config other than the guide’s',
      'logrotateSync',
      () => ({ content: CUSTOM, path: '/etc/logrotate.d/nginx', nodes: [nodes[0]!], requireApproval: false }),
      /approval when the config is not the guide's/,
    ],
    [
      'calicoImageRepair from a registry other than docker.io/calico',
      'calicoImageRepair',
      () => ({ registry: 'registry.example.com/calico', requireApproval: false }),
      /approval when registry registry\.example\.com\/calico is not the default/,
    ],
    [
      'nfsLockServicesRestart where the policy requires it',
      'nfsLockServicesRestart',
      () => ({ nodes: [nodes[1]!], requireApproval: false }),
      /requires approval for nfsLockServicesRestart/,
    ],
  ])('%s waits at its gate; nothing is done before', async (_what, workflowType, input, reason) => {
    const handle = await client.workflow.start(workflowType, {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/${workflowType}`,
      args: [{ cluster: 'sim', ...input() }],
    });
    try {
      let waiting = false;
      for (let i = 0; i < 240 && !waiting; i++) {
        waiting = (await handle.query(progressQuery)).awaitingApproval;
        if (!waiting) await new Promise((r) => setTimeout(r, 250));
      }
      expect(waiting).toBe(true);
      const p = await handle.query(progressQuery);
      expect(p.events.join('\n')).toMatch(reason);
      // At the gate nothing is in flight, and nothing has been done.
      expect((await handle.describe()).raw.pendingActivities ?? []).toHaveLength(0);
      if (workflowType === 'logrotateSync') expect(() => logrotateFile(nodes[0]!)).toThrow(/ENOENT/);
    } finally {
      await handle.terminate('test done');
    }
  });

  test('the guide’s logrotate config needs no approval', async () => {
    const handle = await client.workflow.start('logrotateSync', {
      taskQueue: worker.taskQueue,
      workflowId: 'nks/sim/logrotateSync',
      args: [{ cluster: 'sim', nodes: [nodes[0]!] }],
    });
    expect(await handle.result()).toMatchObject({ outcome: 'complete' });
  });
});
