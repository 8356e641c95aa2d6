/**
 * closedNetworkImageRecovery's pure rules and the image activities' edge: images, registries, runtimes
 * and node names that are not valid are InvalidInput before a node is looked up or a connection opened
 * (the registry here has no cluster at all, so reaching that far would fail as UnknownCluster).
 */
import { ApplicationFailure } from '@temporalio/common';
import { createImageActivities } from '../../src/activities/node/images';
import {
  ClosedNetworkImageRecoveryInputSchema,
  DEFAULT_INTERNAL_REGISTRY,
  GUIDE_DEFAULT_IMAGES,
  closedNetworkImageRecoveryProcedure,
  findImage,
  internalReference,
  likelyCause,
} from '../../src/common/procedures/closed-network-image-recovery';
import { registryFromEntries } from '../../src/worker/registry';

const activities = createImageActivities({ registry: registryFromEntries({}) });
const ref = { cluster: 'sim', node: 'sim-default-worker-node-0' };

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('restoreNodeImage refuses bad values before any SSH', () => {
  test.each([
    ['k8s.gcr.io/pause:3.2;reboot', DEFAULT_INTERNAL_REGISTRY, 'containerd'],
    ['$(id)', DEFAULT_INTERNAL_REGISTRY, 'containerd'],
    ['--help', DEFAULT_INTERNAL_REGISTRY, 'docker'],
    ['../../etc/passwd', DEFAULT_INTERNAL_REGISTRY, 'docker'],
    ['k8s.gcr.io/pause@sha256:' + 'a'.repeat(64), DEFAULT_INTERNAL_REGISTRY, 'docker'],
    ['k8s.gcr.io/pause:3.2', 'h.io/a b', 'docker'],
    ['k8s.gcr.io/pause:3.2', '--insecure-registry', 'docker'],
    ['k8s.gcr.io/pause:3.2', 'h.io/../x', 'docker'],
    ['k8s.gcr.io/pause:3.2', DEFAULT_INTERNAL_REGISTRY, 'podman'],
  ])('image %j registry %j runtime %j is InvalidInput', async (image, registry, runtime) => {
    const err = await failure(
      activities.restoreNodeImage({ ...ref, image, registry, runtime: runtime as never }),
    );
    expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  });

  test('a node name with shell syntax is InvalidInput', async () => {
    const err = await failure(
      activities.listNodeImages({ cluster: 'sim', node: 'w-1;reboot', runtime: 'docker' }),
    );
    expect(err.type).toBe('InvalidInput');
  });
});

describe('rules', () => {
  test('findImage: exact after normalisation; an untagged image matches any tag', () => {
    const onNode = ['k8s.gcr.io/pause:3.2', 'coredns/coredns:1.8.0'];
    expect(findImage('k8s.gcr.io/pause:3.2', onNode)).toBe('k8s.gcr.io/pause:3.2');
    expect(findImage('k8s.gcr.io/pause:3.1', onNode)).toBeUndefined();
    expect(findImage('k8s.gcr.io/pause', onNode)).toBe('k8s.gcr.io/pause:3.2');
    expect(findImage('docker.io/coredns/coredns:1.8.0', onNode)).toBe('coredns/coredns:1.8.0');
    expect(findImage('coredns', onNode)).toBeUndefined();
  });

  test('internalReference is the guide’s <registry>/$(basename image)', () => {
    expect(internalReference(DEFAULT_INTERNAL_REGISTRY, 'k8s.gcr.io/sig-storage/csi-attacher:v3.4.0')).toBe(
      'harbor-kr1.cloud.toastoven.net/container_service/csi-attacher:v3.4.0',
    );
    expect(internalReference('h.io/x/', 'calico-node')).toBe('h.io/x/calico-node');
  });

  test('likelyCause against 85 / 80 %', () => {
    expect(likelyCause(90)).toMatch(/> 85%.*likely cause/);
    expect(likelyCause(83)).toMatch(/between 80 and 85%/);
    expect(likelyCause(80)).toMatch(/≤ 80%.*not running/);
  });

  test('defaults: the guide’s list (no duplicates) and the internal registry', () => {
    const input = ClosedNetworkImageRecoveryInputSchema.parse({ cluster: 'c', nodes: ['n1'] });
    expect(input.images).toEqual([...GUIDE_DEFAULT_IMAGES]);
    expect(new Set(input.images).size).toBe(input.images.length);
    expect(input.images).toContain('k8s.gcr.io/pause');
    expect(input.registry).toBe(DEFAULT_INTERNAL_REGISTRY);
  });

  test('report: failed nodes first, disk and cause shown, next steps', () => {
    const report = closedNetworkImageRecoveryProcedure.report({
      cluster: 'c',
      dryRun: false,
      registry: DEFAULT_INTERNAL_REGISTRY,
      outcome: 'partial',
      pods: [],
      summary: 's',
      nodeCounts: { restored: 1, failed: 1 },
      imageCounts: { restored: 1, failed: 1 },
      nodes: [
        {
          node: 'a',
          outcome: 'restored',
          runtime: 'docker',
          images: [{ image: 'k8s.gcr.io/pause:3.2', outcome: 'restored' }],
          imageCounts: { restored: 1 },
          disk: { path: '/var/lib/docker', usePercent: 91 },
          cause: likelyCause(91),
        },
        {
          node: 'b',
          outcome: 'failed',
          runtime: 'containerd',
          images: [{ image: 'k8s.gcr.io/pause:3.2', outcome: 'failed', reason: 'pull failed' }],
          imageCounts: { failed: 1 },
          reason: '1 images failed',
        },
      ],
    });
    const nodes = report.tables[0]!;
    expect(nodes.rows[0]![0]).toBe('b');
    expect(nodes.rows[1]).toContain('91% /var/lib/docker');
    expect(report.next.join('\n')).toMatch(/above 80% disk use/);
    expect(report.next.join('\n')).toMatch(/check that harbor-kr1/);
  });
});
