/**
 * Kubernetes side of closedNetworkImageRecovery (docs/procedures.md §3): the pods failing to pull one of
 * the images (a container waiting in ErrImagePull/ImagePullBackOff) and their nodes.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { findImage, type ImagePullFailure } from '../../common/procedures/closed-network-image-recovery';
import type { ActivityDeps } from '../deps';
import { kubeClientsFor } from './client';
import { PagedScan } from './paged-list';

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

export function createClosedNetworkActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Scheduled pods with a container (or init container) that cannot pull one of `images` (an image
     * without a tag matches every tag), with the image the pod wants. Pending pods read in pages
     * (PagedScan: a retry resumes at its last page). Read-only; safe to retry.
     */
    async findImagePullFailures(input: { cluster: string; images: string[] }): Promise<ImagePullFailure[]> {
      const kube = clients.forCluster(input.cluster);
      const found = await new PagedScan(kube).collect<V1Pod, ImagePullFailure[]>(
        'list pending pods',
        (page) => kube.core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending', ...page }),
        (pod) => {
          const node = pod.spec?.nodeName;
          if (!node || pod.metadata?.deletionTimestamp) return undefined;
          const statuses = [
            ...(pod.status?.initContainerStatuses ?? []),
            ...(pod.status?.containerStatuses ?? []),
          ];
          const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
          const failures: ImagePullFailure[] = [];
          for (const s of statuses) {
            const reason = s.state?.waiting?.reason;
            if (!reason || !PULL_FAILURES.has(reason)) continue;
            const image = specs.find((c) => c.name === s.name)?.image ?? s.image;
            if (!image || !input.images.some((want) => findImage(want, [image]))) continue;
            failures.push({
              namespace: pod.metadata!.namespace!,
              name: pod.metadata!.name!,
              node,
              image,
              reason,
            });
          }
          return failures.length ? failures : undefined;
        },
      );
      const out = found.flat();
      return out.sort((a, b) =>
        `${a.namespace}/${a.name}/${a.image}`.localeCompare(`${b.namespace}/${b.name}/${b.image}`),
      );
    },
  };
}
