/**
 * `nksr watch <id>` (and `nksr run --wait`): follows a run until it ends, from the workflow's own
 * `progress` query, then prints the human report. On a terminal: a cli-progress bar of finished items
 * (done / failed / running counts, the phase) with the run's events printed above it as they arrive
 * and the approval prompt when the run waits for one. Elsewhere (a pipe, a log file): one plain line
 * per change, so the output stays readable and greppable.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { Command } from 'commander';
import type { Progress } from '../../workflows/definitions';
import type { NksClient } from '../sdk';
import {
  CliError,
  EXIT_CODES,
  OUTCOME_WORDS,
  describeFailure,
  type FailureDescription,
  printJson,
  withClient,
} from './common';
import { countItems, formatResult, type ItemCounts } from './format';
import { waitThroughOutages } from './wait';

export interface WatchOptions {
  /** Live bar (true) or plain lines (false); default: whether stdout is a terminal. */
  tty?: boolean;
  /** How often the progress query is asked; default 1 s. */
  intervalMs?: number;
  out?: NodeJS.WriteStream;
  /** How long to keep reconnecting to a Temporal server that went away; default 300 s. */
  reconnectTimeoutMs?: number;
}

export interface WatchOutcome {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: 'completed' | 'failed';
  result?: unknown;
  failure?: FailureDescription;
  /** The last progress the workflow answered (undefined if no worker ever answered). */
  progress?: Progress;
}

/** What the view shows of one progress answer; rendered either as the bar or as a plain line. */
interface View {
  phase: string;
  counts: ItemCounts;
  awaitingApproval: boolean;
}

function viewOf(p: Progress): View {
  return { phase: p.phase, counts: countItems(p.items), awaitingApproval: p.awaitingApproval };
}

function plainLine(v: View): string {
  const c = v.counts;
  return `phase ${v.phase}: ${c.finished}/${c.total} items finished (${c.done} done, ${c.failed} failed, ${c.running} running)`;
}

/** Events newer than the last one shown (the workflow keeps the latest 200; older ones drop off). */
function newEvents(events: readonly string[], lastShown: string | undefined): string[] {
  if (lastShown === undefined) return [...events];
  const at = events.lastIndexOf(lastShown);
  return at < 0 ? [...events] : events.slice(at + 1);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Follows the run until it closes; resolves with its result or failure (never throws for a failed run). */
export async function watchRemediation(
  client: NksClient,
  workflowId: string,
  opts: WatchOptions = {},
): Promise<WatchOutcome> {
  const out = opts.out ?? process.stdout;
  const tty = opts.tty ?? Boolean(out.isTTY);
  const intervalMs = opts.intervalMs ?? 1000;
  const reconnectTimeoutMs = opts.reconnectTimeoutMs ?? 300_000;
  // The server may be away already (a restart right after the start): wait for it here too.
  const description = await waitThroughOutages(() => client.handle(workflowId).describe(), {
    reconnectTimeoutMs,
    say: (line) => console.error(line),
    workflowId,
    probe: () => client.handle(workflowId).describe(),
  });
  const handle = client.handle(workflowId, description.runId);
  let multibar: MultiBar | undefined;
  let bar: SingleBar | undefined;
  const write = (line: string) => {
    if (multibar) multibar.log(`${line}\n`);
    else out.write(`${line}\n`);
  };
  if (tty) {
    multibar = new MultiBar(
      {
        stream: out,
        format: ' {bar} {value}/{total} finished | {done} done, {failed} failed, {running} running | {phase}',
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      Presets.shades_classic,
    );
  }
  let closed: Omit<WatchOutcome, 'progress'> | undefined;
  // Losing the Temporal server is the CLI's problem, not the run's: keep waiting (bounded, on stderr).
  let serverGone: CliError | undefined;
  const ended = waitThroughOutages(() => handle.result(), {
    reconnectTimeoutMs,
    say: (line) => console.error(line),
    workflowId,
    probe: () => handle.describe(),
  }).then(
    (result: unknown) => {
      closed = {
        workflowId,
        runId: description.runId,
        workflowType: description.type,
        status: 'completed',
        result,
      };
    },
    (err: unknown) => {
      if (err instanceof CliError) serverGone = err;
      closed = {
        workflowId,
        runId: description.runId,
        workflowType: description.type,
        status: 'failed',
        failure: describeFailure(err),
      };
    },
  );
  write(`watching ${description.type} ${workflowId} (run ${description.runId})`);

  let last: Progress | undefined;
  let lastLine = '';
  let lastEvent: string | undefined;
  let prompted = false;
  let queryProblem = '';
  try {
    for (;;) {
      try {
        // Once the run closed, the answer comes from a replay of its whole history: allow it time,
        // and a second try, so the view ends on where the run ended.
        const final = closed !== undefined;
        last = await client
          .progress(workflowId, { runId: description.runId, timeoutMs: final ? 15_000 : 5000 })
          .catch((err: unknown) => {
            if (!final) throw err;
            return client.progress(workflowId, { runId: description.runId, timeoutMs: 15_000 });
          });
        queryProblem = '';
      } catch (err) {
        // No worker answered: say so once, keep waiting (a worker restart is what durability is for).
        const problem = err instanceof Error ? err.message.split('\n')[0]! : String(err);
        if (problem !== queryProblem && !closed) write(`(no progress answer yet: ${problem})`);
        queryProblem = problem;
      }
      if (last) {
        const events = newEvents(last.events, lastEvent);
        for (const e of events) write(`  ${e}`);
        lastEvent = last.events[last.events.length - 1] ?? lastEvent;
        const v = viewOf(last);
        if (v.awaitingApproval && !prompted)
          write(`>>> waiting for approval: nksr approve ${workflowId}  (or --reject)`);
        prompted = v.awaitingApproval;
        const payload = {
          done: v.counts.done,
          failed: v.counts.failed,
          running: v.counts.running,
          phase: v.awaitingApproval ? `${v.phase} (awaiting approval)` : v.phase,
        };
        if (multibar) {
          bar ??= multibar.create(Math.max(v.counts.total, 1), 0, payload);
          bar.setTotal(Math.max(v.counts.total, 1));
          bar.update(v.counts.finished, payload);
        } else {
          const line = plainLine(v);
          if (line !== lastLine) write(line);
          lastLine = line;
        }
      }
      if (closed) break;
      await Promise.race([ended, sleep(intervalMs)]);
      // The run may have closed while we slept: one more query shows where it ended.
    }
  } finally {
    // stop() renders the bars but not the log lines still buffered: draw both first.
    multibar?.update();
    multibar?.stop();
  }
  if (serverGone) throw serverGone;
  return { ...closed!, progress: last };
}

/**
 * Prints the outcome of a watched run as `nksr run --wait` always has: the human report (or --json the
 * result itself); a failed run prints what its report says was done, then fails the command.
 */
export function printOutcome(outcome: WatchOutcome, json: boolean): void {
  const { workflowId, runId, workflowType } = outcome;
  const f = outcome.failure;
  const ended = f?.outcome ?? 'failed';
  if (json) {
    printJson(
      outcome.status === 'completed'
        ? outcome.result
        : { workflowId, runId, workflowType, status: ended, failure: f },
    );
  } else if (outcome.status === 'completed') {
    console.log(formatResult(workflowType, outcome.result));
  } else if (f?.report) {
    console.log(formatResult(workflowType, f.report));
  }
  if (f) {
    const why =
      ended === 'failed'
        ? `: ${f.type ? `${f.type}: ` : ''}${f.message}`
        : ended === 'terminated' && f.message !== 'terminated'
          ? ` (${f.message.replace(/^terminated: /, 'reason: ')})`
          : '';
    throw new CliError(
      `${workflowType} ${OUTCOME_WORDS[ended]} (${workflowId}, run ${runId})${why}`,
      EXIT_CODES[ended],
    );
  }
}

export function watchCommand(): Command {
  return new Command('watch')
    .description('live view of a remediation until it ends (progress bar, events, approval), then its report')
    .argument('<workflowId>')
    .option('--interval <ms>', 'how often to ask the workflow for progress', (v) => Number(v), 1000)
    .option('--json', 'no live view: print the result (or failure) as JSON when the run ends')
    .action(async (workflowId: string, opts: { interval: number; json?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client) => {
        const outcome = await watchRemediation(client, workflowId, {
          intervalMs: opts.interval,
          ...(opts.json ? { out: process.stderr, tty: false } : {}),
        });
        printOutcome(outcome, opts.json === true);
      });
    });
}
