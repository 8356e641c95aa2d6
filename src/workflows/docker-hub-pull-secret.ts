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
  type PullSecretReport,
  type RateLimitedPod,
  type ServiceAccountReport,
  type StuckPodReport,
} from '../common/procedures/docker-hub-pull-secret';
import { quickActivities, WAIT_SLACK_SECONDS, waitActivities } from './activity-profiles';
import { awaitApproval } from './lib/approval';
import { failureSummary, remediationFailed } from './lib/failures';
import { beginRemediation, runPreflight, type ProgressTracker } from './lib/progress';

export async function dockerHubPullSecret(raw: DockerHubPullSecretInput): Promise<DockerHubPullSecretResult> {
  const { input, progress } = beginRemediation('dockerHubPullSecret', raw, DockerHubPullSecretInputSchema);
  return progress.run(
    async () => failIfFailed(await fix(input, progress)),
    (r) => r.summary,
  );
}

/** A failed outcome fails the workflow (RemediationFailed, non-retryable) with the full report in its details. */
function failIfFailed(result: DockerHubPullSecretResult): DockerHubPullSecretResult {
  if (result.outcome !== 'failed') return result;
  throw remediationFailed(result);
}

const podKey = (p: { namespace: string; name: string }) => `pod/${p.namespace}/${p.name}`;
const controllerOf = (p: RateLimitedPod) =>
  p.controller ? `${p.controller.kind} ${p.controller.name}` : undefined;

async function fix(
  input: DockerHubPullSecretOptions,
  progress: ProgressTracker,
): Promise<DockerHubPullSecretResult> {
  const { checkDockerHubCredential, findRateLimitedPods, ensurePullSecret, ensureServiceAccountPullSecret } =
    quickActivities();
  await runPreflight(progress, input);
  const { configured } = await checkDockerHubCredential({ cluster: input.cluster });
  progress.phase('scan', input.namespaces ? input.namespaces.join(', ') : 'all namespaces');
  const stuck = await findRateLimitedPods({ cluster: input.cluster, namespaces: input.namespaces });
  const namespaces = [...new Set(stuck.map((p) => p.namespace))].sort();
  const nodes = [...new Set(stuck.flatMap((p) => (p.node ? [p.node] : [])))].sort();
  const accounts = [...new Set(stuck.map((p) => `${p.namespace}/${p.serviceAccount}`))].sort();
  const pods: StuckPodReport[] = stuck.map((p) => ({
    namespace: p.namespace,
    name: p.name,
    ...(p.node ? { node: p.node } : {}),
    ...(p.controller ? { controller: controllerOf(p) } : {}),
    outcome: p.controller ? 'planned' : 'bare-not-touched',
    detail: p.controller
      ? `${p.reason} on ${p.images.join(', ')}: delete, ${p.controller.kind} recreates it`
      : `${p.reason} on ${p.images.join(', ')}: bare pod, not deleted`,
  }));
  for (const p of pods)
    progress.item(podKey(p), 'object', p.outcome === 'planned' ? 'pending' : 'skipped', p.detail);

  let secrets: PullSecretReport[] = [];
  let serviceAccounts: ServiceAccountReport[] = [];
  const result = (
    outcome: DockerHubPullSecretResult['outcome'],
    summary: string,
    approvedBy?: string,
  ): DockerHubPullSecretResult => ({
    cluster: input.cluster,
    outcome,
    dryRun: input.dryRun,
    credential: configured ? 'configured' : 'not-configured',
    namespaces,
    nodes,
    secrets,
    serviceAccounts,
    pods,
    ...(approvedBy ? { approvedBy } : {}),
    summary,
  });
  const found = `${stuck.length} pod(s) on the Docker Hub rate limit in ${namespaces.length} namespace(s) on ${nodes.length} node(s)`;
  if (stuck.length === 0) return result('nothing-to-do', `no pod stuck on the Docker Hub rate limit`);
  if (!configured)
    return result(
      'failed',
      `${found}; no dockerHub.credentialsFile for this cluster in the worker's registry: nothing changed`,
    );

  // The plan: what each write would do (reads only).
  const ensureAll = async (dryRun: boolean) => {
    secrets = [];
    for (const namespace of namespaces)
      secrets.push(
        await ensurePullSecret({ cluster: input.cluster, namespace, secretName: input.secretName, dryRun }),
      );
    serviceAccounts = [];
    for (const key of accounts) {
      const [namespace, serviceAccount] = key.split('/') as [string, string];
      serviceAccounts.push(
        await ensureServiceAccountPullSecret({
          cluster: input.cluster,
          namespace,
          serviceAccount,
          secretName: input.secretName,
          dryRun,
        }),
      );
    }
  };
  await ensureAll(true);
  const toDelete = stuck.filter((p) => p.controller);
  if (input.dryRun)
    return result(
      'planned',
      `dry run: ${found}; would ${secrets.map((s) => `${s.action} ${s.namespace}/${s.secret}`).join(', ')}; ` +
        `${serviceAccounts.filter((s) => s.action !== 'unchanged').length} service account(s) to update; ` +
        `${toDelete.length} pod(s) to delete, ${stuck.length - toDelete.length} bare pod(s) reported`,
    );

  let approvedBy: string | undefined;
  if (input.requireApproval) {
    const gate = await awaitApproval(
      progress,
      `pull secret in ${namespaces.join(', ')}; delete ${toDelete.length} stuck pod(s)`,
      input,
    );
    if (gate.decision === 'expired')
      return result('approval-expired', `approval expired after ${gate.after}; nothing changed`);
    approvedBy = gate.approver;
  }

  progress.phase('pull-secret', namespaces.join(', '));
  await ensureAll(false);
  for (const s of secrets)
    progress.item(`secret/${s.namespace}/${s.secret}`, 'object', 'succeeded', s.action);
  for (const s of serviceAccounts)
    progress.item(`serviceaccount/${s.namespace}/${s.serviceAccount}`, 'object', 'succeeded', s.action);

  progress.phase('recreate-pods', `${toDelete.length} pod(s)`);
  const { deletePodsByUid } = quickActivities();
  for (const namespace of namespaces) {
    const mine = toDelete.filter((p) => p.namespace === namespace);
    if (mine.length === 0) continue;
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
    let wait: { outcome: string; running: Record<string, string[]>; message: string };
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
    for (const p of mine) {
      const report = pods.find((r) => r.namespace === p.namespace && r.name === p.name)!;
      const running = wait.running[p.controller!.uid] ?? [];
      const gone = deletion.alreadyGone.includes(p.name) ? ' (already gone)' : '';
      const enough = running.length >= controllers.get(p.controller!.uid)!.deleted;
      report.outcome = wait.outcome === 'running' || enough ? 'recreated' : 'not-running';
      report.detail = `deleted${gone}; ${report.outcome === 'recreated' ? `running: ${running.join(', ')}` : wait.message}`;
      report.replacements = running;
      progress.item(
        podKey(p),
        'object',
        report.outcome === 'recreated' ? 'succeeded' : 'failed',
        report.detail,
      );
    }
  }
  const failed = pods.filter((p) => p.outcome === 'not-running' || p.outcome === 'failed');
  const recreated = pods.filter((p) => p.outcome === 'recreated').length;
  return result(
    failed.length ? 'failed' : 'fixed',
    `${found}; secret ${secrets.map((s) => `${s.namespace}/${s.secret} ${s.action}`).join(', ')}; ` +
      `${recreated} pod(s) recreated and running` +
      (failed.length ? `, ${failed.length} not running` : '') +
      (stuck.length - toDelete.length ? `, ${stuck.length - toDelete.length} bare pod(s) reported` : ''),
    approvedBy,
  );
}
