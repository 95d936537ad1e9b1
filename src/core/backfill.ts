/**
 * Backfills, the pure part: which data intervals a backfill runs (Airflow 3's reprocess behaviours), the
 * claim priority of backfill work, and how `--from`/`--to` are read. No I/O; the engine (engine/backfill)
 * and the store (store/backfills) do the rest. See docs/decisions/0006-backfills.md.
 */
import { SluiceError } from "../errors.js";
import type { RunState } from "./states.js";
import { instantOfWallTime } from "./schedules.js";

/**
 * What a backfill does with an interval that already has a run (Airflow 3's reprocess_behavior):
 *  - `missing`: nothing — only intervals without a run get one (Airflow's "none");
 *  - `failed`: a failed run is cleared and runs again (Airflow's "failed");
 *  - `all`: a finished run, failed or successful, is cleared and runs again (Airflow's "completed").
 * A run that is still queued or running is never touched, whatever the behaviour.
 */
export type Reprocess = "missing" | "failed" | "all";
export const REPROCESS_BEHAVIOURS: readonly Reprocess[] = ["missing", "failed", "all"];

/** Airflow's spellings are accepted too. */
const ALIASES: Readonly<Record<string, Reprocess>> = { missing: "missing", none: "missing", failed: "failed", all: "all", completed: "all" };

export function parseReprocess(text: string): Reprocess {
  const r = ALIASES[text.toLowerCase()];
  if (!r) throw new SluiceError("USAGE", `--reprocess must be one of ${REPROCESS_BEHAVIOURS.join(", ")}, got "${text}"`);
  return r;
}

/**
 * What the backfill does for one interval, given the state of the interval's run (null: no run yet):
 * `create` a run, `reprocess` (clear) the finished run, or skip it because it `exists` (and the behaviour
 * keeps it) or is `in_flight`.
 */
export type IntervalAction = "create" | "reprocess" | "skip_exists" | "skip_in_flight";

export function intervalAction(existing: RunState | null, reprocess: Reprocess): IntervalAction {
  if (existing === null) return "create";
  if (existing === "queued" || existing === "running") return "skip_in_flight";
  if (reprocess === "all" || (reprocess === "failed" && existing === "failed")) return "reprocess";
  return "skip_exists";
}

/**
 * Claim priority. Workers claim ready task instances by `priority desc, ready_at`; a backfill run's task
 * instances get their task's priority minus this offset, so every live (scheduled, manual, event) task
 * instance is claimed before any backfill one: a live run waits at most for one busy slot to free, however
 * long the backfill. Task priorities are clamped to ±PRIORITY_BOUND first, so the two bands never overlap
 * and the result still fits a 32-bit integer column. Within a backfill, task priorities keep their order.
 */
export const BACKFILL_PRIORITY_OFFSET = 1_000_000_000;
export const PRIORITY_BOUND = 400_000_000;

export function backfillPriority(taskPriority: number): number {
  return Math.max(-PRIORITY_BOUND, Math.min(PRIORITY_BOUND, Math.trunc(taskPriority))) - BACKFILL_PRIORITY_OFFSET;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Read a `--from`/`--to` value. A date or a date-time without an offset is a wall-clock time in `timezone`
 * (the DAG's schedule's), so `--from 2026-03-01` means midnight where the DAG's days begin; with `Z` or an
 * offset it is that instant. A wall time that happens twice (DST fall-back) means its `earlier` or later
 * occurrence; one a spring-forward gap skips is shifted forward by the gap.
 *
 * @example
 * parseBackfillDate("2026-03-01", "--from", "Europe/Berlin", "earlier") // 2026-02-28T23:00:00Z
 * parseBackfillDate("2026-03-01T06:00:00Z", "--to", "Europe/Berlin", "later") // 2026-03-01T06:00:00Z
 */
export function parseBackfillDate(text: string, flag: string, timezone: string, occurrence: "earlier" | "later"): number {
  const m = DATE_RE.exec(text.trim());
  const bad = () =>
    new SluiceError("USAGE", `${flag} "${text}" is not a date; use ISO 8601: 2026-03-01, 2026-03-01T06:00 (in the DAG's timezone, ${timezone}) or 2026-03-01T06:00:00Z`, {
      details: { flag, value: text },
    });
  if (!m) throw bad();
  const [y, mo, d, h, mi, s, ms] = [m[1], m[2], m[3], m[4], m[5], m[6], m[7]].map((x, i) => (x === undefined ? 0 : i === 6 ? Number(x.padEnd(3, "0")) : Number(x))) as [
    number, number, number, number, number, number, number,
  ];
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const w = new Date(wall);
  // Date.UTC rolls 2026-02-30 over to March 2: a date that does not exist is a mistake, not a date
  if (w.getUTCFullYear() !== y || w.getUTCMonth() !== mo - 1 || w.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw bad();
  const zone = m[8];
  if (zone === undefined) return instantOfWallTime(wall, timezone, occurrence);
  if (zone.toUpperCase() === "Z") return wall;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  if (offsetMin > 14 * 60) throw bad();
  return wall - sign * offsetMin * 60_000;
}
