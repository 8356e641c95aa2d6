/**
 * The procedure registry: one entry per procedure, and everything derived from it. Workflow type
 * names are part of recorded history and of the CLI/SDK/Temporal CLI interface: renaming one is a
 * breaking change. Adding a procedure: its workflow file, its activities, one entry file here and one
 * line in PROCEDURE_LIST, its tests.
 */
import { calicoImageRepairProcedure } from './calico-image-repair';
import { cinderRescanOnResizeProcedure } from './cinder-rescan-on-resize';
import { closedNetworkImageRecoveryProcedure } from './closed-network-image-recovery';
import { fsGroupChangePolicyProcedure } from './fs-group-change-policy';
import { clusterPreflightProcedure } from './cluster-preflight';
import { disableKmemAccountingProcedure } from './disable-kmem-accounting';
import { clusterDiagnosisProcedure } from './cluster-diagnosis';
import { dockerHubPullSecretProcedure } from './docker-hub-pull-secret';
import { ghcrMigrationProcedure } from './ghcr-migration';
import { logrotateSyncProcedure } from './logrotate-sync';
import { nfsLockServicesRestartProcedure } from './nfs-lock-services-restart';
import { nodeInventoryProcedure } from './node-inventory';
import type { ProcedureDefinition } from './define';

export type { HumanReport, KubePermission, ProcedureDefinition, ReportTable } from './define';

export const TASK_QUEUE = 'nks-remediation';

/** Every procedure, in the order the README, `nksr run --help` and the RBAC list them. */
export const PROCEDURE_LIST = [
  clusterPreflightProcedure,
  nodeInventoryProcedure,
  calicoImageRepairProcedure,
  cinderRescanOnResizeProcedure,
  fsGroupChangePolicyProcedure,
  ghcrMigrationProcedure,
  dockerHubPullSecretProcedure,
  logrotateSyncProcedure,
  nfsLockServicesRestartProcedure,
  closedNetworkImageRecoveryProcedure,
  disableKmemAccountingProcedure,
  clusterDiagnosisProcedure,
] as const;

export type RegisteredProcedure = (typeof PROCEDURE_LIST)[number];
export type WorkflowType = RegisteredProcedure['workflowType'];
export type ProcedureCliName = RegisteredProcedure['cliName'];
/** The registry entry of a workflow type. */
export type ProcedureOf<W extends WorkflowType> = Extract<RegisteredProcedure, { workflowType: W }>;

/** CLI name → workflow type. */
export const PROCEDURES = Object.fromEntries(PROCEDURE_LIST.map((p) => [p.cliName, p.workflowType])) as {
  [P in RegisteredProcedure as P['cliName']]: P['workflowType'];
};

/** Widened view for code that treats every procedure alike (CLI help, reports, schemas, RBAC). */
export const ALL_PROCEDURES: readonly ProcedureDefinition[] =
  PROCEDURE_LIST as readonly ProcedureDefinition[];

/** The entry for the CLI's kebab-case name or the workflow type name. */
export function findProcedure(name: string): ProcedureDefinition | undefined {
  return ALL_PROCEDURES.find((p) => p.cliName === name || p.workflowType === name);
}

/**
 * The procedure a running workflow belongs to: its own workflow type, or one of its declared child
 * workflow types (they run with the procedure's permissions and under its `procedures:` setting).
 */
export function procedureOfWorkflow(workflowType: string): ProcedureDefinition | undefined {
  return ALL_PROCEDURES.find(
    (p) => p.workflowType === workflowType || p.childWorkflowTypes?.includes(workflowType),
  );
}

/** Accepts the CLI's kebab-case name or the workflow type name. */
export function resolveProcedure(name: string): WorkflowType | undefined {
  return findProcedure(name)?.workflowType as WorkflowType | undefined;
}

/** The entry of a workflow type (typed). */
export function procedureOf<W extends WorkflowType>(workflowType: W): ProcedureOf<W> {
  return PROCEDURE_LIST.find((p) => p.workflowType === workflowType) as ProcedureOf<W>;
}

/** One run of a procedure per cluster at a time: the ID is started with conflict policy FAIL. */
export function remediationWorkflowId(cluster: string, workflowType: WorkflowType): string {
  return `nks/${cluster}/${workflowType}`;
}
