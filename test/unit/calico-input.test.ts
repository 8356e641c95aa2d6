import {
  CALICO_DEFAULTS,
  CalicoImageRepairInputSchema,
  imagesToPrePull,
  planWorkloads,
  targetImages,
  type ObservedWorkload,
} from '../../src/common/calico';
import { parseInput } from '../../src/common/inputs';
import { normalizeImageReference, parseImageReference, sameImage } from '../../src/common/image-ref';

// The parser the workflow's edge and the SDK use.
const parseCalicoInput = (raw: unknown) => parseInput('calicoImageRepair', CalicoImageRepairInputSchema, raw);

describe('calicoImageRepair input', () => {
  it('fills the guide defaults', () => {
    const r = parseCalicoInput({ cluster: 'sim' });
    expect(r).toEqual({
      ok: true,
      value: expect.objectContaining({
        cluster: 'sim',
        tag: 'v3.24.1',
        registry: 'docker.io/calico',
        namespace: 'kube-system',
        prePullTimeoutSeconds: 360,
        dryRun: false,
        requireApproval: false,
        skipNotReadyNodes: false,
      }),
    });
  });

  it('accepts the guide spelling calico/ and a private registry with a port', () => {
    expect(parseCalicoInput({ cluster: 'sim', registry: 'calico/' })).toMatchObject({
      ok: true,
      value: { registry: 'calico' },
    });
    expect(
      parseCalicoInput({ cluster: 'sim', registry: 'harbor-kr1.cloud.toastoven.net:443/container_service' })
        .ok,
    ).toBe(true);
  });

  it.each([
    ['tag with a space', { tag: 'v3.24.1 ' }, 'tag'],
    ['tag with shell characters', { tag: 'v1;rm -rf /' }, 'tag'],
    ['tag with command substitution', { tag: '$(id)' }, 'tag'],
    ['tag starting with a dash', { tag: '-v1' }, 'tag'],
    ['registry with a space', { registry: 'docker.io/cal ico' }, 'registry'],
    ['registry with a backquote', { registry: 'docker.io/`id`' }, 'registry'],
    ['registry with an uppercase host', { registry: 'Docker.IO/calico' }, 'registry host'],
    ['registry with an uppercase path', { registry: 'docker.io/Calico' }, 'path component'],
    ['namespace uppercase', { namespace: 'Kube-System' }, 'namespace'],
    ['maxParallel zero', { maxParallel: 0 }, 'maxParallel'],
    ['unknown field', { tgа: 'x' }, 'tgа'],
  ])('refuses %s', (_what, extra, mentions) => {
    const r = parseCalicoInput({ cluster: 'sim', ...extra });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(mentions);
  });

  it('refuses a missing or bad cluster name', () => {
    expect(parseCalicoInput({}).ok).toBe(false);
    expect(parseCalicoInput({ cluster: 'a b' }).ok).toBe(false);
  });
});

describe('image references', () => {
  it('normalizes Docker Hub short forms', () => {
    expect(normalizeImageReference('calico/node:v3.24.1')).toBe('docker.io/calico/node:v3.24.1');
    expect(normalizeImageReference('busybox')).toBe('docker.io/library/busybox:latest');
    expect(normalizeImageReference('index.docker.io/calico/cni:v1')).toBe('docker.io/calico/cni:v1');
    expect(sameImage('calico/node:v3.24.1', 'docker.io/calico/node:v3.24.1')).toBe(true);
    expect(sameImage('calico/node:v3.24.1', 'quay.io/calico/node:v3.24.1')).toBe(false);
  });
  it('parses host, port, path, tag, digest', () => {
    expect(parseImageReference('localhost:5000/a/b:1.0')).toEqual({
      domain: 'localhost:5000',
      path: 'a/b',
      tag: '1.0',
      digest: undefined,
    });
    expect(() => parseImageReference('a/b:c:d')).toThrow();
    expect(() => parseImageReference('a/b@sha256:zz')).toThrow('digest');
  });
});

describe('planWorkloads', () => {
  const targets = targetImages(CALICO_DEFAULTS.registry, CALICO_DEFAULTS.tag);
  const broken = (image: string) => `registry.broken.example/calico/${image}:v3.24.1`;
  const observed = (nodeImage: string, typhaImage: string): ObservedWorkload[] => [
    {
      kind: 'DaemonSet',
      name: 'calico-node',
      found: true,
      containers: [
        { name: 'calico-node', init: false, image: nodeImage },
        { name: 'install-cni', init: true, image: broken('cni') },
        { name: 'mount-bpffs', init: true, image: nodeImage },
      ],
    },
    {
      kind: 'Deployment',
      name: 'calico-kube-controllers',
      found: true,
      containers: [
        { name: 'calico-kube-controllers', init: false, image: 'calico/kube-controllers:v3.24.1' },
      ],
    },
    {
      kind: 'Deployment',
      name: 'calico-typha',
      found: true,
      containers: [{ name: 'calico-typha', init: false, image: typhaImage }],
    },
  ];

  it('updates stale workloads and skips those already on target (short form counts)', () => {
    const plans = planWorkloads(observed(broken('node'), broken('typha')), targets);
    expect(plans.map((p) => [p.name, p.action])).toEqual([
      ['calico-node', 'update'],
      ['calico-kube-controllers', 'skip-up-to-date'],
      ['calico-typha', 'update'],
    ]);
    expect(imagesToPrePull(plans)).toEqual([targets.node, targets.cni, targets.typha]);
  });

  it('reports a workload without one of the named containers as missing', () => {
    const obs = observed(broken('node'), broken('typha'));
    obs[0]!.containers = obs[0]!.containers.filter((c) => c.name !== 'mount-bpffs');
    const plans = planWorkloads(obs, targets);
    expect(plans[0]).toMatchObject({ action: 'missing', note: expect.stringContaining('mount-bpffs') });
  });

  it('a workload on target whose rollout never finished is waited for, and its images pre-pulled', () => {
    const obs = observed(targets.node, targets.typha);
    obs[0]!.containers[1]!.image = targets.cni;
    obs[2]!.rolloutComplete = false;
    obs[2]!.rolloutMessage =
      'Waiting for deployment "calico-typha" rollout to finish: 0 of 1 updated replicas are available...';
    const plans = planWorkloads(obs, targets);
    expect(plans.map((p) => [p.name, p.action])).toEqual([
      ['calico-node', 'skip-up-to-date'],
      ['calico-kube-controllers', 'skip-up-to-date'],
      ['calico-typha', 'wait-rollout'],
    ]);
    expect(plans[2]!.note).toContain('0 of 1 updated replicas are available');
    expect(imagesToPrePull(plans)).toEqual([targets.typha]);
    // A complete rollout (or one recorded before rollouts were read) is done.
    obs[2]!.rolloutComplete = true;
    expect(planWorkloads(obs, targets)[2]!.action).toBe('skip-up-to-date');
    delete obs[2]!.rolloutComplete;
    expect(planWorkloads(obs, targets)[2]!.action).toBe('skip-up-to-date');
  });

  it('reports an absent workload as missing', () => {
    const plans = planWorkloads([], targets);
    expect(plans.every((p) => p.action === 'missing')).toBe(true);
    expect(imagesToPrePull(plans)).toEqual([]);
  });
});
