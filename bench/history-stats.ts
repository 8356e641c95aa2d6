/**
 * What a run leaves in Temporal, measured the way Temporal limits it: every execution of a run (the
 * workflow, its child workflows, and every continue-as-new run of either), found by walking the
 * histories; per execution its events and protobuf bytes, and the largest single payload anywhere in
 * it (inputs, activity inputs and results, failure and heartbeat details, update arguments, child
 * inputs and results, the workflow's result). Shared by the benchmarks and the tests that count
 * activity starts per worker.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Temporal's limits the bench compares with: events of one history; the project's payload ceiling. */
export const HISTORY_EVENT_LIMIT = 10_240;
export const PAYLOAD_LIMIT_BYTES = 64 * 1024;

export interface PayloadSite {
  /** The payload as Temporal stores it (protobuf-encoded, metadata included). */
  bytes: number;
  /** Event and field, e.g. `activityTaskCompleted result.payloads[0] (sshBatch)`. */
  where: string;
}

export interface HistoryStats {
  workflowType: string;
  events: number;
  /** The history as Temporal stores and sends it (protobuf-encoded). */
  bytes: number;
  /** Identities that started activities in this execution. */
  activityIdentities: Map<string, number>;
  largestPayload?: PayloadSite;
  /** The largest payload at each site (`where`), for comparing one site across runs. */
  payloadsBySite: Map<string, number>;
  children: { workflowId: string; runId: string }[];
  /** The run this one continued (from its start event) and the run that continues it. */
  continuedFromRunId?: string;
  continuedAsNewRunId?: string;
}

export interface ExecutionStats extends HistoryStats {
  workflowId: string;
  runId: string;
  /** `root` for the run's own workflow ID, `child` for child workflows (any depth). */
  role: 'root' | 'child';
}

const text = (x: unknown): string => (x === undefined || x === null ? '' : String(x));

function isPayload(v: object): v is temporal.api.common.v1.IPayload {
  return (v as { data?: unknown }).data instanceof Uint8Array;
}

/** Every payload under `value`, with its path from the event's attributes. */
function walkPayloads(value: unknown, path: string, found: (bytes: number, path: string) => void): void {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
  if (isPayload(value)) {
    found(temporal.api.common.v1.Payload.encode(value).finish().length, path);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => walkPayloads(v, `${path}[${i}]`, found));
    return;
  }
  // Long (event IDs) and other scalars wrapped as objects hold no payload.
  if ('low' in value && 'high' in value) return;
  for (const [k, v] of Object.entries(value)) walkPayloads(v, path ? `${path}.${k}` : k, found);
}

/** The one attributes field an event has set, e.g. ['activityTaskScheduled', {...}]. */
function attributesOf(e: HistoryEvent): [string, Record<string, unknown>] | undefined {
  for (const [k, v] of Object.entries(e)) {
    if (k.endsWith('EventAttributes') && v && typeof v === 'object')
      return [k.slice(0, -'EventAttributes'.length), v as Record<string, unknown>];
  }
  return undefined;
}

/** The figures of one history (pure: a fetched or a recorded history alike). */
export function historyStats(history: History): HistoryStats {
  const events = history.events ?? [];
  const identities = new Map<string, number>();
  const children: HistoryStats['children'] = [];
  const activityTypes = new Map<string, string>();
  let largest: PayloadSite | undefined;
  const sites = new Map<string, number>();
  let workflowType = '';
  let continuedFromRunId: string | undefined;
  let continuedAsNewRunId: string | undefined;
  for (const e of events) {
    const started = e.workflowExecutionStartedEventAttributes;
    if (started) {
      workflowType = text(started.workflowType?.name);
      if (started.continuedExecutionRunId) continuedFromRunId = started.continuedExecutionRunId;
    }
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) activityTypes.set(text(e.eventId), text(scheduled.activityType?.name));
    const who = e.activityTaskStartedEventAttributes?.identity;
    if (who) identities.set(who, (identities.get(who) ?? 0) + 1);
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId && child.runId) children.push({ workflowId: child.workflowId, runId: child.runId });
    const next = e.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (next) continuedAsNewRunId = next;

    const attrs = attributesOf(e);
    if (!attrs) continue;
    const [kind, body] = attrs;
    // Name what the payload belongs to: the activity or child workflow type, the update's name.
    const scheduledId = text((body as { scheduledEventId?: unknown }).scheduledEventId);
    const label =
      text((body as { activityType?: { name?: string } }).activityType?.name) ||
      (scheduledId ? (activityTypes.get(scheduledId) ?? '') : '') ||
      text((body as { workflowType?: { name?: string } }).workflowType?.name) ||
      text((body as { acceptedRequest?: { input?: { name?: string } } }).acceptedRequest?.input?.name) ||
      (kind.startsWith('workflowExecution') ? workflowType : '');
    const found = (bytes: number, path: string) => {
      const where = `${kind} ${path}${label ? ` (${label})` : ''}`;
      sites.set(where, Math.max(sites.get(where) ?? 0, bytes));
      if (!largest || bytes > largest.bytes) largest = { bytes, where };
    };
    walkPayloads(body, '', found);
    // An activity's or child's summary travels beside the attributes.
    walkPayloads(e.userMetadata, 'userMetadata', found);
  }
  return {
    workflowType,
    events: events.length,
    bytes: temporal.api.history.v1.History.encode(history).finish().length,
    activityIdentities: identities,
    ...(largest ? { largestPayload: largest } : {}),
    payloadsBySite: sites,
    children,
    ...(continuedFromRunId ? { continuedFromRunId } : {}),
    ...(continuedAsNewRunId ? { continuedAsNewRunId } : {}),
  };
}

/**
 * Every execution of the run of `workflowId` (its latest run and the runs it continued, every child
 * workflow and their continue-as-new runs), each history fetched once.
 */
export async function executionTree(client: Client, workflowId: string): Promise<ExecutionStats[]> {
  const out: ExecutionStats[] = [];
  const seen = new Set<string>();
  const visit = async (id: string, runId: string | undefined, role: ExecutionStats['role']) => {
    const handle = client.workflow.getHandle(id, runId);
    const history = await handle.fetchHistory();
    const stats = historyStats(history);
    const resolvedRunId = runId ?? (await handle.describe()).runId;
    if (seen.has(resolvedRunId)) return;
    seen.add(resolvedRunId);
    out.push({ workflowId: id, runId: resolvedRunId, role, ...stats });
    if (stats.continuedFromRunId && !seen.has(stats.continuedFromRunId))
      await visit(id, stats.continuedFromRunId, role);
    if (stats.continuedAsNewRunId && !seen.has(stats.continuedAsNewRunId))
      await visit(id, stats.continuedAsNewRunId, role);
    for (const c of stats.children) await visit(c.workflowId, c.runId, 'child');
  };
  await visit(workflowId, undefined, 'root');
  return out;
}

/** Activity starts per worker identity over a whole execution tree. */
export function activityStartsByIdentity(tree: ExecutionStats[]): Map<string, number> {
  const total = new Map<string, number>();
  for (const x of tree)
    for (const [who, n] of x.activityIdentities) total.set(who, (total.get(who) ?? 0) + n);
  return total;
}

/** The execution with the most events and the largest payload of the whole tree. */
export function treeMaxima(tree: ExecutionStats[]): {
  mostEvents: ExecutionStats;
  largestPayload?: PayloadSite & { workflowId: string };
} {
  const mostEvents = tree.reduce((a, b) => (b.events > a.events ? b : a));
  let largestPayload: (PayloadSite & { workflowId: string }) | undefined;
  for (const x of tree)
    if (x.largestPayload && (!largestPayload || x.largestPayload.bytes > largestPayload.bytes))
      largestPayload = { ...x.largestPayload, workflowId: x.workflowId };
  return { mostEvents, ...(largestPayload ? { largestPayload } : {}) };
}

/**
 * Executions of the same shape, compared across runs of different sizes: the root's runs are one
 * kind, each child workflow type another (a continue-as-new run is of its chain's kind).
 */
export function executionKind(x: Pick<ExecutionStats, 'role' | 'workflowType'>): string {
  return `${x.role} ${x.workflowType}`;
}

export interface LinearFit {
  /** value = a + b·nodes through the two measured points (b 0 with one point). */
  a: number;
  b: number;
  at(nodes: number): number;
}

/** The line through (nodes, value) points of two sizes; the larger value where sizes repeat. */
export function fitLine(points: { nodes: number; value: number }[]): LinearFit {
  if (points.length === 0) throw new Error('fitLine needs at least one point');
  const bySize = new Map<number, number>();
  for (const p of points) bySize.set(p.nodes, Math.max(bySize.get(p.nodes) ?? 0, p.value));
  const sizes = [...bySize.keys()].sort((x, y) => x - y);
  const lo = sizes[0]!;
  const hi = sizes[sizes.length - 1]!;
  const b = hi === lo ? 0 : (bySize.get(hi)! - bySize.get(lo)!) / (hi - lo);
  const a = bySize.get(hi)! - b * hi;
  return { a, b, at: (nodes) => a + b * nodes };
}

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
export const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

/** One line per execution: ID, events, bytes, largest payload. */
export function describeExecutions(tree: ExecutionStats[], indent = '    '): string[] {
  return tree.map(
    (x) =>
      `${indent}${`${x.workflowId}${x.role === 'root' && tree.filter((y) => y.workflowId === x.workflowId).length > 1 ? ` (run ${x.runId.slice(0, 8)})` : ''}`.padEnd(44)} ${String(x.events).padStart(6)} events ${kb(x.bytes).padStart(10)}${x.largestPayload ? `, largest payload ${kb(x.largestPayload.bytes)}` : ''}`,
  );
}
