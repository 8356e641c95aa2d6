/**
 * `nksr diagnose --cluster C [--json] [--fix]`: runs clusterDiagnosis and prints what it found; with
 * --fix, starts the proposed procedures one after another in the plan's order (calico first: with the
 * pod network down nothing else can roll out), each waited for before the next starts, printing each
 * workflow ID as soon as it starts (and the approve command when one waits for approval). A fix that
 * fails stops the sequence: the later ones are listed, not started. Then it diagnoses again.
 */
import { Command } from 'commander';
import type { ProposedFix } from '../../common/diagnosis/types';
import { findProcedure } from '../../common/procedures';
import type { ClusterDiagnosisResult } from '../../common/procedures/cluster-diagnosis';
import type { NksClient, RemediationInput } from '../sdk';
import { CliError, describeFailure, printJson, withClient } from './common';
import { formatResult } from './format';

interface DiagnoseOptions {
  cluster: string;
  json?: boolean;
  fix?: boolean;
  requireApproval?: boolean;
  taskQueue?: string;
}

export interface FixRun {
  procedure: string;
  input: Record<string, unknown>;
  status: 'completed' | 'failed' | 'not-started' | 'unavailable';
  workflowId?: string;
  runId?: string;
  /** The procedure report's summary line, or the failure. */
  summary?: string;
}

const POLL_MS = 2000;

async function diagnose(
  client: NksClient,
  o: DiagnoseOptions,
): Promise<{ id: string; result: ClusterDiagnosisResult }> {
  const started = await client.startRemediation(
    'clusterDiagnosis',
    { cluster: o.cluster },
    { taskQueue: o.taskQueue },
  );
  try {
    return { id: started.workflowId, result: (await started.handle.result()) as ClusterDiagnosisResult };
  } catch (err) {
    const f = describeFailure(err);
    throw new CliError(
      `clusterDiagnosis failed (${started.workflowId}): ${f.type ? `${f.type}: ` : ''}${f.message}`,
    );
  }
}

/** Starts one fix and waits for it, telling the operator once when it waits for approval. */
async function runFix(
  client: NksClient,
  o: DiagnoseOptions,
  fix: ProposedFix,
  say: (line: string) => void,
): Promise<FixRun> {
  const entry = findProcedure(fix.procedure);
  if (!entry) {
    return {
      ...fix,
      status: 'unavailable',
      summary: `this nksr does not know ${fix.procedure}: run it with a newer one`,
    };
  }
  const base = { ...fix.input, cluster: o.cluster };
  // Only procedures with an approval gate accept the field (strict schemas refuse unknown ones).
  const gated = { ...base, requireApproval: true };
  const input = o.requireApproval && entry.inputSchema.safeParse(gated).success ? gated : base;
  const started = await client.startRemediation(
    entry.workflowType as never,
    input as RemediationInput<never>,
    { taskQueue: o.taskQueue },
  );
  say(
    `started ${entry.workflowType} ${started.workflowId} (run ${started.runId}) with ${JSON.stringify(fix.input)}`,
  );
  const result = started.handle.result();
  let told = false;
  const watcher = (async () => {
    for (;;) {
      const done = await Promise.race([
        result.then(
          () => true,
          () => true,
        ),
        new Promise<false>((r) => setTimeout(() => r(false), POLL_MS)),
      ]);
      if (done) return;
      const s = await client
        .getRemediation(started.workflowId, { queryTimeoutMs: 2000 })
        .catch(() => undefined);
      if (!told && s?.progress?.awaitingApproval) {
        told = true;
        say(`  waiting for approval: nksr approve ${started.workflowId}`);
      }
    }
  })();
  const ids = { workflowId: started.workflowId, runId: started.runId };
  try {
    const r: unknown = await result;
    await watcher;
    return {
      ...fix,
      ...ids,
      status: 'completed',
      summary: formatResult(entry.workflowType, r).split('\n')[0],
    };
  } catch (err) {
    await watcher;
    const f = describeFailure(err);
    return { ...fix, ...ids, status: 'failed', summary: `${f.type ? `${f.type}: ` : ''}${f.message}` };
  }
}

export function diagnoseCommand(): Command {
  return new Command('diagnose')
    .description(
      'check a cluster for every symptom of the guide (read-only) and name the procedure that fixes each; ' +
        '--fix starts them in a safe order',
    )
    .requiredOption('--cluster <name>', 'cluster name in the worker’s registry')
    .option('--json', 'machine-readable output')
    .option('--fix', 'start the proposed procedures one after another (calico first), then diagnose again')
    .option('--require-approval', 'with --fix: start every procedure that has an approval gate with it on')
    .option('--task-queue <queue>', 'task queue (default NKSR_TASK_QUEUE or nks-remediation)')
    .action(async (o: DiagnoseOptions, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const say = (line: string) => (o.json ? process.stderr : process.stdout).write(`${line}\n`);
        const first = await diagnose(client, o);
        if (!o.fix) {
          if (o.json) printJson(first.result);
          else console.log(formatResult('clusterDiagnosis', first.result));
          return;
        }
        if (!o.json) console.log(`${formatResult('clusterDiagnosis', first.result)}\n`);
        const fixes: FixRun[] = [];
        let stopped = false;
        for (const fix of first.result.plan) {
          if (stopped) {
            fixes.push({ ...fix, status: 'not-started' });
            continue;
          }
          const run = await runFix(client, o, fix, say);
          fixes.push(run);
          say(`  ${run.status}: ${run.summary ?? ''}`);
          // Later fixes assume the earlier ones worked (a network still down, say): stop here.
          if (run.status === 'failed') stopped = true;
        }
        const notStarted = fixes.filter((f) => f.status === 'not-started');
        if (notStarted.length)
          say(`not started after a failure: ${notStarted.map((f) => f.procedure).join(', ')}`);
        const after = first.result.plan.length ? await diagnose(client, o) : first;
        if (o.json) printJson({ diagnosis: first.result, fixes, after: after.result });
        else if (first.result.plan.length)
          say(`\nafter the fixes: ${after.result.outcome}: ${after.result.summary}`);
        else say('nothing to fix');
        if (fixes.some((f) => f.status === 'failed' || f.status === 'unavailable'))
          throw new CliError(
            `not every fix completed: ${fixes
              .filter((f) => f.status !== 'completed')
              .map((f) => `${f.procedure} ${f.status}${f.workflowId ? ` (${f.workflowId})` : ''}`)
              .join(', ')}`,
          );
      });
    });
}
