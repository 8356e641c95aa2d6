/**
 * dockerHubPullSecret on the real stack: Temporal dev server + the simulator's Kubernetes API. The
 * test adds Docker Hub's `toomanyrequests` as image faults, applies sim/fixtures/docker-hub-rate-limit.yaml
 * (in a namespace of this file's own instead of the fixture's hub-demo, which clusterDiagnosis's test
 * uses; not in `sim up`'s fixtures), and runs a worker whose registry names a fake
 * credential file. The simulator does not check pull secrets: once the secret is in place the test
 * clears the image faults (Docker Hub would now let the logged-in pulls through), so the replacements
 * of the deleted pods start. The credential is then searched for in the workflow's whole history and
 * in everything the worker logged.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { type Client, type Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Runtime } from '@temporalio/worker';
import { executionTree, PAYLOAD_LIMIT_BYTES, treeMaxima } from '../../bench/history-stats';
import type { SimHandle } from '../../sim';
import type { WriteTarget } from '../../src/activities/deps';
import type { DockerHubPullSecretResult } from '../../src/common/procedures/docker-hub-pull-secret';
import { MAX_LISTED_SUCCESSES } from '../../src/common/report';
import type { ClusterEntry } from '../../src/common/registry-schema';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import {
  connectSim,
  connectTemporal,
  recordHistory,
  requiredEnv,
  type RunningWorker,
  simAvailable,
  startWorker,
  tempDir,
  useSharedSim,
  writeFile,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
const NS = 'hub-pull-secret-test';
const SECRET = 'dockerhub-pull-secret';
const FIXTURE = readFileSync(
  join(REPO_ROOT, 'sim', 'fixtures', 'docker-hub-rate-limit.yaml'),
  'utf8',
).replaceAll('hub-demo', NS);
const RATE_LIMIT =
  'toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit ({image})';

/** A fake credential, unique per run so a hit can only come from this run. */
const USER = 'nksr-test';
const TOKEN = `dckr_pat_FAKE${randomUUID().replaceAll('-', '')}`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

let sim: SimHandle;
let core: CoreV1Api;
let connection: Connection;
let client: Client;
let worker: RunningWorker;
let sim0: ClusterEntry;
let credentials: string;
/** A test's concurrent edit between the worker's read and write (testHooks.beforeWrite). */
let beforeWrite: ((target: WriteTarget) => Promise<void>) | undefined;
/** Everything the worker's runtime logger was given (every level) and this process wrote to stdout/stderr. */
const workerLog: string[] = [];
const restore: (() => void)[] = [];

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const waitingReason = (p: V1Pod) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
const live = (pods: V1Pod[]) => pods.filter((p) => !p.metadata?.deletionTimestamp);

function captureWorkerLog(): void {
  const logger = Runtime.instance().logger as {
    log: (level: string, message: string, meta?: unknown) => void;
  };
  const original = logger.log.bind(logger);
  logger.log = (level, message, meta) => {
    workerLog.push(
      `${level} ${message} ${JSON.stringify(meta ?? {}, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`,
    );
    original(level, message, meta);
  };
  restore.push(() => {
    logger.log = original;
  });
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      workerLog.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
}

maybe('dockerHubPullSecret against the simulator', () => {
  beforeAll(async () => {
    ({ sim, core } = connectSim());
    ({ connection, client } = await connectTemporal());
    // The worker's registry: the simulator's entry plus the (fake) Docker Hub credential file.
    const credentialsFile = writeFile(
      tempDir('hub'),
      'dockerhub.json',
      JSON.stringify({ username: USER, token: TOKEN }),
    );
    sim0 = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')).get('sim');
    credentials = credentialsFile;
    captureWorkerLog();
    worker = await startWorker({
      registry: registryFromEntries({
        sim: {
          ...sim0,
          dockerHub: { credentialsFile },
          policy: { dockerHubPullSecret: { namespaces: [NS] } },
        },
      }),
      testHooks: { beforeWrite: (t) => beforeWrite?.(t) ?? Promise.resolve() },
    });

    await sim.clearImageFaults();
    await sim.failImage({ pattern: '-hub$', message: RATE_LIMIT });
    await sim.failImage({ pattern: '-hub-missing$', message: 'manifest unknown: {image} not found' });
    await sim.kubectl(['apply', '-f', '-'], { input: FIXTURE });
    await waitFor(`stuck pods in ${NS}`, async () => {
      const pods = live((await core.listNamespacedPod({ namespace: NS })).items);
      return (
        pods.length === 6 &&
        pods.every((p) => ['ErrImagePull', 'ImagePullBackOff'].includes(waitingReason(p) ?? ''))
      );
    });
  });

  afterAll(async () => {
    beforeWrite = undefined;
    await worker?.stop();
    for (const r of restore.reverse()) r();
    await connection?.close();
    await sim?.clearImageFaults().catch(() => undefined);
  });

  async function start(input: Record<string, unknown>) {
    return client.workflow.start('dockerHubPullSecret', {
      taskQueue: worker.taskQueue,
      workflowId: `nks/sim/dockerHubPullSecret/${randomUUID().slice(0, 8)}`,
      args: [{ cluster: 'sim', ...input }],
    });
  }

  /**
   * What a run could change: which pods exist (UIDs: kwok rewrites pod statuses on its own, so their
   * resourceVersions move without us), and the resourceVersions of secrets and service accounts.
   */
  async function versions(): Promise<Record<string, string | undefined>> {
    const out: Record<string, string | undefined> = {};
    for (const p of (await core.listNamespacedPod({ namespace: NS })).items)
      out[`pod/${p.metadata?.name}`] = p.metadata?.uid;
    for (const s of (await core.listNamespacedSecret({ namespace: NS })).items)
      out[`secret/${s.metadata?.name}`] = s.metadata?.resourceVersion;
    for (const s of (await core.listNamespacedServiceAccount({ namespace: NS })).items)
      out[`sa/${s.metadata?.name}`] = s.metadata?.resourceVersion;
    return out;
  }

  async function podsOf(app: string): Promise<V1Pod[]> {
    return live((await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items);
  }

  /**
   * The history as JSON plus every base64 field decoded (payloads are base64 of their JSON in the
   * history's JSON form), so a credential inside any payload, failure or heartbeat shows in plain text.
   */
  async function historyText(handle: { fetchHistory(): Promise<unknown> }): Promise<string> {
    const json = historyToJSON((await handle.fetchHistory()) as Parameters<typeof historyToJSON>[0]);
    const decoded: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') {
        if (v.length >= 8 && v.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(v))
          decoded.push(Buffer.from(v, 'base64').toString('utf8'));
      } else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(json));
    return `${json}\n${decoded.join('\n')}`;
  }

  function expectNoCredential(text: string, where: string): void {
    for (const needle of [TOKEN, b64(TOKEN), b64(`${USER}:${TOKEN}`), b64(`${USER}:${TOKEN}`).slice(0, 24)]) {
      expect([where, text.includes(needle)]).toEqual([where, false]);
    }
  }

  test('dry run: the exact plan, nothing changed (resourceVersions equal)', async () => {
    const before = await versions();
    const handle = await start({ dryRun: true, namespaces: [NS] });
    const result = (await handle.result()) as DockerHubPullSecretResult;
    expect(result.outcome).toBe('planned');
    expect(result.namespaces).toEqual([NS]);
    expect(result.secrets).toEqual([{ namespace: NS, secret: SECRET, action: 'create' }]);
    expect(result.serviceAccounts.map((s) => [s.serviceAccount, s.action])).toEqual([
      ['cache-sa', 'add'],
      ['default', 'add'],
    ]);
    // Only Docker Hub pods on the rate limit: not quay.io, not a "not found".
    expect(result.pods.map((p) => [p.name.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''), p.outcome]).sort()).toEqual([
      ['cache', 'planned'],
      ['hub-debug', 'bare-not-touched'],
      ['shop', 'planned'],
      ['shop', 'planned'],
    ]);
    expect(result.nodes.length).toBeGreaterThan(0);
    expect(await versions()).toEqual(before);
    expectNoCredential(await historyText(handle), 'dry-run history');
  });

  test('hostile or malformed input: a clear InvalidInput, nothing changed; a credential is refused as input', async () => {
    const before = await versions();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ namespaces: ['Hub_Demo'] }, /namespaces\.0: must be a Kubernetes namespace name/],
      [{ namespaces: 'hub-demo' }, /namespaces: expected array/],
      [{ secretName: 'Bad Name!' }, /secretName: must be a Kubernetes object name/],
      [{ secretName: '../kube-system/x' }, /secretName: must be a Kubernetes object name/],
      [{ replacementTimeoutSeconds: 'soon' }, /replacementTimeoutSeconds: expected number/],
      [{ replacementTimeoutSeconds: -5 }, /replacementTimeoutSeconds: /],
      [{ token: 'x', username: 'y' }, /unknown field\(s\) token, username/],
      [{ requireApproval: 'yes' }, /requireApproval: expected boolean/],
    ];
    for (const [input, message] of cases) {
      const err = await (await start(input)).result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect([cause.type, cause.message]).toEqual(['InvalidInput', expect.stringMatching(message)]);
    }
    expect(await versions()).toEqual(before);
  });

  test('a worker without dockerHub.credentialsFile: RemediationFailed with the report, nothing changed', async () => {
    const before = await versions();
    const plain = await startWorker(); // the simulator's clusters.yaml: no dockerHub entry
    try {
      const handle = await client.workflow.start('dockerHubPullSecret', {
        taskQueue: plain.taskQueue,
        workflowId: `nks/sim/dockerHubPullSecret/${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim', namespaces: [NS] }],
      });
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('RemediationFailed');
      expect(cause.message).toMatch(/no dockerHub\.credentialsFile for this cluster/);
      const report = cause.details?.[0] as DockerHubPullSecretResult;
      expect([report.credential, report.secrets, report.serviceAccounts]).toEqual(['not-configured', [], []]);
      expect(report.pods).toHaveLength(4);
    } finally {
      await plain.stop();
    }
    expect(await versions()).toEqual(before);
  });

  /** A run on a worker of its own (another policy), expected to fail: the failure's cause. */
  async function failedRunOn(policy: ClusterEntry['policy'], input: Record<string, unknown>) {
    const other = await startWorker({
      registry: registryFromEntries({
        sim: { ...sim0, dockerHub: { credentialsFile: credentials }, policy },
      }),
    });
    try {
      const handle = await client.workflow.start('dockerHubPullSecret', {
        taskQueue: other.taskQueue,
        workflowId: `nks/sim/dockerHubPullSecret/${randomUUID().slice(0, 8)}`,
        args: [{ cluster: 'sim', namespaces: [NS], ...input }],
      });
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      return { handle, cause: (err as WorkflowFailedError).cause as ApplicationFailure };
    } finally {
      await other.stop();
    }
  }

  test("a namespace outside the worker's policy gets no credential: the pods are reported, nothing changed", async () => {
    const before = await versions();
    for (const policy of [undefined, { dockerHubPullSecret: { namespaces: ['team-*', `${NS}-other`] } }]) {
      const { handle, cause } = await failedRunOn(policy, {});
      expect(cause.type).toBe('RemediationFailed');
      expect(cause.message).toMatch(
        /policy\.dockerHubPullSecret\.namespaces allows none of their namespaces: nothing changed/,
      );
      const report = cause.details?.[0] as DockerHubPullSecretResult;
      expect([report.namespaces, report.secrets, report.serviceAccounts]).toEqual([[], [], []]);
      expect(new Set(report.pods.map((p) => p.outcome))).toEqual(new Set(['namespace-not-allowed']));
      expectNoCredential(await historyText(handle), 'refused-namespace history');
    }
    expect(await versions()).toEqual(before);
  });

  test('a same-named secret that nks-remediation did not create is left alone, before any write', async () => {
    const foreign = 'someone-elses-pull-secret';
    const config = JSON.stringify({ auths: { 'registry.example.com': { auth: b64('them:theirs') } } });
    await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: foreign, namespace: NS },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': b64(config) },
      },
    });
    try {
      const before = await versions();
      const { cause } = await failedRunOn(
        { dockerHubPullSecret: { namespaces: [NS] } },
        { secretName: foreign },
      );
      // The refusal is the root of the failure chain (an activity's, under the workflow's).
      let refusal: Error | undefined = cause;
      while (refusal?.cause instanceof Error) refusal = refusal.cause;
      expect((refusal as ApplicationFailure).type).toBe('PolicyRefused');
      expect(refusal.message).toMatch(/was not created by nks-remediation.*left alone/);
      expect(await versions()).toEqual(before);
      const kept = await core.readNamespacedSecret({ name: foreign, namespace: NS });
      expect(Buffer.from(kept.data!['.dockerconfigjson']!, 'base64').toString()).toBe(config);
    } finally {
      await core.deleteNamespacedSecret({ name: foreign, namespace: NS });
    }
  });

  test('secret created, service accounts updated (a concurrent edit re-read, not overwritten), stuck pods recreated and running, bare pod untouched; no trace of the credential in history or log', async () => {
    const stuckShop = (await podsOf('shop')).map((p) => p.metadata!.uid!);
    const stuckCache = (await podsOf('cache')).map((p) => p.metadata!.uid!);
    const untouchedUids = Object.fromEntries(
      await Promise.all(
        ['hub-debug'].map(async (n) => [
          n,
          (await core.readNamespacedPod({ name: n, namespace: NS })).metadata?.uid,
        ]),
      ),
    );
    const otherUids = [...(await podsOf('quay-thing')), ...(await podsOf('missing'))].map(
      (p) => p.metadata!.uid!,
    );
    const edits: string[] = [];
    beforeWrite = async (t) => {
      if (t.kind === 'ServiceAccount' && t.name === 'default' && t.namespace === NS && t.attempt === 1) {
        // Someone else adds a pull secret of their own between our read and our write.
        const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: NS });
        await core.replaceNamespacedServiceAccount({
          name: 'default',
          namespace: NS,
          body: { ...sa, imagePullSecrets: [...(sa.imagePullSecrets ?? []), { name: 'someone-elses' }] },
        });
        edits.push('default');
      }
    };
    const handle = await start({ namespaces: [NS] });
    // The simulator does not check credentials: Docker Hub "accepts" the login once the secret exists.
    await waitFor('the pull secret', async () =>
      (await core.listNamespacedSecret({ namespace: NS })).items.some((s) => s.metadata?.name === SECRET),
    );
    await sim.clearImageFaults();
    const result = (await handle.result()) as DockerHubPullSecretResult;
    beforeWrite = undefined;

    expect(result.outcome).toBe('fixed');
    expect(result.secrets).toEqual([{ namespace: NS, secret: SECRET, action: 'created' }]);
    const secret = await core.readNamespacedSecret({ name: SECRET, namespace: NS });
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    const config = JSON.parse(Buffer.from(secret.data!['.dockerconfigjson']!, 'base64').toString()) as {
      auths: Record<string, { auth: string }>;
    };
    expect(config.auths['https://index.docker.io/v1/']!.auth).toBe(b64(`${USER}:${TOKEN}`));

    // Service accounts: the secret once; the concurrent edit kept.
    expect(edits).toEqual(['default']);
    const defaultSa = await core.readNamespacedServiceAccount({ name: 'default', namespace: NS });
    expect(defaultSa.imagePullSecrets?.map((s) => s.name)).toEqual(['someone-elses', SECRET]);
    const cacheSa = await core.readNamespacedServiceAccount({ name: 'cache-sa', namespace: NS });
    expect(cacheSa.imagePullSecrets?.map((s) => s.name)).toEqual([SECRET]);
    expect(result.serviceAccounts).toEqual([
      { namespace: NS, serviceAccount: 'cache-sa', action: 'added', previous: [] },
      // previous: as re-read after the concurrent edit
      {
        namespace: NS,
        serviceAccount: 'default',
        action: 'added',
        previous: ['someone-elses'],
        conflicts: 1,
      },
    ]);

    // Stuck pods replaced by new, running ones that carry the secret (service account admission).
    for (const [app, old, count] of [
      ['shop', stuckShop, 2],
      ['cache', stuckCache, 1],
    ] as const) {
      const pods = await podsOf(app);
      expect(pods).toHaveLength(count);
      for (const p of pods) {
        expect(old).not.toContain(p.metadata?.uid);
        expect(p.status?.phase).toBe('Running');
        expect(p.spec?.imagePullSecrets?.map((s) => s.name)).toContain(SECRET);
      }
    }
    // The bare pod and the pods that are not Docker Hub rate limits: never deleted.
    expect((await core.readNamespacedPod({ name: 'hub-debug', namespace: NS })).metadata?.uid).toBe(
      untouchedUids['hub-debug'],
    );
    expect(
      [...(await podsOf('quay-thing')), ...(await podsOf('missing'))].map((p) => p.metadata!.uid!),
    ).toEqual(otherUids);
    const bare = result.pods.find((p) => p.name === 'hub-debug')!;
    expect(bare.outcome).toBe('bare-not-touched');
    expect(result.pods.filter((p) => p.outcome === 'recreated')).toHaveLength(3);
    expect(result.nodes.length).toBeGreaterThan(0);
    expect(result.namespaces).toEqual([NS]);

    // No trace of the credential: the whole history from the server, the result, the worker's log.
    const history = await historyText(handle);
    // The scan sees the payloads: the secret's name and the run's outcome are in them.
    expect(history).toContain(`"secret":"${SECRET}"`);
    expect(history).toContain('"outcome":"fixed"');
    expectNoCredential(history, 'history');
    expectNoCredential(JSON.stringify(result), 'result');
    // The capture sees the activities' own log lines (INFO, below the runtime's ERROR threshold).
    expect(workerLog.join('\n')).toContain(`serviceaccount ${NS}/default changed since read (409)`);
    expectNoCredential(workerLog.join('\n'), 'worker log');
    await recordHistory(client, handle.workflowId, 'dockerHubPullSecret-sim-fixed');
  });

  test('a second wave reuses the secret and service accounts unchanged (idempotent) and recreates the new stuck pods', async () => {
    const secretVersion = (await core.readNamespacedSecret({ name: SECRET, namespace: NS })).metadata
      ?.resourceVersion;
    // This time the status says only 429; the rate limit is in the pod's events (as kubelet records them).
    await sim.failImage({
      pattern: '-hub2$',
      message: 'failed to pull and unpack image "{image}": 429 Too Many Requests',
    });
    await sim.kubectl(['create', 'deployment', 'shop2', '-n', NS, '--image=nginx:1.25-hub2']);
    await waitFor('shop2 stuck', async () => {
      const pods = await podsOf('shop2');
      return (
        pods.length === 1 && ['ErrImagePull', 'ImagePullBackOff'].includes(waitingReason(pods[0]!) ?? '')
      );
    });
    const pod = (await podsOf('shop2'))[0]!;
    const stuck = pod.metadata!.uid;
    const dry = (await (
      await start({ dryRun: true, namespaces: [NS] })
    ).result()) as DockerHubPullSecretResult;
    expect(dry.outcome).toBe('nothing-to-do'); // a 429 alone is not Docker Hub's rate limit
    await core.createNamespacedEvent({
      namespace: NS,
      body: {
        metadata: { name: `${pod.metadata!.name}.pull`, namespace: NS },
        involvedObject: { kind: 'Pod', namespace: NS, name: pod.metadata!.name, uid: stuck },
        reason: 'Failed',
        type: 'Warning',
        message: `Failed to pull image "nginx:1.25-hub2": ${RATE_LIMIT.replace('{image}', 'nginx:1.25-hub2')}`,
        source: { component: 'kubelet', host: pod.spec?.nodeName },
      },
    });
    const handle = await start({ namespaces: [NS] });
    await waitFor('the stuck pod deleted', async () =>
      (await podsOf('shop2')).every((p) => p.metadata?.uid !== stuck),
    );
    await sim.clearImageFaults();
    const result = (await handle.result()) as DockerHubPullSecretResult;
    expect(result.outcome).toBe('fixed');
    expect(result.secrets).toEqual([{ namespace: NS, secret: SECRET, action: 'unchanged' }]);
    expect(result.serviceAccounts).toEqual([
      { namespace: NS, serviceAccount: 'default', action: 'unchanged', previous: ['someone-elses', SECRET] },
    ]);
    expect((await core.readNamespacedSecret({ name: SECRET, namespace: NS })).metadata?.resourceVersion).toBe(
      secretVersion,
    );
    const pods = await podsOf('shop2');
    expect(pods.map((p) => p.status?.phase)).toEqual(['Running']);
    expectNoCredential(await historyText(handle), 'second history');
    expectNoCredential(workerLog.join('\n'), 'worker log');
  });
  test("a Deployment's 40 stuck pods recreated: no payload in the history grows with the pods beyond what 50,000 pods allow", async () => {
    const replicas = 40;
    await sim.failImage({ pattern: '-hub3$', message: RATE_LIMIT });
    await sim.kubectl([
      'create',
      'deployment',
      'fleet',
      '-n',
      NS,
      '--image=nginx:1.25-hub3',
      `--replicas=${replicas}`,
    ]);
    await waitFor(
      'fleet stuck',
      async () => {
        const pods = await podsOf('fleet');
        return (
          pods.length === replicas &&
          pods.every((p) => ['ErrImagePull', 'ImagePullBackOff'].includes(waitingReason(p) ?? ''))
        );
      },
      180_000,
    );
    const stuck = new Set((await podsOf('fleet')).map((p) => p.metadata!.uid));
    const handle = await start({ namespaces: [NS] });
    await waitFor(
      'the stuck fleet deleted',
      async () => (await podsOf('fleet')).every((p) => !stuck.has(p.metadata!.uid)),
      180_000,
    );
    await sim.clearImageFaults();
    const result = (await handle.result()) as DockerHubPullSecretResult;
    expect(result.outcome).toBe('fixed');
    const fleet = await podsOf('fleet');
    expect(fleet.map((p) => p.status?.phase)).toEqual(Array(replicas).fill('Running'));
    // 5,000 nodes carry about 50,000 pods: a payload may grow by at most its share of 64 KB per pod,
    // beyond a fixed part (the report lists up to MAX_LISTED_SUCCESSES pods by name).
    const perPod = PAYLOAD_LIMIT_BYTES / 50_000;
    const fixedPart = 4 * 1024 + MAX_LISTED_SUCCESSES * 200;
    const { largestPayload } = treeMaxima(await executionTree(client, handle.workflowId));
    expect(largestPayload).toBeDefined();
    const bound = fixedPart + replicas * perPod;
    expect([largestPayload!.where, largestPayload!.bytes]).toEqual([
      largestPayload!.where,
      Math.min(largestPayload!.bytes, bound),
    ]);
  });
});
