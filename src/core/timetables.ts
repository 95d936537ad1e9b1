/**
 * Timetables: one interface for every way a DAG's scheduled runs happen, with Apache Airflow's semantics.
 *
 *  - Data-interval timetables (the default, Airflow 2's CronDataIntervalTimetable and
 *    DeltaDataIntervalTimetable): `schedule: "@daily"`, `"0 6 * * *"`, `"every 3 days"`, `"every 1 month"`.
 *    A run covers [tick, next tick); its logical date is the start and it runs at the end.
 *  - Trigger timetables (Airflow 3's CronTriggerTimetable, MultipleCronTriggerTimetable,
 *    DeltaTriggerTimetable): `schedule: { trigger: "0 6 * * *" }`, `{ trigger: ["0 6 * * 1-5", "0 9 * * 6"] }`,
 *    `{ trigger: "every 3 days" }`. A run happens at the tick; its logical date is the tick and its data
 *    interval [tick, tick].
 *  - A user's own timetable: any object implementing {@link Timetable} (pure functions of their inputs).
 *
 * Why data intervals stay the default (decision 0025): existing DAGs keep their runs and run keys, and
 * `ctx.dataInterval` keeps meaning "the data this run processes", as in Airflow 2 and in Airflow 3 with
 * `create_cron_data_intervals = True`.
 *
 * Every timetable answers the same two questions, so the scheduler, backfills, manual runs and `next run`
 * work the same for all: the next run after the last one ({@link Timetable.nextRun}), and the data
 * interval of a manual run ({@link Timetable.inferManualDataInterval}). Pure: no I/O, no clock.
 */
import { SluiceError } from "../errors.js";
import type { DagSpec } from "./dagSpec.js";
import { parseDuration, type Duration } from "./duration.js";
import {
  atOrAfter,
  atOrBefore,
  describeSchedule,
  nextIntervalOn,
  parseSchedule,
  ticksOf,
  type DataInterval,
  type Schedule,
  type TickSchedule,
  type Ticks,
} from "./schedules.js";

/** What {@link Timetable.nextRun} is asked; times are epoch milliseconds. */
export interface NextRunQuery {
  /** The end of the latest scheduled run's data interval (a trigger run's: its tick), or null when none. */
  lastEnd: number | null;
  /** No run's logical date before it (the DAG's startDate, or a backfill's `--from`); null: no bound. */
  startDate: number | null;
  /** No run's logical date after it (the DAG's endDate, or a backfill's `--to`); null: no bound. */
  endDate: number | null;
  /** false: after a downtime only the latest missed run; true: every missed one, oldest first. */
  catchup: boolean;
  now: number;
}

/**
 * When a DAG's scheduled runs happen. Implement it to write your own (Airflow's custom timetables): both
 * methods must be pure functions of their arguments — the scheduler calls them again and again, and
 * expects the same answer for the same question.
 *
 * @example
 * // a run per day, covering the day, at 18:00 UTC (the day's data is complete then)
 * const evenings: Timetable = {
 *   name: "evenings",
 *   description: "every day, run at 18:00 UTC",
 *   nextRun({ lastEnd, startDate, now, catchup }) {
 *     const day = 86_400_000;
 *     let start = Math.max(lastEnd ?? 0, startDate ?? 0);
 *     if (!catchup) start = Math.max(start, Math.floor((now - 18 * 3_600_000) / day) * day - day);
 *     start = Math.ceil(start / day) * day;
 *     return { start, end: start + day + 18 * 3_600_000 };
 *   },
 * };
 */
export interface Timetable {
  /** Identifies it in the DAG's spec and version ("business-days"). */
  readonly name: string;
  /** One line for `dags list`, the API and the UI; default: the name. */
  readonly description?: string;
  /** The zone a backfill's `--from`/`--to` dates are read in; default the DAG's `timezone`, else UTC. */
  readonly timezone?: string;
  /**
   * The next run to schedule: its data interval, whose `start` is the run's logical date; the run
   * happens at `end` (a trigger-style timetable returns `{ start: tick, end: tick }`). Null: no more runs
   * (or none that starts on or before `endDate`). The result must move forward: `end` after `lastEnd`.
   */
  // properties, not methods: the scheduler calls them detached from the object (and they need no `this`)
  readonly nextRun: (q: NextRunQuery) => DataInterval | null;
  /**
   * The data interval of a manual run with this logical date (Airflow's `infer_manual_data_interval`);
   * default `[logicalDate, logicalDate]`.
   */
  readonly inferManualDataInterval?: (logicalDate: number) => DataInterval;
}

/** A built-in timetable, with what backfills need besides. */
export interface BuiltinTimetable extends Required<Omit<Timetable, "name">> {
  readonly name: string;
}

// ---------------------------------------------------------------------------------------------------------
// The DSL's schedule option
// ---------------------------------------------------------------------------------------------------------

/** `schedule: { trigger: ... }`: Airflow 3's trigger timetables. */
export interface TriggerScheduleOption {
  /** A cron, a preset or "every …" — or several crons (Airflow's MultipleCronTriggerTimetable). */
  trigger: string | readonly string[];
  /**
   * For a DAG without a startDate and without runs yet: true runs the latest past tick at once; false
   * waits for the next tick; a duration runs the latest past tick if it was at most that long ago.
   * Default false for crons, true for "every …" (Airflow's DeltaTriggerTimetable starts at once).
   */
  runImmediately?: boolean | Duration;
}

const TRIGGER_KEYS = ["trigger", "runImmediately"];

/**
 * The DAG's `schedule` option (other than assets), checked: the spec's Schedule, and the user's own
 * timetable when it is one. Errors name the DAG and the field (`schedule.trigger[1]`, `schedule.runImmediatly`).
 */
export function parseScheduleOption(value: unknown, timezone: string | undefined, dagId: string): { schedule: Schedule; custom: Timetable | null } {
  const where = `DAG "${dagId}"`;
  const fail = (field: string, message: string, cause?: unknown): never => {
    // parseSchedule's messages begin with `schedule "…"`: the field is named already
    const head = field === "schedule" && cause !== undefined ? where : `${where}: ${field}`;
    throw new SluiceError("INVALID_DAG", `${head}: ${message}`, { details: { dagId, field }, ...(cause ? { cause } : {}) });
  };
  const parse = (text: unknown, field: string): Schedule => {
    try {
      return parseSchedule(text as string, timezone);
    } catch (e) {
      return fail(field, (e as Error).message, e);
    }
  };
  if (typeof value === "string") return { schedule: parse(value, "schedule"), custom: null };
  if (Array.isArray(value)) {
    return fail("schedule", `a list of crons runs at each of their ticks: write schedule: { trigger: ${JSON.stringify(value)} } (a trigger timetable)`);
  }
  if (typeof value !== "object" || value === null) {
    return fail("schedule", `must be a string like "@daily", "0 6 * * *" or "every 15m", { trigger: "0 6 * * *" }, { assets: { anyOf: [...] } } or a Timetable; got ${typeof value}`);
  }
  const o = value as Record<string, unknown>;
  if (typeof o.nextRun === "function") return { schedule: customSchedule(o, timezone, dagId), custom: o as unknown as Timetable };
  if (!("trigger" in o)) {
    return fail("schedule", `an object schedule takes { trigger: ... } (a trigger timetable), { assets: ... }, or a Timetable with a nextRun function; got keys ${Object.keys(o).join(", ") || "(none)"}`);
  }
  const unknown = Object.keys(o).filter((k) => !TRIGGER_KEYS.includes(k));
  if (unknown.length) fail(`schedule.${unknown[0]}`, `unknown option; a trigger schedule takes ${TRIGGER_KEYS.join(", ")}`);
  const list = typeof o.trigger === "string" ? [o.trigger] : o.trigger;
  if (!Array.isArray(list) || list.length === 0) return fail("schedule.trigger", 'must be a cron, a preset, "every …", or a non-empty list of crons');
  const on = list.map((text, i) => {
    const field = list.length > 1 || Array.isArray(o.trigger) ? `schedule.trigger[${i}]` : "schedule.trigger";
    if (typeof text !== "string") fail(field, `must be a string, got ${typeof text}`);
    const s = parse(text, field);
    if (s.kind !== "cron" && list.length > 1) fail(field, `"${text}" is not a cron; a list of ticks takes crons only (Airflow's MultipleCronTriggerTimetable)`);
    return s as TickSchedule;
  });
  let runImmediately: boolean | number = on.some((s) => s.kind === "cron") ? false : true;
  if (o.runImmediately !== undefined) {
    if (typeof o.runImmediately === "boolean") runImmediately = o.runImmediately;
    else if (typeof o.runImmediately === "string" || typeof o.runImmediately === "number") runImmediately = parseDuration(o.runImmediately, `${where}: schedule.runImmediately`);
    else fail("schedule.runImmediately", 'must be true, false or a duration such as "10m"');
  }
  return { schedule: Object.freeze({ kind: "trigger" as const, on, runImmediately }), custom: null };
}

function customSchedule(o: Record<string, unknown>, timezone: string | undefined, dagId: string): Schedule {
  const fail = (field: string, message: string): never => {
    throw new SluiceError("INVALID_DAG", `DAG "${dagId}": schedule.${field}: ${message}`, { details: { dagId, field: `schedule.${field}` } });
  };
  if (typeof o.name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/.test(o.name)) fail("name", 'a Timetable needs a name of letters, digits, "_", "-" and "." (e.g. "business-days")');
  if (o.description !== undefined && typeof o.description !== "string") fail("description", "must be a string");
  if (o.inferManualDataInterval !== undefined && typeof o.inferManualDataInterval !== "function") fail("inferManualDataInterval", "must be a function");
  const tz = o.timezone ?? timezone;
  if (tz !== undefined && typeof tz !== "string") fail("timezone", 'must be an IANA name such as "Europe/Berlin"');
  // parseSchedule validates and canonicalises the zone
  const zone = tz === undefined ? "UTC" : (parseSchedule("@daily", tz as string) as { timezone: string }).timezone;
  return Object.freeze({ kind: "custom", name: o.name as string, description: (o.description as string | undefined) ?? (o.name as string), timezone: zone });
}

/** Source text of a user's timetable, part of the DAG's version (its code changes: a new version). */
export function timetableSource(t: Timetable): string {
  return [t.nextRun, t.inferManualDataInterval].filter((f) => typeof f === "function").map(String).join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// Timetables of a DAG
// ---------------------------------------------------------------------------------------------------------

/**
 * The timetable of a DAG with a time schedule: a built-in one from its spec, or the DAG's own (`custom`,
 * the DAG object's `timetable`) wrapped so that a wrong answer is a clear error, never a scheduler loop.
 * Null for a DAG without a time schedule. Fixed and calendar deltas are laid out from the spec's startDate.
 */
export function timetableOf(spec: Pick<DagSpec, "id" | "schedule" | "startDate">, custom: Timetable | null = null): BuiltinTimetable | null {
  const s = spec.schedule;
  if (!s) return null;
  if (s.kind === "custom") {
    if (!custom) {
      throw new SluiceError("INVALID_DAG", `DAG "${spec.id}": its timetable "${s.name}" is the DAG's code, which this process has not loaded`, { details: { dagId: spec.id } });
    }
    return checked(custom, s, spec.id);
  }
  const ticks = ticksOf(s, spec.startDate);
  const base = { name: s.kind, description: describeSchedule(s), timezone: scheduleTimezone(s) };
  if (s.kind === "trigger") {
    return {
      ...base,
      nextRun: (q) => nextTrigger(ticks, s.runImmediately, q),
      inferManualDataInterval: (t) => ({ start: t, end: t }),
    };
  }
  return {
    ...base,
    nextRun: (q) => nextIntervalOn(ticks, q),
    inferManualDataInterval: (t) => manualInterval(ticks, t),
  };
}

/** The zone dates are read in for a schedule (a backfill's --from): its cron's, its calendar's, its own; UTC for fixed deltas. */
export function scheduleTimezone(s: Schedule): string {
  if (s.kind === "cron" || s.kind === "calendar" || s.kind === "custom") return s.timezone;
  if (s.kind === "trigger") return s.on.map(scheduleTimezone).find((z) => z !== "UTC") ?? "UTC";
  return "UTC";
}

/**
 * Airflow's CronDataIntervalTimetable.infer_manual_data_interval: the latest complete interval at the
 * logical date (a daily DAG triggered at 01:00 on the 25th covers the 24th). Deltas do the same on their
 * grid (Airflow's [date - delta, date] is unaligned; here every interval lies on the DAG's grid).
 */
function manualInterval(ticks: Ticks, t: number): DataInterval {
  const end = atOrBefore(ticks, t);
  const start = end === null ? null : ticks.prev(end);
  return end === null || start === null ? { start: t, end: t } : { start, end };
}

/**
 * Airflow 3's _TriggerTimetable.next_dagrun_info. With catchup, the tick after the last run (or the
 * first at or after startDate); without, the latest of: the latest tick at or before now, the tick after
 * the last run, the first tick at or after startDate. A DAG without a startDate and without runs starts
 * where `runImmediately` says (Airflow's _calc_first_run, as documented: false waits for the next tick).
 */
function nextTrigger(ticks: Ticks, runImmediately: boolean | number, q: NextRunQuery): DataInterval | null {
  const lastEnd = q.lastEnd ?? null;
  const startDate = q.startDate ?? null;
  const firstRun = (): number | null => {
    const past = atOrBefore(ticks, q.now);
    const next = atOrAfter(ticks, q.now);
    if (past === null) return next;
    if (runImmediately === true) return past;
    if (typeof runImmediately === "number" && q.now - past <= runImmediately) return past;
    return next;
  };
  const candidates: (number | null)[] = [];
  if (q.catchup) {
    candidates.push(lastEnd !== null ? ticks.next(lastEnd) : startDate === null ? firstRun() : atOrAfter(ticks, startDate));
  } else {
    candidates.push(atOrBefore(ticks, q.now));
    if (lastEnd !== null) candidates.push(ticks.next(lastEnd));
    else if (startDate === null) candidates.push(firstRun());
    if (startDate !== null) candidates.push(atOrAfter(ticks, startDate));
  }
  const known = candidates.filter((c): c is number => c !== null);
  if (known.length === 0) return null;
  const tick = Math.max(...known);
  if (q.endDate !== null && q.endDate !== undefined && tick > q.endDate) return null;
  return { start: tick, end: tick };
}

/** A user's timetable, its answers checked: a bad one names the DAG and the timetable instead of looping. */
function checked(t: Timetable, s: Extract<Schedule, { kind: "custom" }>, dagId: string): BuiltinTimetable {
  const bad = (what: string, got: unknown): never => {
    throw new SluiceError("INVALID_DAG", `DAG "${dagId}": timetable "${s.name}": ${what}; got ${JSON.stringify(got)}`, { details: { dagId, field: "schedule" } });
  };
  const interval = (v: unknown, what: string): DataInterval => {
    const i = v as DataInterval | null;
    if (typeof i !== "object" || i === null || !Number.isFinite(i.start) || !Number.isFinite(i.end) || i.end < i.start) {
      bad(`${what} must return { start, end } in epoch milliseconds with start <= end`, v);
    }
    return { start: i!.start, end: i!.end };
  };
  return {
    name: s.name,
    description: s.description,
    timezone: s.timezone,
    nextRun(q) {
      const r = t.nextRun(q);
      if (r === null) return null;
      const i = interval(r, "nextRun");
      // without this a timetable that answers the same run again would have the scheduler create it forever
      if (q.lastEnd !== null && i.end <= q.lastEnd) bad(`nextRun must move forward (end after lastEnd ${new Date(q.lastEnd).toISOString()})`, r);
      return i;
    },
    inferManualDataInterval(logicalDate) {
      return t.inferManualDataInterval ? interval(t.inferManualDataInterval(logicalDate), "inferManualDataInterval") : { start: logicalDate, end: logicalDate };
    },
  };
}

/**
 * The data interval a run with this logical date gets when it is not a scheduled run (a manual or API
 * trigger, an asset or event trigger): the one its timetable infers, `[logicalDate, logicalDate]` for a
 * DAG without a time schedule (Airflow's NullTimetable and asset timetables).
 */
export function manualDataInterval(timetable: Timetable | null, logicalDate: number): DataInterval {
  return timetable?.inferManualDataInterval?.(logicalDate) ?? { start: logicalDate, end: logicalDate };
}

/**
 * Every run whose logical date lies in [from, to], oldest first: what a backfill runs, for any timetable
 * (its nextRun asked with catchup from `from` up to `to`). Throws USAGE past `limit` runs, so that a typo
 * in a date cannot create a million runs.
 */
export function runsBetween(timetable: Timetable, from: number, to: number, now: number, limit = 1000): DataInterval[] {
  if (!Number.isInteger(limit) || limit < 1) throw new SluiceError("USAGE", `limit must be a positive integer, got ${limit}`);
  const out: DataInterval[] = [];
  let lastEnd: number | null = null;
  for (;;) {
    const next = timetable.nextRun({ lastEnd, startDate: from, endDate: to, catchup: true, now });
    if (next === null || next.start > to || next.start < from) break;
    if (out.length === limit) {
      throw new SluiceError(
        "USAGE",
        `${new Date(from).toISOString()} to ${new Date(to).toISOString()} holds more than ${limit} runs of ${timetable.description ?? timetable.name}; narrow the range or raise the limit`,
        { details: { limit } },
      );
    }
    out.push(next);
    lastEnd = next.end;
  }
  return out;
}
