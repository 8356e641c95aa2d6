/**
 * Options every procedure that takes nodes down shares (cluster lock, health gate, maintenance
 * window), and the window arithmetic. Pure (no Node built-ins): workflows import it; the window
 * logic uses Intl only, which the workflow sandbox has and which is deterministic for a given time.
 */
import { z } from 'zod';
import { ClusterLockInputSchema } from './cluster-lock';
import { boundedInt } from './inputs';

export const DISRUPTION_DEFAULTS = {
  minReadyPercent: 90,
  healthWaitMinutes: 30,
  healthPollSeconds: 15,
} as const;

/** Node annotation that records which run cordoned a node (so only that run uncordons it). */
export const CORDONED_BY_ANNOTATION = 'nksr.io/cordoned-by';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type WeekDay = (typeof DAYS)[number];

const HHMM = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)')
  .describe('HH:MM, 24 h, in the window’s time zone');

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const MaintenanceWindowSchema = z
  .object({
    days: z
      .array(z.enum(DAYS))
      .min(1)
      .default([...DAYS])
      .describe('days on which the window opens (sun..sat)'),
    start: HHMM,
    end: HHMM,
    timezone: z.string().default('UTC').refine(validTimeZone, 'must be an IANA time zone, e.g. Asia/Seoul'),
  })
  .strict()
  .refine((w) => w.start !== w.end, { message: 'start and end must differ', path: ['end'] })
  .describe('node disruptions start only inside this window (an end before start crosses midnight)');

export type MaintenanceWindow = z.output<typeof MaintenanceWindowSchema>;

/**
 * Input fields of a disrupting procedure (the cluster lock's, the health gate's, the window); a
 * schema spreads `DisruptionInputSchema.shape` into its own.
 */
export const DisruptionInputSchema = ClusterLockInputSchema.extend({
  minReadyPercent: z
    .number()
    .min(0)
    .max(100)
    .default(DISRUPTION_DEFAULTS.minReadyPercent)
    .describe('health gate: at least this share of the other nodes Ready before a node is taken down'),
  blockingPodSelector: z
    .string()
    .max(1000)
    .optional()
    .describe('health gate: a node running a pod this label selector matches is not taken down'),
  healthWaitMinutes: boundedInt(
    1,
    1440,
    DISRUPTION_DEFAULTS.healthWaitMinutes,
    'how long the health gate waits before the run stops',
  ),
  healthPollSeconds: boundedInt(
    1,
    600,
    DISRUPTION_DEFAULTS.healthPollSeconds,
    'how often the health gate looks again',
  ),
  window: MaintenanceWindowSchema.optional(),
});

export type DisruptionOptions = z.output<typeof DisruptionInputSchema>;

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

function localParts(ms: number, timeZone: string): LocalParts {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  });
  const parts = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    weekday: DAYS.indexOf(String(parts.weekday).toLowerCase().slice(0, 3) as WeekDay),
  };
}

/** UTC offset (ms) of a time zone at an instant. */
function offsetAt(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
  return asUtc - Math.floor(ms / 60_000) * 60_000;
}

/** The instant a local wall-clock time (date given as a UTC day number) has in `timeZone`. */
function zonedInstant(dayUtcMs: number, minutes: number, timeZone: string): number {
  const guess = dayUtcMs + minutes * 60_000;
  let t = guess - offsetAt(guess, timeZone);
  // Once more: the offset at the result may differ from the guess's across a DST change.
  t = guess - offsetAt(t, timeZone);
  return t;
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export interface WindowState {
  /** Inside the window now. */
  open: boolean;
  /** When the current window closes (open) or the next one opens (closed), ISO. */
  opensAt?: string;
  closesAt?: string;
  /** Milliseconds until it opens (0 when open). */
  waitMs: number;
}

/**
 * Whether `nowMs` is inside the window and, if not, when it next opens. Each listed day opens at
 * `start` local time and closes at `end` (the next day when end is before start).
 */
export function windowState(window: MaintenanceWindow, nowMs: number): WindowState {
  const tz = window.timezone;
  const start = toMinutes(window.start);
  const end = toMinutes(window.end);
  const length = (end - start + 1440) % 1440;
  const today = localParts(nowMs, tz);
  const todayUtc = Date.UTC(today.year, today.month - 1, today.day);
  let next: number | undefined;
  // Yesterday's window may still be open (crossing midnight); then the next 7 days.
  for (let d = -1; d <= 7; d++) {
    const weekday = (((today.weekday + d) % 7) + 7) % 7;
    if (!window.days.includes(DAYS[weekday]!)) continue;
    const dayUtc = todayUtc + d * 86_400_000;
    const opens = zonedInstant(dayUtc, start, tz);
    const closes = zonedInstant(dayUtc, start + length, tz);
    if (opens <= nowMs && nowMs < closes) {
      return { open: true, closesAt: new Date(closes).toISOString(), waitMs: 0 };
    }
    if (opens > nowMs && (next === undefined || opens < next)) next = opens;
  }
  if (next === undefined) return { open: false, waitMs: 7 * 86_400_000 }; // unreachable: days ≥ 1
  return { open: false, opensAt: new Date(next).toISOString(), waitMs: next - nowMs };
}
