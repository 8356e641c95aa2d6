/**
 * The recorded simulator objects (test/unit/fixtures/diagnosis, written by record-snapshot.ts) as the
 * snapshot the detectors read. Each call returns a fresh deep copy, so a test may edit its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { KubeSnapshot } from '../../../src/activities/kube/diagnosis/snapshot';

const cache = new Map<string, string>();

export function recorded(
  which: 'fresh' | 'faults',
): KubeSnapshot & Required<Omit<KubeSnapshot, 'unreadable'>> {
  let text = cache.get(which);
  if (!text) {
    text = readFileSync(join(__dirname, '..', 'fixtures', 'diagnosis', `${which}.json`), 'utf8');
    cache.set(which, text);
  }
  return {
    ...(JSON.parse(text) as Required<Omit<KubeSnapshot, 'unreadable' | 'cinderConfig'>>),
    cinderConfig: { found: true, rescanOnResize: 'true' },
    unreadable: {},
  };
}

export const podNamed = (pods: V1Pod[], prefix: string): V1Pod => {
  const p = pods.find((x) => x.metadata?.name?.startsWith(prefix));
  if (!p) throw new Error(`no recorded pod ${prefix}*`);
  return p;
};

export const eventsAbout = (events: CoreV1Event[], pod: V1Pod) =>
  events.filter((e) => e.involvedObject?.uid === pod.metadata?.uid);

export const NODE = (i: number) => `sim-default-worker-node-${i}`;
