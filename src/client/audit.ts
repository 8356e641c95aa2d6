/**
 * An auditor's view of one remediation, from its history (fetched from Temporal, or a file exported
 * from the Temporal UI or CLI): who started it, when and with what input; approvals and who gave them;
 * each activity (node / object action) with its times, attempts, worker and outcome; the phases;
 * worker changes (a run resumed by another worker after a crash); failures and the result; and
 * whether today's workflow code still replays it (./replay-check.ts). Inputs and results hold no
 * secrets by design (credentials never enter history).
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { parseStatement } from '../common/approval-statement';
import { formatFailureProto } from './failure-format';
import { checkReplay, type ReplayCodeOptions, type ReplayVerdict } from './replay-check';

export type { ReplayVerdict } from './replay-check';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Timestamp = { seconds?: unknown; nanos?: number | null } | null | undefined;

/**
 * Milliseconds of a proto timestamp or duration. Fetched histories carry Long seconds, histories read
 * from JSON plain numbers: both are accepted.
 */
function optionalTsToMs(ts: Timestamp): number | undefined {
  if (!ts) return undefined;
  const seconds = Number(ts.seconds ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

export interface AuditEntry {
  eventId: number;
  time: string;
  /** Milliseconds since the workflow started. */
  offsetMs: number;
  kind: string;
  /** One readable line. */
  text: string;
  activityType?: string;
  activityId?: string;
  attempt?: number;
  input?: unknown;
  result?: unknown;
  failure?: string;
  durationMs?: number;
}

/** One activity (a node or object action), all its attempts together. */
export interface AuditAction {
  activityId: string;
  activityType: string;
  /** What it acted on, from its input: `node=…`, `DaemonSet kube-system/calico-node`, `image=…`. */
  target: string;
  scheduledAt: string;
  closedAt?: string;
  durationMs?: number;
  attempts: number;
  outcome: 'completed' | 'failed' | 'timed-out' | 'cancelled' | 'open';
  /** Identity of the worker that completed (or failed) it. */
  worker?: string;
  failure?: string;
  /** Failures of earlier attempts (each retry's reason). */
  retriedAfter: string[];
}

export interface AuditApproval {
  eventId: number;
  time: string;
  approver: string;
  decision: 'approved' | 'rejected';
  comment?: string;
  /** Client identity that sent the Update. */
  sentBy: string;
  /** What the workflow answered (false: refused, e.g. the requester approving their own run). */
  accepted?: boolean;
}

export interface AuditWorker {
  identity: string;
  firstEventId: number;
  firstTime: string;
  workflowTasks: number;
  activityTasks: number;
}

export interface AuditWorkerChange {
  eventId: number;
  time: string;
  from: string;
  to: string;
  /** The task the new worker completed first: `workflow task` or the activity's type. */
  task: string;
}

export interface AuditReport {
  /** `server` (fetched) or the path of the history file read. */
  source: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
  startedAt?: string;
  closedAt?: string;
  /** Identity of the client that started the run. */
  startedBy?: string;
  /** `requestedBy` of the input (the person, as nksr and the SDK record it; not verified). */
  requestedBy?: string;
  /** The signer of the run's request, as the worker verified it (verifyRunRequest). */
  verifiedRequester?: string;
  input?: unknown;
  phases: { name: string; time: string; eventId: number }[];
  approvals: AuditApproval[];
  actions: AuditAction[];
  /** Activity attempts beyond the first, over all activities. */
  retries: number;
  workers: AuditWorker[];
  workerChanges: AuditWorkerChange[];
  failures: string[];
  result?: unknown;
  failure?: string;
  replay?: ReplayVerdict;
  entries: AuditEntry[];
}

function decode(payloads: Payloads): unknown[] {
  return (payloads?.payloads ?? []).map((p) => {
    try {
      return defaultPayloadConverter.fromPayload(p);
    } catch {
      return '<undecodable payload>';
    }
  });
}

function single(values: unknown[]): unknown {
  return values.length <= 1 ? values[0] : values;
}

/** Short JSON for the human timeline. */
export function summarize(value: unknown, max = 160): string {
  if (value === undefined) return '';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (Array.isArray(value) && text.length > max) return `[${value.length} items] ${text.slice(0, max - 12)}…`;
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function searchAttributeChanges(
  fields: Record<string, temporal.api.common.v1.IPayload> | null | undefined,
): string {
  return Object.entries(fields ?? {})
    .map(([k, p]) => {
      let v: unknown;
      try {
        v = defaultPayloadConverter.fromPayload(p);
      } catch {
        v = '?';
      }
      const one = Array.isArray(v) && v.length === 1 ? v[0] : v;
      return `${k}=${typeof one === 'string' ? one : JSON.stringify(one)}`;
    })
    .join(', ');
}

/** Nodes named in a target of a batch activity; the others are counted. */
const TARGET_NODES_NAMED = 10;

/** A batch activity's nodes (names, or items with a `node`): `node=a`, or `nodes=a,b (+3 more)`. */
function nodesTarget(items: unknown[]): string {
  const names = items
    .map((n) =>
      typeof n === 'string' ? n : n && typeof n === 'object' ? (n as { node?: unknown }).node : undefined,
    )
    .filter((n): n is string => typeof n === 'string');
  if (names.length === 1) return `node=${names[0]}`;
  const more = names.length - TARGET_NODES_NAMED;
  return `nodes=${names.slice(0, TARGET_NODES_NAMED).join(',')}${more > 0 ? ` (+${more} more)` : ''}`;
}

/** What an activity acted on, from the fields our activities' inputs use. */
export function actionTarget(input: unknown): string {
  if (!input || typeof input !== 'object') return '';
  const r = input as Record<string, unknown>;
  const str = (k: string) => (typeof r[k] === 'string' ? (r[k] as string) : undefined);
  const parts: string[] = [];
  if (str('node')) parts.push(`node=${str('node')}`);
  else if (Array.isArray(r.nodes)) parts.push(nodesTarget(r.nodes));
  if (str('name'))
    parts.push(
      [str('kind'), [str('namespace'), str('name')].filter(Boolean).join('/')].filter(Boolean).join(' '),
    );
  else if (str('kind')) parts.push(str('kind')!);
  for (const k of ['image', 'unit', 'path', 'serviceAccount', 'secretName'])
    if (str(k) && !(k === 'path' && str('node') === undefined)) parts.push(`${k}=${str(k)}`);
  return parts.join(' ');
}

type HistoryAnalysis = Omit<AuditReport, 'source' | 'workflowId' | 'runId' | 'replay'> & {
  runId?: string;
  workflowId?: string;
};

/** Reads a history into the audit report (without the replay verdict). Pure. */
export function analyzeHistory(events: HistoryEvent[]): HistoryAnalysis {
  const entries: AuditEntry[] = [];
  const actions = new Map<string, AuditAction & { at: number }>();
  /** The scheduled action an ended activity event closes, and its failure as text. */
  const endedActivity = (a: {
    scheduledEventId?: unknown;
    failure?: Parameters<typeof formatFailureProto>[0];
  }) => ({
    s: actions.get(String(a.scheduledEventId)),
    failure: formatFailureProto(a.failure),
  });
  const updates = new Map<string, { name: string; approval?: AuditApproval }>();
  const phases: HistoryAnalysis['phases'] = [];
  const approvals: AuditApproval[] = [];
  const workers = new Map<string, AuditWorker>();
  const workerChanges: AuditWorkerChange[] = [];
  const failures: string[] = [];
  const out: HistoryAnalysis = {
    workflowType: '',
    status: 'RUNNING (history so far)',
    phases,
    approvals,
    actions: [],
    retries: 0,
    workers: [],
    workerChanges,
    failures,
    entries,
  };
  let currentWorker: string | undefined;
  const start = optionalTsToMs(events[0]?.eventTime) ?? 0;
  for (const ev of events) {
    const at = optionalTsToMs(ev.eventTime) ?? start;
    const time = new Date(at).toISOString();
    const eventId = Number(ev.eventId ?? 0);
    const add = (kind: string, text: string, extra: Partial<AuditEntry> = {}) =>
      entries.push({ eventId, time, offsetMs: at - start, kind, text, ...extra });
    /** The scheduled action `s` closed by this event, how, and with what else. */
    const closeAction = (s: (AuditAction & { at: number }) | undefined, fields: Partial<AuditAction>) => {
      if (s) Object.assign(s, { closedAt: time, durationMs: at - s.at, ...fields });
    };
    /** A task completed by `identity`: counts it, and records a change of worker. */
    const completedBy = (identity: string | null | undefined, task: string, activity: boolean) => {
      if (!identity) return;
      let w = workers.get(identity);
      if (!w) {
        w = { identity, firstEventId: eventId, firstTime: time, workflowTasks: 0, activityTasks: 0 };
        workers.set(identity, w);
        if (currentWorker !== undefined) {
          workerChanges.push({ eventId, time, from: currentWorker, to: identity, task });
          add('worker-change', `worker changed: ${identity} took over from ${currentWorker} (${task})`);
        }
      }
      if (activity) w.activityTasks++;
      else w.workflowTasks++;
      currentWorker = identity;
    };
    if (ev.workflowExecutionStartedEventAttributes) {
      const a = ev.workflowExecutionStartedEventAttributes;
      const input = single(decode(a.input));
      out.workflowType = a.workflowType?.name ?? '';
      out.startedAt = time;
      out.startedBy = a.identity ?? undefined;
      out.input = input;
      out.runId = a.originalExecutionRunId ?? a.firstExecutionRunId ?? undefined;
      out.workflowId = a.workflowId ?? undefined;
      const requestedBy = (input as { requestedBy?: unknown } | undefined)?.requestedBy;
      if (typeof requestedBy === 'string') out.requestedBy = requestedBy;
      add(
        'workflow-started',
        `started ${out.workflowType} by ${a.identity ?? '?'}${out.requestedBy ? ` (requested by ${out.requestedBy})` : ''}: ${summarize(input)}`,
        { input },
      );
    } else if (ev.workflowTaskCompletedEventAttributes) {
      completedBy(ev.workflowTaskCompletedEventAttributes.identity, 'workflow task', false);
    } else if (ev.workflowTaskTimedOutEventAttributes) {
      add(
        'workflow-task-timed-out',
        'workflow task timed out (its worker stopped answering); handed to another poll',
      );
    } else if (ev.workflowTaskFailedEventAttributes) {
      const a = ev.workflowTaskFailedEventAttributes;
      const failure = formatFailureProto(a.failure);
      failures.push(`workflow task: ${failure}`);
      add('workflow-task-failed', `workflow task failed on ${a.identity ?? '?'}: ${failure}`, { failure });
    } else if (ev.activityTaskScheduledEventAttributes) {
      const a = ev.activityTaskScheduledEventAttributes;
      const input = single(decode(a.input));
      const type = a.activityType?.name ?? '?';
      const action = {
        activityId: a.activityId ?? '',
        activityType: type,
        target: actionTarget(input),
        scheduledAt: time,
        attempts: 0,
        outcome: 'open' as const,
        retriedAfter: [],
        at,
      };
      actions.set(String(eventId), action);
      add('activity-scheduled', `${type}(${summarize(input)})`, {
        activityType: type,
        activityId: action.activityId,
        input,
      });
    } else if (ev.activityTaskStartedEventAttributes) {
      const a = ev.activityTaskStartedEventAttributes;
      const s = actions.get(String(a.scheduledEventId));
      const attempt = a.attempt ?? 1;
      if (s) s.attempts = Math.max(s.attempts, attempt);
      if (attempt > 1) {
        out.retries += attempt - 1;
        const failure = a.lastFailure ? formatFailureProto(a.lastFailure) : undefined;
        if (s && failure !== undefined) s.retriedAfter.push(failure);
        add(
          'activity-retried',
          `${label(s)} attempt ${attempt}${failure !== undefined ? ` after: ${failure}` : ''}`,
          { activityType: s?.activityType, attempt, failure },
        );
      }
    } else if (ev.activityTaskCompletedEventAttributes) {
      const a = ev.activityTaskCompletedEventAttributes;
      const s = actions.get(String(a.scheduledEventId));
      const result = single(decode(a.result));
      closeAction(s, { outcome: 'completed', worker: a.identity ?? undefined });
      completedBy(a.identity, s?.activityType ?? 'activity', true);
      const verified = result as { status?: unknown; requester?: unknown } | undefined;
      if (
        s?.activityType === 'verifyRunRequest' &&
        verified?.status === 'verified' &&
        typeof verified.requester === 'string'
      )
        out.verifiedRequester = verified.requester;
      add(
        'activity-completed',
        `${label(s)} completed in ${fmtMs(s ? at - s.at : 0)}: ${summarize(result, 100)}`,
        {
          activityType: s?.activityType,
          activityId: s?.activityId,
          result,
          durationMs: s ? at - s.at : undefined,
        },
      );
    } else if (ev.activityTaskFailedEventAttributes) {
      const a = ev.activityTaskFailedEventAttributes;
      const { s, failure } = endedActivity(a);
      closeAction(s, { outcome: 'failed', worker: a.identity ?? undefined, failure });
      completedBy(a.identity, s?.activityType ?? 'activity', true);
      failures.push(`${label(s)}: ${failure}`);
      add('activity-failed', `${label(s)} failed: ${failure}`, {
        activityType: s?.activityType,
        activityId: s?.activityId,
        failure,
        durationMs: s ? at - s.at : undefined,
      });
    } else if (ev.activityTaskTimedOutEventAttributes) {
      // The server's verdict: no worker reported it.
      const { s, failure } = endedActivity(ev.activityTaskTimedOutEventAttributes);
      closeAction(s, { outcome: 'timed-out', failure });
      failures.push(`${label(s)}: timed out: ${failure}`);
      add('activity-timed-out', `${label(s)} timed out: ${failure}`, {
        activityType: s?.activityType,
        failure,
      });
    } else if (ev.activityTaskCanceledEventAttributes) {
      const s = actions.get(String(ev.activityTaskCanceledEventAttributes.scheduledEventId));
      closeAction(s, { outcome: 'cancelled' });
      add('activity-cancelled', `${label(s)} cancelled`, {
        activityType: s?.activityType,
      });
    } else if (ev.upsertWorkflowSearchAttributesEventAttributes) {
      const fields = ev.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields;
      const phase = fields?.NksPhase ? decodeOne(fields.NksPhase) : undefined;
      if (typeof phase === 'string') {
        phases.push({ name: phase, time, eventId });
        const rest = { ...fields };
        delete rest.NksPhase;
        const others = searchAttributeChanges(rest);
        add('phase', `phase → ${phase}${others ? ` (${others})` : ''}`);
      } else add('search-attributes', searchAttributeChanges(fields));
    } else if (ev.timerStartedEventAttributes) {
      const ms = optionalTsToMs(ev.timerStartedEventAttributes.startToFireTimeout);
      add('timer-started', `timer ${ev.timerStartedEventAttributes.timerId ?? ''} for ${ms ?? '?'} ms`);
    } else if (ev.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = ev.workflowExecutionUpdateAcceptedEventAttributes;
      const req = a.acceptedRequest;
      const name = req?.input?.name ?? 'update';
      const input = single(decode(req?.input?.args));
      const sentBy = req?.meta?.identity ?? '?';
      const entry: { name: string; approval?: AuditApproval } = { name };
      if (name === 'approve' && input && typeof input === 'object') {
        // Who signed is known once the workflow verified it: the Update's result names them.
        const statement = parseStatement(String((input as { statement?: unknown }).statement ?? ''));
        const signed = typeof statement === 'string' ? undefined : statement;
        entry.approval = {
          eventId,
          time,
          approver: '(not verified)',
          decision: signed?.decision === 'reject' ? 'rejected' : 'approved',
          ...(signed?.comment !== undefined ? { comment: signed.comment } : {}),
          sentBy,
        };
        approvals.push(entry.approval);
        add('update-accepted', `signed ${signed?.decision ?? 'statement'} from ${sentBy}`, { input });
      } else add('update-accepted', `${name}(${summarize(input)}) from ${sentBy}`, { input });
      updates.set(a.protocolInstanceId ?? '', entry);
    } else if (ev.workflowExecutionUpdateCompletedEventAttributes) {
      const a = ev.workflowExecutionUpdateCompletedEventAttributes;
      const u = updates.get(a.meta?.updateId ?? '');
      const name = u?.name ?? 'update';
      const outcome = a.outcome;
      if (outcome?.failure) add('update-failed', `${name} failed: ${formatFailureProto(outcome.failure)}`);
      else {
        const result = single(decode(outcome?.success));
        const r = (result ?? {}) as { accepted?: unknown; approver?: unknown; reason?: unknown };
        if (u?.approval && typeof r.accepted === 'boolean') {
          const a = u.approval;
          a.accepted = r.accepted;
          if (typeof r.approver === 'string') a.approver = r.approver;
          add(
            'approval',
            r.accepted
              ? `${a.decision === 'approved' ? 'approval' : 'rejection'} by ${a.approver} (signature verified; sent from ${a.sentBy})${a.comment ? `: ${a.comment}` : ''}`
              : `approval refused: ${typeof r.reason === 'string' ? r.reason : 'not taken'} (sent from ${a.sentBy})`,
            { result },
          );
        } else add('update-completed', `${name} → ${summarize(result)}`, { result });
      }
    } else if (ev.workflowExecutionSignaledEventAttributes) {
      const a = ev.workflowExecutionSignaledEventAttributes;
      add(
        'signal',
        `signal ${a.signalName ?? ''} from ${a.identity ?? '?'}(${summarize(single(decode(a.input)))})`,
      );
    } else if (ev.workflowExecutionCancelRequestedEventAttributes) {
      add(
        'cancel-requested',
        `cancel requested by ${ev.workflowExecutionCancelRequestedEventAttributes.identity ?? '?'}`,
      );
    } else if (ev.markerRecordedEventAttributes) {
      add('marker', `marker ${ev.markerRecordedEventAttributes.markerName ?? ''}`);
    } else if (ev.startChildWorkflowExecutionInitiatedEventAttributes) {
      const a = ev.startChildWorkflowExecutionInitiatedEventAttributes;
      add(
        'child-started',
        `child ${a.workflowType?.name ?? ''} ${a.workflowId ?? ''}(${summarize(single(decode(a.input)))})`,
      );
    } else if (ev.childWorkflowExecutionCompletedEventAttributes) {
      const a = ev.childWorkflowExecutionCompletedEventAttributes;
      add(
        'child-completed',
        `child ${a.workflowExecution?.workflowId ?? ''} completed: ${summarize(single(decode(a.result)))}`,
      );
    } else if (ev.childWorkflowExecutionFailedEventAttributes) {
      const a = ev.childWorkflowExecutionFailedEventAttributes;
      const failure = formatFailureProto(a.failure);
      failures.push(`child ${a.workflowExecution?.workflowId ?? ''}: ${failure}`);
      add('child-failed', `child ${a.workflowExecution?.workflowId ?? ''} failed: ${failure}`);
    } else if (ev.workflowExecutionCompletedEventAttributes) {
      const result = single(decode(ev.workflowExecutionCompletedEventAttributes.result));
      Object.assign(out, { status: 'COMPLETED', closedAt: time, result });
      add('workflow-completed', `completed: ${summarize(result)}`, { result });
    } else if (ev.workflowExecutionFailedEventAttributes) {
      const failure = formatFailureProto(ev.workflowExecutionFailedEventAttributes.failure);
      Object.assign(out, { status: 'FAILED', closedAt: time, failure });
      add('workflow-failed', `failed: ${failure}`, { failure });
    } else if (ev.workflowExecutionCanceledEventAttributes) {
      Object.assign(out, { status: 'CANCELLED', closedAt: time });
      add('workflow-cancelled', 'cancelled');
    } else if (ev.workflowExecutionTerminatedEventAttributes) {
      const a = ev.workflowExecutionTerminatedEventAttributes;
      Object.assign(out, { status: 'TERMINATED', closedAt: time, failure: a.reason ?? 'terminated' });
      add('workflow-terminated', `terminated by ${a.identity ?? '?'}${a.reason ? `: ${a.reason}` : ''}`);
    } else if (ev.workflowExecutionTimedOutEventAttributes) {
      Object.assign(out, { status: 'TIMED_OUT', closedAt: time });
      add('workflow-timed-out', 'timed out');
    } else if (ev.workflowExecutionContinuedAsNewEventAttributes) {
      Object.assign(out, { status: 'CONTINUED_AS_NEW', closedAt: time });
      add(
        'continued-as-new',
        `continued as new run ${ev.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? ''}`,
      );
    }
  }
  out.actions = [...actions.values()].map(({ at: _at, ...a }) => a);
  out.workers = [...workers.values()];
  return out;
}

/** The timeline entries of a history (see analyzeHistory for the whole report). */
export function buildAuditTimeline(events: HistoryEvent[]): AuditEntry[] {
  return analyzeHistory(events).entries;
}

/** `setWorkloadImages DaemonSet/calico-node`, or the type alone when the input names no target. */
function label(a: AuditAction | undefined): string {
  if (!a) return 'activity';
  return a.target ? `${a.activityType} ${a.target}` : a.activityType;
}

function fmtMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function decodeOne(p: temporal.api.common.v1.IPayload): unknown {
  try {
    const v: unknown = defaultPayloadConverter.fromPayload(p);
    return Array.isArray(v) && v.length === 1 ? (v[0] as unknown) : v;
  } catch {
    return undefined;
  }
}

/** What auditRemediation needs of a client (an NksClient has it). */
export interface WorkflowHandleSource {
  handle(workflowId: string, runId?: string): WorkflowHandle;
}

export interface AuditOptions extends ReplayCodeOptions {
  runId?: string;
  /** Replay the history against today's workflow code (default true). */
  replay?: boolean;
}

async function withReplay(
  analysis: HistoryAnalysis,
  history: History,
  ids: { source: string; workflowId: string; runId: string },
  opts: AuditOptions,
): Promise<AuditReport> {
  const report: AuditReport = { ...analysis, ...ids };
  if (opts.replay !== false) {
    report.replay = await checkReplay(history, ids.workflowId, opts);
  }
  return report;
}

/** Audits a run on the server: its history, described and (by default) replayed. */
export async function auditRemediation(
  client: WorkflowHandleSource,
  workflowId: string,
  runIdOrOptions?: string | AuditOptions,
): Promise<AuditReport> {
  const opts = typeof runIdOrOptions === 'string' ? { runId: runIdOrOptions } : (runIdOrOptions ?? {});
  const handle = client.handle(workflowId, opts.runId);
  const description = await handle.describe();
  const history = await handle.fetchHistory();
  const analysis = analyzeHistory(history.events ?? []);
  const report = await withReplay(
    analysis,
    history,
    { source: 'server', workflowId, runId: description.runId },
    opts,
  );
  report.workflowType = description.type;
  report.status = description.status.name;
  return report;
}

/**
 * Audits a history exported from the Temporal UI (Download) or CLI (`temporal workflow show
 * --output json`): `{"events": [...]}` or the bare event array, in proto3 JSON.
 */
export async function auditHistoryFile(path: string, opts: AuditOptions = {}): Promise<AuditReport> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not a JSON history: ${err instanceof Error ? err.message : String(err)}`);
  }
  let history: History;
  try {
    history = historyFromJSON(Array.isArray(parsed) ? { events: parsed } : parsed);
  } catch (err) {
    throw new Error(`${path}: not a Temporal history: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!history.events?.length || !history.events[0]?.workflowExecutionStartedEventAttributes)
    throw new Error(`${path}: a history starts with a WorkflowExecutionStarted event; this one does not`);
  const analysis = analyzeHistory(history.events);
  const workflowId = analysis.workflowId ?? basename(path).replace(/\.json$/, '');
  return withReplay(analysis, history, { source: path, workflowId, runId: analysis.runId ?? '?' }, opts);
}
