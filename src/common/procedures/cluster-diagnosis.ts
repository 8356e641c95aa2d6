/**
 * Registry entry, input schema, result and report of clusterDiagnosis: a read-only look at the
 * cluster for every symptom of the guide, each by its own detector, that says which procedure (with
 * its exact input) fixes what it found, with the evidence. `nksr diagnose --cluster C` prints it;
 * `--fix` starts the proposed procedures in FIX_ORDER.
 */
import { z } from 'zod';
import {
  type DetectorName,
  type DetectorReport,
  type Finding,
  type ProposedFix,
  uniqSorted,
} from '../diagnosis/types';
import { BaseRemediationInputSchema, boundedInt } from '../inputs';
import type { ReportTable } from './define';
import { defineProcedure } from './define';
import {
  GUIDE_DOCKER_LOGROTATE_CONFIG,
  LOGROTATE_SYNC_DEFAULTS,
  LogrotatePathSchema,
  MAX_LOGROTATE_CONFIG_BYTES,
} from './logrotate-sync';

export const CLUSTER_DIAGNOSIS_DEFAULTS = { maxParallel: 10 } as const;

export const ClusterDiagnosisInputSchema = BaseRemediationInputSchema.extend({
  logrotateContent: z
    .string()
    .min(1)
    .refine((s) => new TextEncoder().encode(s).length <= MAX_LOGROTATE_CONFIG_BYTES, {
      message: `at most ${MAX_LOGROTATE_CONFIG_BYTES} bytes`,
    })
    .default(GUIDE_DOCKER_LOGROTATE_CONFIG)
    .describe("the logrotate config nodes should have (default: the guide's docker_logrotate_config)"),
  logrotatePath: LogrotatePathSchema.default(LOGROTATE_SYNC_DEFAULTS.path).describe(
    'where that config lives on each node',
  ),
  maxParallel: boundedInt(
    1,
    200,
    CLUSTER_DIAGNOSIS_DEFAULTS.maxParallel,
    'nodes read at once over SSH (hashes and disk use only)',
  ),
}).strict();

export type ClusterDiagnosisInput = z.input<typeof ClusterDiagnosisInputSchema>;
export type ClusterDiagnosisOptions = z.output<typeof ClusterDiagnosisInputSchema>;

export interface DetectorSummary {
  detector: DetectorName;
  status: DetectorReport['status'];
  /** What it looked at, or why it could not run. */
  detail: string;
  findings: number;
}

export interface ClusterDiagnosisResult {
  cluster: string;
  /**
   * healthy: every detector ran and found nothing; incomplete: nothing found but some detector could
   * not run (listed with why); findings: something found.
   */
  outcome: 'healthy' | 'incomplete' | 'findings';
  summary: string;
  detectors: DetectorSummary[];
  /** Most severe first. */
  findings: Finding[];
  /** One run per procedure, in the order `nksr diagnose --fix` starts them. */
  plan: ProposedFix[];
}

const objectsCell = (f: Finding) => {
  const xs = [...(f.nodes.length ? [`nodes: ${f.nodes.join(', ')}`] : []), ...f.objects];
  return xs.length > 4 ? `${xs.slice(0, 4).join('; ')}; +${xs.length - 4} more` : xs.join('; ');
};

export const clusterDiagnosisProcedure = defineProcedure({
  workflowType: 'clusterDiagnosis',
  cliName: 'cluster-diagnosis',
  description:
    'checks the cluster for every symptom of the guide and names the procedure (and input) that fixes each (read-only)',
  inputSchema: ClusterDiagnosisInputSchema,
  mutates: false,
  usesSsh: true,
  permissions: [
    {
      apiGroup: '',
      resources: ['nodes'],
      verbs: ['get', 'list'],
      why: 'preflight; kernel and kubelet versions (kmem, cinder); SSH reads resolve a node’s address',
    },
    {
      apiGroup: '',
      resources: ['pods', 'events'],
      verbs: ['list'],
      why: 'pull failures, FailedMount and FailedCreatePodContainer events: the symptoms',
    },
    {
      apiGroup: 'apps',
      resources: ['deployments', 'daemonsets', 'statefulsets'],
      verbs: ['list'],
      why: 'workload templates: docker.pkg.github.com images, fsGroup without OnRootMismatch',
    },
    {
      apiGroup: 'batch',
      resources: ['cronjobs', 'jobs'],
      verbs: ['list'],
      why: 'CronJob and Job templates on docker.pkg.github.com',
    },
    {
      apiGroup: '',
      resources: ['secrets'],
      verbs: ['get'],
      namespace: 'kube-system',
      resourceNames: ['cinder-csi-cloud-config'],
      why: 'whether rescan-on-resize is set (read by the worker; the content never leaves the activity)',
    },
  ],
  report: (r: ClusterDiagnosisResult) => {
    const skipped = r.detectors.filter((d) => d.status === 'skipped');
    const tables: ReportTable[] = [];
    if (r.findings.length) {
      tables.push({
        title: `findings (${r.findings.length})`,
        columns: ['#', 'SEVERITY', 'DETECTOR', 'WHAT', 'AFFECTED', 'FIX'],
        rows: r.findings.map((f, i) => [
          String(i + 1),
          f.severity,
          f.detector,
          f.title,
          objectsCell(f),
          f.fix ? `${f.fix.procedure} ${JSON.stringify(f.fix.input)}` : `none${f.note ? `: ${f.note}` : ''}`,
        ]),
      });
      tables.push({
        title: 'evidence',
        columns: ['#', 'OBJECT', 'NODE', 'REASON', 'STATUS', 'IMAGE', 'MESSAGE'],
        rows: r.findings.flatMap((f, i) => [
          ...f.evidence.map((e) => [
            String(i + 1),
            e.object,
            e.node ?? '-',
            e.reason ?? '-',
            e.status ?? '-',
            e.image ?? '-',
            e.message ?? '',
          ]),
          ...(f.evidenceOmitted ? [[String(i + 1), `… ${f.evidenceOmitted} more`, '', '', '', '', '']] : []),
        ]),
      });
    }
    tables.push({
      title: 'detectors',
      columns: ['DETECTOR', 'STATUS', 'FINDINGS', 'WHAT WAS CHECKED / WHY SKIPPED'],
      rows: r.detectors.map((d) => [d.detector, d.status, String(d.findings), d.detail]),
    });
    const next = r.plan.map(
      (p) => `nksr run ${p.procedure} --cluster ${r.cluster} --input-json '${JSON.stringify(p.input)}'`,
    );
    if (r.plan.length) next.push(`or all of them in this order: nksr diagnose --cluster ${r.cluster} --fix`);
    if (skipped.length)
      next.push(
        `skipped (not checked): ${uniqSorted(skipped.map((d) => d.detector)).join(', ')} — see why above`,
      );
    return { summary: `${r.outcome}: ${r.summary}`, tables, next };
  },
});
