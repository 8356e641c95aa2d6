/**
 * The human reports `nksr run --wait` and `nksr status` print: one summary line, tables with failures
 * first, successes counted instead of listed on large runs, and what to do next.
 */
import type { CalicoImageRepairResult } from '../../src/common/calico-types';
import type { NodeInventoryResult } from '../../src/common/procedures/node-inventory';
import type { DisableKmemAccountingResult } from '../../src/common/procedures/disable-kmem-accounting';
import { formatResult } from '../../src/client/cli/format';

function calicoResult(nodes: number, failedNode?: string): CalicoImageRepairResult {
  const names = Array.from({ length: nodes }, (_, i) => `w-${i + 1}`);
  return {
    cluster: 'prod',
    outcome: failedNode ? 'failed' : 'repaired',
    dryRun: false,
    plan: {
      namespace: 'kube-system',
      nodes: names,
      skippedNodes: [],
      images: ['docker.io/calico/node:v3.24.1'],
      workloads: [],
      rolloutTimeouts: {},
    },
    prePulls: [],
    nodes: names.map((node) =>
      node === failedNode
        ? { node, outcome: 'failed', failedImages: ['docker.io/calico/node:v3.24.1'] }
        : { node, outcome: 'pulled', failedImages: [] },
    ),
    workloads: [
      {
        kind: 'DaemonSet',
        name: 'calico-node',
        outcome: failedNode ? 'not-attempted' : 'updated',
        detail: 'ok',
      },
    ],
    failedResources: failedNode ? ['daemonset/calico-node'] : [],
    phaseDurationsMs: {},
    summary: failedNode
      ? `pre-pull failed on 1 node(s) (${failedNode}); nothing rolled`
      : 'repaired: calico-node',
  };
}

test('calico: summary line first, the failed node heads its table, next steps name the rerun', () => {
  const text = formatResult('calicoImageRepair', calicoResult(5, 'w-4'));
  const lines = text.split('\n');
  expect(lines[0]).toBe('failed: pre-pull failed on 1 node(s) (w-4); nothing rolled');
  const header = lines.findIndex((l) => l.startsWith('NODE'));
  expect(lines[header + 1]).toMatch(/^w-4\s+failed\s+docker\.io\/calico\/node:v3\.24\.1$/);
  expect(text).toContain('next:');
  expect(text).toContain('nksr run calico-image-repair --cluster prod');
  expect(text).not.toContain('{');
});

test('calico at 1,000 nodes: successes are counted, not listed', () => {
  const text = formatResult('calicoImageRepair', calicoResult(1000, 'w-700'));
  expect(text.split('\n').length).toBeLessThan(80);
  expect(text).toContain('… and 949 more that succeeded');
  expect(text).toMatch(/pre-pulls \(999 pulled, 1 failed nodes\)|pre-pulls \(1 failed, 999 pulled nodes\)/);
});

test('nodeInventory: the human table; an unknown workflow type falls back to JSON', () => {
  const r: NodeInventoryResult = {
    cluster: 'sim',
    outcome: 'partial',
    counts: { read: 1, failed: 1, skipped: 0 },
    kernels: { '3.10.0': 1 },
    nodes: [
      { node: 'w-2', outcome: 'failed', reason: 'SshConnectionFailed: refused' },
      {
        node: 'w-1',
        outcome: 'read',
        facts: { kernelRelease: '3.10.0', bootId: 'b', cmdline: 'ro quiet', varLibUsePercent: 41 },
      },
    ],
    omitted: 0,
    summary: '1/2 nodes read, 1 failed; kernels: 3.10.0 ×1',
  };
  const text = formatResult('nodeInventory', r);
  expect(text.split('\n')[0]).toBe('partial: 1/2 nodes read, 1 failed; kernels: 3.10.0 ×1');
  expect(text).toMatch(/w-2\s+failed\s+-\s+-\s+SshConnectionFailed: refused/);
  expect(text).toMatch(/w-1\s+read\s+3\.10\.0\s+41%\s+ro quiet/);
  expect(formatResult('somethingElse', { a: 1 })).toBe('{\n  "a": 1\n}');
});

test('disableKmemAccounting at 5,000 nodes: the result lists failures and 50 others; the report counts every node', () => {
  const r: DisableKmemAccountingResult = {
    cluster: 'prod',
    dryRun: false,
    outcome: 'stopped',
    order: Array.from({ length: 100 }, (_, i) => `w-${i + 1}`),
    orderOmitted: 4_900,
    nodes: [
      { node: 'w-7', outcome: 'failed', reason: 'grub2-mkconfig failed', changes: [] },
      ...Array.from({ length: 50 }, (_, i) => ({
        node: `w-${i + 1}`,
        outcome: 'rebooted' as const,
        changes: ['cordon', 'uncordon'],
      })),
    ],
    nodesOmitted: 4_949,
    nodeOutcomes: '6 rebooted, 1 failed, 4993 not-started',
    stoppedBecause: 'w-7 failed',
    userScript: '#!/bin/bash',
    summary: '6/5000 nodes rebooted with cgroup.memory=nokmem, 0 skipped; stopped: w-7 failed',
  };
  const text = formatResult('disableKmemAccounting', r);
  expect(text).toContain('nodes (6 rebooted, 1 failed, 4993 not-started)');
  expect(text).toContain('… and 4949 more that succeeded');
  expect(text.indexOf('w-7')).toBeLessThan(text.indexOf('w-1 '));
});
