/**
 * Activities of cinderRescanOnResize: the cloud-config edit (content never leaves this module), the
 * `kubectl rollout restart` of a workload, and the PVCs of the cinder storage classes.
 */
import { StorageV1Api, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  CINDER,
  type CinderClaim,
  type CinderClaimsReport,
  type CloudConfigEdit,
  type PluginRestart,
} from '../../common/procedures/cinder-rescan-on-resize';
import { RESTARTED_AT_ANNOTATION, type AppsWorkloadRef } from '../../common/workload-kinds';
import type { ActivityDeps, ActivityTestHooks } from '../deps';
import { withKube, withKubeAnswering } from '../errors';
import { mergePatchAppsObject, readAppsObject } from './apps-objects';
import { kubeClientsFor, type ClusterKube } from './client';
import { PagedScan } from './paged-list';
import { CloudConfigParseError, setBooleanTrue } from './cloud-config-ini';

export interface EnsureRescanInput {
  namespace: string;
  secret: string;
  key: string;
  dryRun: boolean;
}

function configInvalid(kube: ClusterKube, input: EnsureRescanInput, why: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `cluster "${kube.cluster}": secret ${input.namespace}/${input.secret}: ${why}; nothing changed`,
    ErrorType.ConfigInvalid,
  );
}

/**
 * Sets `rescan-on-resize=true` in [BlockStorage] of the secret's INI (see cloud-config-ini.ts) and
 * writes the secret back with the resourceVersion it read.
 * Idempotency: check-then-act; a repeat (or a retry after a write that did land) finds the key set
 * and writes nothing (outcome already-set). A concurrent change between read and write makes the API
 * server refuse the write (409, KubeConflict, retryable): the retry re-reads and edits the new content.
 * Missing secret or key, non-UTF-8 content, an INI gcfg would not read: ConfigInvalid / KubeNotFound,
 * permanent, nothing written. Nothing of the content is returned, logged or put into a message.
 */
export async function ensureRescanOnResize(
  kube: ClusterKube,
  input: EnsureRescanInput,
  hooks: ActivityTestHooks | undefined,
  attempt: number,
): Promise<CloudConfigEdit> {
  const where = `${input.namespace}/${input.secret}`;
  const secret = await withKubeAnswering(
    { cluster: kube.cluster, operation: `read secret ${where}`, server: kube.server },
    [404],
    undefined,
    () => kube.core.readNamespacedSecret({ name: input.secret, namespace: input.namespace }),
  );
  if (!secret) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${kube.cluster}": secret ${where} not found; nothing changed`,
      ErrorType.KubeNotFound,
    );
  }
  const encoded = secret.data?.[input.key];
  if (encoded === undefined) throw configInvalid(kube, input, `has no key "${input.key}"`);
  const bytes = Buffer.from(encoded, 'base64');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes))
    throw configInvalid(kube, input, `key "${input.key}" is not UTF-8 text`);
  let edit: ReturnType<typeof setBooleanTrue>;
  try {
    edit = setBooleanTrue(text, CINDER.section, CINDER.key);
  } catch (err) {
    if (err instanceof CloudConfigParseError)
      throw configInvalid(kube, input, `key "${input.key}" is not an INI file (${err.message})`);
    throw err;
  }
  const rv = secret.metadata?.resourceVersion ?? '';
  const base = {
    change: edit.change,
    previous: edit.previous,
    line: edit.line,
    duplicatesRemoved: edit.duplicatesRemoved,
    resourceVersionBefore: rv,
    ...(attempt > 1 ? { conflictsBefore: attempt - 1 } : {}),
  };
  if (!edit.changed) return { ...base, outcome: 'already-set', resourceVersion: rv };
  if (input.dryRun) return { ...base, outcome: 'would-set', resourceVersion: rv };
  await hooks?.beforeWrite?.({ kind: 'Secret', namespace: input.namespace, name: input.secret, attempt });
  const written = await withKube(
    { cluster: kube.cluster, operation: `update secret ${where}`, server: kube.server },
    () =>
      kube.core.replaceNamespacedSecret({
        name: input.secret,
        namespace: input.namespace,
        body: {
          ...secret,
          // The resourceVersion read: a concurrent change makes this a 409, never an overwrite.
          metadata: { ...secret.metadata, resourceVersion: rv },
          data: { ...secret.data, [input.key]: Buffer.from(edit.text, 'utf8').toString('base64') },
        },
      }),
  );
  return { ...base, outcome: 'set', resourceVersion: written.metadata?.resourceVersion ?? '' };
}

export interface RestartWorkloadInput extends AppsWorkloadRef {
  /** The `kubectl.kubernetes.io/restartedAt` value, chosen by the workflow (so it is in history). */
  restartedAt: string;
  /** Pod-template annotation recording what the restart was for, and its value. */
  reason: { annotation: string; value?: string };
  dryRun: boolean;
}

/**
 * `kubectl rollout restart`: sets the pod-template annotation `kubectl.kubernetes.io/restartedAt`
 * (and `reason.annotation` = `reason.value`), so the controller replaces every pod.
 * Idempotency: the stamp comes from the workflow, so a retry of an attempt whose patch landed finds
 * its own stamp and patches nothing (already-restarted); a template already annotated with
 * `reason.value` was restarted for this configuration before and is left alone. The patch carries the
 * resourceVersion read (409 on a concurrent change: the retry re-reads).
 */
export async function restartWorkload(
  kube: ClusterKube,
  input: RestartWorkloadInput,
  hooks: ActivityTestHooks | undefined,
): Promise<PluginRestart & { resourceVersion?: string }> {
  const obj = await readAppsObject(kube, input);
  const id = { kind: input.kind, name: input.name };
  if (!obj)
    return { ...id, outcome: 'missing', detail: `${input.kind} ${input.namespace}/${input.name} not found` };
  const annotations = obj.spec?.template?.metadata?.annotations ?? {};
  const previousRestartedAt = annotations[RESTARTED_AT_ANNOTATION];
  const prev = previousRestartedAt ? { previousRestartedAt } : {};
  if (previousRestartedAt === input.restartedAt)
    return {
      ...id,
      ...prev,
      outcome: 'restarted',
      restartedAt: input.restartedAt,
      detail: 'restarted (this run)',
    };
  if (input.reason.value !== undefined && annotations[input.reason.annotation] === input.reason.value) {
    return {
      ...id,
      ...prev,
      outcome: 'already-restarted',
      ...(previousRestartedAt ? { restartedAt: previousRestartedAt } : {}),
      detail: `already restarted for this configuration (${input.reason.annotation}=${input.reason.value})`,
    };
  }
  if (input.dryRun) return { ...id, ...prev, outcome: 'would-restart', detail: 'would restart' };
  await hooks?.beforeWrite?.({ kind: input.kind, namespace: input.namespace, name: input.name });
  const patched = await mergePatchAppsObject(kube, input, obj.metadata?.resourceVersion ?? '', {
    spec: {
      template: {
        metadata: {
          annotations: {
            [RESTARTED_AT_ANNOTATION]: input.restartedAt,
            ...(input.reason.value !== undefined ? { [input.reason.annotation]: input.reason.value } : {}),
          },
        },
      },
    },
  });
  return {
    ...id,
    ...prev,
    outcome: 'restarted',
    restartedAt: input.restartedAt,
    detail: 'restarted',
    resourceVersion: patched.metadata?.resourceVersion,
  };
}

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity (`10Gi`, `1.5G`, `1e9`) in bytes; undefined when it is not one. */
export function quantityBytes(q: string | undefined): number | undefined {
  const m = q ? /^([0-9.]+)(?:[eE]([-+]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(q) : null;
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return undefined;
  return m[2] !== undefined ? n * 10 ** Number(m[2]) : n * SUFFIX[m[3] ?? '']!;
}

function claimStatus(pvc: V1PersistentVolumeClaim, expandable: boolean): CinderClaim['status'] {
  if (pvc.status?.phase !== 'Bound') return 'not-bound';
  const requested = quantityBytes(pvc.spec?.resources?.requests?.storage);
  const capacity = quantityBytes(pvc.status?.capacity?.storage);
  const resizing = (pvc.status?.conditions ?? []).some(
    (c) => (c.type === 'FileSystemResizePending' || c.type === 'Resizing') && c.status === 'True',
  );
  if (resizing || (requested !== undefined && capacity !== undefined && capacity < requested))
    return 'resize-pending';
  return expandable ? 'resize-to-benefit' : 'not-expandable';
}

/**
 * The storage classes of the cinder CSI provisioner and every PVC of them (a PVC without a class
 * counts when the default class is one of them). PVCs read in pages (PagedScan: a retry resumes at
 * its last page).
 * Idempotency: read-only.
 */
export async function listCinderClaims(
  kube: ClusterKube,
  input: { provisioner: string; maxListed: number },
): Promise<CinderClaimsReport> {
  const storage = kube.config.makeApiClient(StorageV1Api);
  const classes = await withKube(
    { cluster: kube.cluster, operation: 'list storageclasses', server: kube.server },
    () => storage.listStorageClass(),
  );
  const cinder = classes.items
    .filter((c) => c.provisioner === input.provisioner)
    .map((c) => ({
      name: c.metadata?.name ?? '',
      allowVolumeExpansion: c.allowVolumeExpansion === true,
      isDefault:
        c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true' ||
        c.metadata?.annotations?.['storageclass.beta.kubernetes.io/is-default-class'] === 'true',
    }));
  const byName = new Map(cinder.map((c) => [c.name, c]));
  const defaultClass = cinder.find((c) => c.isDefault)?.name;
  const claims = await new PagedScan(kube).collect<V1PersistentVolumeClaim, CinderClaim>(
    'list persistentvolumeclaims',
    (page) => kube.core.listPersistentVolumeClaimForAllNamespaces(page),
    (pvc) => {
      const cls = pvc.spec?.storageClassName ?? defaultClass;
      const sc = cls !== undefined ? byName.get(cls) : undefined;
      if (!sc) return undefined;
      return {
        namespace: pvc.metadata?.namespace ?? '',
        name: pvc.metadata?.name ?? '',
        storageClass: sc.name,
        phase: pvc.status?.phase ?? 'Unknown',
        requested: pvc.spec?.resources?.requests?.storage,
        capacity: pvc.status?.capacity?.storage,
        status: claimStatus(pvc, sc.allowVolumeExpansion),
      };
    },
  );
  const order: CinderClaim['status'][] = [
    'resize-pending',
    'resize-to-benefit',
    'not-expandable',
    'not-bound',
  ];
  claims.sort(
    (a, b) =>
      order.indexOf(a.status) - order.indexOf(b.status) ||
      a.namespace.localeCompare(b.namespace) ||
      a.name.localeCompare(b.name),
  );
  const counts = Object.fromEntries(
    order.map((s) => [s, claims.filter((c) => c.status === s).length]),
  ) as CinderClaimsReport['counts'];
  const listed = claims.slice(0, input.maxListed);
  return { storageClasses: cinder, claims: listed, counts, omitted: claims.length - listed.length };
}

/** Kubernetes activities of cinderRescanOnResize (rollout waits: calico's waitForRollout, any kind). */
export function createCinderActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /** Check-then-act INI edit of the cloud-config secret; resourceVersion-checked write. */
    async ensureCinderRescanOnResize(
      input: EnsureRescanInput & { cluster: string },
    ): Promise<CloudConfigEdit> {
      return ensureRescanOnResize(
        clients.forCluster(input.cluster),
        input,
        deps.testHooks,
        Context.current().info.attempt,
      );
    },
    /** `kubectl rollout restart` with the stamp the workflow chose; idempotent across retries. */
    async restartWorkload(
      input: RestartWorkloadInput & { cluster: string },
    ): Promise<PluginRestart & { resourceVersion?: string }> {
      return restartWorkload(clients.forCluster(input.cluster), input, deps.testHooks);
    },
    /** Read-only: storage classes of the cinder provisioner and their PVCs. */
    async listCinderClaims(input: {
      cluster: string;
      provisioner: string;
      maxListed: number;
    }): Promise<CinderClaimsReport> {
      return listCinderClaims(clients.forCluster(input.cluster), input);
    },
  };
}
