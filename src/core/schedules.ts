/**
 * Schedules and timetables: when a DAG's scheduled runs happen, with the semantics of Apache Airflow 2's
 * default timetables (CronDataIntervalTimetable, DeltaDataIntervalTimetable).
 *
 * A scheduled run covers a data interval [start, end): its logical date is `start`, and it becomes due at
 * `end`. Cron intervals run from one tick to the next; fixed intervals ("every 15m") are laid on a grid
 * anchored at the DAG's startDate. Pure: no I/O, no clock (the caller passes `now`).
 *
 * Daylight saving time. Cron ticks are wall-clock times in the DAG's timezone; a DST change makes some wall
 * times not exist (spring forward) and others happen twice (fall back). The rules here (Airflow's):
 *  - A cron whose hour field covers all 24 hours ("0 * * * *", "*\/15 * * * *") fires at every real instant
 *    whose wall clock matches: across fall-back "0 * * * *" fires at 02:00 summer time and again at 02:00
 *    winter time, so every real UTC hour has one run; across spring-forward the missing 02:00 simply does
 *    not exist and no real hour is lost.
 *  - Any other cron ("30 2 * * *", "@daily", "*\/30 2 * * *") fires once per wall-clock match: a wall time
 *    in a spring-forward gap runs shifted forward by the gap (02:30 → 03:30, as Airflow/pendulum, RFC 5545
 *    and Temporal's "compatible" do), and a wall time that happens twice runs once, at its second occurrence
 *    (02:30 winter time; Airflow's `make_aware` sets fold=1). If a shifted time lands on another tick
 *    ("0 2,3 * * *": 02:00 → 03:00), the two are one run.
 * So no run is skipped or doubled at a DST change unless the cron itself says so, and consecutive intervals
 * are contiguous (each start is the previous end); "@daily" intervals are 23h or 25h long on change days.
 *
 * Why croner is used as a naive calendar: croner (11.x) handles DST itself, but only for "fixed-time"
 * patterns whose second, minute and hour are single values. It runs "30 2 * * *" at 03:00 in the gap, and
 * treats "*\/30 2 * * *" as an interval job: no run at all on the spring-forward day, four on the fall-back
 * day. So croner computes wall-clock ticks at UTC offset 0 (a plain calendar, also ~8x faster than with a
 * named zone), and this module maps wall times to instants with the rules above.
 */
import { Cron, CronPattern } from "croner";
import { SluiceError } from "../errors.js";
import { parseDuration } from "./duration.js";

/** A parsed, validated schedule. Plain data: safe to store as JSON and pass back in. */
export type Schedule =
  | {
      kind: "cron";
      /** Normalised: presets expanded, single spaces, names upper-cased, "5/15" written "5-59/15". */
      expression: string;
      /** Canonical IANA name, e.g. "Europe/Berlin"; "UTC" by default. */
      timezone: string;
      /** True for a 6-field expression (seconds first). */
      hasSeconds: boolean;
    }
  | { kind: "interval"; everyMs: number }
  /**
   * Calendar deltas ("every 1 month", "every 2 years"): ticks `months` calendar months apart, anchored at
   * the DAG's startDate as a wall-clock time in `timezone` (a day that a month lacks is its last day, as
   * dateutil's relativedelta; each tick is counted from the anchor, so Jan 31 gives Feb 28 then Mar 31).
   */
  | { kind: "calendar"; months: number; timezone: string }
  /**
   * Airflow 3's trigger timetables (CronTriggerTimetable, MultipleCronTriggerTimetable,
   * DeltaTriggerTimetable): a run at every tick of any of `on`, its logical date the tick, its data
   * interval [tick, tick]. `runImmediately` (true, false or a window in ms) decides whether a DAG without
   * a startDate and without runs first runs the latest past tick. Built by core/timetables.ts.
   */
  | { kind: "trigger"; on: TickSchedule[]; runImmediately: boolean | number }
  /** A user's own timetable (core/timetables.ts `Timetable`): its code lives beside the spec, in the DAG. */
  | { kind: "custom"; name: string; description: string; timezone: string };

/** The schedules that are a set of ticks (what a trigger timetable fires on). */
export type TickSchedule = Extract<Schedule, { kind: "cron" | "interval" | "calendar" }>;

/** A data interval [start, end) in epoch milliseconds. Its run's logical date is `start`; it is due at `end`. */
export interface DataInterval {
  start: number;
  end: number;
}

/** Inputs of {@link nextDataInterval}; all times are epoch milliseconds. */
export interface NextIntervalOptions {
  /** End of the latest data interval already scheduled for this DAG, or null if none yet. */
  lastEnd: number | null;
  /** The DAG's startDate: no interval starts before it. Required for interval schedules (their grid origin). */
  startDate: number | null;
  /** No interval may start after it (an interval starting exactly at endDate is still scheduled). */
  endDate: number | null;
  /** false (Airflow's default): only the latest complete interval after a downtime. true: every missed one. */
  catchup: boolean;
  now: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Airflow's cron_presets (plus @annually and @midnight as croniter spells them). */
const PRESETS: Readonly<Record<string, string>> = Object.freeze({
  "@hourly": "0 * * * *",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@weekly": "0 0 * * 0",
  "@monthly": "0 0 1 * *",
  "@quarterly": "0 0 1 */3 *",
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
});

const SCHEDULE_HELP =
  'use a cron expression ("*/15 * * * *", or 6 fields with seconds first), a preset (@hourly, @daily, @weekly, @monthly, @yearly) or a fixed interval ("every 15m", "every 1h30m")';

// ---------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------

/**
 * Parse a DAG's schedule. Throws SluiceError "INVALID_DAG" with a message that names the bad part.
 *
 * @example
 * parseSchedule("@daily", "Europe/Berlin")
 * // { kind: "cron", expression: "0 0 * * *", timezone: "Europe/Berlin", hasSeconds: false }
 * parseSchedule("every 1h30m") // { kind: "interval", everyMs: 5_400_000 }
 * parseSchedule("61 * * * *")  // throws: schedule "61 * * * *": minute field "61" is out of range 0-59
 */
export function parseSchedule(text: string, timezone?: string): Schedule {
  if (typeof text !== "string") throw invalid(`schedule must be a string, got ${typeof text}; ${SCHEDULE_HELP}`, text);
  const src = text.trim();
  const tz = timezone === undefined ? "UTC" : canonicalTimezone(timezone, src);

  if (/^every(\s|$)/i.test(src)) {
    const raw = src.slice(5).trim();
    const amount = longUnits(raw);
    const calendar = /^(\d+)\s*(mo|y)$/.exec(amount);
    if (calendar) {
      const n = Number(calendar[1]);
      if (n < 1) throw invalid(`schedule "${src}": the interval must be at least 1`, src);
      return Object.freeze({ kind: "calendar", months: calendar[2] === "y" ? 12 * n : n, timezone: tz });
    }
    let everyMs: number;
    try {
      everyMs = parseDuration(amount, "interval");
    } catch {
      throw invalid(`schedule "${src}": "${raw}" is not a duration; write e.g. "every 15m", "every 1h30m", "every 3 days", "every 1 month", "every 1 year"`, src);
    }
    // Sub-second grids would flood the store with runs; nobody means that.
    if (everyMs < SECOND) throw invalid(`schedule "${src}": the interval must be at least 1s`, src);
    return Object.freeze({ kind: "interval", everyMs });
  }

  let expression = src;
  if (src.startsWith("@")) {
    const preset = PRESETS[src.toLowerCase()];
    if (preset === undefined) {
      const hint = src.toLowerCase() === "@once" ? "; trigger the DAG manually for a one-off run" : "";
      throw invalid(`schedule "${src}": unknown preset; use one of ${Object.keys(PRESETS).join(", ")}${hint}`, src);
    }
    expression = preset;
  }

  const fields = expression.split(/\s+/).filter((f) => f.length > 0);
  if (fields.length < 2) {
    const preset = PRESETS[`@${src.toLowerCase()}`] === undefined ? "" : ` (did you mean "@${src.toLowerCase()}"?)`;
    throw invalid(`schedule "${src}": not a schedule${preset}; ${SCHEDULE_HELP}`, src);
  }
  if (fields.length !== 5 && fields.length !== 6) {
    throw invalid(
      `schedule "${src}": expected 5 cron fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got ${fields.length}`,
      src,
    );
  }
  const hasSeconds = fields.length === 6;
  const specs = hasSeconds ? FIELDS : FIELDS.slice(1);
  const normalised = fields.map((f, i) => normaliseField(f, specs[i]!, src)).join(" ");
  // croner has the last word on syntax this module does not check itself.
  const { cron } = compileCron(normalised, src);
  // "0 0 30 2 *" is valid syntax but never fires: the DAG would silently never run.
  if (cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    throw invalid(`schedule "${src}": no date ever matches it (like February 30); check the day-of-month and month fields`, src);
  }
  return Object.freeze({ kind: "cron", expression: normalised, timezone: tz, hasSeconds });
}

const LONG_UNITS: readonly [RegExp, string][] = [
  [/^months?$/, "mo"],
  [/^years?$/, "y"],
  [/^weeks?$/, "w"],
  [/^days?$/, "d"],
  [/^hours?$/, "h"],
  [/^minutes?$/, "m"],
  [/^seconds?$/, "s"],
];

/** "3 days" → "3d", "1 month" → "1mo": the words people write, in parseDuration's units. */
function longUnits(amount: string): string {
  return amount.replace(/(\d+)\s*([a-z]+)/gi, (whole, n: string, unit: string) => {
    const u = unit.toLowerCase();
    for (const [re, short] of LONG_UNITS) if (re.test(u)) return `${n}${short}`;
    return whole;
  });
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: Readonly<Record<string, number>>;
}

const MONTHS = Object.freeze({ JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 });
const WEEKDAYS = Object.freeze({ SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 });
const FIELDS: readonly FieldSpec[] = [
  { name: "second", min: 0, max: 59 },
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too, as in Vixie cron and croniter.
  { name: "day-of-week", min: 0, max: 7, names: WEEKDAYS },
];

/**
 * Check one field's values and ranges, so that the message names the field and the value (croner's own
 * messages say "Invalid value for minute: 61"), and rewrite "5/15" (croniter's "from 5 every 15", which
 * croner rejects) as "5-59/15". Returns the field upper-cased.
 */
function normaliseField(raw: string, spec: FieldSpec, src: string): string {
  const field = raw.toUpperCase();
  const fail = (what: string, token?: string): never => {
    const head = `schedule "${src}": ${spec.name} field "${raw}"`;
    throw invalid(token === undefined || token === field ? `${head} ${what}` : `${head}: ${token} ${what}`, src, { field: spec.name });
  };
  const isDay = spec.name === "day-of-month" || spec.name === "day-of-week";
  const value = (token: string): number => {
    const n = /^\d+$/.test(token) ? Number(token) : spec.names?.[token];
    if (n === undefined) {
      const names = spec.names ? ` or a name (${Object.keys(spec.names)[0]}-${Object.keys(spec.names).at(-1)})` : "";
      fail(`is not a number${names}`, token);
    }
    if (n! < spec.min || n! > spec.max) fail(`is out of range ${spec.min}-${spec.max}`, token);
    return n!;
  };
  const stepMax = spec.name === "day-of-week" ? 7 : spec.max - spec.min + 1;

  const items = field.split(",");
  const out: string[] = [];
  for (const item of items) {
    if (item === "") fail("has an empty list item");
    // Day-specific forms that croner supports: L, LW, 15W (day of month); 5L, FRI#2 (day of week).
    if (spec.name === "day-of-month" && /^(L|LW|\d+W)$/.test(item)) {
      if (item.endsWith("W") && item !== "LW") value(item.slice(0, -1));
      out.push(item);
      continue;
    }
    if (spec.name === "day-of-week" && /^[0-9A-Z]+(L|#\d+)$/.test(item)) {
      const hash = item.indexOf("#");
      value(hash >= 0 ? item.slice(0, hash) : item.slice(0, -1));
      if (hash >= 0 && !/^#[1-5]$/.test(item.slice(hash))) fail('needs a week number 1-5 after "#"', item);
      out.push(item);
      continue;
    }
    const m = /^(?:(\*|\?)|([0-9A-Z]+)(?:-([0-9A-Z]+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) fail('is not a cron field; use e.g. "*", "5", "1-5", "*/15", "1,15" or "5-59/15"', item);
    const [, star, a, b, step] = m!;
    if (star === "?" && !isDay) fail('uses "?", which only day-of-month and day-of-week allow', item);
    if (step !== undefined) {
      const s = Number(step);
      if (s < 1) fail("has a step of 0; the step must be at least 1", item);
      if (s > stepMax) fail(`has a step of ${s}, larger than the field's range ${spec.min}-${spec.max}`, item);
    }
    if (star !== undefined) {
      out.push(item);
      continue;
    }
    const lo = value(a!);
    if (b !== undefined) {
      const hi = value(b);
      if (lo > hi) fail(`is a range that runs backwards (${lo}-${hi}); split it, e.g. "${lo}-${spec.max},${spec.min}-${hi}"`, item);
      out.push(item);
    } else if (step !== undefined) {
      // "5/15" means "5-59/15" (croniter and Quartz); croner only takes the explicit form.
      out.push(`${a}-${spec.name === "day-of-week" ? 6 : spec.max}/${step}`);
    } else {
      out.push(item);
    }
  }
  return out.join(",");
}

function invalid(message: string, value: unknown, details: Record<string, unknown> = {}): SluiceError {
  return new SluiceError("INVALID_DAG", message, { details: { field: "schedule", value, ...details } });
}

// ---------------------------------------------------------------------------------------------------------
// Timezones: exact UTC offsets from Intl, cached as a table of transitions
// ---------------------------------------------------------------------------------------------------------

function canonicalTimezone(name: string, src: string): string {
  if (typeof name !== "string" || name.trim() === "") {
    throw invalid(`schedule "${src}": timezone must be an IANA name such as "Europe/Berlin" or "UTC"`, name, { field: "timezone" });
  }
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone: name.trim() }).resolvedOptions().timeZone;
  } catch {
    throw invalid(`schedule "${src}": unknown timezone "${name}"; use an IANA name such as "Europe/Berlin" or "UTC"`, name, {
      field: "timezone",
    });
  }
}

interface Transition {
  /** First instant with the new offset. */
  at: number;
  before: number;
  after: number;
}

// Offsets are looked up in per-year tables built from samples every 12 hours, each change bisected to the
// second (tzdata's precision). One Intl call costs ~5µs; a year's table ~750 calls, once per zone and year,
// after which an offset lookup is a scan of a handful of transitions. Assumes two changes that cancel each
// other never fall within 12 hours (true of every DST rule in tzdata).
const CHUNK_MS = 365 * DAY;
const SAMPLE_MS = 12 * HOUR;
/** Wider than any UTC offset (±14h) plus any DST jump: every instant a wall time can mean lies within it. */
const NEAR_MS = 2 * DAY;

class Zone {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly chunks = new Map<number, { first: number; transitions: Transition[] }>();
  private readonly utc: boolean;

  constructor(readonly name: string) {
    this.fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: name,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    this.utc = ["UTC", "Etc/UTC", "GMT", "Etc/GMT"].includes(name);
  }

  /** The offset (wall minus UTC) at instant t, straight from Intl. */
  private raw(t: number): number {
    const f: Record<string, number> = {};
    for (const p of this.fmt.formatToParts(t)) if (p.type !== "literal") f[p.type] = Number(p.value);
    const d = new Date(0);
    d.setUTCFullYear(f["year"]!, f["month"]! - 1, f["day"]);
    d.setUTCHours(f["hour"]!, f["minute"], f["second"], 0);
    return d.getTime() - (t - mod(t, SECOND));
  }

  private chunk(k: number): { first: number; transitions: Transition[] } {
    let c = this.chunks.get(k);
    if (c) return c;
    const start = k * CHUNK_MS;
    const first = this.raw(start);
    const transitions: Transition[] = [];
    let prevT = start;
    let prevO = first;
    for (let t = start + SAMPLE_MS; t <= start + CHUNK_MS; t += SAMPLE_MS) {
      const o = this.raw(t);
      // More than one change inside a sample window: find them one after the other.
      while (o !== prevO) {
        let lo = prevT;
        let hi = t;
        while (hi - lo > SECOND) {
          const mid = lo + Math.floor((hi - lo) / (2 * SECOND)) * SECOND;
          if (this.raw(mid) === prevO) lo = mid;
          else hi = mid;
        }
        const after = this.raw(hi);
        transitions.push({ at: hi, before: prevO, after });
        prevT = hi;
        prevO = after;
      }
      prevT = t;
    }
    c = { first, transitions };
    this.chunks.set(k, c);
    return c;
  }

  offsetAt(t: number): number {
    if (this.utc) return 0;
    const c = this.chunk(Math.floor(t / CHUNK_MS));
    let o = c.first;
    for (const tr of c.transitions) if (tr.at <= t) o = tr.after;
    return o;
  }

  /** Transitions with `at` in (a, b], oldest first. */
  transitionsIn(a: number, b: number): Transition[] {
    if (this.utc) return [];
    const out: Transition[] = [];
    for (let k = Math.floor(a / CHUNK_MS); k <= Math.floor(b / CHUNK_MS); k++) {
      for (const tr of this.chunk(k).transitions) if (tr.at > a && tr.at <= b) out.push(tr);
    }
    return out;
  }

  /** [smallest, largest] offset in force during [a, b]. */
  offsetRange(a: number, b: number): [number, number] {
    let lo = this.offsetAt(a);
    let hi = lo;
    for (const tr of this.transitionsIn(a, b)) {
      lo = Math.min(lo, tr.after);
      hi = Math.max(hi, tr.after);
    }
    return [lo, hi];
  }

  /** Every instant whose wall clock reads `wall` (as epoch ms of that wall time in UTC): 0, 1 or 2, ascending. */
  instants(wall: number): number[] {
    const near = this.transitionsIn(wall - NEAR_MS, wall + NEAR_MS);
    if (near.length === 0) return [wall - this.offsetAt(wall)];
    const offsets = new Set([this.offsetAt(wall - NEAR_MS), ...near.map((t) => t.after)]);
    const out: number[] = [];
    for (const o of offsets) if (this.offsetAt(wall - o) === o) out.push(wall - o);
    return out.sort((x, y) => x - y);
  }

  /** For a wall time that a spring-forward gap skips, the instant it is shifted to (by the gap's length). */
  gapShift(wall: number): number | null {
    for (const tr of this.transitionsIn(wall - NEAR_MS, wall + NEAR_MS)) {
      if (tr.after > tr.before && wall >= tr.at + tr.before && wall < tr.at + tr.after) return wall - tr.before;
    }
    return null;
  }
}

const zones = new Map<string, Zone>();
function zoneOf(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    canonicalTimezone(name, "(stored schedule)"); // a Schedule read back from JSON was never validated here
    z = new Zone(name);
    zones.set(name, z);
  }
  return z;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

// ---------------------------------------------------------------------------------------------------------
// Ticks: the instants at which intervals start and end
// ---------------------------------------------------------------------------------------------------------

/** The sorted set of a schedule's boundary instants. */
export interface Ticks {
  /** First tick strictly after t. */
  next(t: number): number | null;
  /** Last tick strictly before t. */
  prev(t: number): number | null;
}

/** Fixed intervals: the grid anchor + k·every. */
class GridTicks implements Ticks {
  constructor(
    private readonly anchor: number,
    private readonly every: number,
  ) {}
  next(t: number): number {
    return this.anchor + (Math.floor((t - this.anchor) / this.every) + 1) * this.every;
  }
  prev(t: number): number {
    return this.anchor + (Math.ceil((t - this.anchor) / this.every) - 1) * this.every;
  }
}

/**
 * Calendar deltas: the anchor's wall-clock time plus k·months, in the zone. Each tick is counted from the
 * anchor (not from the previous tick), so a day a month lacks clamps to its last day without drifting:
 * anchored on Jan 31, the ticks are Feb 28, Mar 31, Apr 30. Wall times map to instants by the cron rules
 * (the later occurrence in a fold, shifted forward in a gap), so "every 1 month" keeps its local time.
 */
class CalendarTicks implements Ticks {
  private readonly y: number;
  private readonly m: number;
  private readonly d: number;
  private readonly tod: number;
  private readonly zone: Zone;
  constructor(
    anchor: number,
    private readonly months: number,
    private readonly timezone: string,
  ) {
    this.zone = zoneOf(timezone);
    const wall = new Date(anchor + this.zone.offsetAt(anchor));
    this.y = wall.getUTCFullYear();
    this.m = wall.getUTCMonth();
    this.d = wall.getUTCDate();
    this.tod = mod(wall.getTime(), DAY);
  }
  private at(k: number): number {
    const total = this.m + k * this.months;
    const y = this.y + Math.floor(total / 12);
    const m = mod(total, 12);
    const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    return instantOfWallTime(Date.UTC(y, m, Math.min(this.d, last)) + this.tod, this.timezone, "later");
  }
  /** A k whose tick is near t (within a step or two). */
  private estimate(t: number): number {
    const w = new Date(t + this.zone.offsetAt(t));
    return Math.floor(((w.getUTCFullYear() - this.y) * 12 + (w.getUTCMonth() - this.m)) / this.months);
  }
  next(t: number): number {
    let k = this.estimate(t) - 1;
    while (this.at(k) <= t) k++;
    while (this.at(k - 1) > t) k--;
    return this.at(k);
  }
  prev(t: number): number {
    let k = this.estimate(t) + 1;
    while (this.at(k) >= t) k--;
    while (this.at(k + 1) < t) k++;
    return this.at(k);
  }
}

/** Several schedules' ticks as one set (Airflow's MultipleCronTriggerTimetable): a tick two share is one tick. */
class UnionTicks implements Ticks {
  constructor(private readonly parts: readonly Ticks[]) {}
  next(t: number): number | null {
    let best: number | null = null;
    for (const p of this.parts) {
      const n = p.next(t);
      if (n !== null && (best === null || n < best)) best = n;
    }
    return best;
  }
  prev(t: number): number | null {
    let best: number | null = null;
    for (const p of this.parts) {
      const n = p.prev(t);
      if (n !== null && (best === null || n > best)) best = n;
    }
    return best;
  }
}

interface CompiledCron {
  cron: Cron;
  /** The hour field matches all 24 hours: fire at every real instant that matches (see the file header). */
  everyHour: boolean;
}

const compiled = new Map<string, CompiledCron>();

function compileCron(expression: string, src = expression): CompiledCron {
  let c = compiled.get(expression);
  if (c) return c;
  try {
    const opts = { mode: "5-or-6-parts" as const };
    const pattern = new CronPattern(expression, undefined, opts);
    // utcOffset 0: croner as a plain calendar of wall-clock times; this module maps them to instants.
    const cron = new Cron(expression, { ...opts, utcOffset: 0, paused: true });
    c = { cron, everyHour: pattern.hour.every((h) => h !== 0) };
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^CronPattern:\s*/, "") : String(e);
    throw invalid(`schedule "${src}": ${why}`, src);
  }
  if (compiled.size >= 1000) compiled.clear(); // a bound, not a tuned cache: DAGs have few distinct schedules
  compiled.set(expression, c);
  return c;
}

class CronTicks implements Ticks {
  private readonly zone: Zone;
  constructor(
    private readonly c: CompiledCron,
    timezone: string,
  ) {
    this.zone = zoneOf(timezone);
  }

  private wallNext(w: number): number | null {
    return this.c.cron.nextRun(new Date(w))?.getTime() ?? null;
  }
  private wallPrev(w: number): number | null {
    return this.c.cron.previousRuns(1, new Date(w))[0]?.getTime() ?? null;
  }

  /** The instants a wall-clock tick fires at, by the DST rules in the file header. */
  private fire(wall: number): number[] {
    const at = this.zone.instants(wall);
    if (this.c.everyHour) return at; // both occurrences in a fold, none in a gap
    if (at.length > 0) return [at[at.length - 1]!]; // the later occurrence, as Airflow (fold=1)
    const shifted = this.zone.gapShift(wall);
    return shifted === null ? [] : [shifted];
  }

  // Wall ticks map to instants almost in order: only a DST jump (a few hours) can reorder them. So scan
  // wall ticks from the earliest one that could map past t, and stop once no later wall tick can map
  // before the best instant found. Away from DST changes this is one croner call.
  next(t: number): number | null {
    const [lo] = this.zone.offsetRange(t - NEAR_MS, t + NEAR_MS);
    let best = null as number | null; // not narrowed to null: TypeScript misses the inner loop's assignments
    let hi = 0;
    for (let w = this.wallNext(t + lo); w !== null; w = this.wallNext(w)) {
      if (best !== null && w > best + hi) break;
      for (const u of this.fire(w)) {
        if (u > t && (best === null || u < best)) {
          best = u;
          hi = this.zone.offsetRange(u - NEAR_MS, u + NEAR_MS)[1];
        }
      }
      if (best !== null && w >= best + hi) break;
    }
    return best;
  }

  prev(t: number): number | null {
    const [, hi] = this.zone.offsetRange(t - NEAR_MS, t + NEAR_MS);
    let best = null as number | null; // not narrowed to null: TypeScript misses the inner loop's assignments
    let lo = 0;
    for (let w = this.wallPrev(t + hi); w !== null; w = this.wallPrev(w)) {
      if (best !== null && w < best + lo) break;
      for (const u of this.fire(w)) {
        if (u < t && (best === null || u > best)) {
          best = u;
          lo = this.zone.offsetRange(u - NEAR_MS, u + NEAR_MS)[0];
        }
      }
      if (best !== null && w <= best + lo) break;
    }
    return best;
  }
}

/**
 * The ticks of a built-in schedule. `anchor` (the DAG's startDate) is the origin of fixed and calendar
 * deltas; a calendar delta without one counts from 1970-01-01 00:00 in its zone (the 1st of the month,
 * midnight local).
 */
export function ticksOf(schedule: Schedule, anchor: number | null): Ticks {
  if (schedule.kind === "cron") return new CronTicks(compileCron(schedule.expression), schedule.timezone);
  if (schedule.kind === "calendar") return new CalendarTicks(anchor ?? instantOfWallTime(0, schedule.timezone), schedule.months, schedule.timezone);
  // a trigger's fixed delta without a startDate lies on the Unix epoch's grid, as the data-interval one
  if (schedule.kind === "trigger") return new UnionTicks(schedule.on.map((s) => ticksOf(s, anchor ?? 0)));
  if (schedule.kind === "custom") throw new SluiceError("INVALID_DAG", `timetable "${schedule.name}" is the DAG's own code; it has no built-in ticks`);
  if (anchor === null) {
    throw new SluiceError(
      "INVALID_DAG",
      `schedule "${describeSchedule(schedule)}" needs a startDate: fixed intervals are laid out from it`,
      { details: { field: "startDate" } },
    );
  }
  return new GridTicks(anchor, schedule.everyMs);
}

/** First tick at or after t (times are whole milliseconds). */
export function atOrAfter(ticks: Ticks, t: number): number | null {
  return ticks.next(t - 1);
}

/** Last tick at or before t. */
export function atOrBefore(ticks: Ticks, t: number): number | null {
  return ticks.prev(t + 1);
}

// ---------------------------------------------------------------------------------------------------------
// Data intervals
// ---------------------------------------------------------------------------------------------------------

/**
 * The next data interval to schedule for a DAG, or null when it would start after endDate. The caller
 * creates the run once `interval.end <= now`; until then, calling again returns the same interval.
 *
 * The start is the latest of:
 *  - the first tick at or after `lastEnd` (so no interval ever starts before lastEnd: no duplicates);
 *  - the first tick at or after `startDate`;
 *  - with catchup false, the start of the latest complete interval (the one ending at the last tick <= now).
 * With catchup true that last bound is left out, so every missed interval comes, oldest first.
 *
 * Differences from Airflow, on purpose: after a schedule change, Airflow aligns `lastEnd` back to the
 * previous tick (re-covering part of an interval); here it aligns forward. Fixed intervals stay on the
 * startDate grid after a catchup=false skip (Airflow rounds to the Unix epoch). A cron DAG with neither a
 * startDate nor a previous run starts from the latest complete interval even with catchup true (Airflow
 * would never schedule it).
 *
 * @example
 * const daily = parseSchedule("@daily");
 * nextDataInterval(daily, { lastEnd: null, startDate: Date.UTC(2026, 0, 1), endDate: null, catchup: true, now })
 * // { start: 2026-01-01T00:00Z, end: 2026-01-02T00:00Z } in epoch ms; due once now >= end
 */
export function nextDataInterval(schedule: Schedule, opts: NextIntervalOptions): DataInterval | null {
  return nextIntervalOn(ticksOf(schedule, opts.startDate ?? null), opts);
}

/**
 * {@link nextDataInterval} on given ticks (whose grid origin may differ from `opts.startDate`: a backfill
 * bounds by its `--from` but keeps the DAG's grid).
 */
export function nextIntervalOn(ticks: Ticks, opts: NextIntervalOptions): DataInterval | null {
  // `?? null`: plain-JS callers and JSON round trips hand in undefined for "none".
  const lastEnd = opts.lastEnd ?? null;
  const startDate = opts.startDate ?? null;
  const endDate = opts.endDate ?? null;
  const { catchup, now } = opts;
  const bounds: number[] = [];
  const push = (t: number | null): void => {
    if (t !== null) bounds.push(t);
  };
  if (lastEnd !== null) push(atOrAfter(ticks, lastEnd));
  if (startDate !== null) push(atOrAfter(ticks, startDate));
  if (!catchup || (lastEnd === null && startDate === null)) {
    const end = atOrBefore(ticks, now);
    push(end === null ? null : ticks.prev(end));
  }
  const start = bounds.length > 0 ? Math.max(...bounds) : atOrAfter(ticks, now);
  if (start === null) return null;
  if (endDate !== null && start > endDate) return null;
  const end = ticks.next(start);
  return end === null ? null : { start, end };
}

/**
 * Every data interval whose start lies in [from, to], oldest first: what a backfill runs. Throws
 * SluiceError "USAGE" when there are more than `limit`, so a typo in a date cannot create a million runs.
 * Fixed-interval schedules are laid on a grid from `anchor` (pass the DAG's startDate to line up with its
 * scheduled runs); without one, from `from`, as Airflow's backfill does.
 *
 * @example
 * intervalsBetween(parseSchedule("@daily"), Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 3))
 * // three intervals: Jan 1-2, Jan 2-3, Jan 3-4
 */
export function intervalsBetween(schedule: Schedule, from: number, to: number, limit = 1000, anchor?: number): DataInterval[] {
  if (!Number.isInteger(limit) || limit < 1) throw new SluiceError("USAGE", `limit must be a positive integer, got ${limit}`);
  const ticks = ticksOf(schedule, anchor ?? from);
  const out: DataInterval[] = [];
  let start = atOrAfter(ticks, from);
  while (start !== null && start <= to) {
    const end = ticks.next(start);
    if (end === null) break;
    if (out.length === limit) {
      throw new SluiceError(
        "USAGE",
        `${new Date(from).toISOString()} to ${new Date(to).toISOString()} holds more than ${limit} intervals of ${describeSchedule(schedule)}; narrow the range or raise the limit`,
        { details: { limit } },
      );
    }
    out.push({ start, end });
    start = end;
  }
  return out;
}

/**
 * The instant a wall-clock time means in `timezone` (`wall`: that wall time as epoch ms read as UTC). A
 * wall time that happens twice (fall-back) gives its earlier or later occurrence; one in a spring-forward
 * gap is shifted forward by the gap, as for cron ticks. Used to read user dates ("2026-03-01") as the
 * DAG's days.
 *
 * @example
 * instantOfWallTime(Date.UTC(2026, 2, 1), "Europe/Berlin") // 2026-02-28T23:00:00Z
 */
export function instantOfWallTime(wall: number, timezone: string, occurrence: "earlier" | "later" = "earlier"): number {
  const zone = zoneOf(timezone);
  const all = zone.instants(wall);
  if (all.length > 0) return occurrence === "earlier" ? all[0]! : all[all.length - 1]!;
  return zone.gapShift(wall) ?? wall - zone.offsetAt(wall);
}

// ---------------------------------------------------------------------------------------------------------
// Description
// ---------------------------------------------------------------------------------------------------------

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * A one-line summary for `dags list`: always the expression and timezone, plus plain words for the common
 * shapes. (The next due time depends on the DAG's state: get it from {@link nextDataInterval}.)
 *
 * @example
 * describeSchedule(parseSchedule("30 2 * * *", "Europe/Berlin")) // 'cron "30 2 * * *" in Europe/Berlin: every day at 02:30'
 * describeSchedule(parseSchedule("every 1h30m"))                 // "every 1h30m"
 */
export function describeSchedule(s: Schedule): string {
  if (s.kind === "interval") return `every ${formatEvery(s.everyMs)}`;
  if (s.kind === "calendar") {
    const years = s.months % 12 === 0 ? s.months / 12 : null;
    const n = years ?? s.months;
    return `every ${n} ${years !== null ? "year" : "month"}${n === 1 ? "" : "s"} in ${s.timezone}`;
  }
  if (s.kind === "trigger") {
    const now = s.runImmediately === true ? ", first run immediately" : typeof s.runImmediately === "number" ? `, first run immediately if within ${formatEvery(s.runImmediately)}` : "";
    return `runs at ${s.on.map(describeSchedule).join(" and ")} (trigger: no data interval${now})`;
  }
  if (s.kind === "custom") return s.description;
  const words = cronWords(s.expression, s.hasSeconds);
  return `cron "${s.expression}" in ${s.timezone}${words ? `: ${words}` : ""}`;
}

function formatEvery(ms: number): string {
  const units: [string, number][] = [["d", DAY], ["h", HOUR], ["m", MINUTE], ["s", SECOND], ["ms", 1]];
  let rest = ms;
  let out = "";
  for (const [u, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${u}`;
    rest -= n * size;
  }
  return out || "0ms";
}

function cronWords(expression: string, hasSeconds: boolean): string | null {
  const f = expression.split(" ");
  if (hasSeconds && f.shift() !== "0") return null;
  const [min, hour, dom, mon, dow] = f as [string, string, string, string, string];
  const num = (x: string): boolean => /^\d+$/.test(x);
  const at = num(min) && num(hour) ? `at ${hour.padStart(2, "0")}:${min.padStart(2, "0")}` : null;
  if (at && dom === "*" && mon === "*" && dow === "*") return `every day ${at}`;
  if (at && dom === "*" && mon === "*" && num(dow)) return `every ${DAY_NAMES[Number(dow)]} ${at}`;
  if (at && dom === "*" && mon === "*" && dow === "1-5") return `every weekday ${at}`;
  if (at && num(dom) && mon === "*" && dow === "*") return `on day ${dom} of every month ${at}`;
  if (at && num(dom) && num(mon) && dow === "*") return `every year on ${MONTH_NAMES[Number(mon) - 1]} ${dom} ${at}`;
  if (dom !== "*" || mon !== "*" || dow !== "*") return null;
  if (num(min) && hour === "*") return min === "0" ? "every hour, on the hour" : `every hour at minute ${min}`;
  if (min === "*" && hour === "*") return "every minute";
  const step = /^\*\/(\d+)$/.exec(min);
  if (step && hour === "*") return `every ${step[1]} minutes`;
  return null;
}
