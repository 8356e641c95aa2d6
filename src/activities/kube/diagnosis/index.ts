/** The Kubernetes-side detectors, in report order (the SSH-side logrotate one is in common/diagnosis). */
import { calicoDetector } from './calico';
import { cinderRescanDetector } from './cinder';
import { closedNetworkDetector } from './closed-network';
import { dockerHubRateLimitDetector } from './docker-hub';
import { fsGroupDetector } from './fs-group';
import { ghcrDetector } from './ghcr';
import { kmemDetector } from './kmem';
import { nfsLockDetector } from './nfs-lock';
import type { KubeDetector } from './snapshot';
import { unexplainedPullFailuresDetector } from './unexplained-pull-failures';

export const KUBE_DETECTORS = [
  calicoDetector,
  dockerHubRateLimitDetector,
  closedNetworkDetector,
  ghcrDetector,
  kmemDetector,
  nfsLockDetector,
  cinderRescanDetector,
  fsGroupDetector,
  unexplainedPullFailuresDetector,
] as unknown as readonly KubeDetector[];
