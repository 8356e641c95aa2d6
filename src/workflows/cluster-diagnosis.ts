/**
 * clusterDiagnosis: read-only. Finds every symptom of the guide on a cluster and names, per finding,
 * the evidence and the procedure with the exact input that fixes it.
 *
 * 1. Preflight (nodes).
 * 2. The Kubernetes-side detectors, in one activity over one read of the cluster (its objects stay
 *    on the worker; only findings reach this history).
 * 3. Over SSH when the cluster registry has SSH settings (hashes and disk use only, nothing
 *    written): each Ready node's logrotate config hash against the configured one, and the image
 *    filesystem use of the nodes the closed-network detector named (kubelet's GC thresholds as the
 *    likely cause). Without SSH the logrotate detector is reported skipped, never healthy.
 * 4. The report: findings most severe first, what each detector checked or why it was skipped, and
 *    the fixes in the order `nksr diagnose --fix` starts them.
 */
import { detectLogrotateDrift, type NodeHash } from '../common/diagnosis/logrotate';
import { kubeletRotatesContainerLogs } from '../common/procedures/logrotate-sync';
import {
  DETECTOR_NAMES,
  type DetectorReport,
  type Finding,
  fixPlan,
  sortFindings,
} from '../common/diagnosis/types';
import {
  type ClusterDiagnosisInput,
  ClusterDiagnosisInputSchema,
  type ClusterDiagnosisOptions,
  type ClusterDiagnosisResult,
} from '../common/procedures/cluster-diagnosis';
import {
  IMAGE_GC_HIGH_PERCENT,
  IMAGE_GC_LOW_PERCENT,
} from '../common/procedures/closed-network-image-recovery';
import { clusterScanActivities, quickActivities, remoteActivities } from './activity-profiles';
import { failureSummary } from './lib/failures';
import { fanOut } from './lib/fan-out';
import type { ClusterPreflightResult } from './definitions';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { runPreflight } from './lib/preflight';

const NO_SSH = 'the cluster registry (clusters.yaml) has no ssh settings for this cluster';

export function clusterDiagnosis(raw: ClusterDiagnosisInput): Promise<ClusterDiagnosisResult> {
  return runRemediation('clusterDiagnosis', raw, ClusterDiagnosisInputSchema, diagnose);
}

async function diagnose(
  input: ClusterDiagnosisOptions,
  progress: ProgressTracker,
): Promise<ClusterDiagnosisResult> {
  const preflight = await runPreflight(progress, input);
  progress.phase('kubernetes', 'pods, warning events, workloads, jobs, cinder config');
  const kube = await clusterScanActivities(preflight.nodes.length).diagnoseKubeObjects({
    cluster: input.cluster,
  });
  const reports: DetectorReport[] = [...kube.reports];
  const record = (r: DetectorReport) =>
    progress.item(
      `detector/${r.detector}`,
      'object',
      r.status === 'skipped' ? 'skipped' : r.findings.length ? 'failed' : 'succeeded',
      r.status === 'skipped' ? r.detail : `${r.findings.length} finding(s); ${r.detail}`,
    );
  kube.reports.forEach(record);
  const logrotate = kube.sshConfigured
    ? await checkOverSsh(input, progress, preflight, reports)
    : { detector: 'logrotate' as const, status: 'skipped' as const, detail: NO_SSH, findings: [] };
  reports.push(logrotate);
  record(logrotate);
  reports.sort((a, b) => DETECTOR_NAMES.indexOf(a.detector) - DETECTOR_NAMES.indexOf(b.detector));
  return buildReport(input.cluster, reports);
}

/**
 * SSH, read-only: logrotate hashes on every Ready node (the logrotate detector's report); disk use
 * where the closed-network detector found default images missing (added to its findings' evidence).
 */
async function checkOverSsh(
  input: ClusterDiagnosisOptions,
  progress: ProgressTracker,
  preflight: ClusterPreflightResult,
  reports: DetectorReport[],
): Promise<DetectorReport> {
  const { cluster } = input;
  const { hashNodeFile, readNodeFacts } = remoteActivities();
  const { sha256, md5 } = await quickActivities().digestText({ text: input.logrotateContent });
  const readyNodes = preflight.nodes.filter((n) => n.ready);
  const ready = readyNodes.map((n) => n.name);
  // Containerd nodes: kubelet rotates their container logs; the docker config applies to the others.
  const notApplicable = readyNodes
    .filter((n) => kubeletRotatesContainerLogs(n.containerRuntime))
    .map((n) => n.name);
  const hashable = ready.filter((n) => !notApplicable.includes(n));
  const notReady: NodeHash[] = preflight.notReady.map((node) => ({ node, error: 'NotReady' }));
  progress.phase(
    'ssh',
    `${hashable.length} nodes, ${input.maxParallel} at a time: hash ${input.logrotatePath}`,
  );
  const hashed = await fanOut<string, NodeHash>({
    items: hashable,
    key: (node) => node,
    maxParallel: input.maxParallel,
    // Read-only: an unreachable node is reported, the others still read.
    maxFailures: Number.POSITIVE_INFINITY,
    run: async (node) => {
      const h = await hashNodeFile({ cluster, node, path: input.logrotatePath });
      return h.exists ? { node, exists: true, sha256: h.sha256, md5: h.md5 } : { node, exists: false };
    },
    isFailure: (h) => 'error' in h,
    onError: (node, err) => ({ node, error: failureSummary(err) }),
  });
  const logrotate = detectLogrotateDrift({
    path: input.logrotatePath,
    content: input.logrotateContent,
    wantedSha256: sha256,
    wantedMd5: md5,
    hashes: [...hashed.results.map((r) => r.result!).filter(Boolean), ...notReady],
    notApplicable,
  });
  const closed = reports.find((r) => r.detector === 'closedNetwork')?.findings ?? [];
  const diskNodes = [...new Set(closed.flatMap((f) => f.nodes))].filter((n) => ready.includes(n));
  if (diskNodes.length) {
    const facts = await fanOut<string, DiskUse>({
      items: diskNodes,
      key: (node) => node,
      maxParallel: input.maxParallel,
      maxFailures: Number.POSITIVE_INFINITY,
      run: async (node) => ({ node, use: (await readNodeFacts({ cluster, node })).varLibUsePercent }),
      isFailure: (r) => r.error !== undefined,
      onError: (node, err) => ({ node, error: failureSummary(err) }),
    });
    for (const f of closed) addDiskUse(f, facts.results.map((r) => r.result!).filter(Boolean));
  }
  return logrotate;
}

/** Findings most severe first, what each detector checked or why not, and the fixes in order. */
function buildReport(cluster: string, reports: DetectorReport[]): ClusterDiagnosisResult {
  const findings = sortFindings(reports.flatMap((r) => r.findings));
  const plan = fixPlan(findings);
  const skipped = reports.filter((r) => r.status === 'skipped');
  const checked = reports.length - skipped.length;
  const checkedNames = reports.filter((r) => r.status === 'checked').map((r) => r.detector);
  const severities = (['critical', 'warning', 'latent'] as const)
    .map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const summary = findings.length
    ? `${findings.length} finding(s) (${severities}); ${plan.length} procedure(s) proposed: ${plan.map((p) => p.procedure).join(', ') || 'none'}`
    : `${checked} detectors found nothing (${checkedNames.join(', ')})`;
  const notChecked = skipped.length
    ? `; NOT checked: ${skipped.map((r) => `${r.detector} (${r.detail})`).join('; ')}`
    : '';
  return {
    cluster,
    // Not healthy while a detector could not look: nothing found is not the same as nothing there.
    outcome: findings.length ? 'findings' : skipped.length ? 'incomplete' : 'healthy',
    summary: summary + notChecked,
    detectors: reports.map((r) => ({
      detector: r.detector,
      status: r.status,
      detail: r.detail,
      findings: r.findings.length,
    })),
    findings,
    plan,
  };
}

interface DiskUse {
  node: string;
  use?: number;
  error?: string;
}

/** Each node's image filesystem use against kubelet's GC thresholds, as evidence of the likely cause. */
function addDiskUse(f: Finding, facts: DiskUse[]): void {
  for (const node of f.nodes) {
    const fact = facts.find((x) => x.node === node);
    if (!fact) continue;
    f.evidence.push({
      object: `node ${node}`,
      node,
      reason: fact.error
        ? 'DiskUseUnknown'
        : fact.use! >= IMAGE_GC_HIGH_PERCENT
          ? 'ImageGCThreshold'
          : 'DiskUse',
      message: fact.error
        ? `could not read /var/lib use: ${fact.error}`
        : `/var/lib ${fact.use}% used (kubelet image GC starts at ${IMAGE_GC_HIGH_PERCENT}%, frees down to ${IMAGE_GC_LOW_PERCENT}%)` +
          (fact.use! >= IMAGE_GC_HIGH_PERCENT ? ': GC likely removed the images' : ''),
    });
  }
}
