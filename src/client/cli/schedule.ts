/**
 * `nksr schedule create|list|describe|pause|unpause|trigger|delete`: procedures run on a calendar by
 * Temporal Schedules (what the Temporal CLI's `temporal schedule ...` and the UI's Schedules page show).
 */
import { Command } from 'commander';
import { resolveProcedure } from '../../common/procedures';
import type { RemediationInput, ScheduleInfo } from '../sdk';
import { CliError, printJson, printRows, withClient } from './common';
import { procedureInput } from './procedure-options';

interface CreateOptions {
  cluster?: string;
  cron?: string;
  timezone?: string;
  name?: string;
  taskQueue?: string;
  catchupWindow?: string;
  dryRun?: boolean;
  paused?: boolean;
  inputJson?: string;
  json?: boolean;
}

function printInfo(info: ScheduleInfo): void {
  const lines = [
    `schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}`,
    `  runs:      ${info.workflowType} on task queue ${info.taskQueue}, workflow ID ${info.workflowId}-<time>`,
    `  when:      ${info.cron.join(', ') || '(see temporal schedule describe)'}${info.timezone ? ` (${info.timezone})` : ''}`,
    `  overlap:   ${info.overlap}; catch-up window ${Math.round(info.catchupWindowMs / 1000)} s`,
    `  next:      ${info.nextActionTimes.slice(0, 3).join(', ') || '-'}`,
    `  taken:     ${info.numActionsTaken} runs, ${info.numActionsSkippedOverlap} skipped (overlap)`,
    ...(info.note ? [`  note:      ${info.note}`] : []),
    ...(info.runningWorkflowIds.length ? [`  running:   ${info.runningWorkflowIds.join(', ')}`] : []),
    ...info.recentActions
      .slice(-5)
      .map((a) => `  recent:    ${a.takenAt} ${a.workflowId} (nksr status ${a.workflowId})`),
    `  input:     ${JSON.stringify(info.input)}`,
  ];
  console.log(lines.join('\n'));
}

function idCommand(
  name: string,
  description: string,
  act: (
    client: Parameters<Parameters<typeof withClient>[1]>[0],
    id: string,
    opts: { note?: string },
  ) => Promise<string>,
  withNote = false,
): Command {
  const cmd = new Command(name)
    .description(description)
    .argument('<schedule-id>', 'e.g. nks/prod-kr1/logrotateSync/daily');
  if (withNote) cmd.option('--note <text>', 'why (shown in describe and the UI)');
  return cmd.action(async (id: string, opts: { note?: string }, c: Command) => {
    await withClient(c, async (client) => console.log(await act(client, id, opts)));
  });
}

export function scheduleCommand(): Command {
  const schedule = new Command('schedule').description(
    'procedures run on a calendar by Temporal Schedules (overlap SKIP, bounded catch-up)',
  );

  schedule.addCommand(
    new Command('create')
      .description('create a Schedule running a procedure, e.g. `schedule create logrotate-sync --cluster C`')
      .argument('<procedure>', 'procedure (kebab-case) or workflow type')
      .option('--cluster <name>', 'cluster name in the worker’s registry')
      .option('--cron <expr>', 'cron expression (5 fields)', '0 0 * * *')
      .option('--timezone <tz>', 'IANA time zone of the cron expression', 'Asia/Seoul')
      .option('--name <name>', 'last part of the Schedule ID', 'daily')
      .option('--task-queue <queue>', 'task queue (default NKSR_TASK_QUEUE or nks-remediation)')
      .option(
        '--catchup-window <duration>',
        'missed runs older than this are not taken after an outage',
        '1h',
      )
      .option('--dry-run', 'every run is a dry run')
      .option('--paused', 'create it paused')
      .option('--input-json <json>', 'procedure input as JSON; flags override its fields')
      .option('--json', 'machine-readable output')
      .allowUnknownOption()
      .allowExcessArguments()
      .action(async (procedure: string, opts: CreateOptions, cmd: Command) => {
        const workflowType = resolveProcedure(procedure);
        if (!workflowType) throw new CliError(`unknown procedure "${procedure}"`, 2);
        const input = procedureInput(opts, cmd.args.slice(1));
        await withClient(cmd, async (client) => {
          const info = await client.createSchedule(
            workflowType,
            input as unknown as RemediationInput<typeof workflowType>,
            {
              cron: opts.cron,
              timezone: opts.timezone,
              name: opts.name,
              taskQueue: opts.taskQueue,
              catchupWindow: opts.catchupWindow,
              paused: opts.paused,
            },
          );
          if (opts.json) printJson(info);
          else {
            console.log(`created schedule ${info.scheduleId}`);
            printInfo(info);
          }
        });
      }),
  );

  schedule.addCommand(
    new Command('list')
      .description('Schedules created by nksr')
      .option('--cluster <name>', 'only this cluster')
      .option('--json', 'machine-readable output')
      .action(async (opts: { cluster?: string; json?: boolean }, cmd: Command) => {
        await withClient(cmd, async (client) => {
          const rows = await client.listSchedules({ cluster: opts.cluster });
          printRows(rows, {
            json: opts.json,
            empty: 'no schedules found',
            header: ['SCHEDULE ID', 'PROCEDURE', 'STATE', 'NEXT RUN', 'RUNS'],
            row: (r) => [
              r.scheduleId,
              r.workflowType ?? '-',
              r.paused ? 'paused' : 'active',
              r.nextActionTimes[0] ?? '-',
              String(r.recentActions),
            ],
          });
        });
      }),
  );

  schedule.addCommand(
    new Command('describe')
      .description('a Schedule: spec, policies, next and recent runs')
      .argument('<schedule-id>', 'e.g. nks/prod-kr1/logrotateSync/daily')
      .option('--json', 'machine-readable output')
      .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
        await withClient(cmd, async (client) => {
          const info = await client.describeSchedule(id);
          if (opts.json) printJson(info);
          else printInfo(info);
        });
      }),
  );

  for (const [name, what, done, act] of [
    ['pause', 'stop taking actions until unpaused', 'paused', 'pauseSchedule'],
    ['unpause', 'take actions again', 'unpaused', 'unpauseSchedule'],
  ] as const) {
    schedule.addCommand(
      idCommand(
        name,
        what,
        async (c, id, o) => {
          await c[act](id, o.note);
          return `${done} ${id}`;
        },
        true,
      ),
    );
  }
  schedule.addCommand(
    idCommand('trigger', 'start one run now (skipped if one is still running)', async (c, id) => {
      await c.triggerSchedule(id);
      return `triggered ${id} (nksr schedule describe ${id} shows the run)`;
    }),
  );
  schedule.addCommand(
    idCommand('delete', 'delete the Schedule (runs already started go on)', async (c, id) => {
      await c.deleteSchedule(id);
      return `deleted ${id}`;
    }),
  );
  for (const sub of schedule.commands) sub.exitOverride();
  return schedule;
}
