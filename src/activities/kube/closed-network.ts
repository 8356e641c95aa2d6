/**
 * Kubernetes side of closedNetworkImageRecovery (docs/procedures.md §3): the pods failing to pull one of
 * the images (a container waiting in ErrImagePull/ImagePullBackOff) and their nodes.
 */
import { findImage, type ImagePullFailure } from '../../common/procedures/closed-network-image-recovery';
import type { ActivityDeps } from '../deps';
import { withKube } from '../errors';
import { kubeClientsFor } from './client';

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

export function createClosedNetworkActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Scheduled pods with a container (or init container) that cannot pull one of `images` (an image
     * without a tag matches every tag), with the image the pod wants. Read-only; safe to retry.
     */
    async findImagePullFailures(input: { cluster: string; images: string[] }): Promise<ImagePullFailure[]> {
      const kube = clients.forCluster(input.cluster);
      const pods = await withKube(
        { cluster: kube.cluster, operation: 'list pods', server: kube.server },
        () => kube.core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending' }),
      );
      const out: ImagePullFailure[] = [];
      for (const pod of pods.items) {
        const node = pod.spec?.nodeName;
        if (!node || pod.metadata?.deletionTimestamp) continue;
        const statuses = [
          ...(pod.status?.initContainerStatuses ?? []),
          ...(pod.status?.containerStatuses ?? []),
        ];
        const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
        for (const s of statuses) {
          const reason = s.state?.waiting?.reason;
          if (!reason || !PULL_FAILURES.has(reason)) continue;
          const image = specs.find((c) => c.name === s.name)?.image ?? s.image;
          if (!image || !input.images.some((want) => findImage(want, [image]))) continue;
          out.push({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, node, image, reason });
        }
      }
      return out.sort((a, b) =>
        `${a.namespace}/${a.name}/${a.image}`.localeCompare(`${b.namespace}/${b.name}/${b.image}`),
      );
    },
  };
}
