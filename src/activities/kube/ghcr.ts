/**
 * Activities of ghcrMigration: find pod templates on docker.pkg.github.com, move them to ghcr.io with
 * resourceVersion-checked writes, wait for rollouts (Deployment, DaemonSet, StatefulSet), and name
 * the pull secrets that only cover the old host.
 */
import {
  BatchV1Api,
  type V1CronJob,
  type V1DaemonSet,
  type V1Deployment,
  type V1Job,
  type V1Pod,
  type V1PodTemplateSpec,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  type GhcrContainerChange,
  type GhcrMapping,
  type GhcrPullSecret,
  type GhcrReportedObject,
  type GhcrSecretReport,
  type GhcrWorkloadKind,
  type GhcrWorkloadPlan,
  OLD_GITHUB_HOST,
  planContainers,
  usesOldGithubHost,
} from '../../common/procedures/ghcr-migration';
import type { ActivityDeps, ActivityTestHooks } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import { ghcrSecretReportEnabled } from '../policy';
import { type ClusterKube, kubeClientsFor } from './client';
import { isConflict, MAX_CONFLICT_RETRIES } from './conflicts';
import { type ListPage, type PageRequest, PagedScan } from './paged-list';

type Templated = V1Deployment | V1DaemonSet | V1StatefulSet | V1CronJob;

export interface GhcrObjectRef {
  kind: GhcrWorkloadKind;
  namespace: string;
  name: string;
}

const op = (kube: ClusterKube, verb: string, what: string) => ({
  cluster: kube.cluster,
  operation: `${verb} ${what}`,
  server: kube.server,
});

function templateOf(kind: GhcrWorkloadKind, obj: Templated): V1PodTemplateSpec | undefined {
  return kind === 'CronJob'
    ? (obj as V1CronJob).spec?.jobTemplate?.spec?.template
    : (obj as V1Deployment).spec?.template;
}

function containersOf(template: V1PodTemplateSpec | undefined) {
  const spec = template?.spec;
  return [
    ...(spec?.containers ?? []).map((c) => ({ name: c.name, init: false, image: c.image ?? '' })),
    ...(spec?.initContainers ?? []).map((c) => ({ name: c.name, init: true, image: c.image ?? '' })),
  ];
}

function batchOf(kube: ClusterKube): BatchV1Api {
  return kube.config.makeApiClient(BatchV1Api);
}

/** Every object of a kind, in a namespace or all, as `pick` keeps it (paged, through the scan). */
function collectKind<R>(
  scan: PagedScan,
  kube: ClusterKube,
  kind: GhcrWorkloadKind,
  namespace: string | undefined,
  pick: (obj: Templated) => R | undefined,
): Promise<R[]> {
  const apps = kube.apps;
  const batch = batchOf(kube);
  const where = namespace ?? 'all namespaces';
  const inAll = {
    Deployment: (page: PageRequest) => apps.listDeploymentForAllNamespaces(page),
    DaemonSet: (page: PageRequest) => apps.listDaemonSetForAllNamespaces(page),
    StatefulSet: (page: PageRequest) => apps.listStatefulSetForAllNamespaces(page),
    CronJob: (page: PageRequest) => batch.listCronJobForAllNamespaces(page),
  };
  const inOne = {
    Deployment: (page: PageRequest, ns: string) => apps.listNamespacedDeployment({ namespace: ns, ...page }),
    DaemonSet: (page: PageRequest, ns: string) => apps.listNamespacedDaemonSet({ namespace: ns, ...page }),
    StatefulSet: (page: PageRequest, ns: string) =>
      apps.listNamespacedStatefulSet({ namespace: ns, ...page }),
    CronJob: (page: PageRequest, ns: string) => batch.listNamespacedCronJob({ namespace: ns, ...page }),
  };
  return scan.collect<Templated, R>(
    `list ${kind.toLowerCase()}s in ${where}`,
    async (page) =>
      (namespace ? inOne[kind](page, namespace) : inAll[kind](page)) as Promise<ListPage<Templated>>,
    pick,
  );
}

async function readObject(kube: ClusterKube, ref: GhcrObjectRef): Promise<Templated | undefined> {
  const { name, namespace } = ref;
  return withKubeAnswering<Templated, undefined>(
    op(kube, 'read', `${ref.kind.toLowerCase()} ${namespace}/${name}`),
    [404],
    undefined,
    async () => {
      switch (ref.kind) {
        case 'Deployment':
          return kube.apps.readNamespacedDeployment({ name, namespace });
        case 'DaemonSet':
          return kube.apps.readNamespacedDaemonSet({ name, namespace });
        case 'StatefulSet':
          return kube.apps.readNamespacedStatefulSet({ name, namespace });
        case 'CronJob':
          return batchOf(kube).readNamespacedCronJob({ name, namespace });
      }
    },
  );
}

/** PUT of the whole object as read: the API server refuses it (409) if anyone wrote since. */
async function replaceObject(kube: ClusterKube, ref: GhcrObjectRef, body: Templated): Promise<Templated> {
  const { name, namespace } = ref;
  switch (ref.kind) {
    case 'Deployment':
      return kube.apps.replaceNamespacedDeployment({ name, namespace, body: body as V1Deployment });
    case 'DaemonSet':
      return kube.apps.replaceNamespacedDaemonSet({ name, namespace, body: body as V1DaemonSet });
    case 'StatefulSet':
      return kube.apps.replaceNamespacedStatefulSet({ name, namespace, body: body as V1StatefulSet });
    case 'CronJob':
      return batchOf(kube).replaceNamespacedCronJob({ name, namespace, body: body as V1CronJob });
  }
}

/** The pods a workload wants: a DaemonSet's scheduled ones, a Deployment's or StatefulSet's replicas. */
function desiredPodsOf(kind: GhcrWorkloadKind, obj: Templated): { desiredPods?: number } {
  if (kind === 'CronJob') return {};
  if (kind === 'DaemonSet') {
    const n = (obj as V1DaemonSet).status?.desiredNumberScheduled;
    return n !== undefined ? { desiredPods: n } : {};
  }
  return { desiredPods: (obj as V1Deployment | V1StatefulSet).spec?.replicas ?? 1 };
}

export interface GhcrScan {
  workloads: GhcrWorkloadPlan[];
  /** Jobs and bare pods on the old host. */
  untouched: GhcrReportedObject[];
}

const WORKLOAD_KINDS: GhcrWorkloadKind[] = ['Deployment', 'DaemonSet', 'StatefulSet', 'CronJob'];

/**
 * Every Deployment, DaemonSet, StatefulSet and CronJob template with a (init) container on the old
 * host, with its planned changes; Jobs and bare pods on the old host, to report.
 * Idempotency: read-only.
 */
export async function scanGhcr(
  kube: ClusterKube,
  input: { namespaces?: string[]; mapping: GhcrMapping },
): Promise<GhcrScan> {
  const scan = new PagedScan(kube);
  const scopes = input.namespaces ?? [undefined];
  const workloads: GhcrWorkloadPlan[] = [];
  const untouched: GhcrReportedObject[] = [];
  const batch = batchOf(kube);
  for (const namespace of scopes) {
    for (const kind of WORKLOAD_KINDS) {
      const planned = await collectKind<GhcrWorkloadPlan>(scan, kube, kind, namespace, (obj) => {
        const { changes, unmappable } = planContainers(containersOf(templateOf(kind, obj)), input.mapping);
        if (changes.length === 0 && unmappable.length === 0) return undefined;
        return {
          kind,
          namespace: obj.metadata?.namespace ?? '',
          name: obj.metadata?.name ?? '',
          resourceVersion: obj.metadata?.resourceVersion ?? '',
          changes,
          unmappable,
          ...desiredPodsOf(kind, obj),
        };
      });
      workloads.push(...planned);
    }
    const where = namespace ?? 'all namespaces';
    const jobs = await scan.collect<V1Job, GhcrReportedObject>(
      `list jobs in ${where}`,
      (page) =>
        namespace ? batch.listNamespacedJob({ namespace, ...page }) : batch.listJobForAllNamespaces(page),
      (job) => {
        const images = containersOf(job.spec?.template)
          .map((c) => c.image)
          .filter(usesOldGithubHost);
        if (images.length === 0) return undefined;
        const finished = (job.status?.conditions ?? []).some(
          (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
        );
        const owner = job.metadata?.ownerReferences?.find((o) => o.controller);
        return {
          kind: 'Job',
          namespace: job.metadata?.namespace ?? '',
          name: job.metadata?.name ?? '',
          state: finished ? 'finished' : job.spec?.suspend ? 'suspended' : 'running',
          images,
          note:
            'a Job template cannot be changed: not touched' +
            (owner
              ? `; created by ${owner.kind} ${owner.name} (its next Jobs use the migrated template)`
              : ''),
        };
      },
    );
    untouched.push(...jobs);
    const pods = await scan.collect<V1Pod, GhcrReportedObject>(
      `list pods in ${where}`,
      (page) =>
        namespace
          ? kube.core.listNamespacedPod({ namespace, ...page })
          : kube.core.listPodForAllNamespaces(page),
      (pod) => {
        if (pod.metadata?.ownerReferences?.some((o) => o.controller)) return undefined;
        const images = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]
          .map((c) => c.image ?? '')
          .filter(usesOldGithubHost);
        if (images.length === 0) return undefined;
        return {
          kind: 'Pod',
          namespace: pod.metadata?.namespace ?? '',
          name: pod.metadata?.name ?? '',
          state: pod.status?.phase ?? 'Unknown',
          images,
          note: 'bare pod (no controller): reported, not touched',
        };
      },
    );
    untouched.push(...pods);
  }
  return { workloads, untouched };
}

/** The registry hosts of a docker config (`auths` keys), normalised to host[:port]. */
function hostsOf(config: string): string[] | undefined {
  try {
    const parsed = JSON.parse(config) as { auths?: Record<string, unknown> } | Record<string, unknown>;
    const auths = (parsed as { auths?: Record<string, unknown> }).auths ?? parsed;
    if (typeof auths !== 'object' || auths === null) return undefined;
    return Object.keys(auths).map((k) => k.replace(/^https?:\/\//, '').split('/')[0]!);
  } catch {
    return undefined; // not JSON: not a pull secret we can judge (its content is never echoed)
  }
}

/**
 * dockerconfigjson / dockercfg secrets of the namespaces whose every host is the old one. Only
 * names and hosts leave this function, never a credential.
 * Idempotency: read-only.
 */
export async function findOldHostPullSecrets(
  kube: ClusterKube,
  input: { namespaces: string[] },
): Promise<GhcrPullSecret[]> {
  const out: GhcrPullSecret[] = [];
  for (const namespace of input.namespaces) {
    const secrets = await withKube(op(kube, 'list', `secrets in ${namespace}`), () =>
      kube.core.listNamespacedSecret({ namespace }),
    );
    for (const s of secrets.items) {
      const key =
        s.type === 'kubernetes.io/dockerconfigjson'
          ? '.dockerconfigjson'
          : s.type === 'kubernetes.io/dockercfg'
            ? '.dockercfg'
            : undefined;
      const data = key ? s.data?.[key] : undefined;
      if (!data) continue;
      const hosts = hostsOf(Buffer.from(data, 'base64').toString('utf8'));
      if (hosts && hosts.length > 0 && hosts.every((h) => h === OLD_GITHUB_HOST))
        out.push({ namespace, name: s.metadata?.name ?? '', hosts: [...new Set(hosts)] });
    }
  }
  return out;
}

export interface MigrateInput extends GhcrObjectRef {
  mapping: GhcrMapping;
}

export interface MigrateResult {
  changed: boolean;
  changes: GhcrContainerChange[];
  /** Writes refused because the object changed since it was read (each time re-read and re-planned). */
  conflicts: number;
  resourceVersionBefore?: string;
  resourceVersionAfter?: string;
}

/**
 * Moves the object's old-host images to ghcr.io: read, plan from what was read, replace the whole
 * object with the resourceVersion it was read at. A concurrent write makes the API server refuse
 * ours (409): the object is re-read and re-planned, never overwritten.
 * Idempotency: a repeat finds nothing on the old host and changes nothing (changed: false).
 */
export async function migrateWorkloadImages(
  kube: ClusterKube,
  input: MigrateInput,
  hooks?: ActivityTestHooks,
): Promise<MigrateResult> {
  const what = `${input.kind.toLowerCase()} ${input.namespace}/${input.name}`;
  let conflicts = 0;
  let allChanges: GhcrContainerChange[] = [];
  let firstVersion: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const obj = await readObject(kube, input);
    if (!obj) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${kube.cluster}": ${input.kind} ${input.namespace}/${input.name} not found`,
        ErrorType.KubeNotFound,
      );
    }
    firstVersion ??= obj.metadata?.resourceVersion;
    const template = templateOf(input.kind, obj);
    const { changes, unmappable } = planContainers(containersOf(template), input.mapping);
    if (unmappable.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `cluster "${kube.cluster}": ${what}: ${unmappable.map((u) => u.problem).join('; ')}`,
        ErrorType.InvalidInput,
      );
    }
    if (changes.length === 0) {
      return {
        changed: allChanges.length > 0,
        changes: allChanges,
        conflicts,
        resourceVersionBefore: firstVersion,
        resourceVersionAfter: obj.metadata?.resourceVersion,
      };
    }
    const spec = template!.spec!;
    for (const c of changes) {
      const container = (c.init ? spec.initContainers : spec.containers)?.find((x) => x.name === c.container);
      if (container) container.image = c.to;
    }
    await hooks?.beforeWrite?.({ kind: input.kind, namespace: input.namespace, name: input.name, attempt });
    try {
      const written = await replaceObject(kube, input, obj);
      allChanges = changes;
      return {
        changed: true,
        changes: allChanges,
        conflicts,
        resourceVersionBefore: firstVersion,
        resourceVersionAfter: written.metadata?.resourceVersion,
      };
    } catch (err) {
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) {
        conflicts++;
        Context.current().log.info(`${what} changed since read (409); re-reading`);
        continue;
      }
      return withKube(op(kube, 'replace', what), () => Promise.reject(err));
    }
  }
}

/** What scanGhcr reads: the namespaces (default all) and the old → new image mapping to plan with. */
export interface GhcrScanInput {
  cluster: string;
  namespaces?: string[];
  mapping: GhcrMapping;
}

export function createGhcrActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /** Read-only: templates, Jobs and bare pods on docker.pkg.github.com, with the planned changes. */
    async scanGhcr(input: GhcrScanInput): Promise<GhcrScan> {
      return scanGhcr(clients.forCluster(input.cluster), input);
    },
    /**
     * Read-only: pull secrets whose every host is docker.pkg.github.com (names and hosts only),
     * when the cluster's policy turns the report on (it reads secrets cluster-wide); otherwise
     * nothing is read.
     */
    async findOldHostPullSecrets(input: {
      cluster: string;
      namespaces: string[];
    }): Promise<GhcrSecretReport> {
      if (!ghcrSecretReportEnabled(deps.registry.get(input.cluster))) return { enabled: false, secrets: [] };
      return {
        enabled: true,
        secrets: await findOldHostPullSecrets(clients.forCluster(input.cluster), input),
      };
    },
    /** resourceVersion-checked image migration of one template; re-reads on a concurrent edit. */
    async migrateWorkloadImages(input: MigrateInput & { cluster: string }): Promise<MigrateResult> {
      return migrateWorkloadImages(clients.forCluster(input.cluster), input, deps.testHooks);
    },
  };
}
