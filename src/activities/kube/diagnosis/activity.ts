/**
 * The activity of clusterDiagnosis on the Kubernetes side: reads the cluster once (lists only, and
 * one secret read by the worker), runs every Kubernetes-side detector over what it read, and returns
 * their reports, never the objects: the history holds findings, not the cluster.
 */
import { BatchV1Api } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { DetectorReport } from '../../../common/diagnosis/types';
import { ErrorType } from '../../../common/errors';
import { CINDER } from '../../../common/procedures/cinder-rescan-on-resize';
import type { ActivityDeps } from '../../deps';
import { withKubeAnswering } from '../../errors';
import { type ClusterKube, kubeClientsFor } from '../client';
import { PagedScan } from '../paged-list';
import { CloudConfigParseError, setBooleanTrue } from '../cloud-config-ini';
import { KUBE_DETECTORS } from './index';
import { type CinderConfigFact, type KubeSnapshot, runDetector, type SnapshotPart } from './snapshot';

/** The cinder cloud-config's rescan-on-resize state; the text stays in this function. */
async function readCinderConfig(kube: ClusterKube): Promise<CinderConfigFact> {
  const secret = await withKubeAnswering(
    {
      cluster: kube.cluster,
      operation: `read secret ${CINDER.namespace}/${CINDER.secret}`,
      server: kube.server,
    },
    [404],
    undefined,
    () => kube.core.readNamespacedSecret({ name: CINDER.secret, namespace: CINDER.namespace }),
  );
  const b64 = secret?.data?.[CINDER.secretKey];
  if (!secret || b64 === undefined) return { found: false };
  try {
    const text = Buffer.from(b64, 'base64').toString('utf8');
    return { found: true, rescanOnResize: setBooleanTrue(text, CINDER.section, CINDER.key).previous };
  } catch (err) {
    if (err instanceof CloudConfigParseError) return { found: true, rescanOnResize: 'unparsable' };
    throw err;
  }
}

/** Reads every part it can; a part refused (forbidden, say) is recorded as unreadable, not fatal. */
export async function readSnapshot(kube: ClusterKube): Promise<KubeSnapshot> {
  const batch = kube.config.makeApiClient(BatchV1Api);
  // Whole objects (the detectors read them), so pages are heartbeated but a retry reads again.
  const scan = new PagedScan(kube);
  const s: KubeSnapshot = { unreadable: {} };
  const parts: { [P in SnapshotPart]: () => Promise<KubeSnapshot[P]> } = {
    nodes: () => scan.listAll('list nodes', (page) => kube.core.listNode(page)),
    pods: () => scan.listAll('list pods', (page) => kube.core.listPodForAllNamespaces(page)),
    // Only warnings: every symptom of the guide is one, and normal events are most of the volume.
    events: () =>
      scan.listAll('list events', (page) =>
        kube.core.listEventForAllNamespaces({ fieldSelector: 'type=Warning', ...page }),
      ),
    deployments: () =>
      scan.listAll('list deployments', (page) => kube.apps.listDeploymentForAllNamespaces(page)),
    daemonsets: () =>
      scan.listAll('list daemonsets', (page) => kube.apps.listDaemonSetForAllNamespaces(page)),
    statefulsets: () =>
      scan.listAll('list statefulsets', (page) => kube.apps.listStatefulSetForAllNamespaces(page)),
    cronjobs: () => scan.listAll('list cronjobs', (page) => batch.listCronJobForAllNamespaces(page)),
    jobs: () => scan.listAll('list jobs', (page) => batch.listJobForAllNamespaces(page)),
    cinderConfig: () => readCinderConfig(kube),
  };
  for (const [part, read] of Object.entries(parts) as [SnapshotPart, () => Promise<unknown>][]) {
    try {
      (s as unknown as Record<string, unknown>)[part] = await read();
    } catch (err) {
      // Permissions are per resource: a refused list skips the detectors that need it. Anything
      // else (API server down) fails the activity and is retried.
      if (
        err instanceof ApplicationFailure &&
        (err.type === ErrorType.KubeForbidden || err.type === ErrorType.KubeUnauthorized)
      ) {
        s.unreadable[part] = `${err.type}: ${err.message}`;
      } else throw err;
    }
  }
  return s;
}

export interface KubeDiagnosis {
  reports: DetectorReport[];
  /** clusters.yaml has `ssh:` for this cluster: the SSH-side checks can run. */
  sshConfigured: boolean;
}

export function createDiagnosisActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Lists nodes, pods, warning events, workloads and jobs and reads the cinder cloud-config (its
     * content stays here), then runs every Kubernetes-side detector. Read-only: no create, update,
     * patch or delete is issued, so it is safe to retry or repeat at any time.
     */
    async diagnoseKubeObjects(input: { cluster: string }): Promise<KubeDiagnosis> {
      const kube = clients.forCluster(input.cluster);
      const snapshot = await readSnapshot(kube);
      return {
        reports: KUBE_DETECTORS.map((d) => runDetector(d, snapshot)),
        sshConfigured: deps.registry.get(input.cluster).ssh !== undefined,
      };
    },
  };
}
