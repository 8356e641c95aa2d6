/**
 * cinderRescanOnResize (docs/procedures.md §8): the guide's fix for "PV grown, filesystem in the pod did
 * not grow", done properly. The guide appends `[BlockStorage] rescan-on-resize=true` blindly (a second
 * run duplicates it), restarts `daemonet` (a typo: the node plugin is never restarted) and waits for
 * nothing. Here: the key is set in place or the section added once (every other line of the INI kept),
 * skipped when already set; both plugins are restarted as `kubectl rollout restart` does, with a stamp
 * chosen here so it is in history before the patch (a retry never restarts twice), and the template
 * records the secret version it was restarted for (a rerun restarts nothing); both rollouts are
 * waited for by kubectl's rules; the report lists the PVCs that need a resize to benefit.
 */
import { isCancellation } from '@temporalio/workflow';
import {
  CINDER,
  CinderRescanOnResizeInputSchema,
  type CinderRescanOnResizeInput,
  type CinderRescanOnResizeOptions,
  type CinderRescanOnResizeResult,
  type CloudConfigEdit,
  type PluginRestart,
} from '../common/procedures/cinder-rescan-on-resize';
import { restartStamp, workloadKey } from '../common/workload-kinds';
import {
  clusterScanActivities,
  quickActivities,
  rolloutTimeoutFromPods,
  WAIT_SLACK_SECONDS,
  waitActivities,
} from './activity-profiles';
import { approvalStep } from './lib/approval';
import { withClusterLock } from './lib/cluster-lock';
import { failureSummary, remediationFailed } from './lib/failures';
import { runRemediation, type ProgressTracker } from './lib/progress';
import { runPreflight } from './lib/preflight';

export const CinderPhase = {
  Plan: 'plan',
  SetConfig: 'set-cloud-config',
  Restart: 'restart-plugins',
  Rollout: 'rollout',
  Report: 'report',
} as const;

export function cinderRescanOnResize(raw: CinderRescanOnResizeInput): Promise<CinderRescanOnResizeResult> {
  return runRemediation('cinderRescanOnResize', raw, CinderRescanOnResizeInputSchema, fix);
}

const SECRET_KEY = `secret/${CINDER.namespace}/${CINDER.secret}`;
const pluginKey = (p: { kind: PluginRestart['kind']; name: string }) =>
  workloadKey({ kind: p.kind, namespace: CINDER.namespace, name: p.name });
const versionReason = (value: string | undefined) => ({ annotation: CINDER.configVersionAnnotation, value });

type Result = CinderRescanOnResizeResult;

/** What the read-only plan found: the config edit, each plugin's restart, and the volumes. */
interface CinderPlan {
  planned: CloudConfigEdit;
  pluginPlans: PluginRestart[];
  base: Pick<Result, 'cluster' | 'dryRun' | 'volumes'>;
  volumeNote: string;
}

async function fix(input: CinderRescanOnResizeOptions, progress: ProgressTracker): Promise<Result> {
  const preflight = await runPreflight(progress, input);
  const plan = await planFix(input, progress, preflight.nodes.length);
  const { planned, pluginPlans, base, volumeNote } = plan;
  const missing = pluginPlans.filter((p) => p.outcome === 'missing');
  if (missing.length) {
    const summary = `${missing.map((p) => pluginKey(p)).join(', ')} not found; nothing changed`;
    throw remediationFailed<Result>({
      ...base,
      outcome: 'failed',
      config: planned,
      plugins: pluginPlans,
      summary,
    });
  }
  const toRestart = pluginPlans.filter((p) => p.outcome === 'would-restart');
  const unchanged = (outcome: Result['outcome'], summary: string): Result => ({
    ...base,
    outcome,
    config: planned,
    plugins: pluginPlans,
    summary,
  });
  if (planned.outcome === 'already-set' && toRestart.length === 0) {
    return unchanged(
      'nothing-to-do',
      `nothing to do: ${CINDER.key} is already true and both plugins were restarted for this configuration; ${volumeNote}`,
    );
  }
  const what =
    (planned.outcome === 'would-set'
      ? `set ${CINDER.key}=true (${planned.change}) in ${CINDER.namespace}/${CINDER.secret}, then `
      : '') + `restart ${toRestart.map((p) => p.name).join(', ')}`;
  if (input.dryRun) return unchanged('planned', `dry run: would ${what}; ${volumeNote}`);
  let approvedBy: string | undefined;
  const gate = await approvalStep(progress, what, input);
  if (gate) {
    if (gate.decision === 'expired')
      return unchanged(
        'approval-expired',
        `approval expired: no decision within ${gate.after}; nothing changed`,
      );
    approvedBy = gate.approver;
  }
  return withClusterLock(progress, input, async () => {
    const config = await setCloudConfig(input, progress);
    const restarts = await restartPlugins(input, progress, config);
    const plugins = await waitForRollouts(input, progress, restarts, preflight.nodes.length);
    return buildReport(progress, plan, config, plugins, approvedBy);
  });
}

/** 1. Plan: read-only calls (the same activities with dryRun) say what a run would change. */
async function planFix(
  input: CinderRescanOnResizeOptions,
  progress: ProgressTracker,
  nodeCount: number,
): Promise<CinderPlan> {
  const { ensureCinderRescanOnResize, restartWorkload } = quickActivities();
  const { listCinderClaims } = clusterScanActivities(nodeCount);
  const { cluster } = input;
  progress.phase(
    CinderPhase.Plan,
    `${CINDER.namespace}/${CINDER.secret}, ${CINDER.plugins.map((p) => p.name).join(', ')}`,
  );
  const planned = await ensureCinderRescanOnResize({ ...secretRef(cluster), dryRun: true });
  progress.item(
    SECRET_KEY,
    'object',
    planned.outcome === 'already-set' ? 'unchanged' : 'pending',
    describeEdit(planned),
  );
  // The plugins need a restart unless their templates record the secret version as it will be.
  const configVersion = planned.outcome === 'already-set' ? planned.resourceVersion : undefined;
  const planStamp = restartStamp(Date.now());
  const pluginPlans: PluginRestart[] = [];
  for (const p of CINDER.plugins) {
    const plan = await restartWorkload({
      cluster,
      namespace: CINDER.namespace,
      ...p,
      restartedAt: planStamp,
      reason: versionReason(configVersion),
      dryRun: true,
    });
    pluginPlans.push(strip(plan));
    const state =
      plan.outcome === 'already-restarted' ? 'unchanged' : plan.outcome === 'missing' ? 'failed' : 'pending';
    progress.item(pluginKey(p), 'resource', state, plan.detail);
  }
  const volumes = await listCinderClaims({
    cluster,
    provisioner: CINDER.provisioner,
    maxListed: input.maxListedClaims,
  });
  const volumeNote = `${volumes.counts['resize-to-benefit']} PVC(s) need a resize to benefit, ${volumes.counts['resize-pending']} wait for the filesystem resize`;
  return { planned, pluginPlans, base: { cluster, dryRun: input.dryRun, volumes }, volumeNote };
}

const secretRef = (cluster: string) => ({
  cluster,
  namespace: CINDER.namespace,
  secret: CINDER.secret,
  key: CINDER.secretKey,
});

/** 2. The cloud-config (a no-op when already set; a concurrent edit is re-read by the retry). */
async function setCloudConfig(
  input: CinderRescanOnResizeOptions,
  progress: ProgressTracker,
): Promise<CloudConfigEdit> {
  const { ensureCinderRescanOnResize } = quickActivities();
  progress.phase(CinderPhase.SetConfig);
  progress.item(SECRET_KEY, 'object', 'running');
  const config = await ensureCinderRescanOnResize({ ...secretRef(input.cluster), dryRun: false });
  progress.item(
    SECRET_KEY,
    'object',
    config.outcome === 'set' ? 'succeeded' : 'unchanged',
    describeEdit(config),
  );
  return config;
}

/**
 * 3. Restart both plugins for this secret version. The stamp is workflow time now (after any
 * approval wait), and it is in history as the activity's input before the patch is sent.
 */
async function restartPlugins(
  input: CinderRescanOnResizeOptions,
  progress: ProgressTracker,
  config: CloudConfigEdit,
): Promise<PluginRestart[]> {
  const { restartWorkload } = quickActivities();
  const stamp = restartStamp(Date.now());
  progress.phase(CinderPhase.Restart, `restartedAt ${stamp}`);
  const restarts: PluginRestart[] = [];
  for (const p of CINDER.plugins) {
    progress.item(pluginKey(p), 'resource', 'running', 'restarting');
    const r = strip(
      await restartWorkload({
        cluster: input.cluster,
        namespace: CINDER.namespace,
        ...p,
        restartedAt: stamp,
        reason: versionReason(config.resourceVersion),
        dryRun: false,
      }),
    );
    restarts.push(r);
    progress.item(pluginKey(p), 'resource', r.outcome === 'missing' ? 'failed' : 'running', r.detail);
  }
  return restarts;
}

/** 4. Both rollouts (kubectl's rules) at once, timeouts by pods (nodeplugin: one per node); not finished is an outcome. */
async function waitForRollouts(
  input: CinderRescanOnResizeOptions,
  progress: ProgressTracker,
  restarts: PluginRestart[],
  nodeCount: number,
): Promise<PluginRestart[]> {
  const timeout = (r: PluginRestart) =>
    rolloutTimeoutFromPods(r.kind === 'DaemonSet' ? nodeCount : 1, input.rolloutTimeoutSeconds);
  progress.phase(CinderPhase.Rollout, restarts.map((r) => `${pluginKey(r)} ${timeout(r)}s`).join(', '));
  return Promise.all(
    restarts.map(async (r): Promise<PluginRestart> => {
      if (r.outcome === 'missing') return r;
      const { waitForRollout } = waitActivities({
        scheduleToCloseTimeout: `${timeout(r) + WAIT_SLACK_SECONDS}s`,
      });
      let rollout: { outcome: string; message: string };
      try {
        rollout = await waitForRollout({
          cluster: input.cluster,
          namespace: CINDER.namespace,
          kind: r.kind,
          name: r.name,
          timeoutSeconds: timeout(r),
        });
      } catch (err) {
        if (isCancellation(err)) throw err;
        rollout = { outcome: 'failed', message: failureSummary(err) };
      }
      const done: PluginRestart =
        rollout.outcome === 'complete'
          ? { ...r, detail: `${r.detail}; ${rollout.message}` }
          : {
              ...r,
              outcome: rollout.outcome === 'timeout' ? 'rollout-timeout' : 'rollout-failed',
              detail: rollout.message,
            };
      progress.item(
        pluginKey(r),
        'resource',
        done.outcome === r.outcome ? 'succeeded' : 'failed',
        done.detail,
      );
      return done;
    }),
  );
}

function buildReport(
  progress: ProgressTracker,
  plan: CinderPlan,
  config: CloudConfigEdit,
  plugins: PluginRestart[],
  approvedBy: string | undefined,
): Result {
  progress.phase(CinderPhase.Report);
  const failed = plugins.filter((p) => !['restarted', 'already-restarted'].includes(p.outcome));
  const restarted = plugins.filter((p) => p.outcome === 'restarted').map((p) => p.name);
  const result: Result = {
    ...plan.base,
    outcome: failed.length ? 'failed' : 'fixed',
    config,
    plugins,
    ...(approvedBy ? { approvedBy } : {}),
    summary: failed.length
      ? `failed: ${failed.map((p) => `${pluginKey(p)} ${p.outcome}`).join(', ')}`
      : `${config.outcome === 'set' ? `${CINDER.key}=true set (${config.change})` : `${CINDER.key} already true`}; ` +
        `${restarted.join(', ') || 'no plugin'} restarted and rolled out; ${plan.volumeNote}`,
  };
  if (failed.length) throw remediationFailed(result);
  return result;
}

/** The activity's extra field (resourceVersion) is for tests and history, not the report. */
function strip(r: PluginRestart & { resourceVersion?: string }): PluginRestart {
  const { resourceVersion: _rv, ...rest } = r;
  return rest;
}

function describeEdit(e: CloudConfigEdit): string {
  return `${e.outcome}: ${e.change}, previous ${e.previous}, line ${e.line}, resourceVersion ${e.resourceVersionBefore}${
    e.resourceVersion !== e.resourceVersionBefore ? ` → ${e.resourceVersion}` : ''
  }`;
}
