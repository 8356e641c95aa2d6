/**
 * The pod-template workloads of the apps/v1 group that Kubernetes-side procedures patch and roll,
 * and the name schemas their inputs share. Pure data (workflows import this).
 */
import { z } from 'zod';

export const APPS_WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type AppsWorkloadKind = (typeof APPS_WORKLOAD_KINDS)[number];

/** A namespace name: an RFC 1123 label. */
export const NamespaceNameSchema = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name (RFC 1123 label)');

/** An object name: an RFC 1123 subdomain (what Deployments, StatefulSets, DaemonSets take). */
export const ObjectNameSchema = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a Kubernetes object name (RFC 1123 subdomain)',
  );

export interface AppsWorkloadRef {
  kind: AppsWorkloadKind;
  namespace: string;
  name: string;
}

/** `deployment/media/photo-store`: progress keys and report rows. */
export const workloadKey = (w: AppsWorkloadRef) => `${w.kind.toLowerCase()}/${w.namespace}/${w.name}`;

/**
 * An RFC 3339 time to the second, as `kubectl rollout restart` writes into
 * `kubectl.kubernetes.io/restartedAt` (Go's time.RFC3339, UTC here).
 */
export function restartStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';
