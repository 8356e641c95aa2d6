/**
 * The RBAC each cluster the worker remediates needs, generated from the procedure registry's
 * `permissions`: one role per procedure (`nksr-<procedure>`, a ClusterRole for its cluster-scoped
 * rules and a Role per namespace it works in), each bound to the worker's ServiceAccount, and a
 * role of its own for a permission only an optional feature needs (ghcrMigration's pull secret
 * report). `npm run generate` writes them to deploy/rbac/ (and all of them to
 * deploy/target-cluster-rbac.yaml); `nksr rbac --cluster <name>` prints the ones a cluster's
 * `procedures:` and policy enable. Pure functions: test/unit/procedure-registry.test.ts compares
 * them with the committed files.
 */
import { Document, Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import {
  ALL_PROCEDURES,
  findProcedure,
  type KubePermission,
  type ProcedureDefinition,
} from '../common/procedures';
import type { ClusterEntry } from '../common/registry-schema';

export const RBAC_DIR = 'deploy/rbac';
export const RBAC_FILE = 'deploy/target-cluster-rbac.yaml';
export const SERVICE_ACCOUNT = { name: 'nksr-remediator', namespace: 'kube-system' } as const;

const PRINT_WIDTH = 110; // .prettierrc

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

/** The role (and file) name of a procedure's permissions, or of those of one of its features. */
export function roleName(p: Pick<ProcedureDefinition, 'cliName'>, feature?: string): string {
  return `nksr-${p.cliName}${feature ? `-${feature}` : ''}`;
}

/** The optional features of a procedure that need permissions of their own. */
export function featuresOf(p: ProcedureDefinition): string[] {
  return sorted(p.permissions.flatMap((k) => (k.feature ? [k.feature] : [])));
}

/** Whether a cluster's policy turns a feature on (its role is bound then). */
export function featureEnabled(p: ProcedureDefinition, feature: string, entry: ClusterEntry): boolean {
  if (p.workflowType === 'ghcrMigration' && feature === 'secret-report')
    return entry.policy?.ghcrMigration?.secretReport ?? false;
  throw new Error(`${p.workflowType}: no policy setting decides feature ${feature}`);
}

const GENERATED = `# GENERATED by \`npm run generate\` (scripts/generate.ts, src/client/rbac-manifests.ts) from the
# \`permissions\` of the procedure registry (src/common/procedures). Do not edit by hand: change the
# entry and rerun it; \`npm run generate -- --check\` (CI) fails while this file is stale.
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

function roleDocument(
  kind: 'ClusterRole' | 'Role',
  name: string,
  rules: RbacRule[],
  what: string,
  namespace?: string,
): Document {
  const doc = yamlDocument(
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind,
      metadata: { name, ...(namespace ? { namespace } : {}) },
      rules: [],
    },
    [namespace ? `${what}: in namespace ${namespace}.` : `${what}: cluster-scoped.`],
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

function bindingDocument(
  kind: 'ClusterRoleBinding' | 'RoleBinding',
  name: string,
  subject: { name: string; namespace: string },
  namespace?: string,
): Document {
  return yamlDocument({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: kind === 'ClusterRoleBinding' ? 'ClusterRole' : 'Role',
      name,
    },
    subjects: [{ kind: 'ServiceAccount', ...subject }],
  });
}

const print = (docs: Document[]) =>
  docs
    .map((d) => d.toString({ singleQuote: true, flowCollectionPadding: false, lineWidth: 0 }))
    .join('---\n');

/**
 * One procedure's roles and bindings (or, with `feature`, those of that feature's permissions
 * only), bound to `subject` (default: the worker's ServiceAccount).
 */
export function procedureRoleDocuments(
  p: ProcedureDefinition,
  opts: { feature?: string; subject?: { name: string; namespace: string } } = {},
): Document[] {
  const permissions = p.permissions.filter((k) => k.feature === opts.feature);
  if (permissions.length === 0)
    throw new Error(`${p.workflowType}: no permissions${opts.feature ? ` for feature ${opts.feature}` : ''}`);
  const plan = rbacPlan([{ ...p, permissions }]);
  const name = roleName(p, opts.feature);
  const subject = opts.subject ?? SERVICE_ACCOUNT;
  const what = opts.feature ? `${p.workflowType}, ${opts.feature}` : p.workflowType;
  const docs: Document[] = [];
  if (plan.cluster.length)
    docs.push(
      roleDocument('ClusterRole', name, plan.cluster, what),
      bindingDocument('ClusterRoleBinding', name, subject),
    );
  for (const [ns, rules] of plan.namespaces)
    docs.push(roleDocument('Role', name, rules, what, ns), bindingDocument('RoleBinding', name, subject, ns));
  return docs;
}

function serviceAccountDocument(): Document {
  return yamlDocument({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...SERVICE_ACCOUNT } });
}

/** The YAML of one procedure's roles (or one feature's), as deploy/rbac/<name>.yaml holds it. */
export function procedureRbacYaml(p: ProcedureDefinition, feature?: string): string {
  const needs = feature
    ? `# Bind it only where the cluster's policy turns ${feature} on (nksr rbac --cluster <name> does).\n`
    : `# Bind it only on clusters whose \`procedures:\` include ${p.cliName} (default: all of them).\n`;
  return `${GENERATED}#\n# The permissions of ${p.workflowType}${feature ? `'s ${feature}` : ''}, each rule with why.\n${needs}\n${print(procedureRoleDocuments(p, { feature }))}`;
}

/** Every file of deploy/rbac/: path → content. */
export function rbacFiles(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): Map<string, string> {
  const files = new Map<string, string>([
    [
      `${RBAC_DIR}/service-account.yaml`,
      `${GENERATED}#\n# The ServiceAccount every role here is bound to; the worker's kubeconfig for a cluster\n# should authenticate as it.\n\n${print([serviceAccountDocument()])}`,
    ],
  ]);
  for (const p of procedures) {
    if (p.permissions.some((k) => !k.feature))
      files.set(`${RBAC_DIR}/${roleName(p)}.yaml`, procedureRbacYaml(p));
    for (const f of featuresOf(p)) files.set(`${RBAC_DIR}/${roleName(p, f)}.yaml`, procedureRbacYaml(p, f));
  }
  return files;
}

const ALL_HEADER = `${GENERATED}#
# Every procedure's role and every feature's, all bound to the \`${SERVICE_ACCOUNT.name}\` ServiceAccount:
# for a worker that may run everything on the cluster. A cluster that enables only some procedures
# (clusters.yaml \`procedures:\`) gets only theirs: \`nksr rbac --cluster <name>\`, or the files of
# deploy/rbac/. Earlier versions had one role for all, named nksr-remediator (ClusterRole, Role and
# bindings): delete those.
`;

/** deploy/target-cluster-rbac.yaml: the ServiceAccount and every role of every procedure. */
export function rbacYaml(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): string {
  const docs = [serviceAccountDocument()];
  for (const p of procedures) {
    if (p.permissions.some((k) => !k.feature)) docs.push(...procedureRoleDocuments(p));
    for (const f of featuresOf(p)) docs.push(...procedureRoleDocuments(p, { feature: f }));
  }
  return `${ALL_HEADER}\n${print(docs)}`;
}

export const CHART_RBAC_FILE = 'deploy/chart/nks-remediation/templates/target-cluster-rbac.yaml';

/**
 * The chart's copy of rbacYaml, rendered only with `targetClusterRbac.enabled` (a worker that runs in
 * the cluster it remediates); Helm templates are not YAML, so Prettier leaves them alone.
 */
export function chartRbacTemplate(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): string {
  const body = rbacYaml(procedures).replace(/^# GENERATED[^]*?\n\n/, '');
  return (
    '{{- /* GENERATED by `npm run generate` from the procedure registry (as deploy/target-cluster-rbac.yaml). */ -}}\n' +
    '{{- if .Values.targetClusterRbac.enabled }}\n' +
    body +
    '{{- end }}\n'
  );
}

/**
 * What one cluster needs: the ServiceAccount, the roles of the procedures its `procedures:` enable
 * (every one by default; clusterPreflight's is in each), and the roles of the features its policy
 * turns on.
 */
export function clusterRbacYaml(cluster: string, entry: ClusterEntry): string {
  const enabled = entry.procedures
    ? ALL_PROCEDURES.filter((p) =>
        entry.procedures!.some((n) => findProcedure(n)?.workflowType === p.workflowType),
      )
    : ALL_PROCEDURES;
  const docs = [serviceAccountDocument()];
  const names: string[] = [];
  for (const p of enabled) {
    if (p.permissions.some((k) => !k.feature)) {
      docs.push(...procedureRoleDocuments(p));
      names.push(roleName(p));
    }
    for (const f of featuresOf(p))
      if (featureEnabled(p, f, entry)) {
        docs.push(...procedureRoleDocuments(p, { feature: f }));
        names.push(roleName(p, f));
      }
  }
  return `# RBAC of cluster ${cluster} (nksr rbac): ${names.join(', ')}.\n# Generated from the procedure registry; apply it with kubectl apply -f -.\n\n${print(docs)}`;
}
