/**
 * One node of disableKmemAccounting's rolling reboot, start to end: cordon (ownership recorded),
 * Eviction-API drain, the grub edit and grub2-mkconfig, a boot-ID-guarded reboot and the wait for it,
 * /proc/cmdline verified, uncordon only if this run cordoned it.
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import { KMEM_KERNEL_ARG, cmdlineHasArg } from '../../common/grub';
import type { KmemNodeEntry } from '../../common/procedures/disable-kmem-accounting';
import { quickActivities, remoteActivities, waitActivities } from '../activity-profiles';
import { failureSummary } from '../lib/failures';
import type { NodeRebootContext } from './run';

/** One node's reboot as it goes: its entry, whether this run cordoned it, whether the reboot was asked. */
class NodeReboot {
  readonly e: KmemNodeEntry;
  ours = false;
  rebootRequested = false;

  constructor(
    readonly run: NodeRebootContext,
    readonly node: string,
  ) {
    this.e = { ...run.entryBase(node), outcome: 'failed' };
  }

  step(what: string): void {
    this.e.changes.push(what);
    this.run.progress.item(`node/${this.node}`, 'node', 'running', what);
  }

  async releaseIfOurs(): Promise<void> {
    if (!this.ours) return;
    const u = await quickActivities().uncordonNodeOwned({
      cluster: this.run.input.cluster,
      node: this.node,
      owner: this.run.owner,
    });
    this.e.uncordoned = u.status === 'uncordoned';
    if (this.e.uncordoned) this.step('uncordoned');
  }
}

/** One node, start to end. Returns its entry; never throws but for cancellation. */
export async function rebootOne(run: NodeRebootContext, node: string): Promise<KmemNodeEntry> {
  const n = new NodeReboot(run, node);
  try {
    return await rebootSteps(n);
  } catch (err) {
    if (!isCancellation(err)) {
      n.e.reason = `${failureSummary(err)}${n.ours ? '; left cordoned' : ''}`;
      return n.e;
    }
    // Before the reboot nothing is half-done: give the node back. After it, leave it cordoned.
    await CancellationScope.nonCancellable(async () => {
      if (!n.rebootRequested) await n.releaseIfOurs().catch(() => undefined);
      const reason = n.rebootRequested
        ? n.ours
          ? `cancelled during the reboot: left cordoned (kubectl uncordon ${node} once it is Ready)`
          : 'cancelled during the reboot: it was cordoned before and stays so'
        : 'cancelled before the reboot';
      run.entries.set(node, { ...n.e, reason });
      // Marked failed, not left "running", so the status and cancel reports name it as left behind.
      run.progress.item(`node/${node}`, 'node', 'failed', reason);
      run.progress.note(`${node}: cancelled${n.rebootRequested ? ' during the reboot, left cordoned' : ''}`);
    });
    throw err;
  }
}

async function rebootSteps(n: NodeReboot): Promise<KmemNodeEntry> {
  const { input, owner } = n.run;
  const { cluster } = input;
  const { node, e } = n;
  const q = quickActivities();
  const r = remoteActivities();
  const { drainNodeEvicting } = waitActivities({
    scheduleToCloseTimeout: `${input.drainTimeoutSeconds + 180}s`,
  });
  const { waitForNodeReboot } = waitActivities({ scheduleToCloseTimeout: `${input.rebootTimeoutMinutes}m` });

  const c = await q.cordonNodeOwned({ cluster, node, owner });
  e.cordonedBefore = c.cordonedBefore;
  n.ours = !c.cordonedBefore;
  n.step(c.cordonedBefore ? 'was cordoned already (stays cordoned)' : 'cordoned');
  const d = await drainNodeEvicting({ cluster, node, timeoutSeconds: input.drainTimeoutSeconds });
  e.evicted = d.evicted;
  if (d.status !== 'drained') {
    e.blocked = [...d.blocked, ...d.terminating.map((p) => `${p}: still terminating`)];
    e.outcome = 'drain-blocked';
    e.reason = `drain did not finish in ${input.drainTimeoutSeconds} s: ${e.blocked.join('; ') || 'pods left'}`;
    await n.releaseIfOurs();
    return e;
  }
  n.step(`drained (${d.evicted.length} evicted, ${d.left.length} DaemonSet/mirror pods left)`);
  const g = await r.ensureKmemGrubArg({ cluster, node });
  e.grub = g.status === 'added' ? 'added' : 'unchanged';
  n.step(g.status === 'added' ? `${g.path}: ${g.after}` : `${g.path} already had ${KMEM_KERNEL_ARG}`);
  const m = await r.regenerateGrubConfig({ cluster, node });
  n.step(m.status === 'regenerated' ? 'grub2-mkconfig -o /boot/grub2/grub.cfg' : 'grub.cfg already had it');

  const before = await r.readNodeBootState({ cluster, node });
  e.bootIdBefore = before.bootId;
  n.rebootRequested = true;
  const rb = await r.rebootNode({ cluster, node, expectedBootId: before.bootId });
  n.step(rb.status === 'reboot-requested' ? 'reboot requested' : 'had rebooted already');
  const w = await waitForNodeReboot({ cluster, node, previousBootId: before.bootId });
  e.bootIdAfter = w.bootId;
  n.step(`back in ${Math.round(w.waitedMs / 1000)} s, boot ${w.bootId.slice(0, 8)}`);
  const after = await r.readNodeBootState({ cluster, node });
  if (!cmdlineHasArg(after.cmdline, KMEM_KERNEL_ARG)) {
    e.reason = `rebooted, but /proc/cmdline lacks ${KMEM_KERNEL_ARG}: ${after.cmdline}; left cordoned`;
    return e;
  }
  n.step(`/proc/cmdline has ${KMEM_KERNEL_ARG}`);
  await n.releaseIfOurs();
  e.outcome = 'rebooted';
  return e;
}
