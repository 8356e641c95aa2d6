/**
 * Pods that cannot pull an image, and which symptom of the guide explains each one. Every pull
 * failure is claimed by at most one detector (calico, Docker Hub rate limit, closed network, ghcr);
 * the rest are reported as unexplained rather than guessed. Pure.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { CALICO_WORKLOADS } from '../../../common/calico';
import { normalizeImageReference } from '../../../common/image-ref';
import {
  GUIDE_DEFAULT_IMAGES,
  isWantedImage,
  SANDBOX_FAILURE_REASON,
  sandboxImageOf,
} from '../../../common/procedures/closed-network-image-recovery';
import { isDockerHubImage, RATE_LIMIT_RE } from '../../../common/procedures/docker-hub-pull-secret';
import { usesOldGithubHost } from '../../../common/procedures/ghcr-migration';
import { clip, type Evidence } from '../../../common/diagnosis/types';
import { livePods, podRef, podStatus } from './snapshot';

export const PULL_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
]);

export interface PullFailure {
  pod: V1Pod;
  /** Empty for a sandbox failure: the pod's sandbox (pause) image, before any container's. */
  container: string;
  /** As the pod spec writes it. */
  image: string;
  reason: string;
  message: string;
  /** Messages of the pod's pull events (reason Failed / BackOff), newest last. */
  eventMessages: string[];
}

export type PullCause = 'calico' | 'dockerHubRateLimit' | 'closedNetwork' | 'ghcr';

/** The calico workloads the guide's repair fixes, by their pods' `k8s-app` label. */
const CALICO_APPS = new Set(CALICO_WORKLOADS.map((w) => w.name));

export const isCalicoPod = (pod: V1Pod): boolean =>
  pod.metadata?.namespace === 'kube-system' && CALICO_APPS.has(pod.metadata?.labels?.['k8s-app'] ?? '');

/**
 * Every container of a live pod waiting on a pull failure, and every pending pod whose sandbox cannot
 * be created because its sandbox image cannot be pulled (kubelet's FailedCreatePodSandBox event names
 * it; the containers wait in ContainerCreating and never report a pull of their own).
 */
export function pullFailures(pods: V1Pod[], events: CoreV1Event[] = []): PullFailure[] {
  const eventsByUid = new Map<string, string[]>();
  const sandboxByUid = new Map<string, { image: string; message: string }>();
  for (const e of events) {
    const uid = e.involvedObject?.uid;
    if (e.involvedObject?.kind !== 'Pod' || !uid || !e.message) continue;
    const sandboxImage = e.reason === SANDBOX_FAILURE_REASON ? sandboxImageOf(e.message) : undefined;
    if (sandboxImage) sandboxByUid.set(uid, { image: sandboxImage, message: e.message });
    if (e.reason !== 'Failed' && e.reason !== 'BackOff' && e.reason !== 'ErrImagePull') continue;
    eventsByUid.set(uid, [...(eventsByUid.get(uid) ?? []), e.message]);
  }
  const out: PullFailure[] = [];
  for (const pod of livePods(pods)) {
    const sandbox = sandboxByUid.get(pod.metadata?.uid ?? '');
    if (sandbox && pod.status?.phase === 'Pending') {
      out.push({
        pod,
        container: '',
        image: sandbox.image,
        reason: SANDBOX_FAILURE_REASON,
        message: sandbox.message,
        eventMessages: [],
      });
      continue;
    }
    const specs = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const s of statuses) {
      const w = s.state?.waiting;
      if (!w?.reason || !PULL_FAILURE_REASONS.has(w.reason)) continue;
      const image = specs.find((c) => c.name === s.name)?.image ?? s.image ?? '';
      out.push({
        pod,
        container: s.name,
        image,
        reason: w.reason,
        message: w.message ?? '',
        eventMessages: eventsByUid.get(pod.metadata?.uid ?? '') ?? [],
      });
    }
  }
  return out;
}

/** Messages that say why the pull failed: the container status's, then the pod's events. */
const messagesOf = (f: PullFailure) => [f.message, ...f.eventMessages];

/** The message that names the image, for evidence. */
export function bestMessage(f: PullFailure, re?: RegExp): string {
  return clip(messagesOf(f).find((m) => (re ? re.test(m) : m.length > 0))) ?? f.reason;
}

/** `k8s.gcr.io/pause:3.2`, `k8s.gcr.io/pause@sha256:…` → `k8s.gcr.io/pause` (Docker Hub names in full). */
function repositoryOf(image: string): string {
  const n = normalizeImageReference(image).replace(/@.*$/, '');
  const slash = n.lastIndexOf('/');
  const colon = n.lastIndexOf(':');
  return colon > slash ? n.slice(0, colon) : n;
}

const DEFAULT_REPOSITORIES = new Set(GUIDE_DEFAULT_IMAGES.map(repositoryOf));

/**
 * True when one of the guide's default NKS images (any tag or digest, k8s.gcr.io or its successor
 * registry.k8s.io) is what fails.
 */
export function isDefaultImage(image: string): boolean {
  try {
    return (
      DEFAULT_REPOSITORIES.has(repositoryOf(image)) ||
      GUIDE_DEFAULT_IMAGES.some((d) => isWantedImage(d, image.replace(/@.*$/, '')))
    );
  } catch {
    return false;
  }
}

/**
 * The symptom that explains a pull failure, or undefined. Order matters: a sandbox failure is the
 * node's (closed network); then calico's pods are claimed first (their images are on Docker Hub and in the default list too), then the rate limit's own
 * words, then the closed network's default images, then the old GitHub registry.
 */
export function pullCause(f: PullFailure): PullCause | undefined {
  // No container of the pod got to its pull: whichever pod it is, the node lacks its pause image.
  if (f.reason === SANDBOX_FAILURE_REASON) return isDefaultImage(f.image) ? 'closedNetwork' : undefined;
  if (isCalicoPod(f.pod)) return 'calico';
  if (isDockerHubImage(f.image) && messagesOf(f).some((m) => RATE_LIMIT_RE.test(m)))
    return 'dockerHubRateLimit';
  if (isDefaultImage(f.image)) return 'closedNetwork';
  if (usesOldGithubHost(f.image)) return 'ghcr';
  return undefined;
}

/** A pull failure as a finding's evidence; `re` picks the message that says the cause (bestMessage). */
export function pullFailureEvidence(f: PullFailure, re?: RegExp): Evidence {
  return {
    object: podRef(f.pod),
    ...(f.pod.spec?.nodeName ? { node: f.pod.spec.nodeName } : {}),
    reason: f.reason,
    message: bestMessage(f, re),
    status: podStatus(f.pod),
    image: f.image,
  };
}
