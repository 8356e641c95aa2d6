import { type Finding, fixPlan, sortFindings } from '../../../src/common/diagnosis/types';

const finding = (
  detector: Finding['detector'],
  severity: Finding['severity'],
  fix?: Finding['fix'],
): Finding => ({
  detector,
  severity,
  title: detector,
  nodes: [],
  objects: [],
  evidence: [],
  ...(fix ? { fix } : {}),
});

describe('the fix plan', () => {
  test('calico first, the kmem rolling reboot last; one run per procedure with list inputs joined', () => {
    const plan = fixPlan([
      finding('kmem', 'critical', { procedure: 'disableKmemAccounting', input: { nodes: ['n1'] } }),
      finding('logrotate', 'warning', { procedure: 'logrotateSync', input: { nodes: ['n2'] } }),
      finding('fsGroup', 'critical', {
        procedure: 'fsGroupChangePolicy',
        input: { workloads: [{ kind: 'Deployment', namespace: 'a', name: 'x' }] },
      }),
      finding('fsGroup', 'critical', {
        procedure: 'fsGroupChangePolicy',
        input: {
          workloads: [
            { kind: 'Deployment', namespace: 'a', name: 'x' },
            { kind: 'StatefulSet', namespace: 'b', name: 'y' },
          ],
        },
      }),
      finding('unexplainedPullFailures', 'warning'),
      finding('calico', 'critical', { procedure: 'calicoImageRepair', input: {} }),
    ]);
    expect(plan.map((p) => p.procedure)).toEqual([
      'calicoImageRepair',
      'fsGroupChangePolicy',
      'logrotateSync',
      'disableKmemAccounting',
    ]);
    expect(plan[1]!.input.workloads).toHaveLength(2);
  });

  test('findings most severe first', () => {
    const sorted = sortFindings([
      finding('cinderRescan', 'latent'),
      finding('logrotate', 'warning'),
      finding('nfsLock', 'critical'),
    ]);
    expect(sorted.map((f) => f.severity)).toEqual(['critical', 'warning', 'latent']);
  });
});
