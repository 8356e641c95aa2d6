/**
 * An auditor's view of one remediation: its history as a timeline of what was asked, which
 * activities ran with which inputs, what they returned or why they failed, phase changes and
 * approvals. Inputs and results hold no secrets by design (credentials never enter history).
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { WorkflowHandle } from '@temporalio/client';
import { formatFailureProto } from './failure-format';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
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

export interface AuditReport {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
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

export function buildAuditTimeline(events: HistoryEvent[]): AuditEntry[] {
  const entries: AuditEntry[] = [];
  const scheduled = new Map<string, { type: string; activityId: string; input: unknown; at: number }>();
  const updates = new Map<string, string>();
  const start = optionalTsToMs(events[0]?.eventTime) ?? 0;
  for (const ev of events) {
    const at = optionalTsToMs(ev.eventTime) ?? start;
    const eventId = Number(ev.eventId ?? 0);
    const add = (kind: string, text: string, extra: Partial<AuditEntry> = {}) =>
      entries.push({ eventId, time: new Date(at).toISOString(), offsetMs: at - start, kind, text, ...extra });
    if (ev.workflowExecutionStartedEventAttributes) {
      const a = ev.workflowExecutionStartedEventAttributes;
      const input = single(decode(a.input));
      add(
        'workflow-started',
        `started ${a.workflowType?.name ?? ''} by ${a.identity ?? '?'}: ${summarize(input)}`,
        {
          input,
        },
      );
    } else if (ev.activityTaskScheduledEventAttributes) {
      const a = ev.activityTaskScheduledEventAttributes;
      const input = single(decode(a.input));
      const type = a.activityType?.name ?? '?';
      scheduled.set(String(eventId), { type, activityId: a.activityId ?? '', input, at });
      add('activity-scheduled', `${type}(${summarize(input)})`, {
        activityType: type,
        activityId: a.activityId ?? '',
        input,
      });
    } else if (ev.activityTaskStartedEventAttributes) {
      const a = ev.activityTaskStartedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      const attempt = a.attempt ?? 1;
      if (attempt > 1) {
        const failure = a.lastFailure ? formatFailureProto(a.lastFailure) : undefined;
        add(
          'activity-retried',
          `${s?.type ?? 'activity'} attempt ${attempt}${failure !== undefined ? ` after: ${failure}` : ''}`,
          { activityType: s?.type, attempt, failure },
        );
      }
    } else if (ev.activityTaskCompletedEventAttributes) {
      const a = ev.activityTaskCompletedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      const result = single(decode(a.result));
      add('activity-completed', `${s?.type ?? 'activity'} completed: ${summarize(result)}`, {
        activityType: s?.type,
        activityId: s?.activityId,
        result,
        durationMs: s ? at - s.at : undefined,
      });
    } else if (ev.activityTaskFailedEventAttributes) {
      const a = ev.activityTaskFailedEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      const failure = formatFailureProto(a.failure);
      add('activity-failed', `${s?.type ?? 'activity'} failed: ${failure}`, {
        activityType: s?.type,
        activityId: s?.activityId,
        failure,
        durationMs: s ? at - s.at : undefined,
      });
    } else if (ev.activityTaskTimedOutEventAttributes) {
      const a = ev.activityTaskTimedOutEventAttributes;
      const s = scheduled.get(String(a.scheduledEventId));
      const failure = formatFailureProto(a.failure);
      add('activity-timed-out', `${s?.type ?? 'activity'} timed out: ${failure}`, {
        activityType: s?.type,
        failure,
      });
    } else if (ev.activityTaskCanceledEventAttributes) {
      const s = scheduled.get(String(ev.activityTaskCanceledEventAttributes.scheduledEventId));
      add('activity-cancelled', `${s?.type ?? 'activity'} cancelled`, { activityType: s?.type });
    } else if (ev.upsertWorkflowSearchAttributesEventAttributes) {
      const changes = searchAttributeChanges(
        ev.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields,
      );
      add('search-attributes', changes);
    } else if (ev.timerStartedEventAttributes) {
      const ms = optionalTsToMs(ev.timerStartedEventAttributes.startToFireTimeout);
      add('timer-started', `timer ${ev.timerStartedEventAttributes.timerId ?? ''} for ${ms ?? '?'} ms`);
    } else if (ev.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = ev.workflowExecutionUpdateAcceptedEventAttributes;
      const req = a.acceptedRequest;
      const name = req?.input?.name ?? 'update';
      const input = single(decode(req?.input?.args));
      updates.set(a.protocolInstanceId ?? '', name);
      add('update-accepted', `${name}(${summarize(input)}) from ${req?.meta?.identity ?? '?'}`, { input });
    } else if (ev.workflowExecutionUpdateCompletedEventAttributes) {
      const a = ev.workflowExecutionUpdateCompletedEventAttributes;
      const name = updates.get(a.meta?.updateId ?? '') ?? 'update';
      const outcome = a.outcome;
      if (outcome?.failure) add('update-failed', `${name} failed: ${formatFailureProto(outcome.failure)}`);
      else {
        const result = single(decode(outcome?.success));
        add('update-completed', `${name} → ${summarize(result)}`, { result });
      }
    } else if (ev.workflowExecutionSignaledEventAttributes) {
      const a = ev.workflowExecutionSignaledEventAttributes;
      add('signal', `signal ${a.signalName ?? ''}(${summarize(single(decode(a.input)))})`);
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
      add(
        'child-failed',
        `child ${a.workflowExecution?.workflowId ?? ''} failed: ${formatFailureProto(a.failure)}`,
      );
    } else if (ev.workflowExecutionCompletedEventAttributes) {
      const result = single(decode(ev.workflowExecutionCompletedEventAttributes.result));
      add('workflow-completed', `completed: ${summarize(result)}`, { result });
    } else if (ev.workflowExecutionFailedEventAttributes) {
      const failure = formatFailureProto(ev.workflowExecutionFailedEventAttributes.failure);
      add('workflow-failed', `failed: ${failure}`, { failure });
    } else if (ev.workflowExecutionCanceledEventAttributes) {
      add('workflow-cancelled', 'cancelled');
    } else if (ev.workflowExecutionTerminatedEventAttributes) {
      const a = ev.workflowExecutionTerminatedEventAttributes;
      add('workflow-terminated', `terminated by ${a.identity ?? '?'}${a.reason ? `: ${a.reason}` : ''}`);
    } else if (ev.workflowExecutionTimedOutEventAttributes) {
      add('workflow-timed-out', 'timed out');
    } else if (ev.workflowExecutionContinuedAsNewEventAttributes) {
      add(
        'continued-as-new',
        `continued as new run ${ev.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? ''}`,
      );
    }
  }
  return entries;
}

/** What auditRemediation needs of a client (an NksClient has it). */
export interface WorkflowHandleSource {
  handle(workflowId: string, runId?: string): WorkflowHandle;
}

export async function auditRemediation(
  client: WorkflowHandleSource,
  workflowId: string,
  runId?: string,
): Promise<AuditReport> {
  const handle = client.handle(workflowId, runId);
  const description = await handle.describe();
  const history = await handle.fetchHistory();
  return {
    workflowId,
    runId: description.runId,
    workflowType: description.type,
    status: description.status.name,
    entries: buildAuditTimeline(history.events ?? []),
  };
}
