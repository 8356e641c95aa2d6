/**
 * What clusterDiagnosis reports: per detector whether it ran (and what it looked at) or why it could
 * not, and per finding the evidence and the procedure (with its exact input) that fixes it. Pure
 * types and helpers: the workflow, the activities and the CLI share them. No Node built-ins here.
 */

/** The detectors, one per symptom of the guide (plus the pull failures none of them explains). */
export const DETECTOR_NAMES = [
  'calico',
  'dockerHubRateLimit',
  'closedNetwork',
  'ghcr',
  'kmem',
  'nfsLock',
  'cinderRescan',
  'fsGroup',
  'logrotate',
  'unexplainedPullFailures',
] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/**
 * critical: workloads are down now (network, pulls, mounts, container creation);
 * warning: something will fail or degrade (drifted config, images that stop pulling on upgrade);
 * latent: a risk that bites only on a later action (a volume resize).
 */
export type Severity = 'critical' | 'warning' | 'latent';
export const SEVERITY_ORDER: readonly Severity[] = ['critical', 'warning', 'latent'];

/** One observed fact behind a finding, as an operator would check it with kubectl or ssh. */
export interface Evidence {
  /** `pod ns/name`, `deployment ns/name`, `secret ns/name`, `node name`. */
  object: string;
  node?: string;
  /** Event reason or container waiting reason. */
  reason?: string;
  /** Event or status message, clipped. */
  message?: string;
  /** Pod status as `kubectl get pods` shows it (phase, ready count). */
  status?: string;
  image?: string;
}

/** A procedure run that fixes a finding: `nksr run <procedure> --input-json <input + cluster>`. */
export interface ProposedFix {
  /** Workflow type, by name only (the diagnosis imports no other procedure's code). */
  procedure: string;
  /** The procedure's input without `cluster` (added when started). */
  input: Record<string, unknown>;
}

export interface Finding {
  detector: DetectorName;
  severity: Severity;
  /** One line: what is wrong. */
  title: string;
  nodes: string[];
  /** Affected objects (`kind ns/name`), sorted. */
  objects: string[];
  /** At most MAX_EVIDENCE items; `evidenceOmitted` counts the rest. */
  evidence: Evidence[];
  evidenceOmitted?: number;
  /** Absent: no procedure fixes it (unknown cause, or something only an operator can decide). */
  fix?: ProposedFix;
  /** What to do when there is no fix, or what the fix leaves. */
  note?: string;
}

export interface DetectorReport {
  detector: DetectorName;
  status: 'checked' | 'skipped';
  /** What it looked at (checked), e.g. `5 nodes' /etc/logrotate.d/docker`; or why it could not run. */
  detail: string;
  findings: Finding[];
}

export const MAX_EVIDENCE = 20;
export const MAX_MESSAGE = 500;

/** A message clipped for evidence (events can be long; results stay small). */
export function clip(message: string | undefined): string | undefined {
  if (message === undefined) return undefined;
  const one = message.replace(/\s+/g, ' ').trim();
  return one.length > MAX_MESSAGE ? `${one.slice(0, MAX_MESSAGE)}…` : one;
}

/** Evidence bounded to MAX_EVIDENCE, with the count of what was left out. */
export function boundedEvidence(all: Evidence[]): Pick<Finding, 'evidence' | 'evidenceOmitted'> {
  const evidence = all.slice(0, MAX_EVIDENCE);
  return all.length > MAX_EVIDENCE ? { evidence, evidenceOmitted: all.length - MAX_EVIDENCE } : { evidence };
}

export const uniqSorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/**
 * The order `nksr diagnose --fix` runs fixes in. calico first: with the pod network down, rollouts
 * and pod replacements of every other procedure cannot finish. Then node-level repairs that make
 * pods start (images, NFS locking), then object edits that roll workloads, then config drift and
 * latent risks; the kmem rolling reboot last, as it takes nodes out one by one.
 */
export const FIX_ORDER: readonly string[] = [
  'calicoImageRepair',
  'closedNetworkImageRecovery',
  'nfsLockServicesRestart',
  'dockerHubPullSecret',
  'ghcrMigration',
  'fsGroupChangePolicy',
  'logrotateSync',
  'cinderRescanOnResize',
  'disableKmemAccounting',
];

/** The fixes of the findings, one per procedure (inputs of one procedure merged), in FIX_ORDER. */
export function fixPlan(findings: readonly Finding[]): ProposedFix[] {
  const byProcedure = new Map<string, ProposedFix>();
  for (const f of findings) {
    if (!f.fix) continue;
    const prev = byProcedure.get(f.fix.procedure);
    byProcedure.set(f.fix.procedure, prev ? { ...prev, input: mergeInputs(prev.input, f.fix.input) } : f.fix);
  }
  const rank = (p: string) => {
    const i = FIX_ORDER.indexOf(p);
    return i < 0 ? FIX_ORDER.length : i;
  };
  return [...byProcedure.values()].sort((a, b) => rank(a.procedure) - rank(b.procedure));
}

/** Two inputs of one procedure: list fields joined (each value once), others from the first. */
function mergeInputs(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...b, ...a };
  for (const [k, v] of Object.entries(b)) {
    const mine = a[k];
    if (Array.isArray(mine) && Array.isArray(v)) {
      const seen = new Set(mine.map((x) => JSON.stringify(x)));
      out[k] = [...mine, ...v.filter((x) => !seen.has(JSON.stringify(x)))];
    }
  }
  return out;
}

/** Findings most severe first, then by detector order. */
export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
      DETECTOR_NAMES.indexOf(a.detector) - DETECTOR_NAMES.indexOf(b.detector) ||
      a.title.localeCompare(b.title),
  );
}
