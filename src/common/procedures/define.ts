/**
 * The shape of one procedure's registry entry. Everything outside the workflow and its activities
 * derives from entries of this shape: the worker's list of what it runs, `nksr run` and its `--help`,
 * the SDK's typed start functions, the JSON Schemas under schemas/, the README's procedure table check
 * and the target-cluster RBAC. Pure data and pure functions: workflows import this too.
 */
import type { z } from 'zod';
import { CLUSTER_LOCK_PERMISSIONS } from '../cluster-lock';
import type { KubePermission } from './permissions';

export type { KubePermission } from './permissions';

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
  /**
   * Where this procedure's guide section, workflow and differences from the guide are described:
   * 'docs/procedures.md §N', N the guide's section (docs/procedures.md#N-workflowtype, lowercased).
   */
  guide?: string;
  /** Validated at the workflow's edge and by the SDK/CLI before anything starts. */
  inputSchema: S;
  /** false for read-only procedures (diagnosis, inventory). */
  mutates: boolean;
  /** Needs SSH access to the nodes (clusters.yaml `ssh:`). */
  usesSsh: boolean;
  /**
   * Workflow types the worker runs only as this procedure's children: they refuse to run without
   * such a parent (no approval or lock of their own), so no client starts one directly.
   */
  childWorkflowTypes?: readonly string[];
  /**
   * Every Kubernetes permission its activities use: the RBAC derives from these. A mutating
   * procedure's entry leaves out the cluster lock's (every one holds it): defineProcedure adds them.
   */
  permissions: readonly KubePermission[];
  /** The human report of a result (also of the result carried by a RemediationFailed failure). */
  report(result: R): HumanReport;
}

/**
 * Keeps the literal workflow type and CLI name in the entry's type, for the SDK's typed functions,
 * and gives a mutating procedure the cluster lock's permissions (one mutating run per cluster).
 */
export function defineProcedure<const WT extends string, const CN extends string, S extends z.ZodType, R>(
  def: ProcedureDefinition<WT, CN, S, R>,
): ProcedureDefinition<WT, CN, S, R> {
  return def.mutates ? { ...def, permissions: [...CLUSTER_LOCK_PERMISSIONS, ...def.permissions] } : def;
}

/** preflight's node list: every procedure starts with it. */
export const PREFLIGHT_NODES: KubePermission = {
  apiGroup: '',
  resources: ['nodes'],
  verbs: ['list'],
  why: 'preflight lists the nodes (every procedure starts with it)',
};

/** preflight, and SSH activities that resolve a node's address from the API (never from input). */
export const SSH_NODES: KubePermission = {
  apiGroup: '',
  resources: ['nodes'],
  verbs: ['get', 'list'],
  why: 'preflight lists the nodes; SSH activities read a node for its address (never from input)',
};
