/** Registry entry of calicoImageRepair (docs/procedures.md §6). */
import { CALICO_DEFAULTS, CALICO_WORKLOADS, CalicoImageRepairInputSchema, resourceRef } from '../calico';
import type { CalicoImageRepairResult } from '../calico-types';
import { approvedOutcomeLine, countOutcomes, failuresFirst } from '../report';
import { defineProcedure, PREFLIGHT_NODES } from './define';

const NS = CALICO_DEFAULTS.namespace;
const names = (kind: string) => CALICO_WORKLOADS.filter((w) => w.kind === kind).map((w) => w.name);

function nextSteps(r: CalicoImageRepairResult): string[] {
  const left = r.prePullCleanup?.leftovers.length
    ? [
        `delete the ${r.prePullCleanup.leftovers.length} pre-pull pod(s) the run could not: kubectl -n ${r.plan.namespace} delete pod -l nksr.io/run=${r.prePullCleanup.runLabel}`,
      ]
    : [];
  const secret = r.prePullCleanup?.pullSecret;
  const secretLeft =
    secret && !secret.deleted
      ? [
          `delete the pull secret the run could not (it holds the Docker Hub credential): kubectl -n ${r.plan.namespace} delete secret ${secret.name}`,
        ]
      : [];
  return [...left, ...secretLeft, ...outcomeSteps(r)];
}

function outcomeSteps(r: CalicoImageRepairResult): string[] {
  const rerun = `nksr run calico-image-repair --cluster ${r.cluster}`;
  switch (r.outcome) {
    case 'planned':
      return [`apply the plan: ${rerun}`];
    case 'repaired':
      return [`check pod networking: kubectl -n ${r.plan.namespace} get pods -l k8s-app=calico-node`];
    case 'nothing-to-do':
      return [];
    default: {
      const steps: string[] = [];
      const failedNodes = r.nodes.filter((n) => n.outcome !== 'pulled');
      if (failedNodes.length)
        steps.push(
          `the target images could not be pulled on ${failedNodes.length} node(s): check that they reach ` +
            `${r.plan.images[0]?.split('/')[0] ?? 'the registry'}, then rerun (nothing was rolled): ${rerun}`,
        );
      if (failedNodes.length && r.plan.dockerHubPulls?.mode === 'anonymous')
        steps.push(
          `the docker.io pulls were anonymous (${r.plan.dockerHubPulls.reason}): on Docker Hub's rate limit ` +
            `(toomanyrequests), give the worker a Docker Hub login (dockerHub.credentialsFile in clusters.yaml) and rerun`,
        );
      for (const ref of r.failedResources)
        steps.push(`inspect: kubectl -n ${r.plan.namespace} rollout status ${ref}; then rerun: ${rerun}`);
      return steps;
    }
  }
}

export const calicoImageRepairProcedure = defineProcedure({
  workflowType: 'calicoImageRepair',
  cliName: 'calico-image-repair',
  description:
    'calico-typha / kube-controllers in ImagePullBackOff after the wrong image repository (guide §6)',
  guide: 'docs/procedures.md §6',
  inputSchema: CalicoImageRepairInputSchema,
  mutates: true,
  usesSsh: false,
  permissions: [
    PREFLIGHT_NODES,
    {
      apiGroup: '',
      resources: ['pods'],
      verbs: ['create', 'list', 'watch', 'delete'],
      namespace: NS,
      why: 'pre-pull pods (stale ones of earlier runs deleted first; created, watched, deleted by the run); calico-node pods listed when NotReady nodes are skipped; typha pods of before a failed rollout deleted',
    },
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['create', 'list', 'delete'],
      namespace: NS,
      why: "the run's Docker Hub pull secret for the docker.io pre-pulls, made of the worker's credential before the first pre-pull pod and deleted after the last; pull secrets earlier runs left are listed by label and deleted (no get: a secret is read by name through list; creating pods here already lets the role reach this namespace's secrets)",
    },
    {
      apiGroup: 'apps',
      resources: ['daemonsets'],
      verbs: ['get', 'patch'],
      namespace: NS,
      resourceNames: names('DaemonSet'),
      why: 'read and set the images of calico-node; wait for its rollout',
    },
    {
      apiGroup: 'apps',
      resources: ['deployments'],
      verbs: ['get', 'patch'],
      namespace: NS,
      resourceNames: names('Deployment'),
      why: 'read and set the images of calico-kube-controllers and calico-typha; wait for their rollouts',
    },
  ],
  report: (r: CalicoImageRepairResult) => ({
    summary: approvedOutcomeLine(r),
    tables: [
      failuresFirst(
        'workloads',
        ['WORKLOAD', 'OUTCOME', 'DETAIL'],
        r.workloads,
        (w) => w.outcome === 'failed' || w.outcome === 'missing',
        (w) => [resourceRef(w.kind, w.name), w.outcome, w.detail],
      ),
      ...(r.nodes.length
        ? [
            failuresFirst(
              `pre-pulls (${countOutcomes(r.nodes.map((n) => n.outcome))} nodes)`,
              ['NODE', 'OUTCOME', 'FAILED IMAGES'],
              r.nodes,
              (n) => n.outcome !== 'pulled',
              (n) => [n.node, n.outcome, n.failedImages.join(', ') || '-'],
            ),
          ]
        : []),
    ],
    next: nextSteps(r),
  }),
});
