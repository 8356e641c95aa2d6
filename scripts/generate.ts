/**
 * `npm run generate`: writes what derives from the procedure registry (src/common/procedures) and is
 * committed: schemas/<workflowType>.json (each procedure's input as JSON Schema, for the Temporal CLI,
 * the UI and other services) and deploy/target-cluster-rbac.yaml (the least-privilege RBAC of every
 * cluster the worker remediates, from the entries' `permissions`).
 *
 *   npm run generate               write the files (and delete schemas of procedures no longer registered)
 *   npm run generate -- --check    write nothing; exit 1 naming every stale file (CI)
 *
 * The functions above `main` are pure (test/unit/procedure-registry.test.ts compares them with the
 * files). Their output is already in Prettier's style, so `npm run format` leaves the files alone;
 * `main` checks that, since a Prettier that reformatted them would make --check fail forever.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Document, Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { procedureInputJsonSchema } from '../src/client/cli/procedure-help';
import { ALL_PROCEDURES, type KubePermission, type ProcedureDefinition } from '../src/common/procedures';

export const REPO_ROOT = join(__dirname, '..');
export const SCHEMAS_DIR = 'schemas';
export const RBAC_FILE = 'deploy/target-cluster-rbac.yaml';
export const SERVICE_ACCOUNT = { name: 'nksr-remediator', namespace: 'kube-system' } as const;
/** The ClusterRole, the Roles (one per namespace) and their bindings all have this name. */
export const ROLE_NAME = 'nksr-remediator';

const PRINT_WIDTH = 110; // .prettierrc

// ---------------------------------------------------------------------------------------------
// JSON, as Prettier prints it: objects expanded (Prettier keeps an object expanded when its first
// key is on a new line), an array of scalars on one line when that line fits, else one per line.

function fitsOnOneLine(prefix: number, text: string, suffix: number): boolean {
  return prefix + text.length + suffix <= PRINT_WIDTH && !text.includes('\n');
}

function jsonValue(value: unknown, indent: string, prefix: number, suffix: number): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (fitsOnOneLine(prefix, flat, suffix)) return flat;
    }
    const items = value.map(
      (v, i) => `${inner}${jsonValue(v, inner, inner.length, i < value.length - 1 ? 1 : 0)}`,
    );
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const lines = entries.map(([k, v], i) => {
      const key = `${inner}${JSON.stringify(k)}: `;
      return `${key}${jsonValue(v, inner, key.length, i < entries.length - 1 ? 1 : 0)}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

export function formatJson(value: unknown): string {
  return `${jsonValue(value, '', 0, 0)}\n`;
}

// ---------------------------------------------------------------------------------------------
// schemas/

export function schemaPath(entry: ProcedureDefinition): string {
  return `${SCHEMAS_DIR}/${entry.workflowType}.json`;
}

export function schemaFiles(
  procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES,
): Map<string, string> {
  return new Map(procedures.map((p) => [schemaPath(p), formatJson(procedureInputJsonSchema(p))]));
}

// ---------------------------------------------------------------------------------------------
// RBAC

/** One rule of a Role or ClusterRole, with the procedures' reasons for it. */
export interface RbacRule {
  apiGroup: string;
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  /** `workflowType: why`, one per permission that contributes to this rule. */
  reasons: string[];
}

/** Cluster-scoped rules (a ClusterRole) and the rules of each namespace (a Role there). */
export interface RbacPlan {
  cluster: RbacRule[];
  namespaces: Map<string, RbacRule[]>;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sorted = (values: Iterable<string>) => [...new Set(values)].sort(byText);

function checkPermission(p: ProcedureDefinition, k: KubePermission): void {
  const all = [k.apiGroup, ...k.resources, ...k.verbs, ...(k.resourceNames ?? [])];
  if (all.some((v) => v.includes('*')))
    throw new Error(`${p.workflowType}: a permission with '*' (least privilege: name each one)`);
  if (k.resources.length === 0 || k.verbs.length === 0)
    throw new Error(`${p.workflowType}: a permission without resources or verbs`);
  if (k.resourceNames?.length === 0)
    throw new Error(`${p.workflowType}: resourceNames: [] grants nothing; leave it out instead`);
  if (!k.why.trim()) throw new Error(`${p.workflowType}: a permission without a why`);
}

/**
 * Merges the entries' permissions per scope and (apiGroup, resourceNames set): resources with the
 * same set of verbs share a rule. Resources with different verbs get rules of their own, so the
 * result grants exactly the union of the permissions (merging `nodes: list` with `pods: delete`
 * into one rule would grant `nodes: delete`).
 */
export function rbacPlan(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): RbacPlan {
  interface Group {
    apiGroup: string;
    resourceNames?: string[];
    verbsOf: Map<string, Set<string>>;
    reasonsOf: Map<string, string[]>;
  }
  const scopes = new Map<string, Map<string, Group>>(); // '' = cluster-scoped
  for (const p of procedures) {
    for (const k of p.permissions) {
      checkPermission(p, k);
      const scope = k.namespace ?? '';
      const names = k.resourceNames ? sorted(k.resourceNames) : undefined;
      const key = JSON.stringify([k.apiGroup, names ?? null]);
      const groups = scopes.get(scope) ?? scopes.set(scope, new Map()).get(scope)!;
      const group =
        groups.get(key) ??
        groups
          .set(key, { apiGroup: k.apiGroup, resourceNames: names, verbsOf: new Map(), reasonsOf: new Map() })
          .get(key)!;
      for (const resource of k.resources) {
        const verbs = group.verbsOf.get(resource) ?? group.verbsOf.set(resource, new Set()).get(resource)!;
        for (const verb of k.verbs) verbs.add(verb);
        const reasons = group.reasonsOf.get(resource) ?? group.reasonsOf.set(resource, []).get(resource)!;
        const reason = `${p.workflowType}: ${k.why}`;
        if (!reasons.includes(reason)) reasons.push(reason);
      }
    }
  }
  const rulesOf = (groups: Map<string, Group>): RbacRule[] => {
    const rules: RbacRule[] = [];
    for (const g of groups.values()) {
      const byVerbs = new Map<string, string[]>();
      for (const [resource, verbs] of g.verbsOf) {
        const key = sorted(verbs).join(',');
        byVerbs.set(key, [...(byVerbs.get(key) ?? []), resource]);
      }
      for (const [verbs, resources] of byVerbs) {
        const reasons: string[] = [];
        for (const r of resources)
          for (const reason of g.reasonsOf.get(r)!) if (!reasons.includes(reason)) reasons.push(reason);
        rules.push({
          apiGroup: g.apiGroup,
          resources: sorted(resources),
          verbs: verbs.split(','),
          ...(g.resourceNames ? { resourceNames: g.resourceNames } : {}),
          reasons,
        });
      }
    }
    const order = (r: RbacRule) => JSON.stringify([r.apiGroup, r.resources, r.resourceNames ?? []]);
    return rules.sort((a, b) => byText(order(a), order(b)));
  };
  const namespaces = new Map<string, RbacRule[]>();
  for (const ns of sorted([...scopes.keys()].filter((s) => s !== '')))
    namespaces.set(ns, rulesOf(scopes.get(ns)!));
  return { cluster: rulesOf(scopes.get('') ?? new Map()), namespaces };
}

const HEADER = `# GENERATED by \`npm run generate\` (scripts/generate.ts) from the \`permissions\` of each entry of the
# procedure registry (src/common/procedures). Do not edit by hand: change the entry and rerun it;
# \`npm run generate -- --check\` (CI) fails while this file is stale.
#
# Apply to every cluster the worker remediates. The worker's kubeconfig for that cluster should
# authenticate as the \`${SERVICE_ACCOUNT.name}\` ServiceAccount (or a user bound the same way).
# Least privilege: exactly what the registered procedures' activities call, each rule with the
# procedures that need it and why. A procedure whose namespace is an input is granted its default
# namespace only; running it on another one needs a Role there.
# Earlier versions named these objects nksr-remediator-read (ClusterRole and ClusterRoleBinding) and
# nksr-remediator-kube-system (Role and RoleBinding in kube-system): delete those.
`;

/** `- a` lines are long: flow style (`['get', 'list']`) when it fits on its line, as Prettier keeps it. */
function list(doc: Document, key: string, values: string[]) {
  const node = doc.createNode(values) as YAMLSeq<Scalar>;
  for (const item of node.items) item.type = Scalar.QUOTE_SINGLE;
  const flat = `${' '.repeat(4)}${key}: [${values.map((v) => `'${v}'`).join(', ')}]`;
  node.flow = flat.length <= PRINT_WIDTH;
  return node;
}

function comment(lines: string[]): string {
  return lines.map((l) => ` ${l}`).join('\n');
}

function yamlDocument(value: Record<string, unknown>, commentLines: string[] = []): Document {
  const doc = new Document(value);
  if (commentLines.length) (doc.contents as YAMLMap).commentBefore = comment(commentLines);
  return doc;
}

function roleDocument(kind: 'ClusterRole' | 'Role', rules: RbacRule[], namespace?: string): Document {
  const doc = yamlDocument(
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind,
      metadata: { name: ROLE_NAME, ...(namespace ? { namespace } : {}) },
      rules: [],
    },
    [
      namespace
        ? `In namespace ${namespace}: what the procedures do there.`
        : 'Cluster-scoped: permissions the registry declares without a namespace.',
    ],
  );
  const seq = doc.get('rules') as YAMLSeq;
  for (const r of rules) {
    const rule = doc.createNode({}) as YAMLMap;
    rule.set('apiGroups', list(doc, 'apiGroups', [r.apiGroup]));
    rule.set('resources', list(doc, 'resources', r.resources));
    if (r.resourceNames) rule.set('resourceNames', list(doc, 'resourceNames', r.resourceNames));
    rule.set('verbs', list(doc, 'verbs', r.verbs));
    rule.commentBefore = comment(r.reasons);
    seq.items.push(rule);
  }
  return doc;
}

function bindingDocument(kind: 'ClusterRoleBinding' | 'RoleBinding', namespace?: string): Document {
  return yamlDocument({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name: ROLE_NAME, ...(namespace ? { namespace } : {}) },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'ClusterRoleBinding' ? 'ClusterRole' : 'Role',
      name: ROLE_NAME,
    },
    subjects: [{ kind: 'ServiceAccount', ...SERVICE_ACCOUNT }],
  });
}

/** deploy/target-cluster-rbac.yaml. */
export function rbacYaml(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): string {
  const plan = rbacPlan(procedures);
  const docs: Document[] = [
    yamlDocument({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...SERVICE_ACCOUNT } }),
  ];
  if (plan.cluster.length)
    docs.push(roleDocument('ClusterRole', plan.cluster), bindingDocument('ClusterRoleBinding'));
  for (const [ns, rules] of plan.namespaces)
    docs.push(roleDocument('Role', rules, ns), bindingDocument('RoleBinding', ns));
  const body = docs
    .map((d) => d.toString({ singleQuote: true, flowCollectionPadding: false, lineWidth: 0 }))
    .join('---\n');
  return `${HEADER}\n${body}`;
}

// ---------------------------------------------------------------------------------------------

/** Every generated file: path relative to the repository → content. */
export function generatedFiles(
  procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES,
): Map<string, string> {
  return new Map([...schemaFiles(procedures), [RBAC_FILE, rbacYaml(procedures)]]);
}

/** Files that differ from what the registry generates, and schemas no procedure generates any more. */
export function staleFiles(
  root = REPO_ROOT,
  files = generatedFiles(),
): { changed: string[]; orphaned: string[] } {
  const changed = [...files].filter(([path, content]) => {
    const abs = join(root, path);
    return !existsSync(abs) || readFileSync(abs, 'utf8') !== content;
  });
  const dir = join(root, SCHEMAS_DIR);
  const orphaned = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => `${SCHEMAS_DIR}/${f}`)
        .filter((path) => !files.has(path))
    : [];
  return { changed: changed.map(([path]) => path), orphaned };
}

/** Prettier must leave the output as it is (format:check runs over these files too). */
async function checkPrettierStable(files: Map<string, string>): Promise<string[]> {
  const prettier = await import('prettier');
  const unstable: string[] = [];
  for (const [path, content] of files) {
    const abs = join(REPO_ROOT, path);
    const options = await prettier.resolveConfig(abs);
    if ((await prettier.format(content, { ...options, filepath: abs })) !== content) unstable.push(path);
  }
  return unstable;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    process.stderr.write(`generate: unknown argument(s) ${unknown.join(' ')}; usage: generate [--check]\n`);
    return 2;
  }
  const check = argv.includes('--check');
  const files = generatedFiles();
  const unstable = await checkPrettierStable(files);
  if (unstable.length) {
    process.stderr.write(
      `generate: Prettier would reformat the output for ${unstable.join(', ')}: ` +
        'make scripts/generate.ts print what Prettier prints\n',
    );
    return 1;
  }
  const { changed, orphaned } = staleFiles(REPO_ROOT, files);
  if (check) {
    if (changed.length + orphaned.length === 0) {
      console.log(`generated files are up to date (${files.size})`);
      return 0;
    }
    for (const path of changed) process.stderr.write(`stale: ${path}\n`);
    for (const path of orphaned) process.stderr.write(`stale: ${path} (no registered procedure has it)\n`);
    process.stderr.write('generated files are stale: run `npm run generate` and commit the result\n');
    return 1;
  }
  for (const path of changed) {
    const abs = join(REPO_ROOT, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, files.get(path)!);
    console.log(`wrote ${relative(process.cwd(), abs) || path}`);
  }
  for (const path of orphaned) {
    rmSync(join(REPO_ROOT, path));
    console.log(`deleted ${path} (no registered procedure has it)`);
  }
  if (changed.length + orphaned.length === 0) console.log(`generated files are up to date (${files.size})`);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
