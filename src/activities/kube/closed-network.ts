/**
 * Kubernetes side of closedNetworkImageRecovery (docs/procedures.md §3): the pods failing to pull one of
 * the images and their nodes: a container waiting in ErrImagePull/ImagePullBackOff, or a pod whose
 * sandbox kubelet cannot create because the pause image is gone (FailedCreatePodSandBox events; its
 * containers wait in ContainerCreating and never get to a pull).
 */
import {
  type ImagePullFailure,
  isWantedImage,
  SANDBOX_FAILURE_REASON,
  sandboxImageOf,
} from '../../common/procedures/closed-network-image-recovery';
import type { ActivityDeps } from '../deps';
import { withKube } from '../errors';
import { kubeClientsFor } from './client';

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

export function createClosedNetworkActivities(deps: ActivityDeps) {
  const clients = kubeClientsFor(deps.registry);
  return {
    /**
     * Scheduled pending pods with a container (or init container) that cannot pull one of `images`
     * (an image without a tag matches every tag), or whose sandbox image (named by a
     * FailedCreatePodSandBox event) is one of them, with the image and tag kubelet wants.
     * Read-only; safe to retry.
     */
    async findImagePullFailures(input: { cluster: string; images: string[] }): Promise<ImagePullFailure[]> {
      const kube = clients.forCluster(input.cluster);
      const pods = await withKube(
        { cluster: kube.cluster, operation: 'list pods', server: kube.server },
        () => kube.core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending' }),
      );
      const events = await withKube(
        { cluster: kube.cluster, operation: 'list events', server: kube.server },
        () =>
          kube.core.listEventForAllNamespaces({
            fieldSelector: `involvedObject.kind=Pod,reason=${SANDBOX_FAILURE_REASON}`,
          }),
      );
      const sandboxImageOfPod = new Map<string, string>();
      for (const e of events.items) {
        const image = sandboxImageOf(e.message);
        if (e.involvedObject?.uid && image) sandboxImageOfPod.set(e.involvedObject.uid, image);
      }
      const wanted = (image: string) => input.images.some((want) => isWantedImage(want, image));
      const out: ImagePullFailure[] = [];
      for (const pod of pods.items) {
        const node = pod.spec?.nodeName;
        if (!node || pod.metadata?.deletionTimestamp) continue;
        const sandbox = sandboxImageOfPod.get(pod.metadata?.uid ?? '');
        if (sandbox && wanted(sandbox)) {
          const { namespace, name } = pod.metadata as { namespace: string; name: string };
          out.push({ namespace, name, node, image: sandbox, reason: SANDBOX_FAILURE_REASON });
          // Its containers wait for the sandbox: no pull of theirs has been tried yet.
          continue;
        }
        const statuses = [
          ...(pod.status?.initContainerStatuses ?? []),
          ...(pod.status?.containerStatuses ?? []),
        ];
        const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
        for (const s of statuses) {
          const reason = s.state?.waiting?.reason;
          if (!reason || !PULL_FAILURES.has(reason)) continue;
          const image = specs.find((c) => c.name === s.name)?.image ?? s.image;
          if (!image || !wanted(image)) continue;
          out.push({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, node, image, reason });
        }
      }
      return out.sort((a, b) =>
        `${a.namespace}/${a.name}/${a.image}`.localeCompare(`${b.namespace}/${b.name}/${b.image}`),
      );
    },
  };
}
