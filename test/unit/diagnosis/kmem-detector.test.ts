import { kmemDetector } from '../../../src/activities/kube/diagnosis/kmem';
import { runDetector } from '../../../src/activities/kube/diagnosis/snapshot';
import { NODE, recorded } from './recorded';

describe('kmem detector (recorded simulator objects)', () => {
  test('FailedCreatePodContainer cannot allocate memory on a 3.10 kernel → disableKmemAccounting on that node', () => {
    const [f, ...rest] = runDetector(kmemDetector, recorded('faults')).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toEqual({ procedure: 'disableKmemAccounting', input: { nodes: [NODE(4)] } });
    expect(f!.severity).toBe('critical');
    expect(f!.evidence[0]).toMatchObject({ reason: 'FailedCreatePodContainer', node: NODE(4) });
    expect(f!.evidence[0]!.message).toMatch(/cannot allocate memory \(kernel 3\.10\.0-1160/);
  });

  test('the same event on a 5.x kernel: unknown cause, no procedure', () => {
    const s = recorded('faults');
    s.nodes.find((n) => n.metadata?.name === NODE(4))!.status!.nodeInfo!.kernelVersion =
      '5.14.0-70.el9.x86_64';
    const [f, ...rest] = runDetector(kmemDetector, s).findings;
    expect(rest).toEqual([]);
    expect(f!.fix).toBeUndefined();
    expect(f!.title).toMatch(/unknown cause/);
  });

  test('the pod is gone (drained and recreated after the fix): its old event says nothing any more', () => {
    const s = recorded('faults');
    // The pod the event is about, whatever the recording named it.
    const uid = s.events.find((e) => e.reason === 'FailedCreatePodContainer')!.involvedObject.uid;
    expect(s.pods.some((p) => p.metadata?.uid === uid)).toBe(true);
    s.pods = s.pods.filter((p) => p.metadata?.uid !== uid);
    expect(runDetector(kmemDetector, s).findings).toEqual([]);
  });
});
