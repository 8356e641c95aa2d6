/**
 * The procedures the fault suite runs, each as a driver: its input, how the simulator is put back to
 * the broken state before every run, what side effects are counted, and the end state compared
 * with the uninterrupted run. The runner (suite.ts) is the same for all of them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
} from '@kubernetes/client-node';
import type { SimHandle } from '../sim';
import { clearKmemOomFault, kmemOomFault } from '../sim/kmem';
import { GUIDE_DOCKER_LOGROTATE, OTHER_DOCKER_LOGROTATE, nodePaths } from '../sim/nodes';
import { CLUSTER_LOCK_LEASE } from '../src/common/cluster-lock';
import { CORDONED_BY_ANNOTATION } from '../src/common/disruption';
import {
  CALICO_NS,
  CALICO_WORKLOADS,
  CalicoWatch,
  NodeEffects,
  PREPULL_SELECTOR,
  type SideEffectCounter,
  type WatchedFile,
} from './effects';

export const SCENARIOS = [
  'worker-kill',
  'worker-kill-after-side-effect',
  'worker-kill-at-hook',
  'temporal-restart',
  'apiserver-restart',
  'sshd-stop',
  'cancel',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const PROCEDURES = ['calico', 'kmem', 'logrotate'] as const;
export type ProcedureName = (typeof PROCEDURES)[number];

/** What a driver needs of the running simulator. */
export interface SimView {
  sim: SimHandle;
  kc: KubeConfig;
  dir: string;
  /** Node names, sorted. */
  nodes: string[];
}

/** The end state: named facts compared one by one with the reference, and what was left behind. */
export interface EndState {
  facts: Record<string, string>;
  leftovers: string[];
}

export interface Driver {
  name: ProcedureName;
  workflowType: string;
  /** Scenarios that mean something for this procedure (sshd-stop only where SSH is used). */
  scenarios: readonly Scenario[];
  input(v: SimView): Record<string, unknown>;
  /** The broken state again, so every run starts from the same place. */
  reset(v: SimView): Promise<void>;
  sideEffects(v: SimView): SideEffectCounter;
  endState(v: SimView): Promise<EndState>;
  /** The result's `outcome` of a successful run. */
  successOutcome: string;
  /** Facts still compared after a cancel (a cancelled run stops where it was: the rest differs by design). */
  comparedAfterCancel(fact: string, v: SimView): boolean;
  /** Counts that must equal the reference's in a run that was not cancelled. */
  countsLikeReference: readonly string[];
  /** Phases a cancel is drawn in (default: any phase of the reference run). */
  cancelPhases?: readonly string[];
  /** The node whose sshd the sshd-stop scenario stops. */
  sshdNode?(v: SimView): string;
  /** Leftovers the procedure documents for a cancel at that point (from the run's progress events). */
  excusedAfterCancel?(leftover: string, events: string[]): boolean;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (file: string) =>
  existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12) : 'absent';

async function nodeFacts(kc: KubeConfig): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  const facts: Record<string, string> = {};
  for (const n of (await core.listNode()).items as V1Node[]) {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    // The unschedulable taint mirrors spec.unschedulable (compared), set by the node controller a
    // moment later, which after an API server restart may come after the end state is read.
    const taints = (n.spec?.taints ?? [])
      .filter((t) => t.key !== 'node.kubernetes.io/unschedulable')
      .map((t) => `${t.key}:${t.effect}`)
      .sort();
    facts[`node ${n.metadata?.name}`] =
      `ready=${ready} unschedulable=${n.spec?.unschedulable ?? false} taints=[${taints.join(',')}]`;
  }
  return facts;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`reset: timed out waiting for ${what}`);
    await sleep(500);
  }
}

const calico: Driver = {
  name: 'calico',
  workflowType: 'calicoImageRepair',
  scenarios: [
    'worker-kill',
    'worker-kill-after-side-effect',
    'worker-kill-at-hook',
    'temporal-restart',
    'apiserver-restart',
    'cancel',
  ],
  successOutcome: 'repaired',
  // Every node×image pre-pull pod exactly once (duplicates are flagged apart), and each patch once.
  countsLikeReference: ['pods', 'patches'],
  // A cancel during the pre-pull must stop the pulls before one cleanup: that is where the cancels land.
  cancelPhases: ['pre-pull'],
  comparedAfterCancel: (fact) => fact.startsWith('node '),
  input: () => ({ cluster: 'sim', maxParallel: 2 }),
  async reset(v) {
    const core = v.kc.makeApiClient(CoreV1Api);
    await core
      .deleteCollectionNamespacedPod({ namespace: CALICO_NS, labelSelector: PREPULL_SELECTOR })
      .catch(() => undefined);
    await v.sim.applyFixtures();
    await waitFor('the broken NKS state', async () => {
      const pods = (await core.listNamespacedPod({ namespace: CALICO_NS })).items;
      const calicoNode = pods.filter((p) => p.metadata?.labels?.['k8s-app'] === 'calico-node');
      const prepull = pods.filter((p) => p.metadata?.labels?.['nksr.io/purpose'] === 'calico-prepull');
      return (
        prepull.length === 0 &&
        calicoNode.length === v.nodes.length &&
        calicoNode.every((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
      );
    });
  },
  sideEffects: (v) => new CalicoWatch(v.kc),
  async endState(v) {
    const apps = v.kc.makeApiClient(AppsV1Api);
    const core = v.kc.makeApiClient(CoreV1Api);
    const facts: Record<string, string> = {};
    for (const [kind, name] of CALICO_WORKLOADS) {
      const w =
        kind === 'daemonsets'
          ? await apps.readNamespacedDaemonSet({ name, namespace: CALICO_NS })
          : await apps.readNamespacedDeployment({ name, namespace: CALICO_NS });
      for (const c of [
        ...(w.spec?.template.spec?.initContainers ?? []),
        ...(w.spec?.template.spec?.containers ?? []),
      ])
        facts[`image ${name}/${c.name}`] = c.image ?? '';
    }
    const pods = (await core.listNamespacedPod({ namespace: CALICO_NS })).items;
    const running = pods.filter(
      (p) => /^calico-/.test(p.metadata?.labels?.['k8s-app'] ?? '') && !p.metadata?.deletionTimestamp,
    );
    for (const app of new Set(running.map((p) => p.metadata!.labels!['k8s-app']!)))
      facts[`pod images ${app}`] = [
        ...new Set(
          running
            .filter((p) => p.metadata?.labels?.['k8s-app'] === app)
            .flatMap((p) => (p.spec?.containers ?? []).map((c) => c.image)),
        ),
      ]
        .sort()
        .join(',');
    Object.assign(facts, await nodeFacts(v.kc));
    const leftovers = pods
      .filter((p) => p.metadata?.labels?.['nksr.io/purpose'] === 'calico-prepull')
      .map((p) => `pod ${p.metadata!.name!}`)
      .sort();
    return { facts, leftovers };
  },
};

/** Node end state shared by the SSH procedures: files, kernel command line, reboots, cordon, Lease. */
async function sshEndState(v: SimView, rebootsSinceReset: Map<string, number>): Promise<EndState> {
  const core = v.kc.makeApiClient(CoreV1Api);
  const leases = v.kc.makeApiClient(CoordinationV1Api);
  const facts: Record<string, string> = {};
  const leftovers: string[] = [];
  for (const node of v.nodes) {
    const p = nodePaths(v.dir, node);
    facts[`${node} /etc/default/grub`] = sha(path.join(p.etcDefault, 'grub'));
    facts[`${node} grub.cfg`] = sha(p.grubCfg);
    facts[`${node} /proc/cmdline`] = sha(p.procCmdline);
    facts[`${node} /etc/logrotate.d/docker`] = sha(path.join(p.etcLogrotateD, 'docker'));
    facts[`${node} reboots`] = String(rebootsSinceReset.get(node) ?? 0);
    // Staged copies an install renames into place, or half-written backups, must not stay behind.
    for (const d of [p.etcDefault, p.etcLogrotateD])
      for (const f of readdirSync(d)) if (/\.nksr-|\.partial$/.test(f)) leftovers.push(`${node} ${d}/${f}`);
    const n = await core.readNode({ name: node });
    if (n.metadata?.annotations?.[CORDONED_BY_ANNOTATION])
      leftovers.push(`${node} cordoned by ${n.metadata.annotations[CORDONED_BY_ANNOTATION]}`);
  }
  Object.assign(facts, await nodeFacts(v.kc));
  const lease = await leases
    .readNamespacedLease({ name: CLUSTER_LOCK_LEASE.name, namespace: CLUSTER_LOCK_LEASE.namespace })
    .catch(() => undefined);
  if (lease) leftovers.push(`lease ${CLUSTER_LOCK_LEASE.name} held by ${lease.spec?.holderIdentity}`);
  return { facts, leftovers: leftovers.sort() };
}

/** Uncordons every node and drops our annotation and the disruption Lease. */
async function clearDisruption(v: SimView): Promise<void> {
  const core = v.kc.makeApiClient(CoreV1Api);
  const leases = v.kc.makeApiClient(CoordinationV1Api);
  for (const node of v.nodes)
    await core.patchNode(
      {
        name: node,
        body: {
          spec: { unschedulable: null },
          metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } },
        },
      },
      mergePatch,
    );
  await leases
    .deleteNamespacedLease({ name: CLUSTER_LOCK_LEASE.name, namespace: CLUSTER_LOCK_LEASE.namespace })
    .catch(() => undefined);
  await waitFor('every node Ready', async () =>
    (await core.listNode()).items.every(
      (n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
    ),
  );
}

function removeBackups(v: SimView, node: string): void {
  rmSync(path.join(nodePaths(v.dir, node).root, 'var-lib-nks-remediation', 'backups'), {
    recursive: true,
    force: true,
  });
}

/** Reboots per node since the last reset, read by the SSH drivers' end state. */
function rebootCounter(): {
  effects: (v: SimView, files: WatchedFile[]) => NodeEffects;
  since: () => Map<string, number>;
} {
  let current: NodeEffects | undefined;
  return {
    effects: (v, files) => (current = new NodeEffects(v.dir, v.nodes, files)),
    since: () => current?.reboots ?? new Map(),
  };
}

const GRUB_FILE: WatchedFile = { label: '/etc/default/grub', dir: (p) => p.etcDefault, name: 'grub' };
const GRUB_CFG: WatchedFile = {
  label: 'grub.cfg',
  dir: (p) => path.dirname(p.grubCfg),
  name: 'grub.cfg',
};
const DOCKER_LOGROTATE: WatchedFile = {
  label: '/etc/logrotate.d/docker',
  dir: (p) => p.etcLogrotateD,
  name: 'docker',
};

/** The first two nodes get the kmem OOM fault; the third stays out of the run. */
function kmemDriver(): Driver {
  const reboots = rebootCounter();
  const original = new Map<string, { grub: string; grubCfg: string; cmdline: string }>();
  const targets = (v: SimView) => v.nodes.slice(0, 2);
  return {
    name: 'kmem',
    workflowType: 'disableKmemAccounting',
    scenarios: SCENARIOS.filter((s) => s !== 'worker-kill-at-hook'),
    successOutcome: 'complete',
    countsLikeReference: ['reboots', 'installs', 'grub2-mkconfig'],
    cancelPhases: ['reboot'],
    // After a cancel the targets stop where they were (a node cancelled during its reboot stays
    // cordoned, by design, and may still be coming back): the node outside the run is compared, and
    // the Lease and cordons are checked as leftovers.
    comparedAfterCancel: (fact, v) =>
      fact.startsWith(`node ${v.nodes[2]}`) || fact.startsWith(`${v.nodes[2]} `),
    excusedAfterCancel: (leftover, events) => {
      const node = leftover.split(' ')[0]!;
      return (
        / cordoned by /.test(leftover) &&
        events.some((e) => e.includes(`${node}: cancelled during the reboot`))
      );
    },
    sshdNode: (v) => targets(v)[1]!,
    input: () => ({
      cluster: 'sim',
      fromEvents: true,
      lockPollSeconds: 1,
      healthPollSeconds: 1,
      drainTimeoutSeconds: 60,
    }),
    async reset(v) {
      for (const node of v.nodes) {
        const p = nodePaths(v.dir, node);
        const o = original.get(node);
        if (!o) {
          original.set(node, {
            grub: readFileSync(path.join(p.etcDefault, 'grub'), 'utf8'),
            grubCfg: readFileSync(p.grubCfg, 'utf8'),
            cmdline: readFileSync(p.procCmdline, 'utf8'),
          });
        } else {
          writeFileSync(path.join(p.etcDefault, 'grub'), o.grub);
          writeFileSync(p.grubCfg, o.grubCfg);
          writeFileSync(p.procCmdline, o.cmdline);
        }
        removeBackups(v, node);
      }
      await clearDisruption(v);
      await clearKmemOomFault({ dir: v.dir });
      for (const node of targets(v)) await kmemOomFault({ dir: v.dir, node });
    },
    sideEffects: (v) => reboots.effects(v, [GRUB_FILE, GRUB_CFG]),
    endState: (v) => sshEndState(v, reboots.since()),
  };
}

/** The simulator's default drift on 3 nodes: the 2nd lacks /etc/logrotate.d/docker, the 3rd differs. */
function logrotateDriver(): Driver {
  const reboots = rebootCounter();
  return {
    name: 'logrotate',
    workflowType: 'logrotateSync',
    scenarios: SCENARIOS.filter((s) => s !== 'worker-kill-at-hook'),
    successOutcome: 'complete',
    countsLikeReference: ['installs', 'reboots'],
    comparedAfterCancel: (fact) => fact.startsWith('node ') || fact.endsWith(' reboots'),
    sshdNode: (v) => v.nodes[2]!,
    input: () => ({ cluster: 'sim' }),
    async reset(v) {
      for (const [i, node] of v.nodes.entries()) {
        const f = path.join(nodePaths(v.dir, node).etcLogrotateD, 'docker');
        rmSync(f, { force: true });
        if (i === 2) writeFileSync(f, OTHER_DOCKER_LOGROTATE, { mode: 0o644 });
        else if (i !== 1) writeFileSync(f, GUIDE_DOCKER_LOGROTATE, { mode: 0o644 });
        removeBackups(v, node);
      }
      await clearDisruption(v);
    },
    sideEffects: (v) => reboots.effects(v, [DOCKER_LOGROTATE]),
    endState: (v) => sshEndState(v, reboots.since()),
  };
}

export function driverFor(name: ProcedureName): Driver {
  return name === 'calico' ? calico : name === 'kmem' ? kmemDriver() : logrotateDriver();
}
