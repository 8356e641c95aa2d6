/**
 * The shape of one procedure's registry entry. Everything outside the workflow and its activities
 * derives from entries of this shape: the worker's list of what it runs, `nksr run` and its `--help`,
 * the SDK's typed start functions, the JSON Schemas under schemas/, the README's procedure table check
 * and the target-cluster RBAC. Pure data and pure functions: workflows import this too.
 */
import type { z } from 'zod';

/** One Kubernetes API permission a procedure's activities use, with the reason an auditor reads. */
export interface KubePermission {
  /** '' for the core group. */
  apiGroup: string;
  resources: readonly string[];
  verbs: readonly string[];
  /**
   * Where: a namespace (a Role there) or undefined (a ClusterRole). A procedure whose namespace is
   * an input is granted its default namespace; another one needs the operator to extend the Role.
   */
  namespace?: string;
  /** Only these objects, when the procedure touches known names only. */
  resourceNames?: readonly string[];
  why: string;
  /**
   * Needed only by runs recorded before a workflow change (patched()): a newer worker resuming one
   * takes the old path. New runs never use it, so the least-privilege test does not look for it in
   * the API server's audit log; it stays until no such run can be open.
   */
  replayOnly?: true;
}

/** A table of a human report: one row per node or object, failures first. */
export interface ReportTable {
  title: string;
  columns: readonly string[];
  rows: string[][];
  /** Rows left out to keep the report readable (counted in the summary line). */
  omitted?: number;
}

/** What `nksr run --wait`, `nksr status` and `nksr watch` print instead of raw JSON. */
export interface HumanReport {
  /** One line: outcome and counts. */
  summary: string;
  tables: ReportTable[];
  /** What an operator should do next, one line each. */
  next: string[];
}

export interface ProcedureDefinition<
  WT extends string = string,
  CN extends string = string,
  S extends z.ZodType = z.ZodType,
  R = unknown,
> {
  /** Workflow type name: part of recorded history and of every interface. Never rename. */
  workflowType: WT;
  /** kebab-case name for `nksr run`. */
  cliName: CN;
  /** One line: the symptom it fixes (README table, `nksr run --help`). */
  description: string;
  /** Where the guide describes it, e.g. 'PROCEDURES.md 6'. */
  guide?: string;
  /** Validated at the workflow's edge and by the SDK/CLI before anything starts. */
  inputSchema: S;
  /** false for read-only procedures (diagnosis, inventory). */
  mutates: boolean;
  /** Needs SSH access to the nodes (clusters.yaml `ssh:`). */
  usesSsh: boolean;
  /** Child workflow types it starts (batches); the worker must export them too. */
  childWorkflowTypes?: readonly string[];
  /** Every Kubernetes permission its activities use: the RBAC derives from these. */
  permissions: readonly KubePermission[];
  /** The human report of a result (also of the result carried by a RemediationFailed failure). */
  report(result: R): HumanReport;
}

/** Keeps the literal workflow type and CLI name in the entry's type, for the SDK's typed functions. */
export function defineProcedure<const WT extends string, const CN extends string, S extends z.ZodType, R>(
  def: ProcedureDefinition<WT, CN, S, R>,
): ProcedureDefinition<WT, CN, S, R> {
  return def;
}
