/**
 * Registry entry, input schema, result types and report of fsGroupChangePolicy (docs/procedures.md §9):
 * with `fsGroup` set, kubelet chowns the whole volume at every mount and a large one times out
 * ("timed out waiting for the condition"). The fix is the pod template's
 * `securityContext.fsGroupChangePolicy: OnRootMismatch` on the workloads that show it (or a list).
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { BaseRemediationInputSchema, boundedInt } from '../inputs';
import { approvedOutcomeLine, failuresFirst } from '../report';
import {
  APPS_WORKLOAD_KINDS,
  type AppsWorkloadKind,
  type AppsWorkloadRef,
  NamespaceNameSchema,
  ObjectNameSchema,
  workloadKey,
} from '../workload-kinds';
import { defineProcedure, PREFLIGHT_NODES } from './define';

export const FS_GROUP_POLICIES = ['OnRootMismatch', 'Always'] as const;
export type FsGroupPolicy = (typeof FS_GROUP_POLICIES)[number];

/** kubelet's words for a mount that did not finish (the guide quotes them without "the"). */
export const MOUNT_TIMEOUT = /timed out waiting for (the )?condition/i;

export const FsGroupChangePolicyInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  ...ApprovalInputSchema.shape,
  policy: z
    .enum(FS_GROUP_POLICIES)
    .default('OnRootMismatch')
    .describe('fsGroupChangePolicy to set: OnRootMismatch (the fix) or Always'),
  namespaces: z
    .array(NamespaceNameSchema)
    .min(1)
    .max(500)
    .optional()
    .describe('scan only these namespaces (default: all)'),
  workloads: z
    .array(
      z
        .object({
          kind: z.enum(APPS_WORKLOAD_KINDS).describe('Deployment, StatefulSet or DaemonSet'),
          namespace: NamespaceNameSchema.describe('its namespace'),
          name: ObjectNameSchema.describe('its name'),
        })
        .strict(),
    )
    .min(1)
    .max(500)
    .optional()
    .describe('patch exactly these workloads (no symptom check) instead of scanning'),
  maxParallel: boundedInt(1, 50, 5, 'workloads patched and rolled at once'),
  rolloutTimeoutSeconds: boundedInt(
    30,
    7200,
    600,
    'seconds to wait for each rollout; one of more pods gets 30 s per desired pod when that is longer',
  ),
}).strict();

export type FsGroupChangePolicyInput = z.input<typeof FsGroupChangePolicyInputSchema>;
export type FsGroupChangePolicyOptions = z.output<typeof FsGroupChangePolicyInputSchema>;

/** What the scan (or the read of a listed workload) found. */
export interface FsGroupCandidate extends AppsWorkloadRef {
  found: boolean;
  fsGroup?: number;
  /** The template's fsGroupChangePolicy now (absent: kubelet's default, Always). */
  policy?: string;
  /** Pods of the workload with the mount timeout in an event or a condition (first few). */
  symptomPods: string[];
  /** One example message, clipped. */
  evidence?: string;
  resourceVersion?: string;
  /** Pods the workload wants (a DaemonSet's scheduled ones, else its replicas): its rollout timeout counts them. */
  desiredPods?: number;
}

export interface FsGroupWorkloadReport {
  kind: AppsWorkloadKind;
  namespace: string;
  name: string;
  outcome:
    | 'patched'
    | 'would-patch'
    | 'already-set'
    | 'no-symptom'
    | 'no-fsgroup'
    | 'missing'
    | 'rollout-failed'
    | 'failed'
    | 'not-attempted';
  fsGroup?: number;
  previousPolicy?: string;
  symptomPods: string[];
  evidence?: string;
  /** Pods the workload wants; its rollout timeout counts them. */
  desiredPods?: number;
  /** The exact merge patch (dry run and applied). */
  patch?: string;
  detail: string;
}

export interface FsGroupChangePolicyResult {
  cluster: string;
  dryRun: boolean;
  policy: FsGroupPolicy;
  mode: 'scan' | 'list';
  outcome: 'fixed' | 'nothing-to-do' | 'planned' | 'failed' | 'approval-expired';
  /** Every workload acted on or failing; unaffected ones while the list stays short. */
  workloads: FsGroupWorkloadReport[];
  counts: Record<string, number>;
  /** Unaffected workloads left out of `workloads`. */
  omitted: number;
  approvedBy?: string;
  summary: string;
}

const FAILED: ReadonlySet<FsGroupWorkloadReport['outcome']> = new Set([
  'missing',
  'rollout-failed',
  'failed',
  'not-attempted',
]);
export const isFailedWorkload = (w: FsGroupWorkloadReport) => FAILED.has(w.outcome);

export const fsGroupChangePolicyProcedure = defineProcedure({
  workflowType: 'fsGroupChangePolicy',
  cliName: 'fs-group-change-policy',
  description:
    '"timed out waiting for the condition" mounting a large volume with fsGroup: fsGroupChangePolicy OnRootMismatch (guide §9)',
  guide: 'docs/procedures.md §9',
  inputSchema: FsGroupChangePolicyInputSchema,
  mutates: true,
  usesSsh: false,
  permissions: [
    PREFLIGHT_NODES,
    {
      apiGroup: 'apps',
      resources: ['deployments', 'statefulsets', 'daemonsets'],
      verbs: ['get', 'list', 'patch'],
      why: 'find the workloads whose pod template sets fsGroup; set fsGroupChangePolicy (resourceVersion-checked); wait for their rollouts',
    },
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['list'],
      why: "the workloads' pods: mount timeouts in their conditions",
    },
    {
      apiGroup: '',
      resources: ['events'],
      verbs: ['list'],
      why: 'the mount timeout ("timed out waiting for the condition") in the pods\' events',
    },
  ],
  report: (r: FsGroupChangePolicyResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      failuresFirst(
        `workloads (${Object.entries(r.counts)
          .map(([o, n]) => `${n} ${o}`)
          .join(', ')}${r.omitted ? `, ${r.omitted} more not listed` : ''})`,
        ['WORKLOAD', 'OUTCOME', 'FSGROUP', 'POLICY BEFORE', 'EVIDENCE / DETAIL'],
        r.workloads,
        isFailedWorkload,
        (w) => [
          workloadKey(w),
          w.outcome,
          w.fsGroup !== undefined ? String(w.fsGroup) : '-',
          w.previousPolicy ?? '(unset)',
          w.outcome === 'would-patch' || w.outcome === 'patched'
            ? `${w.symptomPods.length ? `${w.symptomPods.length} pod(s): ${w.evidence ?? ''}; ` : ''}${w.detail}`
            : w.detail,
        ],
      ),
    ],
    next: [
      ...(r.outcome === 'planned'
        ? [`apply the plan: nksr run fs-group-change-policy --cluster ${r.cluster} --policy ${r.policy}`]
        : []),
      ...r.workloads
        .filter(isFailedWorkload)
        .map(
          (w) =>
            `inspect: kubectl -n ${w.namespace} rollout status ${w.kind.toLowerCase()}/${w.name}; then rerun`,
        ),
    ],
  }),
});
