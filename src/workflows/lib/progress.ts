/**
 * What every remediation workflow does besides its own steps, so they all look alike to an operator:
 * - validate the input at the edge (InvalidInput, non-retryable, one line naming every bad field);
 * - search attributes NksCluster / NksProcedure / NksPhase / NksDryRun, kept current;
 * - the `progress` query (phase, per-node / per-object items, an event log) and the UI's current
 *   details rendered from the same state;
 * - the `approve` Update gate, registered at the start (its logic is in ./approval.ts);
 * - turning an activity's named failure into the workflow's failure of the same type;
 * - `runPreflight`, the first step of every procedure.
 *
 * Usage in a workflow:
 *   const { input, progress } = beginRemediation('calicoImageRepair', raw, CalicoImageRepairInputSchema);
 *   return progress.run(async () => {
 *     const preflight = await runPreflight(progress, input, { requireAllReady: true });
 *     const gate = await awaitApproval(progress, 'roll calico', input); // ./approval.ts
 *     if (gate.decision === 'expired') return { outcome: 'approval-expired', ... };
 *     progress.phase('pre-pull', `4 images on ${preflight.nodes.length} nodes`);
 *     progress.item('node-1/calico/node', 'node-image', 'running');
 *     ...
 *   });
 */
import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { z } from 'zod';
import { ErrorType } from '../../common/errors';
import { parseInput } from '../../common/inputs';
import type { WorkflowType } from '../../common/procedures';
import { NksCluster, NksDryRun, NksPhase, NksProcedure } from '../../common/search-attributes';
import {
  type BaseRemediationInput,
  type ItemOutcome,
  type Progress,
  type ProgressItem,
  progressQuery,
} from '../definitions';
import { ApprovalGate, ApprovalPhase } from './approval';
import { endIfCancelRequested } from './cancel-requested';

/** Phases every procedure shares; procedures add their own between preflight and the end. */
export const Phase = {
  Started: 'started',
  Preflight: 'preflight',
  AwaitingApproval: ApprovalPhase.AwaitingApproval,
  /** Nobody decided before the approval gate's expiry: the run ended having changed nothing. */
  ApprovalExpired: ApprovalPhase.ApprovalExpired,
  Completed: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;

/** Keeps the query answer and history small on long runs; items are never dropped. */
const MAX_EVENTS = 200;
/** Items listed by name in the UI's current details; the rest are counted. */
const MAX_DETAIL_ITEMS = 20;
const KIND_LABEL: Record<ProgressItem['kind'], string> = {
  node: 'Nodes',
  'node-image': 'Node × image',
  resource: 'Resources',
  object: 'Objects',
};
/** The UI renders the details as Markdown with HTML: `<x>` in a message would vanish as a tag. */
function markdownText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

const TERMINAL: ReadonlySet<ItemOutcome> = new Set(['succeeded', 'failed', 'skipped', 'unchanged']);

export class ProgressTracker {
  /** The run's `approve` Update gate: registered here, at the start, so an early approve is refused. */
  readonly approval: ApprovalGate;
  private readonly state: Progress;
  private readonly itemsByKey = new Map<string, ProgressItem>();
  // Kept as items change, so updating one item costs the same with 4,000 items as with 4 (each item
  // update refreshes the details; recounting every item each time made a 1,000-node run's workflow
  // tasks exceed the 5-second limit on a loaded machine).
  private readonly counts = new Map<ProgressItem['kind'], Map<ItemOutcome, number>>();
  /** Running or failed items, in the order they became so; the first few are named in the details. */
  private readonly notable = new Set<ProgressItem>();
  private lastNote = '';
  /** Set by conclude(): the phase the run ends in when its body returns (instead of `completed`). */
  private concludedPhase?: string;

  constructor(workflowType: WorkflowType, cluster: string, dryRun: boolean, request?: unknown) {
    this.state = {
      workflowType,
      cluster,
      phase: Phase.Started,
      dryRun,
      awaitingApproval: false,
      items: [],
      events: [],
    };
    setHandler(progressQuery, () => this.snapshot());
    this.approval = new ApprovalGate(this, request);
    this.note(`started${dryRun ? ' (dry run)' : ''}`);
  }

  get phaseName(): string {
    return this.state.phase;
  }

  /** Enters a phase: search attribute NksPhase, event log, current details. */
  phase(name: string, summary?: string): void {
    this.state.phase = name;
    upsertSearchAttributes([{ key: NksPhase, value: name }]);
    this.note(summary ? `${name}: ${summary}` : name);
  }

  /**
   * Enters the phase the run ends in (e.g. `approval-expired`): when the body then returns, run()
   * keeps this phase instead of moving to `completed`. A failure or cancellation still wins.
   */
  conclude(name: string, summary?: string): void {
    this.concludedPhase = name;
    this.phase(name, summary);
  }

  /** Adds a line to the event log (and the UI's current details). */
  note(message: string): void {
    this.lastNote = message;
    this.state.events.push(`${new Date().toISOString()} ${message}`);
    if (this.state.events.length > MAX_EVENTS)
      this.state.events.splice(0, this.state.events.length - MAX_EVENTS);
    this.refreshDetails();
  }

  /** Creates or updates one progress line; start/finish times follow its outcome. */
  item(key: string, kind: ProgressItem['kind'], outcome: ItemOutcome, detail?: string): ProgressItem {
    const now = new Date().toISOString();
    let item = this.itemsByKey.get(key);
    const isNew = !item;
    if (!item) {
      item = { key, kind, outcome: 'pending' };
      this.itemsByKey.set(key, item);
      this.state.items.push(item);
    }
    // Counted per kind ("5 succeeded" alone does not say whether nodes or workloads are done), and
    // kept as items change: recounting every item per update made a 1,000-node run's tasks too slow.
    const ofKind = this.counts.get(item.kind) ?? this.counts.set(item.kind, new Map()).get(item.kind)!;
    if (!isNew) ofKind.set(item.outcome, (ofKind.get(item.outcome) ?? 1) - 1);
    ofKind.set(outcome, (ofKind.get(outcome) ?? 0) + 1);
    if (outcome === 'running' || outcome === 'failed') this.notable.add(item);
    else this.notable.delete(item);
    if (outcome === 'running' && !item.startedAt) item.startedAt = now;
    if (TERMINAL.has(outcome)) {
      item.startedAt ??= now;
      item.finishedAt = now;
    }
    item.outcome = outcome;
    if (detail !== undefined) item.detail = detail;
    this.refreshDetails();
    return item;
  }

  items(kind?: ProgressItem['kind']): ProgressItem[] {
    return kind ? this.state.items.filter((i) => i.kind === kind) : [...this.state.items];
  }

  snapshot(): Progress {
    return {
      ...this.state,
      awaitingApproval: this.approval.awaiting,
      ...(this.approval.view ? { approval: this.approval.view } : {}),
      items: this.state.items.map((i) => ({ ...i })),
      events: [...this.state.events],
    };
  }

  /**
   * Runs the workflow body and records how it ended (NksPhase completed / failed / cancelled, or the
   * phase given to conclude()). A failed activity fails the workflow with the activity's own named
   * type (see asWorkflowFailure).
   */
  async run<T>(body: () => Promise<T>, summarize?: (result: T) => string): Promise<T> {
    try {
      const result = await body();
      const summary = summarize?.(result);
      endIfCancelRequested(summary ?? 'every step');
      if (this.concludedPhase === undefined) this.phase(Phase.Completed, summary);
      else if (summary !== undefined) this.note(summary);
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        this.phase(Phase.Cancelled);
        throw err;
      }
      const failure = asWorkflowFailure(err);
      this.phase(Phase.Failed, failure instanceof Error ? failure.message : String(failure));
      throw failure;
    }
  }

  private refreshDetails(): void {
    const s = this.state;
    const lines = [
      `**${s.workflowType}** on cluster \`${s.cluster}\`${s.dryRun ? ' (dry run)' : ''}`,
      `Phase: **${s.phase}**${this.approval.awaiting ? ' — waiting for `nksr approve`' : ''}`,
    ];
    if (s.items.length > 0) {
      for (const [kind, ofKind] of this.counts) {
        const nonZero = [...ofKind].filter(([, n]) => n > 0);
        if (nonZero.length > 0)
          lines.push(`${KIND_LABEL[kind]}: ${nonZero.map(([outcome, n]) => `${n} ${outcome}`).join(', ')}`);
      }
      let listed = 0;
      for (const i of this.notable) {
        if (listed++ >= MAX_DETAIL_ITEMS) break;
        lines.push(`- ${markdownText(i.key)}: ${i.outcome}${i.detail ? ` — ${markdownText(i.detail)}` : ''}`);
      }
    }
    if (this.lastNote) lines.push(`Last: ${markdownText(this.lastNote)}`);
    setCurrentDetails(lines.join('\n'));
  }
}

/**
 * The first lines of every remediation workflow: validates the raw input against the procedure's
 * schema, sets the search attributes, registers the query and the approval Update.
 */
export function beginRemediation<S extends z.ZodType<BaseRemediationInput>>(
  workflowType: WorkflowType,
  raw: unknown,
  schema: S,
): { input: z.output<S>; progress: ProgressTracker } {
  const parsed = parseInput(workflowType, schema, raw);
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorType.InvalidInput);
  const input = parsed.value;
  const dryRun = input.dryRun === true;
  upsertSearchAttributes([
    { key: NksCluster, value: input.cluster },
    { key: NksProcedure, value: workflowType },
    { key: NksDryRun, value: dryRun },
    { key: NksPhase, value: Phase.Started },
  ]);
  return { input, progress: new ProgressTracker(workflowType, input.cluster, dryRun, raw) };
}

/**
 * A remediation workflow's whole body: beginRemediation, then `body` under progress.run, so its
 * phases, failures and final summary reach the query, the search attributes and the history alike.
 */
export function runRemediation<S extends z.ZodType<BaseRemediationInput>, R extends { summary: string }>(
  workflowType: WorkflowType,
  raw: unknown,
  schema: S,
  body: (input: z.output<S>, progress: ProgressTracker) => Promise<R>,
): Promise<R> {
  const { input, progress } = beginRemediation(workflowType, raw, schema);
  return progress.run(
    async () => {
      // A signed request is checked first, so history says who asked before anything is done.
      await progress.approval.verifyRequester();
      return body(input, progress);
    },
    (r) => r.summary,
  );
}

/**
 * An activity that failed for good surfaces as ActivityFailure → ApplicationFailure(type). The
 * workflow fails with that same type and message (non-retryable) so clients match on
 * `UnknownCluster`, `KubeApiUnreachable`, ... ; the ActivityFailure stays as the cause for audit.
 */
export function asWorkflowFailure(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    const cause = err.cause;
    return ApplicationFailure.create({
      type: cause.type ?? undefined,
      message: cause.message,
      nonRetryable: true,
      details: cause.details ?? undefined,
      cause: err,
    });
  }
  return err;
}
