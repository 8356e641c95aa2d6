/**
 * The kwok Stage objects of the simulator: sim/stages/*.yaml with their fault placeholders filled
 * from the built-in NKS rules plus the image faults added at run time. Regenerated and re-applied
 * whenever the faults change; the stage names never change, so an apply replaces them in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { BROKEN_CALICO_REPOSITORY, SIM_ROOT } from './config';
import { SimError } from './process';
import type { ImageFault } from './state';
import { type SandboxFailure, sandboxFailureMessage } from './nodes/sandbox';

/** Marks the per-node sandbox stages, so the ones of nodes that got their image back can be deleted. */
export const SANDBOX_STAGE_LABEL = 'sim.nksr.io/sandbox-stage';

export interface UnreadyRule {
  pattern: string;
  node?: string;
}

export const DEFAULT_PULL_FAILURE_MESSAGE =
  'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found';

const brokenRepo = BROKEN_CALICO_REPOSITORY.replace(/\./g, '\\.');

/**
 * NKS's wrong calico repository: typha and kube-controllers are no longer on the nodes and cannot be
 * pulled from it; calico/node and calico/cni are still cached (they pull "fine"), but calico-node
 * cannot become ready without typha.
 */
export const BUILTIN_PULL_FAILURES: readonly ImageFault[] = [
  { pattern: `^${brokenRepo}/(typha|kube-controllers):` },
];
export const BUILTIN_UNREADY: readonly UnreadyRule[] = [{ pattern: `^${brokenRepo}/node:` }];

const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * kwok evaluates the patterns with Go's RE2 (gojq `test`, sprig `regexMatch`); reject what RE2 lacks
 * (look-around, back-references) instead of letting the stage silently never match.
 */
export function validateImageFault(f: ImageFault): void {
  try {
    new RegExp(f.pattern);
  } catch (e) {
    throw new SimError(`invalid image pattern ${JSON.stringify(f.pattern)}: ${(e as Error).message}`);
  }
  if (/\(\?<?[=!]|\\[1-9]/.test(f.pattern)) {
    throw new SimError(
      `image pattern ${JSON.stringify(f.pattern)} uses look-around or back-references, which RE2 lacks`,
    );
  }
  if (f.node !== undefined && !NODE_NAME.test(f.node))
    throw new SimError(`invalid node name ${JSON.stringify(f.node)}`);
}

/** jq boolean: does any (init) container image of the pod match one of the rules for the pod's node. */
export function pullFailureJq(rules: readonly ImageFault[]): string {
  const terms = rules.map((r) => {
    const match = `($imgs | any(test(${JSON.stringify(r.pattern)})))`;
    const conditions = [
      ...(r.node === undefined ? [] : [`$node == ${JSON.stringify(r.node)}`]),
      ...(r.anonymousOnly ? ['$anonymous'] : []),
      match,
    ];
    return conditions.length === 1 ? match : `(${conditions.join(' and ')})`;
  });
  return (
    '[(.spec.initContainers // [])[].image, (.spec.containers // [])[].image] as $imgs' +
    ' | (.spec.nodeName // "") as $node' +
    ' | ((.spec.imagePullSecrets // []) | length == 0) as $anonymous' +
    ` | [${terms.join(', ')}] | any`
  );
}

function templateList(items: string[][]): string {
  return items.map((item) => `(list ${item.map((s) => JSON.stringify(s)).join(' ')})`).join(' ');
}

function fill(value: unknown, replacements: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return Object.entries(replacements).reduce((s, [k, v]) => s.split(k).join(v), value);
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, replacements));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, replacements)]));
  }
  return value;
}

/**
 * jq boolean: is the pod on one of these nodes and still without a sandbox (no container status yet,
 * or every one waiting in ContainerCreating). A pod whose sandbox already exists (running, or pulling
 * its own images) does not need the pause image again.
 */
export function sandboxFailureJq(failures: readonly SandboxFailure[]): string {
  return (
    `((.spec.nodeName // "") as $node | ${JSON.stringify(failures.map((f) => f.node))} | any(. == $node))` +
    ' and ([.status.containerStatuses[]? | .state.waiting.reason != "ContainerCreating"] | any | not)'
  );
}

/**
 * The stage of a node without its sandbox image: kubelet never gets to pulling the pod's images; the
 * pod stays Pending with its containers waiting in ContainerCreating, and kubelet records a
 * FailedCreatePodSandBox warning naming the sandbox image. One stage per node: kwok's event message
 * is a fixed string, not a template.
 */
export function sandboxStage(f: SandboxFailure): unknown {
  const waiting = (key: 'initContainers' | 'containers') =>
    `{{ if .spec.${key} }}\n${key === 'initContainers' ? 'initContainerStatuses' : 'containerStatuses'}:\n{{ range .spec.${key} }}\n- name: {{ .name | Quote }}\n  image: {{ .image | Quote }}\n  imageID: ""\n  restartCount: 0\n  ready: false\n  started: false\n  state:\n    waiting:\n      reason: ${key === 'initContainers' ? 'PodInitializing' : 'ContainerCreating'}\n{{ end }}\n{{ end }}\n`;
  const condition = (type: string, reason?: string) =>
    `- type: ${type}\n  status: "False"\n${reason ? `  reason: ${reason}\n` : ''}  lastProbeTime: null\n  lastTransitionTime: {{ $now | Quote }}\n`;
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: `sim-pod-sandbox-failed-${f.node}`, labels: { [SANDBOX_STAGE_LABEL]: 'true' } },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: {
        matchExpressions: [
          { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
          { key: '.status.phase == "Pending"', operator: 'In', values: ['true'] },
          { key: `(.spec.nodeName // "") == ${JSON.stringify(f.node)}`, operator: 'In', values: ['true'] },
          // A new pod: kubelet's first sandbox attempt (then it stays ContainerCreating).
          { key: '(.status.containerStatuses // []) | length == 0', operator: 'In', values: ['true'] },
          {
            key: '(.metadata.annotations["sim.nksr.io/mount-blocked"] // "false") == "true"',
            operator: 'In',
            values: ['false'],
          },
        ],
      },
      delay: { durationMilliseconds: 500, jitterDurationMilliseconds: 1000 },
      next: {
        event: { type: 'Warning', reason: 'FailedCreatePodSandBox', message: sandboxFailureMessage(f) },
        statusTemplate:
          '{{ $now := Now }}\n' +
          waiting('initContainers') +
          waiting('containers') +
          'conditions:\n' +
          condition('PodReadyToStartContainers') +
          '- type: Initialized\n  status: "True"\n  lastProbeTime: null\n  lastTransitionTime: {{ $now | Quote }}\n' +
          condition('ContainersReady', 'ContainersNotReady') +
          condition('Ready', 'ContainersNotReady') +
          'hostIP: {{ NodeIPWith .spec.nodeName | Quote }}\n' +
          'phase: Pending\n' +
          'startTime: {{ or .status.startTime $now | Quote }}\n',
      },
    },
  };
}

/**
 * The Stage objects (a v1 List, as JSON for kubectl) for these image faults and the nodes that lack
 * their sandbox image.
 */
export function renderStages(faults: readonly ImageFault[], sandbox: readonly SandboxFailure[] = []): string {
  faults.forEach(validateImageFault);
  const pullFailures = [...BUILTIN_PULL_FAILURES, ...faults];
  const replacements = {
    __PULL_FAIL_JQ__: pullFailureJq(pullFailures),
    __PULL_FAIL_RULES__: templateList(
      pullFailures.map((r) => [
        r.pattern,
        r.node ?? '',
        r.message ?? DEFAULT_PULL_FAILURE_MESSAGE,
        r.anonymousOnly ? 'anonymous' : '',
      ]),
    ),
    __UNREADY_RULES__: templateList(BUILTIN_UNREADY.map((r) => [r.pattern, r.node ?? ''])),
    __SANDBOX_FAIL_JQ__: sandboxFailureJq(sandbox),
  };
  const items: unknown[] = [];
  for (const file of ['node.yaml', 'pod.yaml']) {
    const list = YAML.parse(fs.readFileSync(path.join(SIM_ROOT, 'stages', file), 'utf8')) as {
      items: unknown[];
    };
    items.push(...list.items.map((item) => fill(item, replacements)));
  }
  items.push(...sandbox.map(sandboxStage));
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}
