/**
 * dockerHubPullSecret (docs/procedures.md §2): pods stuck on Docker Hub's anonymous rate limit get a pull
 * secret. Per affected namespace: the dockerconfigjson secret (from the worker's credential; only its
 * name travels), the stuck pods' service accounts' imagePullSecrets, then the stuck pods a controller
 * recreates are deleted (UID precondition) and their replacements waited for. Bare pods are reported.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  type DockerHubPullSecretInput,
  DockerHubPullSecretInputSchema,
  type DockerHubPullSecretOptions,
  type DockerHubPullSecretResult,
  podNeedsOperator,
  type PullSecretReport,
  type RateLimitedPod,
  type ServiceAccountReport,
  type StuckPodReport,
} from '../common/procedures/docker-hub-pull-secret';
import { MAX_LISTED_SUCCESSES, notableFirst } from '../common/report';
import {
  clusterScanActivities,
  quickActivities,
  WAIT_SLACK_SECONDS,
  waitActivities,
} from './activity-profiles';
import { approvalStep } from './lib/approval';
import { withClusterLock } from './lib/cluster-lock';
import { failIfFailed, failureSummary } from './lib/failures';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { runPreflight } from './lib/preflight';

export function dockerHubPullSecret(raw: DockerHubPullSecretInput): Promise<DockerHubPullSecretResult> {
  return runRemediation('dockerHubPullSecret', raw, DockerHubPullSecretInputSchema, async (input, progress) =>
    failIfFailed(await fix(input, progress)),
  );
}

const podKey = (p: { namespace: string; name: string }) => `pod/${p.namespace}/${p.name}`;
const controllerOf = (p: RateLimitedPod) =>
  p.controller ? `${p.controller.kind} ${p.controller.name}` : undefined;

type Result = DockerHubPullSecretResult;

/** One run: what the scan found and, as the run goes, each secret's and service account's report. */
class PullSecretRun {
  secrets: PullSecretReport[] = [];
  serviceAccounts: ServiceAccountReport[] = [];
  readonly namespaces: string[];
  readonly nodes: string[];
  readonly accounts: string[];
  readonly pods: StuckPodReport[];
  readonly toDelete: RateLimitedPod[];
  readonly found: string;

  constructor(
    readonly input: DockerHubPullSecretOptions,
    readonly progress: ProgressTracker,
    readonly configured: boolean,
    readonly stuck: RateLimitedPod[],
  ) {
    const allowed = stuck.filter((p) => !p.refusedByPolicy);
    this.namespaces = [...new Set(allowed.map((p) => p.namespace))].sort();
    this.nodes = [...new Set(stuck.flatMap((p) => (p.node ? [p.node] : [])))].sort();
    this.accounts = [...new Set(allowed.map((p) => `${p.namespace}/${p.serviceAccount}`))].sort();
    this.pods = stuck.map(plannedPod);
    this.toDelete = allowed.filter((p) => p.controller);
    this.found = `${stuck.length} pod(s) on the Docker Hub rate limit in ${this.namespaces.length} namespace(s) on ${this.nodes.length} node(s)`;
  }

  result(outcome: Result['outcome'], summary: string, approvedBy?: string): Result {
    const { listed, omitted } = notableFirst(this.pods, podNeedsOperator);
    const podOutcomes: Result['podOutcomes'] = {};
    for (const p of this.pods) podOutcomes[p.outcome] = (podOutcomes[p.outcome] ?? 0) + 1;
    return {
      cluster: this.input.cluster,
      outcome,
      dryRun: this.input.dryRun,
      credential: this.configured ? 'configured' : 'not-configured',
      namespaces: this.namespaces,
      nodes: this.nodes.slice(0, MAX_LISTED_SUCCESSES),
      nodeCount: this.nodes.length,
      secrets: this.secrets,
      serviceAccounts: this.serviceAccounts,
      pods: listed,
      omitted,
      podOutcomes,
      ...(approvedBy ? { approvedBy } : {}),
      summary,
    };
  }
}

function plannedPod(p: RateLimitedPod): StuckPodReport {
  if (p.refusedByPolicy)
    return {
      namespace: p.namespace,
      name: p.name,
      ...(p.node ? { node: p.node } : {}),
      ...(p.controller ? { controller: controllerOf(p) } : {}),
      outcome: 'namespace-not-allowed',
      detail: `${p.reason} on ${p.images.join(', ')}: ${p.refusedByPolicy}; nothing written there`,
    };
  return {
    namespace: p.namespace,
    name: p.name,
    ...(p.node ? { node: p.node } : {}),
    ...(p.controller ? { controller: controllerOf(p) } : {}),
    outcome: p.controller ? 'planned' : 'bare-not-touched',
    detail: p.controller
      ? `${p.reason} on ${p.images.join(', ')}: delete, ${p.controller.kind} recreates it`
      : `${p.reason} on ${p.images.join(', ')}: bare pod, not deleted`,
  };
}

async function fix(input: DockerHubPullSecretOptions, progress: ProgressTracker): Promise<Result> {
  const { checkDockerHubCredential } = quickActivities();
  const preflight = await runPreflight(progress, input);
  const { findRateLimitedPods } = clusterScanActivities(preflight.nodes.length);
  const { configured } = await checkDockerHubCredential({ cluster: input.cluster });
  progress.phase('scan', input.namespaces ? input.namespaces.join(', ') : 'all namespaces');
  const stuck = await findRateLimitedPods({ cluster: input.cluster, namespaces: input.namespaces });
  const run = new PullSecretRun(input, progress, configured, stuck);
  for (const p of run.pods)
    progress.item(podKey(p), 'object', p.outcome === 'planned' ? 'pending' : 'skipped', p.detail);
  if (stuck.length === 0) return run.result('nothing-to-do', `no pod stuck on the Docker Hub rate limit`);
  if (!configured)
    return run.result(
      'failed',
      `${run.found}; no dockerHub.credentialsFile for this cluster in the worker's registry: nothing changed`,
    );
  const refused = stuck.filter((p) => p.refusedByPolicy).length;
  const notAllowed = refused ? `, ${refused} pod(s) in namespaces the worker's policy does not allow` : '';
  if (run.namespaces.length === 0)
    return run.result(
      'failed',
      `${run.found}; the worker's policy.dockerHubPullSecret.namespaces allows none of their namespaces: nothing changed`,
    );
  await ensureSecrets(run, true);
  const bare = run.pods.filter((p) => p.outcome === 'bare-not-touched').length;
  if (input.dryRun)
    return run.result(
      'planned',
      `dry run: ${run.found}; would ${run.secrets.map((s) => `${s.action} ${s.namespace}/${s.secret}`).join(', ')}; ` +
        `${run.serviceAccounts.filter((s) => s.action !== 'unchanged').length} service account(s) to update; ` +
        `${run.toDelete.length} pod(s) to delete, ${bare} bare pod(s) reported${notAllowed}`,
    );
  let approvedBy: string | undefined;
  const what = `pull secret in ${run.namespaces.join(', ')}; delete ${run.toDelete.length} stuck pod(s)`;
  const gate = await approvalStep(progress, what, input);
  if (gate) {
    if (gate.decision === 'expired')
      return run.result('approval-expired', `approval expired after ${gate.after}; nothing changed`);
    approvedBy = gate.approver;
  }
  await withClusterLock(progress, input, async () => {
    progress.phase('pull-secret', run.namespaces.join(', '));
    await ensureSecrets(run, false);
    for (const s of run.secrets)
      progress.item(`secret/${s.namespace}/${s.secret}`, 'object', 'succeeded', s.action);
    for (const s of run.serviceAccounts)
      progress.item(`serviceaccount/${s.namespace}/${s.serviceAccount}`, 'object', 'succeeded', s.action);
    progress.phase('recreate-pods', `${run.toDelete.length} pod(s)`);
    for (const namespace of run.namespaces) await recreatePods(run, namespace);
  });
  const failed = run.pods.filter((p) => p.outcome === 'not-running' || p.outcome === 'failed');
  const recreated = run.pods.filter((p) => p.outcome === 'recreated').length;
  return run.result(
    failed.length ? 'failed' : 'fixed',
    `${run.found}; secret ${run.secrets.map((s) => `${s.namespace}/${s.secret} ${s.action}`).join(', ')}; ` +
      `${recreated} pod(s) recreated and running` +
      (failed.length ? `, ${failed.length} not running` : '') +
      (bare ? `, ${bare} bare pod(s) reported` : '') +
      notAllowed,
    approvedBy,
  );
}

/** The secret in each namespace and on each stuck pod's service account; with dryRun, what each write would do. */
async function ensureSecrets(run: PullSecretRun, dryRun: boolean): Promise<void> {
  const { ensurePullSecret, ensureServiceAccountPullSecret } = quickActivities();
  const { cluster, secretName } = run.input;
  run.secrets = [];
  for (const namespace of run.namespaces)
    run.secrets.push(await ensurePullSecret({ cluster, namespace, secretName, dryRun }));
  run.serviceAccounts = [];
  for (const key of run.accounts) {
    const [namespace, serviceAccount] = key.split('/') as [string, string];
    run.serviceAccounts.push(
      await ensureServiceAccountPullSecret({ cluster, namespace, serviceAccount, secretName, dryRun }),
    );
  }
}

/** The namespace's stuck pods with a controller deleted (UID precondition), their replacements waited for. */
async function recreatePods(run: PullSecretRun, namespace: string): Promise<void> {
  const { input, progress } = run;
  const mine = run.toDelete.filter((p) => p.namespace === namespace);
  if (mine.length === 0) return;
  const { deletePodsByUid } = quickActivities();
  const deletion = await deletePodsByUid({
    cluster: input.cluster,
    namespace,
    pods: mine.map((p) => ({ name: p.name, uid: p.uid })),
  });
  const controllers = new Map<string, { uid: string; kind: string; name: string; deleted: number }>();
  for (const p of mine) {
    const c = p.controller!;
    const entry = controllers.get(c.uid) ?? { ...c, deleted: 0 };
    entry.deleted++;
    controllers.set(c.uid, entry);
  }
  const { waitForReplacementPods } = waitActivities({
    scheduleToCloseTimeout: `${input.replacementTimeoutSeconds + WAIT_SLACK_SECONDS}s`,
  });
  let wait: { outcome: string; running: Record<string, number>; message: string };
  try {
    wait = await waitForReplacementPods({
      cluster: input.cluster,
      namespace,
      controllers: [...controllers.values()],
      deletedUids: mine.map((p) => p.uid),
      timeoutSeconds: input.replacementTimeoutSeconds,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    wait = { outcome: 'failed', running: {}, message: failureSummary(err) };
  }
  // Keyed lookups: a namespace may hold tens of thousands of stuck pods.
  const reports = new Map(run.pods.map((r) => [podKey(r), r]));
  const alreadyGone = new Set(deletion.alreadyGone);
  for (const p of mine) {
    const report = reports.get(podKey(p))!;
    const controller = controllers.get(p.controller!.uid)!;
    // Counts, not the replacements' names: every pod of a controller would list all its replacements.
    const running = wait.running[controller.uid] ?? 0;
    const gone = alreadyGone.has(p.name) ? ' (already gone)' : '';
    const enough = running >= controller.deleted;
    report.outcome = wait.outcome === 'running' || enough ? 'recreated' : 'not-running';
    report.detail = `deleted${gone}; ${
      report.outcome === 'recreated'
        ? `${controller.kind} ${controller.name}: ${running}/${controller.deleted} replacement(s) running`
        : wait.message
    }`;
    progress.item(
      podKey(p),
      'object',
      report.outcome === 'recreated' ? 'succeeded' : 'failed',
      report.detail,
    );
  }
}
