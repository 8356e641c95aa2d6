/**
 * Kubernetes side of closedNetworkImageRecovery (docs/procedures.md §3): the pods failing to pull one of
 * the images and their nodes: a container waiting in ErrImagePull/ImagePullBackOff, or a pod whose
 * sandbox kubelet cannot create because the pause image is gone (FailedCreatePodSandBox events; its
 * containers wait in ContainerCreating and never get to a pull).
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import {
  type ImagePullFailure,
  isWantedImage,
  SANDBOX_FAILURE_REASON,
  sandboxImageOf,
} from '../../common/procedures/closed-network-image-recovery';
import type { ActivityDeps } from '../deps';
import { kubeClientsFor } from './client';
import { PagedScan } from './paged-list';

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

export function createClosedNetworkActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Scheduled pending pods with a container (or init container) that cannot pull one of `images`
     * (an image without a tag matches every tag), or whose sandbox image (named by a
     * FailedCreatePodSandBox event) is one of them, with the image and tag kubelet wants. Pending
     * pods and the events read in pages (PagedScan: a retry resumes at its last page). Read-only;
     * safe to retry.
     */
    async findImagePullFailures(input: { cluster: string; images: string[] }): Promise<ImagePullFailure[]> {
      const kube = clients.forCluster(input.cluster);
      const wanted = (image: string) => input.images.some((want) => isWantedImage(want, image));
      const scan = new PagedScan(kube);
      // Only what the verdict needs is kept of each object: picks are heartbeated.
      const sandboxImages = await scan.collect<CoreV1Event, { uid: string; image: string }>(
        'list sandbox failure events',
        (page) =>
          kube.core.listEventForAllNamespaces({
            fieldSelector: `involvedObject.kind=Pod,reason=${SANDBOX_FAILURE_REASON}`,
            ...page,
          }),
        (e) => {
          const image = sandboxImageOf(e.message);
          return e.involvedObject?.uid && image ? { uid: e.involvedObject.uid, image } : undefined;
        },
      );
      const sandboxImageOfPod = new Map(sandboxImages.map((e) => [e.uid, e.image]));
      const found = await scan.collect<V1Pod, ImagePullFailure[]>(
        'list pending pods',
        (page) => kube.core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending', ...page }),
        (pod) => {
          const node = pod.spec?.nodeName;
          if (!node || pod.metadata?.deletionTimestamp) return undefined;
          const { namespace, name } = pod.metadata as { namespace: string; name: string };
          const sandbox = sandboxImageOfPod.get(pod.metadata?.uid ?? '');
          // Its containers wait for the sandbox: no pull of theirs has been tried yet.
          if (sandbox && wanted(sandbox))
            return [{ namespace, name, node, image: sandbox, reason: SANDBOX_FAILURE_REASON }];
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
            if (!image || !wanted(image)) continue;
            failures.push({ namespace, name, node, image, reason });
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
