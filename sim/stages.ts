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

/** The Stage objects (a v1 List, as JSON for kubectl) for these image faults. */
export function renderStages(faults: readonly ImageFault[]): string {
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
  };
  const items: unknown[] = [];
  for (const file of ['node.yaml', 'pod.yaml']) {
    const list = YAML.parse(fs.readFileSync(path.join(SIM_ROOT, 'stages', file), 'utf8')) as {
      items: unknown[];
    };
    items.push(...list.items.map((item) => fill(item, replacements)));
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}
