/**
 * Activities of dockerHubPullSecret. The Docker Hub credential is read here, on the worker, from the
 * file the cluster registry names, and goes nowhere but into the Secret written to the API server:
 * results carry names and actions, messages name the file but never quote it, nothing is logged
 * or heartbeated about it.
 */
import { readFileSync } from 'node:fs';
import type { CoreV1Event, V1Pod, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  isDockerHubImage,
  PULL_FAILURE_REASONS,
  type PullSecretReport,
  RATE_LIMIT_RE,
  type RateLimitedPod,
  type ServiceAccountReport,
} from '../../common/procedures/docker-hub-pull-secret';
import type { ActivityDeps, ActivityTestHooks, ClusterRegistry } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import { pullSecretNamespaceAllowed, requirePullSecretNamespaceAllowed } from '../policy';
import { type ClusterKube, kubeClientsFor } from './client';
import { resumeWait } from './deadline';
import { PagedScan } from './paged-list';
import { isConflict, MAX_CONFLICT_RETRIES } from './conflicts';

const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
const DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson';

const op = (kube: ClusterKube, operation: string) => ({
  cluster: kube.cluster,
  operation,
  server: kube.server,
});

/**
 * The docker config JSON to store, from the registry's credentials file: `{"auths": {...}}` as is,
 * or `{"username", "token"|"password"}` made into Docker Hub's auth entry. Deterministic, so an
 * unchanged credential gives byte-identical secret content. Errors name the file, never its content
 * (JSON.parse's message would quote it).
 */
export function dockerConfigFromFile(cluster: string, file: string): string {
  const invalid = (why: string) =>
    ApplicationFailure.nonRetryable(
      `cluster "${cluster}": dockerHub.credentialsFile ${file}: ${why}`,
      ErrorType.RegistryInvalid,
    );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('is not JSON (a docker config {"auths": ...} or {"username": ..., "token": ...})');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid('is not a JSON object');
  const obj = parsed as Record<string, unknown>;
  if (obj.auths !== undefined) {
    const auths = obj.auths;
    if (typeof auths !== 'object' || auths === null || Object.keys(auths).length === 0)
      throw invalid('"auths" is empty or not an object');
    const sorted = Object.fromEntries(
      Object.entries(auths as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
    );
    return JSON.stringify({ auths: sorted });
  }
  const username = obj.username;
  const token = obj.token ?? obj.password;
  if (typeof username !== 'string' || !username || typeof token !== 'string' || !token)
    throw invalid('needs "auths", or "username" and "token" (strings)');
  return JSON.stringify({
    auths: {
      [DOCKER_HUB_AUTH_KEY]: {
        username,
        password: token,
        auth: Buffer.from(`${username}:${token}`).toString('base64'),
      },
    },
  });
}

const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY = 'nks-remediation';

/**
 * Our secret's new docker config: the entries it holds for other registries kept (someone may have
 * added one), ours set. Deterministic (keys sorted), so an unchanged credential gives the same bytes.
 * An existing value that is not a docker config is replaced (the secret is ours).
 */
export function mergeDockerConfig(existingBase64: string | undefined, credential: string): string {
  const ours = (JSON.parse(credential) as { auths: Record<string, unknown> }).auths;
  let theirs: Record<string, unknown> = {};
  if (existingBase64) {
    try {
      const parsed = JSON.parse(Buffer.from(existingBase64, 'base64').toString('utf8')) as unknown;
      const auths = (parsed as { auths?: unknown } | null)?.auths;
      if (typeof auths === 'object' && auths !== null && !Array.isArray(auths))
        theirs = auths as Record<string, unknown>;
    } catch {
      // not JSON: nothing to keep
    }
  }
  const merged = { ...theirs, ...ours };
  return JSON.stringify({
    auths: Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b))),
  });
}

/**
 * The docker config JSON of the cluster's Docker Hub credential (dockerHub.credentialsFile), or
 * undefined when the registry names none. Never to be logged, returned or heartbeated.
 */
export function dockerHubCredentialOf(registry: ClusterRegistry, cluster: string): string | undefined {
  const file = registry.get(cluster).dockerHub?.credentialsFile;
  return file ? dockerConfigFromFile(cluster, file) : undefined;
}

/** What the scan keeps of a pod waiting on a pull of a Docker Hub image. */
interface PullWaitingPod {
  pod: RateLimitedPod;
  /** Its pull failure's reason and whether the status message already says toomanyrequests. */
  waiting: { reason: string; rateLimited: boolean };
}

function pullWaitingPod(pod: V1Pod): PullWaitingPod | undefined {
  if (pod.metadata?.deletionTimestamp) return undefined;
  const hubImages = new Set(
    [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
      .map((c) => c.image ?? '')
      .filter(isDockerHubImage),
  );
  if (hubImages.size === 0) return undefined;
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  let reason: string | undefined;
  let rateLimited = false;
  for (const s of statuses) {
    const waiting = s.state?.waiting;
    if (!waiting?.reason || !(PULL_FAILURE_REASONS as readonly string[]).includes(waiting.reason)) continue;
    if (!hubImages.has(s.image ?? '') && !isDockerHubImage(s.image ?? '')) continue;
    reason = waiting.reason;
    if (RATE_LIMIT_RE.test(waiting.message ?? '')) rateLimited = true;
  }
  if (!reason) return undefined;
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
  return {
    pod: {
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      uid: pod.metadata?.uid ?? '',
      ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
      serviceAccount: pod.spec?.serviceAccountName || 'default',
      images: [...hubImages],
      reason,
      ...(owner ? { controller: { kind: owner.kind, name: owner.name, uid: owner.uid } } : {}),
    },
    waiting: { reason, rateLimited },
  };
}

/**
 * Pods in ErrImagePull/ImagePullBackOff on a Docker Hub image whose status or events say
 * toomanyrequests, with their node, service account and controller. Pods, then (only when some
 * wait on a pull) events, read in pages through one PagedScan: a retry resumes at its last page.
 * Idempotency: read-only.
 */
export async function findRateLimitedPods(
  kube: ClusterKube,
  input: { namespaces?: string[] },
): Promise<RateLimitedPod[]> {
  const scan = new PagedScan(kube);
  const out: RateLimitedPod[] = [];
  for (const namespace of input.namespaces ?? [undefined]) {
    const where = namespace ?? 'all namespaces';
    const waiting = await scan.collect<V1Pod, PullWaitingPod>(
      `list pods in ${where}`,
      (page) =>
        namespace
          ? kube.core.listNamespacedPod({ namespace, ...page })
          : kube.core.listPodForAllNamespaces(page),
      pullWaitingPod,
    );
    const needEvents = new Set(waiting.filter((w) => !w.waiting.rateLimited).map((w) => w.pod.uid));
    const saidByEvents = needEvents.size
      ? new Set(
          await scan.collect<CoreV1Event, string>(
            `list events in ${where}`,
            (page) =>
              namespace
                ? kube.core.listNamespacedEvent({ namespace, ...page })
                : kube.core.listEventForAllNamespaces(page),
            (e) => {
              const uid = e.involvedObject?.uid;
              return uid && needEvents.has(uid) && RATE_LIMIT_RE.test(e.message ?? '') ? uid : undefined;
            },
          ),
        )
      : new Set<string>();
    for (const w of waiting) {
      if (w.waiting.rateLimited || saidByEvents.has(w.pod.uid)) out.push(w.pod);
    }
  }
  return out;
}

/**
 * Creates or updates the dockerconfigjson secret of a namespace from the worker's credential.
 * Check-then-act: unchanged when its content is already the same; an update carries the
 * resourceVersion read (a concurrent change → re-read); a create that meets an existing one (409)
 * re-reads. dryRun: says what it would do, writes nothing.
 * Idempotency: a repeat finds the same content and reports unchanged.
 */
export async function ensurePullSecret(
  kube: ClusterKube,
  credential: string,
  input: { namespace: string; secretName: string; dryRun: boolean },
  hooks?: ActivityTestHooks,
): Promise<PullSecretReport> {
  const { namespace, secretName: name } = input;
  const what = `secret ${namespace}/${name}`;
  let conflicts = 0;
  for (let attempt = 1; ; attempt++) {
    const existing = await withKubeAnswering<V1Secret, undefined>(
      op(kube, `read ${what}`),
      [404],
      undefined,
      () => kube.core.readNamespacedSecret({ name, namespace }),
    );
    const report = (action: PullSecretReport['action']): PullSecretReport => ({
      namespace,
      secret: name,
      action,
      ...(conflicts ? { conflicts } : {}),
    });
    if (existing && existing.type !== DOCKERCONFIGJSON) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${kube.cluster}": ${what} exists with type ${existing.type ?? 'Opaque'} (not ${DOCKERCONFIGJSON}): choose another secretName`,
        ErrorType.KubeInvalid,
      );
    }
    if (existing && existing.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${kube.cluster}": ${what} exists and was not created by nks-remediation ` +
          `(no ${MANAGED_BY_LABEL}=${MANAGED_BY} label): it is left alone; choose another secretName`,
        ErrorType.PolicyRefused,
      );
    }
    const data = {
      '.dockerconfigjson': Buffer.from(
        mergeDockerConfig(existing?.data?.['.dockerconfigjson'], credential),
      ).toString('base64'),
    };
    if (existing && existing.data?.['.dockerconfigjson'] === data['.dockerconfigjson'])
      return report('unchanged');
    if (input.dryRun) return report(existing ? 'update' : 'create');
    await hooks?.beforeWrite?.({ kind: 'Secret', namespace, name, attempt });
    try {
      if (existing) {
        await kube.core.replaceNamespacedSecret({
          name,
          namespace,
          body: { ...existing, data: { ...existing.data, ...data } },
        });
        return report('updated');
      }
      await kube.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
          type: DOCKERCONFIGJSON,
          data,
        },
      });
      return report('created');
    } catch (err) {
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) {
        conflicts++;
        continue;
      }
      // Classified without the request: kubeFailure keeps the operation and the server's short reason.
      return withKube(op(kube, `write ${what}`), () => Promise.reject(err));
    }
  }
}

/**
 * Adds the secret to a service account's imagePullSecrets if absent (no duplicates), with the
 * resourceVersion read: a concurrent change is refused (409), re-read, and the edit made again on
 * top of it, never overwritten. dryRun: reads only.
 * Idempotency: a repeat finds the name present and reports unchanged.
 */
export async function ensureServiceAccountPullSecret(
  kube: ClusterKube,
  input: { namespace: string; serviceAccount: string; secretName: string; dryRun: boolean },
  hooks?: ActivityTestHooks,
): Promise<ServiceAccountReport> {
  const { namespace, serviceAccount: name } = input;
  const what = `serviceaccount ${namespace}/${name}`;
  let conflicts = 0;
  for (let attempt = 1; ; attempt++) {
    const sa: V1ServiceAccount = await withKube(op(kube, `read ${what}`), () =>
      kube.core.readNamespacedServiceAccount({ name, namespace }),
    );
    const current = sa.imagePullSecrets ?? [];
    const report = (action: ServiceAccountReport['action']): ServiceAccountReport => ({
      namespace,
      serviceAccount: name,
      action,
      previous: current.map((s) => s.name ?? ''),
      ...(conflicts ? { conflicts } : {}),
    });
    if (current.some((s) => s.name === input.secretName)) return report('unchanged');
    if (input.dryRun) return report('add');
    await hooks?.beforeWrite?.({ kind: 'ServiceAccount', namespace, name, attempt });
    try {
      await kube.core.replaceNamespacedServiceAccount({
        name,
        namespace,
        body: { ...sa, imagePullSecrets: [...current, { name: input.secretName }] },
      });
      return report('added');
    } catch (err) {
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) {
        conflicts++;
        Context.current().log.info(`${what} changed since read (409); re-reading`);
        continue;
      }
      return withKube(op(kube, `update ${what}`), () => Promise.reject(err));
    }
  }
}

const MAX_NAMED_CONTROLLERS = 10;

export interface ReplacementWaitInput {
  namespace: string;
  /** Controller UID → how many of its pods were deleted. */
  controllers: { uid: string; kind: string; name: string; deleted: number }[];
  deletedUids: string[];
  timeoutSeconds: number;
}

export interface ReplacementWaitResult {
  outcome: 'running' | 'timeout';
  /** Controller UID → how many of its pods not among the deleted are Running (counts, not names: bounded). */
  running: Record<string, number>;
  message: string;
}

/**
 * Waits until every controller has at least as many Running pods (not among the deleted) as were
 * deleted from it. Heartbeats its deadline, so a retry resumes it.
 * Idempotency: read-only.
 */
export async function waitForReplacementPods(
  kube: ClusterKube,
  input: ReplacementWaitInput,
): Promise<ReplacementWaitResult> {
  const ctx = Context.current();
  const beat = resumeWait(input.timeoutSeconds);
  const deleted = new Set(input.deletedUids);
  for (;;) {
    const pods = await withKube(op(kube, `list pods in ${input.namespace}`), () =>
      kube.core.listNamespacedPod({ namespace: input.namespace }),
    );
    const running: Record<string, number> = {};
    for (const c of input.controllers) running[c.uid] = 0;
    for (const p of pods.items) {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
      if (!owner || !(owner.uid in running) || deleted.has(p.metadata?.uid ?? '')) continue;
      if (p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp) running[owner.uid]!++;
    }
    const short = input.controllers.filter((c) => running[c.uid]! < c.deleted);
    // The heartbeat (and a timeout's failure, which carries it) names a few controllers, counts the rest.
    const named = short
      .slice(0, MAX_NAMED_CONTROLLERS)
      .map((c) => `${c.kind} ${c.name}: ${running[c.uid]}/${c.deleted} running`);
    const more = short.length - named.length;
    beat.message = short.length
      ? `waiting for ${named.join(', ')}${more ? ` and ${more} more controller(s)` : ''}`
      : 'replacements running';
    ctx.heartbeat(beat);
    if (short.length === 0) return { outcome: 'running', running, message: beat.message };
    if (Date.now() >= beat.deadlineMs)
      return {
        outcome: 'timeout',
        running,
        message: `timed out after ${input.timeoutSeconds}s ${beat.message}`,
      };
    await ctx.sleep(1000);
  }
}

/** Where ensurePullSecret puts the pull secret (the credential itself comes from the registry). */
export interface PullSecretTarget {
  cluster: string;
  namespace: string;
  secretName: string;
  dryRun: boolean;
}

export function createDockerHubActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /** Read-only: is a Docker Hub credential configured for the cluster, and is its file usable? */
    async checkDockerHubCredential(input: { cluster: string }): Promise<{ configured: boolean }> {
      return { configured: dockerHubCredentialOf(deps.registry, input.cluster) !== undefined };
    },
    /**
     * Read-only: pods stuck on Docker Hub's rate limit, each in a namespace outside
     * policy.dockerHubPullSecret.namespaces marked `refusedByPolicy` (a tenant can provoke the event).
     */
    async findRateLimitedPods(input: { cluster: string; namespaces?: string[] }): Promise<RateLimitedPod[]> {
      const entry = deps.registry.get(input.cluster);
      const pods = await findRateLimitedPods(clients.forCluster(input.cluster), input);
      return pods.map((p) =>
        pullSecretNamespaceAllowed(entry, p.namespace)
          ? p
          : {
              ...p,
              refusedByPolicy: `namespace ${p.namespace} is not in policy.dockerHubPullSecret.namespaces`,
            },
      );
    },
    /** Check-then-act create/update of the pull secret; the credential is read here and returned nowhere. */
    async ensurePullSecret(input: PullSecretTarget): Promise<PullSecretReport> {
      requirePullSecretNamespaceAllowed(input.cluster, deps.registry.get(input.cluster), input.namespace);
      const credential = dockerHubCredentialOf(deps.registry, input.cluster);
      if (!credential)
        throw ApplicationFailure.nonRetryable(
          `cluster "${input.cluster}": no dockerHub.credentialsFile in the worker's registry`,
          ErrorType.RegistryInvalid,
        );
      return ensurePullSecret(clients.forCluster(input.cluster), credential, input, deps.testHooks);
    },
    /** Check-then-act: the secret in the service account's imagePullSecrets, once. */
    async ensureServiceAccountPullSecret(input: {
      cluster: string;
      namespace: string;
      serviceAccount: string;
      secretName: string;
      dryRun: boolean;
    }): Promise<ServiceAccountReport> {
      return ensureServiceAccountPullSecret(clients.forCluster(input.cluster), input, deps.testHooks);
    },
    /** Heartbeating wait for the replacements of deleted pods. */
    async waitForReplacementPods(
      input: ReplacementWaitInput & { cluster: string },
    ): Promise<ReplacementWaitResult> {
      return waitForReplacementPods(clients.forCluster(input.cluster), input);
    },
  };
}
