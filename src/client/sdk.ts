/**
 * Client SDK: typed start/get/list/approve/cancel of remediations over @temporalio/client. The CLI is
 * a thin layer over this; other services import it from the package.
 */
import { userInfo } from 'node:os';
import {
  Client,
  Connection,
  type ScheduleDescription,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type WorkflowExecutionDescription,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { z } from 'zod';
import { parseInput } from '../common/inputs';
import {
  PROCEDURE_LIST,
  PROCEDURES,
  type ProcedureCliName,
  type ProcedureOf,
  procedureOf,
  remediationWorkflowId,
  resolveProcedure,
  TASK_QUEUE,
  type WorkflowType,
} from '../common/procedures';
import { NksCluster, NksDryRun, NksPhase, NksProcedure } from '../common/search-attributes';
import {
  type ApprovalRequest,
  type ApprovalResult,
  approveUpdate,
  type BaseRemediationInput,
  type Progress,
  progressQuery,
} from '../workflows/definitions';
import type * as workflows from '../workflows';
import { approveWaitingRun, NotWaitingForApprovalError } from './approve-run';
import { signRunRequest } from './approver-key';
import { formatFailureProto } from './failure-format';

type Workflows = typeof workflows;
export type ProcedureName = ProcedureCliName | WorkflowType;
export type WorkflowTypeOf<P extends ProcedureName> = P extends ProcedureCliName ? (typeof PROCEDURES)[P] : P;
/** The input type of a procedure: what its registered schema accepts (defaults optional). */
export type RemediationInput<W extends WorkflowType> = z.input<ProcedureOf<W>['inputSchema']> &
  BaseRemediationInput;
/** The result type of a procedure, taken from its workflow function. */
export type RemediationResult<W extends WorkflowType> = W extends keyof Workflows
  ? Awaited<ReturnType<Workflows[W]>>
  : unknown;

/** A problem the caller can fix: its message is meant to be shown as is. */
export class NksClientError extends Error {
  override readonly name: string = 'NksClientError';
}

export class TemporalUnreachableError extends NksClientError {
  override readonly name = 'TemporalUnreachableError';
}

export class InvalidRemediationInputError extends NksClientError {
  override readonly name = 'InvalidRemediationInputError';
}

/** One run per procedure and cluster: this says which one is in the way. */
export class RemediationAlreadyRunningError extends NksClientError {
  override readonly name = 'RemediationAlreadyRunningError';
  constructor(
    readonly workflowId: string,
    readonly runId: string | undefined,
    readonly workflowType: string,
  ) {
    super(
      `${workflowType} is already running: workflow ID ${workflowId}${runId ? `, run ID ${runId}` : ''} ` +
        `(watch it with \`nksr status ${workflowId}\`, stop it with \`nksr cancel ${workflowId}\`)`,
    );
  }
}

export interface NksClientOptions {
  /** host:port; default from TEMPORAL_ADDRESS / the Temporal config file / localhost:7233. */
  address?: string;
  namespace?: string;
  /** Profile of the Temporal client config file (TEMPORAL_PROFILE). */
  profile?: string;
  /** Default task queue for starts; NKSR_TASK_QUEUE or nks-remediation. */
  taskQueue?: string;
  /** Use an existing connection (tests, embedding); the client then does not close it. */
  connection?: Connection;
  connectTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface StartOptions {
  taskQueue?: string;
  /** Shown in the UI's details; defaults to the local user. */
  requestedBy?: string;
  /**
   * An approver key (PEM, readApproverKey): the request is signed with it, so the worker knows,
   * verified, who asked; an approval policy that wants two people needs it.
   */
  signWith?: string;
}

export interface StartedRemediation<W extends WorkflowType> {
  workflowId: string;
  runId: string;
  workflowType: W;
  taskQueue: string;
  handle: WorkflowHandle<W extends keyof Workflows ? Workflows[W] : () => Promise<unknown>>;
}

export interface RemediationStatus {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
  taskQueue: string;
  startTime: string;
  closeTime?: string;
  historyLength: number;
  cluster?: string;
  procedure?: string;
  phase?: string;
  dryRun?: boolean;
  summary?: string;
  /** Activities scheduled or running now, with their retry state. */
  pendingActivities: PendingActivity[];
  /** The progress query's answer; undefined when no worker answered in time. */
  progress?: Progress;
  progressError?: string;
}

export interface PendingActivity {
  activityType: string;
  state: string;
  attempt: number;
  lastFailure?: string;
}

export interface RemediationListEntry {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
  startTime: string;
  closeTime?: string;
  cluster?: string;
  procedure?: string;
  phase?: string;
  dryRun?: boolean;
}

export interface ListOptions {
  cluster?: string;
  procedure?: ProcedureName;
  /** Only running ones (the same as status `Running`). */
  running?: boolean;
  /** Only runs whose NksPhase is this (e.g. `awaiting-approval`, `prepull`, `failed`). */
  phase?: string;
  /** Only runs in this execution status: Running, Completed, Failed, Canceled, Terminated, TimedOut. */
  status?: string;
  limit?: number;
}

/** Temporal's ExecutionStatus values, as visibility queries spell them. */
export const EXECUTION_STATUSES = [
  'Running',
  'Completed',
  'Failed',
  'Canceled',
  'Terminated',
  'TimedOut',
  'ContinuedAsNew',
] as const;

/** `failed`, `CANCELLED`, `timed-out` → the ExecutionStatus name a visibility query takes. */
export function executionStatusOf(text: string): (typeof EXECUTION_STATUSES)[number] | undefined {
  const key = text.toLowerCase().replace(/[^a-z]/g, '');
  const norm = key === 'cancelled' ? 'canceled' : key;
  return EXECUTION_STATUSES.find((s) => s.toLowerCase() === norm);
}

/** This process's user name, or `unknown` where the OS has none to give (userInfo throws then). */
export function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One run, as getHandle returns it. */
export interface RemediationHandle {
  workflowId: string;
  status(): Promise<RemediationStatus>;
  progress(opts?: { timeoutMs?: number }): Promise<Progress>;
  approve(opts: ApproveOptions): Promise<ApprovalResult>;
  /** Requests cancellation; `result()` then rejects with a WorkflowFailedError caused by a CancelledFailure. */
  cancel(): Promise<void>;
  /** Waits for the run to end: its result, or rejects with WorkflowFailedError (cause: the failure). */
  result(): Promise<unknown>;
  /** The underlying @temporalio/client handle (history, describe, raw queries). */
  temporal: WorkflowHandle;
}

/** A decision on a run waiting at its approval gate, signed with the approver's key. */
export interface ApproveOptions {
  /** The approver's Ed25519 private key, PEM (readApproverKey reads nksr keygen's file). */
  privateKey: string;
  reject?: boolean;
  comment?: string;
  /** How long the signed statement stays valid (default 10 minutes). */
  validForMs?: number;
  /** Sign only if the run still waits with this plan. */
  expectPlanDigest?: string;
}

/** One typed function per registered procedure, keyed by workflow type. */
export type StartFunctions = {
  [W in WorkflowType]: (input: RemediationInput<W>, opts?: StartOptions) => Promise<StartedRemediation<W>>;
};
export type ExecuteFunctions = {
  [W in WorkflowType]: (input: RemediationInput<W>, opts?: StartOptions) => Promise<RemediationResult<W>>;
};

export class NksClient {
  /** `nks.start.calicoImageRepair({ cluster: 'prod-kr1' })`: typed start, one per procedure. */
  readonly start: StartFunctions;
  /** `await nks.execute.clusterPreflight({ cluster })`: start and wait for the result. */
  readonly execute: ExecuteFunctions;

  constructor(
    readonly client: Client,
    readonly connection: Connection,
    readonly namespace: string,
    readonly address: string,
    readonly taskQueue: string,
    private readonly ownsConnection: boolean,
  ) {
    const start = (w: WorkflowType) => (input: RemediationInput<WorkflowType>, opts?: StartOptions) =>
      this.startRemediation(w, input as never, opts);
    this.start = Object.fromEntries(
      PROCEDURE_LIST.map((p) => [p.workflowType, start(p.workflowType)]),
    ) as StartFunctions;
    this.execute = Object.fromEntries(
      PROCEDURE_LIST.map((p) => [
        p.workflowType,
        async (input: RemediationInput<WorkflowType>, opts?: StartOptions) =>
          (await start(p.workflowType)(input, opts)).handle.result(),
      ]),
    ) as ExecuteFunctions;
  }

  /** Validates the input, then starts the procedure's workflow with ID nks/<cluster>/<workflowType>. */
  async startRemediation<P extends ProcedureName>(
    procedure: P,
    input: RemediationInput<WorkflowTypeOf<P>>,
    opts: StartOptions = {},
  ): Promise<StartedRemediation<WorkflowTypeOf<P>>> {
    const workflowType = resolveProcedure(procedure) as WorkflowTypeOf<P> | undefined;
    if (!workflowType) {
      throw new NksClientError(
        `unknown procedure "${procedure}"; known: ${Object.keys(PROCEDURES).join(', ')}`,
      );
    }
    // The registry's schema: the client refuses bad input before anything starts.
    const requestedBy = opts.requestedBy ?? input.requestedBy ?? localUser();
    // Recorded in the input, so the approval gate can tell the requester from the approver.
    const sent = { ...input, requestedBy };
    const parsed = parseInput(workflowType, procedureOf(workflowType).inputSchema, sent);
    if (!parsed.ok) throw new InvalidRemediationInputError(parsed.message);
    const { cluster, dryRun } = parsed.value as { cluster: string; dryRun?: boolean };
    const workflowId = remediationWorkflowId(cluster, workflowType);
    if (opts.signWith)
      (sent as Record<string, unknown>).requestSignature = signRunRequest(
        opts.signWith,
        { workflowId, workflowType },
        sent,
      );
    const taskQueue = opts.taskQueue ?? this.taskQueue;
    try {
      const handle = await this.client.workflow.start(workflowType, {
        workflowId,
        taskQueue,
        // The raw input is what history records: what the operator asked, defaults applied by the workflow.
        args: [sent],
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `${workflowType} on cluster ${cluster}${dryRun ? ' (dry run)' : ''}`,
        staticDetails: [
          `**${workflowType}** on cluster \`${cluster}\`${dryRun ? ' — dry run, changes nothing' : ''}`,
          `Requested by ${requestedBy} via nksr${opts.signWith ? ' (signed request)' : ''}`,
          '```json',
          JSON.stringify({ ...sent, requestSignature: undefined }, null, 2),
          '```',
        ].join('\n'),
        typedSearchAttributes: [
          { key: NksCluster, value: cluster },
          { key: NksProcedure, value: workflowType },
          { key: NksPhase, value: 'queued' },
          { key: NksDryRun, value: dryRun === true },
        ],
      });
      return {
        workflowId,
        runId: handle.firstExecutionRunId,
        workflowType,
        taskQueue,
        handle: handle as StartedRemediation<WorkflowTypeOf<P>>['handle'],
      };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        const running = await this.client.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        throw new RemediationAlreadyRunningError(workflowId, running?.runId, workflowType);
      }
      throw err;
    }
  }

  handle(workflowId: string, runId?: string): WorkflowHandle {
    return this.client.workflow.getHandle(workflowId, runId);
  }

  /**
   * A handle on one run by workflow ID (the latest run unless `runId` is given): its status, the
   * `progress` query, approve, cancel and its result, without the caller knowing the workflow type.
   */
  getHandle(workflowId: string, runId?: string): RemediationHandle {
    return {
      workflowId,
      status: () => this.getRemediation(workflowId),
      progress: (opts) => this.progress(workflowId, { ...opts, runId }),
      approve: (opts) => this.approve(workflowId, opts),
      cancel: () => this.cancel(workflowId),
      result: () => this.handle(workflowId, runId).result() as Promise<unknown>,
      temporal: this.handle(workflowId, runId),
    };
  }

  /**
   * The run's `progress` query: phase, every item with its outcome, the latest events. Answered by a
   * worker (also after the run closed); rejects when none answers within `timeoutMs` (default 5 s).
   */
  async progress(workflowId: string, opts: { runId?: string; timeoutMs?: number } = {}): Promise<Progress> {
    const handle = this.handle(workflowId, opts.runId);
    return this.connection.withDeadline(Date.now() + (opts.timeoutMs ?? 5000), () =>
      handle.query(progressQuery),
    );
  }

  /** Describe + the progress query (answered by a worker; bounded by queryTimeoutMs). */
  async getRemediation(
    workflowId: string,
    opts: { queryTimeoutMs?: number } = {},
  ): Promise<RemediationStatus> {
    const handle = this.handle(workflowId);
    const d = await handle.describe();
    const status = toStatus(d, await d.staticSummary().catch(() => undefined));
    try {
      status.progress = await this.connection.withDeadline(Date.now() + (opts.queryTimeoutMs ?? 5000), () =>
        handle.query(progressQuery),
      );
    } catch (err) {
      status.progressError = describeError(err);
    }
    return status;
  }

  async listRemediations(opts: ListOptions = {}): Promise<RemediationListEntry[]> {
    const clauses = [`WorkflowId STARTS_WITH "nks/"`];
    if (opts.cluster) clauses.push(`NksCluster = ${JSON.stringify(opts.cluster)}`);
    if (opts.procedure) {
      const type = resolveProcedure(opts.procedure);
      if (!type) throw new NksClientError(`unknown procedure "${opts.procedure}"`);
      clauses.push(`NksProcedure = ${JSON.stringify(type)}`);
    }
    if (opts.phase) clauses.push(`NksPhase = ${JSON.stringify(opts.phase)}`);
    const statuses = new Set<string>();
    if (opts.running) statuses.add('Running');
    if (opts.status) {
      const status = executionStatusOf(opts.status);
      if (!status)
        throw new NksClientError(`unknown status "${opts.status}"; known: ${EXECUTION_STATUSES.join(', ')}`);
      statuses.add(status);
    }
    if (statuses.size > 1) return [];
    for (const status of statuses) clauses.push(`ExecutionStatus = ${JSON.stringify(status)}`);
    const out: RemediationListEntry[] = [];
    const limit = opts.limit ?? 50;
    for await (const w of this.client.workflow.list({
      query: clauses.join(' AND '),
      pageSize: Math.min(limit, 100),
    })) {
      out.push({
        workflowId: w.workflowId,
        runId: w.runId,
        workflowType: w.type,
        status: w.status.name,
        startTime: w.startTime.toISOString(),
        closeTime: w.closeTime?.toISOString(),
        cluster: w.typedSearchAttributes.get(NksCluster),
        procedure: w.typedSearchAttributes.get(NksProcedure),
        phase: w.typedSearchAttributes.get(NksPhase),
        dryRun: w.typedSearchAttributes.get(NksDryRun),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Sends the `approve` Update; the workflow validates it (only while it waits for approval). */
  /**
   * Signs a decision on the plan the run is waiting with and sends it. The run checks the signature
   * against the worker's approvers; a refusal (result.accepted false, with the reason) leaves it
   * waiting. `expectPlanDigest` refuses to sign when the waiting plan is not the one the caller saw.
   */
  async approve(workflowId: string, opts: ApproveOptions): Promise<ApprovalResult> {
    try {
      return await approveWaitingRun(
        this.handle(workflowId),
        opts.privateKey,
        opts.reject ? 'reject' : 'approve',
        opts,
      );
    } catch (err) {
      if (err instanceof NotWaitingForApprovalError) throw new NksClientError(err.message);
      throw err;
    }
  }

  /** Sends an already signed statement (see approve). */
  async sendApproval(workflowId: string, signed: ApprovalRequest): Promise<ApprovalResult> {
    return this.handle(workflowId).executeUpdate(approveUpdate, { args: [signed] });
  }

  /** Requests cancellation; the workflow cleans up and ends as Cancelled. */
  async cancel(workflowId: string): Promise<void> {
    await this.handle(workflowId).cancel();
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Schedules: a procedure run on a calendar by Temporal itself (the guide's cron job, durable).
  // ---------------------------------------------------------------------------------------------

  /**
   * Creates the Schedule `nks/<cluster>/<workflowType>/<name>` that starts the procedure with this
   * input on the cron spec (default daily 00:00 Asia/Seoul, as the guide's cron line). Overlap SKIP:
   * a run still going when the next is due means that one is skipped; catch-up window bounded (1 h
   * by default), so a server outage does not fire a backlog of runs.
   */
  async createSchedule<P extends ProcedureName>(
    procedure: P,
    input: RemediationInput<WorkflowTypeOf<P>>,
    opts: CreateScheduleOptions = {},
  ): Promise<ScheduleInfo> {
    const workflowType = resolveProcedure(procedure);
    if (!workflowType) throw new NksClientError(`unknown procedure "${procedure}"`);
    if (!SCHEDULABLE_PROCEDURES.includes(workflowType)) {
      throw new NksClientError(
        `${workflowType} cannot be scheduled; schedulable: ${SCHEDULABLE_PROCEDURES.join(', ')}`,
      );
    }
    const name = opts.name ?? 'daily';
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
      throw new InvalidRemediationInputError(`schedule name "${name}": lowercase letters, digits and - only`);
    }
    const requestedBy = opts.requestedBy ?? input.requestedBy ?? localUser();
    const sent = { ...input, requestedBy };
    const parsed = parseInput(workflowType, procedureOf(workflowType).inputSchema, sent);
    if (!parsed.ok) throw new InvalidRemediationInputError(parsed.message);
    const { cluster, dryRun } = parsed.value as { cluster: string; dryRun?: boolean };
    const scheduleId = `${remediationWorkflowId(cluster, workflowType)}/${name}`;
    const cron = opts.cron ?? DEFAULT_SCHEDULE_CRON;
    const timezone = opts.timezone ?? DEFAULT_SCHEDULE_TIMEZONE;
    try {
      await this.client.schedule.create({
        scheduleId,
        spec: { cronExpressions: [cron], timezone },
        action: {
          type: 'startWorkflow',
          workflowType,
          // Temporal appends the scheduled time to this ID, one workflow ID per run.
          workflowId: `${remediationWorkflowId(cluster, workflowType)}/scheduled`,
          taskQueue: opts.taskQueue ?? this.taskQueue,
          args: [sent],
          staticSummary: `${workflowType} on cluster ${cluster} (schedule ${scheduleId})`,
          typedSearchAttributes: [
            { key: NksCluster, value: cluster },
            { key: NksProcedure, value: workflowType },
            { key: NksPhase, value: 'queued' },
            { key: NksDryRun, value: dryRun === true },
          ],
        },
        policies: {
          overlap: ScheduleOverlapPolicy.SKIP,
          catchupWindow: opts.catchupWindow ?? '1h',
        },
        state: { note: `created by ${requestedBy} via nksr`, paused: opts.paused ?? false },
        // The server keeps cron specs only in compiled form; the memo keeps what was asked.
        memo: { cron: [cron], createdBy: requestedBy },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new NksClientError(
          `schedule ${scheduleId} already exists (see \`nksr schedule describe ${scheduleId}\`; delete it first to change it)`,
        );
      }
      throw new NksClientError(`cannot create schedule ${scheduleId}: ${describeError(err).split('\n')[0]}`);
    }
    return this.describeSchedule(scheduleId);
  }

  /** Schedules of nksr (IDs starting with `nks/`), optionally of one cluster. */
  async listSchedules(opts: { cluster?: string } = {}): Promise<ScheduleListEntry[]> {
    const prefix = opts.cluster ? `nks/${opts.cluster}/` : 'nks/';
    const out: ScheduleListEntry[] = [];
    for await (const s of this.client.schedule.list()) {
      if (!s.scheduleId.startsWith(prefix)) continue;
      out.push({
        scheduleId: s.scheduleId,
        workflowType: s.action?.workflowType,
        paused: s.state.paused,
        note: s.state.note,
        nextActionTimes: s.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
        recentActions: s.info.recentActions.length,
      });
    }
    return out.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
  }

  async describeSchedule(scheduleId: string): Promise<ScheduleInfo> {
    const d = await this.scheduleCall(scheduleId, (h) => h.describe());
    return toScheduleInfo(d);
  }

  async pauseSchedule(scheduleId: string, note?: string): Promise<void> {
    await this.scheduleCall(scheduleId, (h) => h.pause(note ?? `paused by ${localUser()} via nksr`));
  }

  async unpauseSchedule(scheduleId: string, note?: string): Promise<void> {
    await this.scheduleCall(scheduleId, (h) => h.unpause(note ?? `unpaused by ${localUser()} via nksr`));
  }

  /** Starts one run now; with the Schedule's own overlap policy (SKIP) unless told otherwise. */
  async triggerSchedule(scheduleId: string, overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.SKIP) {
    await this.scheduleCall(scheduleId, (h) => h.trigger(overlap));
  }

  async deleteSchedule(scheduleId: string): Promise<void> {
    await this.scheduleCall(scheduleId, (h) => h.delete());
  }

  private async scheduleCall<T>(
    scheduleId: string,
    fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    try {
      return await fn(this.client.schedule.getHandle(scheduleId));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError)
        throw new NksClientError(`schedule ${scheduleId} not found (\`nksr schedule list\` shows them)`);
      throw err;
    }
  }
}

/** Procedures that may run on a Schedule: idempotent, no approval gate, safe to repeat daily. */
export const SCHEDULABLE_PROCEDURES: readonly WorkflowType[] = ['logrotateSync'];
/** The guide's cron line: `0 0 * * *`, in the operators' time zone. */
export const DEFAULT_SCHEDULE_CRON = '0 0 * * *';
export const DEFAULT_SCHEDULE_TIMEZONE = 'Asia/Seoul';

export interface CreateScheduleOptions {
  /** Cron expression (5 fields); default `0 0 * * *`. */
  cron?: string;
  /** IANA time zone; default Asia/Seoul. */
  timezone?: string;
  /** Last part of the Schedule ID; default `daily`. */
  name?: string;
  taskQueue?: string;
  /** Missed runs older than this are not taken after an outage; default 1 h. */
  catchupWindow?: string;
  paused?: boolean;
  requestedBy?: string;
}

export interface ScheduleListEntry {
  scheduleId: string;
  workflowType?: string;
  paused: boolean;
  note?: string;
  nextActionTimes: string[];
  recentActions: number;
}

export interface ScheduleInfo {
  scheduleId: string;
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  input: unknown;
  cron: string[];
  timezone?: string;
  overlap: string;
  catchupWindowMs: number;
  paused: boolean;
  note?: string;
  nextActionTimes: string[];
  /** Runs the Schedule started (most recent last), with the workflow IDs to `nksr status`. */
  recentActions: { scheduledAt: string; takenAt: string; workflowId: string; runId: string }[];
  runningWorkflowIds: string[];
  numActionsTaken: number;
  numActionsSkippedOverlap: number;
}

function toScheduleInfo(d: ScheduleDescription): ScheduleInfo {
  const action = d.action;
  return {
    scheduleId: d.scheduleId,
    workflowType: action.workflowType,
    workflowId: action.workflowId ?? '',
    taskQueue: action.taskQueue,
    input: action.args?.[0],
    cron: Array.isArray(d.memo?.cron) ? (d.memo.cron as string[]) : [],
    timezone: d.spec.timezone,
    overlap: d.policies.overlap ?? 'SKIP (server default)',
    catchupWindowMs: d.policies.catchupWindow,
    paused: d.state.paused,
    note: d.state.note,
    nextActionTimes: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
    recentActions: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
      runId: a.action.workflow.firstExecutionRunId,
    })),
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    numActionsTaken: d.info.numActionsTaken,
    numActionsSkippedOverlap: d.info.numActionsSkippedOverlap,
  };
}

const PENDING_STATES: Record<number, string> = {
  1: 'scheduled',
  2: 'started',
  3: 'cancel-requested',
  4: 'paused',
  5: 'pause-requested',
};

function pendingStateName(state: number | null | undefined): string {
  return PENDING_STATES[state ?? 0] ?? 'unknown';
}

function toStatus(d: WorkflowExecutionDescription, summary: string | undefined): RemediationStatus {
  return {
    workflowId: d.workflowId,
    runId: d.runId,
    workflowType: d.type,
    status: d.status.name,
    taskQueue: d.taskQueue,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString(),
    historyLength: d.historyLength,
    cluster: d.typedSearchAttributes.get(NksCluster),
    procedure: d.typedSearchAttributes.get(NksProcedure),
    phase: d.typedSearchAttributes.get(NksPhase),
    dryRun: d.typedSearchAttributes.get(NksDryRun),
    summary,
    pendingActivities: (d.raw.pendingActivities ?? []).map((a) => ({
      activityType: a.activityType?.name ?? '?',
      state: pendingStateName(a.state),
      attempt: a.attempt ?? 1,
      lastFailure: a.lastFailure ? formatFailureProto(a.lastFailure) : undefined,
    })),
  };
}

/**
 * Connects with Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, config file); explicit options win.
 */
export async function createNksClient(opts: NksClientOptions = {}): Promise<NksClient> {
  const env = opts.env ?? process.env;
  const profile = loadClientConnectConfig({
    profile: opts.profile,
    overrideEnvVars: env as Record<string, string>,
  });
  const namespace = opts.namespace ?? profile.namespace ?? 'default';
  const taskQueue = opts.taskQueue ?? (env.NKSR_TASK_QUEUE || TASK_QUEUE);
  if (opts.connection) {
    const client = new Client({ connection: opts.connection, namespace });
    return new NksClient(
      client,
      opts.connection,
      namespace,
      opts.address ?? 'existing connection',
      taskQueue,
      false,
    );
  }
  const co = profile.connectionOptions;
  const address = opts.address ?? co.address ?? 'localhost:7233';
  let connection: Connection;
  try {
    connection = await Connection.connect({
      address,
      tls: co.tls,
      apiKey: co.apiKey,
      metadata: co.metadata,
      connectTimeout: opts.connectTimeoutMs ?? 3000,
    });
  } catch (err) {
    throw new TemporalUnreachableError(
      `cannot reach Temporal at ${address} (namespace ${namespace}): ${describeError(err).split('\n')[0]}. ` +
        'Is the server running (`npm start`)? Set TEMPORAL_ADDRESS to point elsewhere.',
    );
  }
  return new NksClient(
    new Client({ connection, namespace }),
    connection,
    namespace,
    address,
    taskQueue,
    true,
  );
}
