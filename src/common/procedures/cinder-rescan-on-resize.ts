/**
 * Registry entry, input schema, result types and report of cinderRescanOnResize (docs/procedures.md §8):
 * `rescan-on-resize=true` in [BlockStorage] of the cinder CSI cloud-config (set once, every other line
 * kept), then both cinder CSI plugins restarted as `kubectl rollout restart` does and waited for.
 * The secret's content never leaves the activity that edits it: results carry what changed (which
 * line, the key's previous value), never the file.
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { type z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { BaseRemediationInputSchema, boundedInt } from '../inputs';
import { approvedOutcomeLine, failuresFirst } from '../report';
import { type AppsWorkloadKind, workloadKey } from '../workload-kinds';
import { defineProcedure, PREFLIGHT_NODES } from './define';

export const CINDER = {
  namespace: 'kube-system',
  secret: 'cinder-csi-cloud-config',
  secretKey: 'cloud-config',
  section: 'BlockStorage',
  key: 'rescan-on-resize',
  provisioner: 'cinder.csi.openstack.org',
  /** Pod-template annotation: the secret resourceVersion the plugins were last restarted for. */
  configVersionAnnotation: 'nksr.io/cinder-cloud-config-version',
  plugins: [
    { kind: 'DaemonSet', name: 'cinder-csi-nodeplugin' },
    { kind: 'StatefulSet', name: 'cinder-csi-controllerplugin' },
  ] as const satisfies readonly { kind: AppsWorkloadKind; name: string }[],
} as const;

export const CinderRescanOnResizeInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  ...ApprovalInputSchema.shape,
  rolloutTimeoutSeconds: boundedInt(
    30,
    7200,
    600,
    'seconds to wait for each plugin rollout after its restart; the nodeplugin gets 30 s per node when that is longer',
  ),
  maxListedClaims: boundedInt(
    0,
    1000,
    200,
    'PVCs of cinder storage classes listed by name in the report (the rest are counted)',
  ),
}).strict();

export type CinderRescanOnResizeInput = z.input<typeof CinderRescanOnResizeInputSchema>;
export type CinderRescanOnResizeOptions = z.output<typeof CinderRescanOnResizeInputSchema>;

/** What the cloud-config edit did (or would do). No content of the secret, ever. */
export interface CloudConfigEdit {
  outcome: 'set' | 'already-set' | 'would-set';
  change: 'none' | 'section-added' | 'key-added' | 'value-set' | 'duplicates-removed';
  /** The key's value before: absent, true, false, or not a boolean. */
  previous: 'absent' | 'true' | 'false' | 'not-a-boolean';
  /** 1-based line of the key in the (new) file. */
  line: number;
  duplicatesRemoved: number;
  resourceVersionBefore: string;
  /** After the write (= before when nothing was written). */
  resourceVersion: string;
  /** Write attempts refused by a concurrent change (409) before this one; 0 normally. */
  conflictsBefore?: number;
}

export interface PluginRestart {
  kind: AppsWorkloadKind;
  name: string;
  outcome:
    | 'restarted'
    | 'already-restarted'
    | 'would-restart'
    | 'rollout-failed'
    | 'rollout-timeout'
    | 'not-attempted'
    | 'missing';
  /** The `kubectl.kubernetes.io/restartedAt` stamp written (or the one found). */
  restartedAt?: string;
  previousRestartedAt?: string;
  detail: string;
}

export interface CinderClaim {
  namespace: string;
  name: string;
  storageClass: string;
  phase: string;
  requested?: string;
  capacity?: string;
  /**
   * resize-to-benefit: bound before the fix; grows in the pod only after its next resize.
   * resize-pending: a resize is waiting for the filesystem step (finishes on the next mount now).
   * not-expandable: its storage class does not allow volume expansion.
   * not-bound: no volume yet (a volume created from now on is fine).
   */
  status: 'resize-to-benefit' | 'resize-pending' | 'not-expandable' | 'not-bound';
}

export interface CinderClaimsReport {
  storageClasses: { name: string; allowVolumeExpansion: boolean; isDefault: boolean }[];
  claims: CinderClaim[];
  counts: Record<CinderClaim['status'], number>;
  /** Claims left out of `claims` (maxListedClaims). */
  omitted: number;
}

export interface CinderRescanOnResizeResult {
  cluster: string;
  dryRun: boolean;
  outcome: 'fixed' | 'nothing-to-do' | 'planned' | 'failed' | 'approval-expired';
  config: CloudConfigEdit;
  plugins: PluginRestart[];
  volumes: CinderClaimsReport;
  approvedBy?: string;
  summary: string;
}

const isFailedPlugin = (p: PluginRestart) =>
  p.outcome === 'rollout-failed' || p.outcome === 'rollout-timeout' || p.outcome === 'missing';

function nextSteps(r: CinderRescanOnResizeResult): string[] {
  const rerun = `nksr run cinder-rescan-on-resize --cluster ${r.cluster}`;
  const steps: string[] = [];
  if (r.outcome === 'planned') steps.push(`apply the plan: ${rerun}`);
  for (const p of r.plugins.filter(isFailedPlugin))
    steps.push(
      `inspect: kubectl -n ${CINDER.namespace} rollout status ${p.kind.toLowerCase()}/${p.name}; then rerun: ${rerun}`,
    );
  if (r.volumes.counts['resize-to-benefit'])
    steps.push(
      `${r.volumes.counts['resize-to-benefit']} PVC(s) were sized before the fix: a filesystem that did not grow grows at the next resize (raise spec.resources.requests.storage)`,
    );
  if (r.volumes.counts['resize-pending'])
    steps.push(
      `${r.volumes.counts['resize-pending']} PVC(s) wait for the filesystem resize: restart the pod that mounts each`,
    );
  return steps;
}

export const cinderRescanOnResizeProcedure = defineProcedure({
  workflowType: 'cinderRescanOnResize',
  cliName: 'cinder-rescan-on-resize',
  description:
    'PV grown but the filesystem in the pod did not: rescan-on-resize in the cinder CSI config, both plugins restarted (guide §8)',
  guide: 'docs/procedures.md §8',
  inputSchema: CinderRescanOnResizeInputSchema,
  mutates: true,
  usesSsh: false,
  permissions: [
    PREFLIGHT_NODES,
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['get', 'update'],
      namespace: CINDER.namespace,
      resourceNames: [CINDER.secret],
      why: 'read the cloud-config and write it back with rescan-on-resize=true (resourceVersion-checked)',
    },
    {
      apiGroup: 'apps',
      resources: ['daemonsets'],
      verbs: ['get', 'patch'],
      namespace: CINDER.namespace,
      resourceNames: ['cinder-csi-nodeplugin'],
      why: 'restart the node plugin (pod-template annotation, as kubectl rollout restart) and wait for its rollout',
    },
    {
      apiGroup: 'apps',
      resources: ['statefulsets'],
      verbs: ['get', 'patch'],
      namespace: CINDER.namespace,
      resourceNames: ['cinder-csi-controllerplugin'],
      why: 'restart the controller plugin (pod-template annotation, as kubectl rollout restart) and wait for its rollout',
    },
    {
      apiGroup: 'storage.k8s.io',
      resources: ['storageclasses'],
      verbs: ['list'],
      why: 'find the storage classes of the cinder CSI provisioner',
    },
    {
      apiGroup: '',
      resources: ['persistentvolumeclaims'],
      verbs: ['list'],
      why: 'report the PVCs of cinder storage classes that need a resize to benefit',
    },
  ],
  report: (r: CinderRescanOnResizeResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      {
        title: `${CINDER.namespace}/${CINDER.secret} [${CINDER.section}] ${CINDER.key}`,
        columns: ['OUTCOME', 'CHANGE', 'PREVIOUS', 'LINE', 'RESOURCE VERSION'],
        rows: [
          [
            r.config.outcome,
            r.config.change,
            r.config.previous,
            String(r.config.line),
            r.config.resourceVersionBefore === r.config.resourceVersion
              ? r.config.resourceVersion
              : `${r.config.resourceVersionBefore} → ${r.config.resourceVersion}`,
          ],
        ],
      },
      failuresFirst(
        'plugins',
        ['WORKLOAD', 'OUTCOME', 'RESTARTED AT', 'DETAIL'],
        r.plugins,
        isFailedPlugin,
        (p) => [
          workloadKey({ kind: p.kind, namespace: CINDER.namespace, name: p.name }),
          p.outcome,
          p.restartedAt ?? '-',
          p.detail,
        ],
      ),
      failuresFirst(
        `PVCs of cinder storage classes (${r.volumes.storageClasses.map((s) => s.name).join(', ') || 'none'})`,
        ['PVC', 'STORAGE CLASS', 'STATUS', 'REQUESTED', 'CAPACITY'],
        r.volumes.claims,
        (c) => c.status === 'resize-pending' || c.status === 'resize-to-benefit',
        (c) => [`${c.namespace}/${c.name}`, c.storageClass, c.status, c.requested ?? '-', c.capacity ?? '-'],
      ),
    ],
    next: nextSteps(r),
  }),
});
