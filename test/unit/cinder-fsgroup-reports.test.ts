/**
 * The human reports of cinderRescanOnResize and fsGroupChangePolicy: summary line first, failures
 * heading their tables, next steps; nothing of the secret's content (the result holds none).
 */
import { formatResult } from '../../src/client/cli/format';
import type { CinderRescanOnResizeResult } from '../../src/common/procedures/cinder-rescan-on-resize';
import type {
  FsGroupChangePolicyResult,
  FsGroupWorkloadReport,
} from '../../src/common/procedures/fs-group-change-policy';

function cinderResult(over: Partial<CinderRescanOnResizeResult> = {}): CinderRescanOnResizeResult {
  return {
    cluster: 'prod',
    dryRun: false,
    outcome: 'fixed',
    config: {
      outcome: 'set',
      change: 'section-added',
      previous: 'absent',
      line: 10,
      duplicatesRemoved: 0,
      resourceVersionBefore: '100',
      resourceVersion: '105',
    },
    plugins: [
      {
        kind: 'DaemonSet',
        name: 'cinder-csi-nodeplugin',
        outcome: 'restarted',
        restartedAt: '2026-11-28T07:00:00Z',
        detail: 'restarted',
      },
      {
        kind: 'StatefulSet',
        name: 'cinder-csi-controllerplugin',
        outcome: 'restarted',
        restartedAt: '2026-11-28T07:00:00Z',
        detail: 'restarted',
      },
    ],
    volumes: {
      storageClasses: [{ name: 'csi-cinder-sc', allowVolumeExpansion: true, isDefault: true }],
      claims: [
        {
          namespace: 'media',
          name: 'photo-data',
          storageClass: 'csi-cinder-sc',
          phase: 'Bound',
          requested: '10Gi',
          capacity: '10Gi',
          status: 'resize-to-benefit',
        },
      ],
      counts: { 'resize-to-benefit': 1, 'resize-pending': 0, 'not-expandable': 0, 'not-bound': 0 },
      omitted: 0,
    },
    summary: 'rescan-on-resize=true set (section-added); both restarted',
    ...over,
  };
}

test('cinder: the edit, both plugins and the PVCs that need a resize', () => {
  const text = formatResult('cinderRescanOnResize', cinderResult());
  const lines = text.split('\n');
  expect(lines[0]).toBe('fixed: rescan-on-resize=true set (section-added); both restarted');
  expect(text).toMatch(/set\s+section-added\s+absent\s+10\s+100 → 105/);
  expect(text).toMatch(/daemonset\/kube-system\/cinder-csi-nodeplugin\s+restarted\s+2026-11-28T07:00:00Z/);
  expect(text).toMatch(/media\/photo-data\s+csi-cinder-sc\s+resize-to-benefit\s+10Gi\s+10Gi/);
  expect(text).toContain('1 PVC(s) were sized before the fix');
  expect(text).not.toContain('{');
});

test('cinder: a failed rollout heads the plugin table and names the rollout status command', () => {
  const r = cinderResult({
    outcome: 'failed',
    summary: 'failed: statefulset/kube-system/cinder-csi-controllerplugin rollout-timeout',
  });
  r.plugins[1] = { ...r.plugins[1]!, outcome: 'rollout-timeout', detail: 'timed out after 600s' };
  const text = formatResult('cinderRescanOnResize', r);
  const header = text.split('\n').findIndex((l) => l.startsWith('WORKLOAD'));
  expect(text.split('\n')[header + 1]).toMatch(
    /^statefulset\/kube-system\/cinder-csi-controllerplugin\s+rollout-timeout/,
  );
  expect(text).toContain(
    'kubectl -n kube-system rollout status statefulset/cinder-csi-controllerplugin; then rerun: nksr run cinder-rescan-on-resize --cluster prod',
  );
});

function fsResult(workloads: FsGroupWorkloadReport[], over: Partial<FsGroupChangePolicyResult> = {}) {
  const counts: Record<string, number> = {};
  for (const w of workloads) counts[w.outcome] = (counts[w.outcome] ?? 0) + 1;
  return {
    cluster: 'prod',
    dryRun: true,
    policy: 'OnRootMismatch',
    mode: 'scan',
    outcome: 'planned',
    workloads,
    counts,
    omitted: 0,
    summary: 'dry run: would set fsGroupChangePolicy OnRootMismatch on deployment/media/photo-store',
    ...over,
  } satisfies FsGroupChangePolicyResult;
}

test('fsGroup: the planned workload with its evidence, the rest left alone, the command to apply', () => {
  const text = formatResult(
    'fsGroupChangePolicy',
    fsResult([
      {
        kind: 'Deployment',
        namespace: 'media',
        name: 'photo-store',
        outcome: 'would-patch',
        fsGroup: 2000,
        symptomPods: ['photo-store-1'],
        evidence: 'FailedMount: timed out waiting for the condition',
        detail: 'set fsGroupChangePolicy (unset) → OnRootMismatch',
      },
      {
        kind: 'StatefulSet',
        namespace: 'media',
        name: 'photo-db',
        outcome: 'no-symptom',
        fsGroup: 999,
        symptomPods: [],
        detail: 'no pod shows the mount timeout; left alone',
      },
    ]),
  );
  const lines = text.split('\n');
  expect(lines[0]).toMatch(/^planned: dry run: would set fsGroupChangePolicy OnRootMismatch/);
  expect(text).toMatch(
    /deployment\/media\/photo-store\s+would-patch\s+2000\s+\(unset\)\s+1 pod\(s\): FailedMount/,
  );
  expect(text).toMatch(/statefulset\/media\/photo-db\s+no-symptom\s+999/);
  expect(text).toContain('nksr run fs-group-change-policy --cluster prod --policy OnRootMismatch');
});

test('fsGroup: a failed rollout comes first and gets a next step', () => {
  const text = formatResult(
    'fsGroupChangePolicy',
    fsResult(
      [
        {
          kind: 'Deployment',
          namespace: 'a',
          name: 'ok',
          outcome: 'patched',
          symptomPods: [],
          detail: 'rolled out',
        },
        {
          kind: 'DaemonSet',
          namespace: 'b',
          name: 'agent',
          outcome: 'rollout-failed',
          symptomPods: [],
          detail: 'patched; rollout timeout',
        },
      ],
      { outcome: 'failed', dryRun: false, summary: 'failed: daemonset/b/agent rollout-failed' },
    ),
  );
  const header = text.split('\n').findIndex((l) => l.startsWith('WORKLOAD'));
  expect(text.split('\n')[header + 1]).toMatch(/^daemonset\/b\/agent\s+rollout-failed/);
  expect(text).toContain('kubectl -n b rollout status daemonset/agent; then rerun');
});
