/**
 * disableKmemAccounting (PROCEDURES.md 5): `cannot allocate memory` when pods start, on 3.x/4.x
 * kernels. A rolling reboot that adds cgroup.memory=nokmem to the kernel command line.
 *
 * 1. Nodes: given, or those of pods with a FailedCreatePodContainer "cannot allocate memory" event.
 *    Skipped, saying why: unknown or NotReady nodes, nodes whose running /proc/cmdline already has
 *    the argument, and (unless `force`) nodes on kernel 5.x or newer.
 * 2. Dry run: the order and every change per node, then stop. Otherwise the approval gate (default on).
 * 3. Under the cluster's disruption lock, batches of `maxUnavailable` nodes, each batch only inside the
 *    maintenance window and after the health gate passes. Per node: cordon (whether it was cordoned
 *    before is recorded), drain with the Eviction API, add the argument to GRUB_CMDLINE_LINUX,
 *    grub2-mkconfig, reboot (boot-ID guarded), wait for SSH down/up and Ready with a new boot ID,
 *    verify /proc/cmdline, uncordon only if this run cordoned it.
 * 4. A drain blocked past its timeout stops that node cleanly (uncordoned if ours) and the run; any
 *    other failure leaves the node cordoned and reported, and the run stops before the next batch.
 * A rerun skips the nodes already done (their /proc/cmdline has the argument).
 */
import { CancellationScope, isCancellation, workflowInfo } from '@temporalio/workflow';
import { DISRUPTION_LEASE } from '../common/disruption';
import { KMEM_KERNEL_ARG, cmdlineHasArg, kernelMajor, kmemUserScript } from '../common/grub';
import {
  type DisableKmemAccountingInput,
  DisableKmemAccountingInputSchema,
  type DisableKmemAccountingResult,
  type KmemNodeEntry,
} from '../common/procedures/disable-kmem-accounting';
import { quickActivities, remoteActivities, waitActivities } from './activity-profiles';
import { awaitApproval } from './lib/approval';
import { awaitHealthGate, awaitMaintenanceWindow, withDisruptionLock } from './lib/disruption';
import { failureSummary } from './lib/failures';
import { beginRemediation, runPreflight } from './lib/progress';

export async function disableKmemAccounting(
  raw: DisableKmemAccountingInput,
): Promise<DisableKmemAccountingResult> {
  const { input, progress } = beginRemediation(
    'disableKmemAccounting',
    raw,
    DisableKmemAccountingInputSchema,
  );
  return progress.run(
    async () => {
      const { cluster } = input;
      // The cordon owner recorded on nodes: this run's workflow ID (the same across workers and retries).
      const owner = workflowInfo().workflowId;
      const q = quickActivities();
      const r = remoteActivities();
      const { drainNodeEvicting } = waitActivities({
        scheduleToCloseTimeout: `${input.drainTimeoutSeconds + 180}s`,
      });
      const { waitForNodeReboot } = waitActivities({
        scheduleToCloseTimeout: `${input.rebootTimeoutMinutes}m`,
      });
      await runPreflight(progress, input);

      progress.phase(
        'select-nodes',
        input.fromEvents ? 'FailedCreatePodContainer: cannot allocate memory' : undefined,
      );
      let wanted: string[];
      if (input.nodes) wanted = input.nodes;
      else {
        const pods = await q.findKmemOomPods({ cluster });
        for (const p of pods)
          progress.note(`pod ${p.namespace}/${p.name} on ${p.node}: ${KMEM_KERNEL_ARG} needed`);
        wanted = [...new Set(pods.map((p) => p.node))].sort();
      }
      const entries = new Map<string, KmemNodeEntry>();
      const facts = wanted.length ? await q.readKmemNodeFacts({ cluster, nodes: wanted }) : [];
      const kernelOf = new Map(facts.map((f) => [f.node, f.kernelVersion]));
      const cordonedBefore = new Map(facts.map((f) => [f.node, f.unschedulable]));
      function entryBase(node: string): KmemNodeEntry {
        const kernel = kernelOf.get(node);
        return { node, outcome: 'not-started', changes: [], ...(kernel ? { kernel } : {}) };
      }
      const candidates: string[] = [];
      for (const f of facts) {
        const base = { node: f.node, changes: [], ...(f.kernelVersion ? { kernel: f.kernelVersion } : {}) };
        const major = kernelMajor(f.kernelVersion);
        if (!f.exists) entries.set(f.node, { ...base, outcome: 'skipped', reason: 'no such node' });
        else if (!f.ready)
          entries.set(f.node, { ...base, outcome: 'skipped', reason: 'NotReady: not rebooted blind' });
        else if (!input.force && major !== undefined && major >= 5) {
          entries.set(f.node, {
            ...base,
            outcome: 'skipped',
            reason: `kernel ${f.kernelVersion} (5.x or newer is not affected; force: true reboots it anyway)`,
          });
        } else candidates.push(f.node);
      }
      const boot = new Map<string, string>();
      const order: string[] = [];
      await Promise.all(
        candidates.map(async (node) => {
          const s = await r.readNodeBootState({ cluster, node });
          boot.set(node, s.bootId);
          if (cmdlineHasArg(s.cmdline, KMEM_KERNEL_ARG)) {
            entries.set(node, {
              ...entryBase(node),
              outcome: 'skipped',
              reason: `/proc/cmdline already has ${KMEM_KERNEL_ARG}`,
            });
          }
        }),
      );
      for (const node of candidates) if (!entries.has(node)) order.push(node);
      for (const e of entries.values()) progress.item(`node/${e.node}`, 'node', 'skipped', e.reason);
      for (const node of order) progress.item(`node/${node}`, 'node', 'pending', 'to reboot');
      progress.note(`${order.length} nodes to reboot, ${entries.size} skipped`);

      const finish = (
        outcome: DisableKmemAccountingResult['outcome'],
        extra: Partial<DisableKmemAccountingResult> = {},
      ): DisableKmemAccountingResult => {
        const nodes = [...wanted.map((n) => entries.get(n)).filter((e): e is KmemNodeEntry => !!e)];
        const done = nodes.filter((n) => n.outcome === 'rebooted').length;
        const planned = nodes.filter((n) => n.outcome === 'would-reboot').length;
        const skipped = nodes.filter((n) => n.outcome === 'skipped').length;
        const summary =
          wanted.length === 0
            ? 'no node needs it (no FailedCreatePodContainer "cannot allocate memory" event)'
            : input.dryRun
              ? `${planned} nodes would be rebooted in this order: ${order.join(', ') || 'none'}; ${skipped} skipped`
              : `${done}/${order.length} nodes rebooted with ${KMEM_KERNEL_ARG}, ${skipped} skipped` +
                (extra.stoppedBecause ? `; stopped: ${extra.stoppedBecause}` : '');
        return {
          cluster,
          dryRun: input.dryRun,
          outcome,
          order,
          nodes,
          userScript: kmemUserScript(),
          summary,
          ...extra,
        };
      };

      if (order.length === 0) return finish('nothing-to-do');

      if (input.dryRun) {
        progress.phase('plan', `${order.length} nodes`);
        await Promise.all(
          order.map(async (node) => {
            const grub = await r.planKmemGrubArg({ cluster, node });
            const before = cordonedBefore.get(node) === true;
            entries.set(node, {
              ...entryBase(node),
              outcome: 'would-reboot',
              cordonedBefore: before,
              ...(boot.get(node) ? { bootIdBefore: boot.get(node) } : {}),
              changes: [
                before ? 'already cordoned (by someone else): stays cordoned' : 'cordon',
                'drain with the Eviction API (PodDisruptionBudgets respected; DaemonSet and mirror pods stay)',
                grub.status === 'would-add'
                  ? `${grub.path}: ${grub.before ?? '(no GRUB_CMDLINE_LINUX)'} → ${grub.after}`
                  : `${grub.path}: already has ${KMEM_KERNEL_ARG}`,
                'grub2-mkconfig -o /boot/grub2/grub.cfg',
                'reboot; wait for SSH down and up, Ready with a new boot ID',
                `verify /proc/cmdline has ${KMEM_KERNEL_ARG}`,
                before ? 'leave cordoned' : 'uncordon',
              ],
            });
          }),
        );
        return finish('complete');
      }

      let approvedBy: string | undefined;
      if (input.requireApproval) {
        const gate = await awaitApproval(
          progress,
          `reboot ${order.length} nodes (${order.join(', ')}), ${input.maxUnavailable} at a time`,
          input,
        );
        if (gate.decision === 'expired') return finish('approval-expired');
        approvedBy = gate.approver;
      }

      return withDisruptionLock(progress, input, async (lock) => {
        const lockInfo = {
          namespace: DISRUPTION_LEASE.namespace,
          name: DISRUPTION_LEASE.name,
          holder: lock.holder,
          waitedSeconds: lock.waitedSeconds,
        };
        const stop = (why: string, from: number) => {
          for (const node of order.slice(from)) {
            if (entries.has(node)) continue;
            entries.set(node, { ...entryBase(node), reason: `not started: ${why}` });
            progress.item(`node/${node}`, 'node', 'skipped', 'not started');
          }
          return finish('stopped', {
            stoppedBecause: why,
            lock: lockInfo,
            ...(approvedBy ? { approvedBy } : {}),
          });
        };

        /** One node, start to end. Returns its entry; never throws but for cancellation. */
        const rebootOne = async (node: string): Promise<KmemNodeEntry> => {
          const e: KmemNodeEntry = { ...entryBase(node), outcome: 'failed' };
          let ours = false;
          let rebootRequested = false;
          const step = (what: string) => {
            e.changes.push(what);
            progress.item(`node/${node}`, 'node', 'running', what);
          };
          const releaseIfOurs = async () => {
            if (!ours) return;
            const u = await q.uncordonNodeOwned({ cluster, node, owner });
            e.uncordoned = u.status === 'uncordoned';
            if (e.uncordoned) step('uncordoned');
          };
          try {
            const c = await q.cordonNodeOwned({ cluster, node, owner });
            e.cordonedBefore = c.cordonedBefore;
            ours = !c.cordonedBefore;
            step(c.cordonedBefore ? 'was cordoned already (stays cordoned)' : 'cordoned');

            const d = await drainNodeEvicting({ cluster, node, timeoutSeconds: input.drainTimeoutSeconds });
            e.evicted = d.evicted;
            if (d.status !== 'drained') {
              e.blocked = [...d.blocked, ...d.terminating.map((p) => `${p}: still terminating`)];
              e.outcome = 'drain-blocked';
              e.reason = `drain did not finish in ${input.drainTimeoutSeconds} s: ${e.blocked.join('; ') || 'pods left'}`;
              await releaseIfOurs();
              return e;
            }
            step(`drained (${d.evicted.length} evicted, ${d.left.length} DaemonSet/mirror pods left)`);

            const g = await r.ensureKmemGrubArg({ cluster, node });
            e.grub = g.status === 'added' ? 'added' : 'unchanged';
            step(g.status === 'added' ? `${g.path}: ${g.after}` : `${g.path} already had ${KMEM_KERNEL_ARG}`);
            const m = await r.regenerateGrubConfig({ cluster, node });
            step(
              m.status === 'regenerated'
                ? 'grub2-mkconfig -o /boot/grub2/grub.cfg'
                : 'grub.cfg already had it',
            );

            const before = await r.readNodeBootState({ cluster, node });
            e.bootIdBefore = before.bootId;
            rebootRequested = true;
            const rb = await r.rebootNode({ cluster, node, expectedBootId: before.bootId });
            step(rb.status === 'reboot-requested' ? 'reboot requested' : 'had rebooted already');
            const w = await waitForNodeReboot({ cluster, node, previousBootId: before.bootId });
            e.bootIdAfter = w.bootId;
            step(`back in ${Math.round(w.waitedMs / 1000)} s, boot ${w.bootId.slice(0, 8)}`);

            const after = await r.readNodeBootState({ cluster, node });
            if (!cmdlineHasArg(after.cmdline, KMEM_KERNEL_ARG)) {
              e.reason = `rebooted, but /proc/cmdline lacks ${KMEM_KERNEL_ARG}: ${after.cmdline}; left cordoned`;
              return e;
            }
            step(`/proc/cmdline has ${KMEM_KERNEL_ARG}`);
            await releaseIfOurs();
            e.outcome = 'rebooted';
            return e;
          } catch (err) {
            if (isCancellation(err)) {
              // Before the reboot nothing is half-done: give the node back. After it, leave it cordoned.
              await CancellationScope.nonCancellable(async () => {
                if (!rebootRequested) await releaseIfOurs().catch(() => undefined);
                const reason = rebootRequested
                  ? ours
                    ? `cancelled during the reboot: left cordoned (kubectl uncordon ${node} once it is Ready)`
                    : 'cancelled during the reboot: it was cordoned before and stays so'
                  : 'cancelled before the reboot';
                entries.set(node, { ...e, reason });
                // Marked failed, not left "running", so the status and cancel reports name it as left behind.
                progress.item(`node/${node}`, 'node', 'failed', reason);
                progress.note(
                  `${node}: cancelled${rebootRequested ? ' during the reboot, left cordoned' : ''}`,
                );
              });
              throw err;
            }
            e.reason = `${failureSummary(err)}${ours ? '; left cordoned' : ''}`;
            return e;
          }
        };

        for (let i = 0; i < order.length; i += input.maxUnavailable) {
          const batch = order.slice(i, i + input.maxUnavailable);
          if (lock.lost()) return stop(lock.lost()!, i);
          await awaitMaintenanceWindow(progress, input.window);
          const gate = await awaitHealthGate(progress, { ...input, nodes: batch });
          if (!gate.ok) return stop(`health gate for ${batch.join(', ')}: ${gate.reasons.join('; ')}`, i);
          if (lock.lost()) return stop(lock.lost()!, i);
          progress.phase('reboot', `${batch.join(', ')} (${i + batch.length}/${order.length})`);
          const results = await Promise.all(batch.map((node) => rebootOne(node)));
          for (const e of results) {
            entries.set(e.node, e);
            progress.item(
              `node/${e.node}`,
              'node',
              e.outcome === 'rebooted' ? 'succeeded' : 'failed',
              e.reason ?? e.changes[e.changes.length - 1],
            );
          }
          const bad = results.filter((e) => e.outcome !== 'rebooted');
          if (bad.length) {
            return stop(bad.map((e) => `${e.node} ${e.outcome}`).join(', '), i + batch.length);
          }
        }
        return finish('complete', { lock: lockInfo, ...(approvedBy ? { approvedBy } : {}) });
      });
    },
    (res) => res.summary,
  );
}
