/** The RBAC vocabulary of the procedure registry (own file: cluster-lock.ts and define.ts both use it). */

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
  /**
   * Needed only by an optional feature that the cluster's policy turns on: such permissions get a
   * role of their own (`nksr-<procedure>-<feature>`), bound only where the feature is on.
   */
  feature?: string;
  why: string;
}
