/**
 * The simulator faults the clusterDiagnosis test (and the recording of its unit-test snapshot) puts
 * in, one per symptom of the guide, each in a namespace of its own so that removing it is deleting
 * that namespace. Pod-level faults use the simulator's own hooks (image-fail, mount-timeout, nfs-lock)
 * and fixtures (kmem: the simulator's own `fault kmem-oom`, sim/kmem.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { SimHandle as Sim } from '../../sim';
import { ensureDemoNamespace } from '../../sim/nfs';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';

export const RATE_LIMIT =
  'failed to pull and unpack image "{image}": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit';
export const MANIFEST_UNKNOWN =
  'failed to pull and unpack image "{image}": failed to resolve reference "{image}": quay.io/acme/app:no-such-tag: not found';
export const NO_SUCH_HOST =
  'failed to pull and unpack image "{image}": failed to resolve reference "{image}": dial tcp: lookup k8s.gcr.io: no such host';

export const NS = {
  hub: 'hub-demo',
  unknown: 'diag-unknown',
  closed: 'diag-closed',
  ghcr: 'diag-ghcr',
} as const;

export const PAUSE = 'k8s.gcr.io/pause:3.2';
export const UNKNOWN_IMAGE = 'quay.io/acme/app:no-such-tag';
export const GHCR_IMAGE = 'docker.pkg.github.com/acme/shop/web:1.2.3';
const HUB_FIXTURE = readFileSync(join(REPO_ROOT, 'sim', 'fixtures', 'docker-hub-rate-limit.yaml'), 'utf8');

export async function deleteNamespace(sim: Sim, ns: string): Promise<void> {
  await sim.kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--timeout=120s']);
}

const deployment = (ns: string, name: string, image: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { tolerations: [{ operator: 'Exists' }], containers: [{ name: 'app', image }], ...extra },
      },
    },
  });

/** Waits until `check` returns a truthy value (polling), or fails naming `what`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  ms = 90_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Pods of `ns` with a container waiting in a pull failure, at least `n` of them. */
export function waitPullFailures(core: CoreV1Api, ns: string, n: number): Promise<string[]> {
  return waitFor(`${n} pull failures in ${ns}`, async () => {
    const pods = await core.listNamespacedPod({ namespace: ns });
    const failing = pods.items
      .filter((p) =>
        [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].some((s) =>
          ['ErrImagePull', 'ImagePullBackOff'].includes(s.state?.waiting?.reason ?? ''),
        ),
      )
      .map((p) => p.metadata!.name!);
    return failing.length >= n ? failing : undefined;
  });
}

/** Docker Hub's rate limit on the hub-demo fixture's images (names ending in -hub). */
export async function dockerHubFault(sim: Sim, core: CoreV1Api): Promise<void> {
  await sim.failImage({ pattern: '-hub$', message: RATE_LIMIT });
  await sim.kubectl(['apply', '-f', '-'], { input: HUB_FIXTURE });
  await waitPullFailures(core, NS.hub, 3);
}

/** A pod that cannot pull a tag that does not exist on another registry: not a symptom of the guide. */
export async function unknownPullFault(sim: Sim, core: CoreV1Api): Promise<void> {
  await sim.failImage({ pattern: 'no-such-tag$', message: MANIFEST_UNKNOWN });
  await ensureDemoNamespace(sim, NS.unknown);
  await sim.kubectl(['apply', '-f', '-'], { input: deployment(NS.unknown, 'ghost', UNKNOWN_IMAGE) });
  await waitPullFailures(core, NS.unknown, 1);
}

/**
 * A pod on `node`, which lacks its pause image (closed network, image GC removed it: the caller took
 * it out of the node's store), that cannot start: its sandbox cannot be created (ContainerCreating,
 * a FailedCreatePodSandBox event naming k8s.gcr.io/pause:3.2). Pulls of pause fail there too.
 */
export async function closedNetworkFault(sim: Sim, core: CoreV1Api, node: string): Promise<void> {
  await sim.failImage({ pattern: 'k8s\\.gcr\\.io/pause', node, message: NO_SUCH_HOST });
  await ensureDemoNamespace(sim, NS.closed);
  await sim.kubectl(['apply', '-f', '-'], {
    input: deployment(NS.closed, 'pause-user', PAUSE, { nodeName: node }),
  });
  await waitFor(`a pod in ${NS.closed} without its sandbox`, async () => {
    const pods = await core.listNamespacedPod({ namespace: NS.closed });
    return pods.items.some(
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating',
    );
  });
}

/** A Deployment and a bare pod on the old GitHub registry. */
export async function ghcrFault(sim: Sim): Promise<void> {
  await ensureDemoNamespace(sim, NS.ghcr);
  await sim.kubectl(['apply', '-f', '-'], { input: deployment(NS.ghcr, 'web', GHCR_IMAGE) });
}
