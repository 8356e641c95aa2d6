/**
 * Workflow type names are part of recorded history and of the CLI/SDK/Temporal CLI interface:
 * renaming one is a breaking change.
 */
export const TASK_QUEUE = 'nks-remediation';

export const PROCEDURES = {
  'cluster-preflight': 'clusterPreflight',
  'calico-image-repair': 'calicoImageRepair',
} as const;

export type ProcedureCliName = keyof typeof PROCEDURES;
export type WorkflowType = (typeof PROCEDURES)[ProcedureCliName];

/** Accepts the CLI's kebab-case name or the workflow type name. */
export function resolveProcedure(name: string): WorkflowType | undefined {
  if (name in PROCEDURES) return PROCEDURES[name as ProcedureCliName];
  return (Object.values(PROCEDURES) as string[]).includes(name) ? (name as WorkflowType) : undefined;
}

/** One run of a procedure per cluster at a time: the ID is started with conflict policy FAIL. */
export function remediationWorkflowId(cluster: string, workflowType: WorkflowType): string {
  return `nks/${cluster}/${workflowType}`;
}
