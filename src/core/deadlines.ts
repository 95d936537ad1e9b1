/**
 * Deadlines (Airflow 3.1's DeadlineAlert): a time by which a run, or a task, should be done. Missing one
 * changes no state; it is recorded once and fires the `onDeadlineMiss` callbacks and notifiers. This
 * module is pure: parsing the DSL's option into a `DeadlineSpec`, and when a spec falls due for a run.
 *
 * The forms:
 * - `{ from: "logicalDate", within: "2h" }`: the run's logical date plus 2 hours;
 * - `{ from: "queued", within: "30m" }`: when the run was queued (created) plus 30 minutes;
 * - `{ at: "06:00", timezone: "Europe/Berlin" }`: the first 06:00 in Berlin at or after the run was queued
 *   (a nightly run queued at 00:05 must be done by 06:00 that morning);
 * - tasks only: `{ from: "start", within: "20m" }`: 20 minutes after the task's attempt started.
 */
import { SluiceError } from "../errors.js";
import { parseDuration, type Duration } from "./duration.js";
import { instantOfWallTime } from "./schedules.js";

/** What the DSL accepts. */
export type DeadlineOption = { from: "logicalDate" | "queued" | "start"; within: Duration } | { at: string; timezone?: string };

/** The serialisable form kept in the DAG spec. */
export type DeadlineSpec =
  | { kind: "logical_date"; withinMs: number }
  | { kind: "queued"; withinMs: number }
  | { kind: "time_of_day"; hour: number; minute: number; timezone: string }
  | { kind: "start"; withinMs: number };

const DAY_MS = 86_400_000;

/**
 * Parse a `deadline` option; null when absent. `where` names the DAG (and task) in the error, `task`
 * allows `from: "start"` (a run has no single start to measure from that `queued` does not cover).
 */
export function parseDeadline(value: unknown, where: string, task: boolean): DeadlineSpec | null {
  if (value === undefined || value === null) return null;
  const bad = (why: string): never => {
    throw new SluiceError(
      "INVALID_DAG",
      `${where}: deadline ${why}; use { from: "logicalDate" | "queued"${task ? ' | "start"' : ""}, within: "2h" } or { at: "06:00", timezone: "Europe/Berlin" }`,
      { details: { field: "deadline" } },
    );
  };
  if (typeof value !== "object" || Array.isArray(value)) return bad(`must be an object, got ${JSON.stringify(value)}`);
  const o = value as Record<string, unknown>;
  if ("at" in o) {
    if (typeof o.at !== "string") return bad(`"at" must be a time of day such as "06:00"`);
    const m = /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(o.at.trim());
    if (!m) return bad(`"at" ${JSON.stringify(o.at)} is not a time of day (HH:MM, 24-hour)`);
    const timezone = o.timezone ?? "UTC";
    if (typeof timezone !== "string") return bad(`"timezone" must be an IANA name such as "Europe/Berlin"`);
    let zone: string;
    try {
      zone = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
    } catch {
      return bad(`has an unknown timezone ${JSON.stringify(timezone)}`);
    }
    return { kind: "time_of_day", hour: Number(m[1]), minute: Number(m[2]), timezone: zone };
  }
  const from = o.from;
  if (from !== "logicalDate" && from !== "queued" && !(task && from === "start")) {
    return bad(`"from" must be "logicalDate", "queued"${task ? ' or "start"' : ""}, got ${JSON.stringify(from)}`);
  }
  if (o.within === undefined) return bad(`needs "within" (a duration such as "20m")`);
  let withinMs: number;
  try {
    withinMs = parseDuration(o.within as Duration, `${where}: deadline.within`);
  } catch (e) {
    throw new SluiceError("INVALID_DAG", (e as Error).message, { cause: e, details: { field: "deadline" } });
  }
  if (withinMs <= 0) return bad(`"within" must be longer than 0`);
  return { kind: from === "logicalDate" ? "logical_date" : from, withinMs };
}

/**
 * When a deadline falls for a run: null for `start` deadlines (they depend on a task's attempt:
 * `taskStartDeadline`). `queuedAt`: the run's creation time.
 */
export function runDeadlineAt(d: DeadlineSpec, run: { logicalDate: number; queuedAt: number }): number | null {
  switch (d.kind) {
    case "logical_date":
      return run.logicalDate + d.withinMs;
    case "queued":
      return run.queuedAt + d.withinMs;
    case "time_of_day":
      return nextTimeOfDay(run.queuedAt, d.hour, d.minute, d.timezone);
    case "start":
      return null;
  }
}

/** A task's `from: "start"` deadline for an attempt that started at `startedAt`. */
export function taskStartDeadline(d: DeadlineSpec, startedAt: number): number | null {
  return d.kind === "start" ? startedAt + d.withinMs : null;
}

/**
 * The first instant at or after `t` whose wall time in `timezone` is hour:minute (a time a spring-forward
 * gap skips is shifted by the gap, as cron ticks are).
 */
export function nextTimeOfDay(t: number, hour: number, minute: number, timezone: string): number {
  // the wall date of `t` in the zone, read as UTC midnight
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: timezone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const day = Date.UTC(get("year"), get("month") - 1, get("day"));
  for (let i = -1; i <= 2; i++) {
    const at = instantOfWallTime(day + i * DAY_MS + hour * 3_600_000 + minute * 60_000, timezone);
    if (at >= t) return at;
  }
  return t; // unreachable: one of the next two days has the time
}

/** A short description for the CLI and the API, e.g. `06:00 Europe/Berlin` or `2h after the logical date`. */
export function describeDeadline(d: DeadlineSpec): string {
  const within = (ms: number) => {
    const m = Math.round(ms / 60_000);
    return m % 60 === 0 ? `${m / 60}h` : m >= 60 ? `${Math.floor(m / 60)}h${m % 60}m` : m > 0 ? `${m}m` : `${ms / 1000}s`;
  };
  switch (d.kind) {
    case "logical_date":
      return `${within(d.withinMs)} after the logical date`;
    case "queued":
      return `${within(d.withinMs)} after queued`;
    case "time_of_day":
      return `${String(d.hour).padStart(2, "0")}:${String(d.minute).padStart(2, "0")} ${d.timezone}`;
    case "start":
      return `${within(d.withinMs)} after the task started`;
  }
}

/** A task instance as the deadline check sees it. */
export interface DeadlineTaskInstance {
  taskId: string;
  mapIndex: number;
  finished: boolean;
  startedAt: number | null;
  endedAt: number | null;
}

/** A deadline that was missed: of the run (`taskId` ""), of a task (`mapIndex` -1), or of one attempt's start. */
export interface Miss {
  taskId: string;
  mapIndex: number;
  deadlineAt: number;
}

/**
 * What a run's deadlines say at `now`: the ones missed (not done by then, or done after them) and the
 * next one still to come (null: none left to watch). Deadlines from a task's start are per instance and
 * counted from when its current attempt started; an instance not started yet has none (the engine brings
 * the run's next deadline forward when it starts).
 */
export function checkDeadlines(
  run: { deadline: DeadlineSpec | null; logicalDate: number; queuedAt: number; finished: boolean; endedAt: number | null },
  tasks: readonly { id: string; deadline: DeadlineSpec }[],
  instances: readonly DeadlineTaskInstance[],
  now: number,
): { missed: Miss[]; next: number | null } {
  const missed: Miss[] = [];
  let next: number | null = null;
  const ahead = (at: number) => {
    if (next === null || at < next) next = at;
  };
  const late = (at: number, finished: boolean, endedAt: number | null) => (finished ? endedAt !== null && endedAt > at : now >= at);
  if (run.deadline) {
    const at = runDeadlineAt(run.deadline, run);
    if (at !== null) {
      if (late(at, run.finished, run.endedAt)) missed.push({ taskId: "", mapIndex: -1, deadlineAt: at });
      else if (!run.finished) ahead(at);
    }
  }
  for (const t of tasks) {
    const tis = instances.filter((i) => i.taskId === t.id);
    const at = runDeadlineAt(t.deadline, run);
    if (at !== null) {
      // one miss per task, however many instances it mapped into
      if (tis.some((i) => late(at, i.finished, i.endedAt))) missed.push({ taskId: t.id, mapIndex: -1, deadlineAt: at });
      else if (tis.some((i) => !i.finished) && !run.finished) ahead(at);
      continue;
    }
    for (const i of tis) {
      if (i.startedAt === null) continue;
      const from = taskStartDeadline(t.deadline, i.startedAt)!;
      if (late(from, i.finished, i.endedAt)) missed.push({ taskId: t.id, mapIndex: i.mapIndex, deadlineAt: from });
      else if (!i.finished && !run.finished) ahead(from);
    }
  }
  return { missed, next };
}

/** A new run's first deadline to check: its own, or a task's counted from the run (not from a start). */
export function firstDeadline(deadlines: readonly DeadlineSpec[], run: { logicalDate: number; queuedAt: number }): number | null {
  let first: number | null = null;
  for (const d of deadlines) {
    const at = runDeadlineAt(d, run);
    if (at !== null && (first === null || at < first)) first = at;
  }
  return first;
}
