/**
 * FAKE pod listing for unit tests of the pre-pull activities: what the API server's
 * listNamespacedPod answers for a label selector (`k=v,...`) and a `metadata.name=` field selector,
 * over pods a test keeps in a map.
 */
import type { V1Pod } from '@kubernetes/client-node';

export function selectPods(
  pods: Map<string, V1Pod>,
  query: { labelSelector?: string; fieldSelector?: string },
): V1Pod[] {
  const want = (query.labelSelector ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('='));
  const byName = query.fieldSelector?.replace(/^metadata\.name=/, '');
  return [...pods.values()].filter(
    (p) => want.every(([k, v]) => p.metadata?.labels?.[k!] === v) && (!byName || p.metadata?.name === byName),
  );
}
