/**
 * Timetables (core/timetables.ts): the trigger timetables, calendar deltas, manual data intervals and a
 * user's own timetable (a business-days example), all through the one `Timetable` interface the scheduler
 * and backfills use. Table tests; no I/O.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { DagSpec } from "../../src/core/dagSpec.js";
import type { DataInterval } from "../../src/core/schedules.js";
import { manualDataInterval, parseScheduleOption, runsBetween, timetableOf, type NextRunQuery, type Timetable } from "../../src/core/timetables.js";
import { SluiceError } from "../../src/errors.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const utc = (iso: string): number => Date.parse(iso.endsWith("Z") ? iso : `${iso}Z`);
const iso = (t: number) => new Date(t).toISOString().replace(":00.000Z", "Z");
const show = (i: DataInterval | null) => (i === null ? null : `${iso(i.start)} .. ${iso(i.end)}`);

/** A DAG's timetable as the scheduler builds it, from the DSL's schedule option. */
function tt(option: unknown, o: { timezone?: string; startDate?: string } = {}): Timetable {
  const { schedule, custom } = parseScheduleOption(option, o.timezone, "d");
  return timetableOf({ id: "d", schedule, startDate: o.startDate === undefined ? (schedule.kind === "interval" ? 0 : null) : utc(o.startDate) } as Pick<DagSpec, "id" | "schedule" | "startDate">, custom)!;
}

function q(o: Partial<NextRunQuery> & { now: number }): NextRunQuery {
  return { lastEnd: null, startDate: null, endDate: null, catchup: false, ...o };
}

/** Drive nextRun as the scheduler does: each run's end is the next query's lastEnd, until `until`. */
function walk(t: Timetable, o: { startDate?: number | null; catchup?: boolean; now: number }, until: number): string[] {
  const out: string[] = [];
  let lastEnd: number | null = null;
  for (let i = 0; i < 100; i++) {
    const r = t.nextRun(q({ lastEnd, startDate: o.startDate ?? null, catchup: o.catchup ?? true, now: o.now }));
    if (r === null || r.start >= until) break;
    out.push(show(r)!);
    lastEnd = r.end;
  }
  return out;
}

function throwsInvalid(fn: () => unknown, message: RegExp, field?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, "INVALID_DAG");
    assert.match(e.message, message);
    if (field !== undefined) assert.equal((e.details as { field?: string }).field, field);
    return true;
  });
}

describe("cron trigger timetable (Airflow 3's CronTriggerTimetable)", () => {
  const daily6 = tt({ trigger: "0 6 * * *" }, { startDate: "2026-01-01" });

  test("a run at each tick: the logical date is the tick and the data interval [tick, tick]", () => {
    assert.deepEqual(walk(daily6, { startDate: utc("2026-01-01"), now: utc("2026-01-04") }, utc("2026-01-04")), [
      "2026-01-01T06:00Z .. 2026-01-01T06:00Z",
      "2026-01-02T06:00Z .. 2026-01-02T06:00Z",
      "2026-01-03T06:00Z .. 2026-01-03T06:00Z",
    ]);
  });

  // [query, expected next run] — the rows of Airflow's _TriggerTimetable.next_dagrun_info
  const rows: [string, Partial<NextRunQuery> & { now: number }, string | null][] = [
    ["catchup: the tick after the last run", { catchup: true, lastEnd: utc("2026-01-02T06:00"), now: utc("2026-03-01") }, "2026-01-03T06:00Z"],
    ["catchup, no runs: the first tick at or after startDate", { catchup: true, startDate: utc("2026-01-01T06:00"), now: utc("2026-03-01") }, "2026-01-01T06:00Z"],
    ["no catchup after a downtime: the latest past tick", { lastEnd: utc("2026-01-02T06:00"), now: utc("2026-03-01T12:00") }, "2026-03-01T06:00Z"],
    ["no catchup, last run is the latest past tick: the next tick", { lastEnd: utc("2026-03-01T06:00"), now: utc("2026-03-01T12:00") }, "2026-03-02T06:00Z"],
    ["no catchup, startDate in the future: its first tick", { startDate: utc("2026-05-01"), now: utc("2026-03-01T12:00") }, "2026-05-01T06:00Z"],
    ["no catchup, startDate in the past, no runs: the latest past tick", { startDate: utc("2026-01-01"), now: utc("2026-03-01T12:00") }, "2026-03-01T06:00Z"],
    ["no startDate, no runs, runImmediately false (default): the next tick", { now: utc("2026-03-01T06:01") }, "2026-03-02T06:00Z"],
    ["a tick at exactly now is the latest past tick", { lastEnd: utc("2026-02-28T06:00"), now: utc("2026-03-01T06:00") }, "2026-03-01T06:00Z"],
    ["endDate before the next tick: no run", { lastEnd: utc("2026-03-01T06:00"), endDate: utc("2026-03-02T05:59"), now: utc("2026-03-01T12:00") }, null],
    ["endDate at the tick: that run still happens", { lastEnd: utc("2026-03-01T06:00"), endDate: utc("2026-03-02T06:00"), now: utc("2026-03-01T12:00") }, "2026-03-02T06:00Z"],
  ];
  for (const [name, query, want] of rows) {
    test(name, () => {
      const r = daily6.nextRun(q(query));
      assert.equal(r === null ? null : iso(r.start), want);
      if (r) assert.equal(r.end, r.start, "a trigger run's data interval is [tick, tick]");
    });
  }

  test("runImmediately (no startDate, no runs): true runs the latest past tick; a window runs it only if it was that recent", () => {
    const now = utc("2026-03-01T06:20");
    const at = (option: unknown) => iso(tt(option).nextRun(q({ now }))!.start);
    assert.equal(at({ trigger: "0 6 * * *", runImmediately: true }), "2026-03-01T06:00Z");
    assert.equal(at({ trigger: "0 6 * * *", runImmediately: false }), "2026-03-02T06:00Z");
    assert.equal(at({ trigger: "0 6 * * *", runImmediately: "30m" }), "2026-03-01T06:00Z");
    assert.equal(at({ trigger: "0 6 * * *", runImmediately: "10m" }), "2026-03-02T06:00Z");
    assert.equal(at({ trigger: "0 6 * * *", runImmediately: 20 * MIN }), "2026-03-01T06:00Z");
    // with catchup too: it decides the very first run
    assert.equal(iso(tt({ trigger: "0 6 * * *", runImmediately: true }).nextRun(q({ now, catchup: true }))!.start), "2026-03-01T06:00Z");
    // a startDate makes it moot (Airflow: "no effect if there is restriction on earliest")
    assert.equal(iso(tt({ trigger: "0 6 * * *", runImmediately: false }, { startDate: "2026-01-01" }).nextRun(q({ now, startDate: utc("2026-01-01") }))!.start), "2026-03-01T06:00Z");
  });

  test("a manual run's data interval is [logicalDate, logicalDate]", () => {
    const t = utc("2026-03-01T09:17");
    assert.deepEqual(manualDataInterval(daily6, t), { start: t, end: t });
  });

  test("ticks are wall-clock times in the DAG's timezone, with the cron DST rules", () => {
    const berlin = tt({ trigger: "30 2 * * *" }, { timezone: "Europe/Berlin", startDate: "2026-03-28" });
    // spring forward on 2026-03-29: 02:30 does not exist and runs at 03:30 CEST (01:30Z)
    assert.deepEqual(walk(berlin, { startDate: utc("2026-03-28"), now: utc("2026-04-01") }, utc("2026-03-31")), [
      "2026-03-28T01:30Z .. 2026-03-28T01:30Z",
      "2026-03-29T01:30Z .. 2026-03-29T01:30Z",
      "2026-03-30T00:30Z .. 2026-03-30T00:30Z",
    ]);
  });
});

describe("multiple crons (Airflow's MultipleCronTriggerTimetable)", () => {
  const t = tt({ trigger: ["0 6 * * 1-5", "30 9 * * 6", "0 6 * * 1"] }, { startDate: "2026-01-02" });

  test("a run at every tick of any cron, one run when two share a tick, in order", () => {
    // 2026-01-02 is a Friday
    assert.deepEqual(walk(t, { startDate: utc("2026-01-02"), now: utc("2026-02-01") }, utc("2026-01-07")), [
      "2026-01-02T06:00Z .. 2026-01-02T06:00Z",
      "2026-01-03T09:30Z .. 2026-01-03T09:30Z",
      "2026-01-05T06:00Z .. 2026-01-05T06:00Z",
      "2026-01-06T06:00Z .. 2026-01-06T06:00Z",
    ]);
  });

  test("without catchup: the latest past tick of any cron", () => {
    assert.equal(show(t.nextRun(q({ lastEnd: utc("2026-01-02T06:00"), now: utc("2026-01-10T12:00") }))), "2026-01-10T09:30Z .. 2026-01-10T09:30Z");
  });

  test("a manual run: [logicalDate, logicalDate]", () => {
    assert.deepEqual(manualDataInterval(t, 123_456), { start: 123_456, end: 123_456 });
  });
});

describe("delta timetables", () => {
  test('"every 3 days" is a data interval on a grid aligned to startDate', () => {
    const t = tt("every 3 days", { startDate: "2026-01-01T12:00" });
    assert.deepEqual(walk(t, { startDate: utc("2026-01-01T12:00"), now: utc("2026-02-01") }, utc("2026-01-08")), [
      "2026-01-01T12:00Z .. 2026-01-04T12:00Z",
      "2026-01-04T12:00Z .. 2026-01-07T12:00Z",
      "2026-01-07T12:00Z .. 2026-01-10T12:00Z",
    ]);
  });

  test('"every 1 month" counts calendar months from startDate; a day a month lacks is its last day, without drift', () => {
    const t = tt("every 1 month", { startDate: "2026-01-31T08:00" });
    assert.deepEqual(walk(t, { startDate: utc("2026-01-31T08:00"), now: utc("2027-01-01") }, utc("2026-05-01")), [
      "2026-01-31T08:00Z .. 2026-02-28T08:00Z",
      "2026-02-28T08:00Z .. 2026-03-31T08:00Z",
      "2026-03-31T08:00Z .. 2026-04-30T08:00Z",
      "2026-04-30T08:00Z .. 2026-05-31T08:00Z",
    ]);
  });

  test('"every 1 month" keeps its local time across DST; without a startDate it is the 1st at midnight local', () => {
    const t = tt("every 1 month", { timezone: "Europe/Berlin" });
    assert.deepEqual(walk(t, { startDate: utc("2026-02-01"), now: utc("2027-01-01") }, utc("2026-05-01")), [
      "2026-02-28T23:00Z .. 2026-03-31T22:00Z", // 1 March 00:00 CET .. 1 April 00:00 CEST
      "2026-03-31T22:00Z .. 2026-04-30T22:00Z",
      "2026-04-30T22:00Z .. 2026-05-31T22:00Z",
    ]);
  });

  test('"every 1 year": yearly on the startDate; Feb 29 falls on Feb 28 in other years', () => {
    const t = tt("every 1 year", { startDate: "2024-02-29" });
    assert.deepEqual(walk(t, { startDate: utc("2024-02-29"), now: utc("2030-01-01") }, utc("2026-01-01")), [
      "2024-02-29T00:00Z .. 2025-02-28T00:00Z",
      "2025-02-28T00:00Z .. 2026-02-28T00:00Z",
    ]);
  });

  test("a data-interval delta's manual run covers the latest complete interval on the grid", () => {
    const t = tt("every 1 month", { startDate: "2026-01-15" });
    assert.equal(show(manualDataInterval(t, utc("2026-04-20T10:00"))), "2026-03-15T00:00Z .. 2026-04-15T00:00Z");
  });

  test('a delta trigger ("every 3 days") runs at the ticks and starts at once by default (Airflow\'s DeltaTriggerTimetable)', () => {
    const t = tt({ trigger: "every 3 days" });
    assert.equal(show(t.nextRun(q({ now: utc("1970-01-05T12:00") }))), "1970-01-04T00:00Z .. 1970-01-04T00:00Z");
    assert.equal(show(t.nextRun(q({ lastEnd: utc("1970-01-04"), now: utc("1970-01-05T12:00") }))), "1970-01-07T00:00Z .. 1970-01-07T00:00Z");
  });
});

describe("manual runs' data intervals (Airflow's infer_manual_data_interval)", () => {
  const rows: [string, unknown, string, string][] = [
    ["@daily, triggered at 01:00 on the 25th: the 24th", "@daily", "2026-03-25T01:00", "2026-03-24T00:00Z .. 2026-03-25T00:00Z"],
    ["@daily, triggered exactly at midnight: the day before", "@daily", "2026-03-25T00:00", "2026-03-24T00:00Z .. 2026-03-25T00:00Z"],
    ["@hourly", "@hourly", "2026-03-25T10:59", "2026-03-25T09:00Z .. 2026-03-25T10:00Z"],
    ["a trigger timetable: the logical date itself", { trigger: "@daily" }, "2026-03-25T01:00", "2026-03-25T01:00Z .. 2026-03-25T01:00Z"],
  ];
  for (const [name, option, at, want] of rows) test(name, () => assert.equal(show(manualDataInterval(tt(option), utc(at))), want));

  test("a DAG without a time schedule: [logicalDate, logicalDate]", () => {
    assert.deepEqual(manualDataInterval(null, 42), { start: 42, end: 42 });
  });
});

describe("runsBetween: what a backfill runs, for every timetable", () => {
  test("a data-interval cron: every interval starting in [from, to]", () => {
    assert.deepEqual(runsBetween(tt("@daily"), utc("2026-01-01"), utc("2026-01-03"), utc("2026-02-01")).map(show), [
      "2026-01-01T00:00Z .. 2026-01-02T00:00Z",
      "2026-01-02T00:00Z .. 2026-01-03T00:00Z",
      "2026-01-03T00:00Z .. 2026-01-04T00:00Z",
    ]);
  });

  test("a trigger timetable: every tick in [from, to]", () => {
    assert.deepEqual(runsBetween(tt({ trigger: ["0 6 * * *", "0 18 * * *"] }), utc("2026-01-01T07:00"), utc("2026-01-02T18:00"), utc("2026-02-01")).map(show), [
      "2026-01-01T18:00Z .. 2026-01-01T18:00Z",
      "2026-01-02T06:00Z .. 2026-01-02T06:00Z",
      "2026-01-02T18:00Z .. 2026-01-02T18:00Z",
    ]);
  });

  test("a fixed delta stays on the DAG's startDate grid, whatever --from says", () => {
    assert.deepEqual(runsBetween(tt("every 1d", { startDate: "2026-01-01T06:00" }), utc("2026-01-02"), utc("2026-01-03"), utc("2026-02-01")).map(show), [
      "2026-01-02T06:00Z .. 2026-01-03T06:00Z",
    ]);
  });

  test("more runs than the limit throw USAGE", () => {
    assert.throws(
      () => runsBetween(tt({ trigger: "@hourly" }), utc("2026-01-01"), utc("2026-01-02"), utc("2026-02-01"), 10),
      (e: unknown) => e instanceof SluiceError && e.code === "USAGE" && /holds more than 10 runs/.test(e.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// A user's own timetable: business days with holidays (the README's example)
// ---------------------------------------------------------------------------------------------------------

/**
 * A run per business day (Monday to Friday, except `holidays`), covering that day [00:00, 24:00) UTC and
 * running once it is over — Airflow's AfterWorkdayTimetable, with holidays. Pure: only its arguments.
 */
function businessDays(holidays: readonly string[]): Timetable {
  const off = new Set(holidays);
  const isBusinessDay = (day: number) => {
    const d = new Date(day);
    return d.getUTCDay() !== 0 && d.getUTCDay() !== 6 && !off.has(d.toISOString().slice(0, 10));
  };
  /** The first business day starting at or after t. */
  const from = (t: number) => {
    let day = Math.ceil(t / DAY) * DAY;
    while (!isBusinessDay(day)) day += DAY;
    return day;
  };
  /** The latest business day that is over at t. */
  const latestOver = (t: number) => {
    let day = Math.floor(t / DAY) * DAY - DAY;
    while (!isBusinessDay(day)) day -= DAY;
    return day;
  };
  return {
    name: "business-days",
    description: `every business day except ${holidays.length} holidays, after it ends`,
    nextRun({ lastEnd, startDate, endDate, catchup, now }) {
      const starts: number[] = [];
      if (lastEnd !== null) starts.push(from(lastEnd));
      if (startDate !== null) starts.push(from(startDate));
      if (!catchup || starts.length === 0) starts.push(latestOver(now));
      const start = Math.max(...starts);
      if (endDate !== null && start > endDate) return null;
      return { start, end: start + DAY };
    },
    inferManualDataInterval(logicalDate) {
      const start = latestOver(logicalDate);
      return { start, end: start + DAY };
    },
  };
}

describe("a user's own timetable: business days with holidays", () => {
  const holidays = ["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"];
  const t = tt(businessDays(holidays));

  test("runs each business day, skipping weekends and holidays, each due when its day is over", () => {
    assert.deepEqual(walk(t, { startDate: utc("2026-12-21"), now: utc("2027-02-01") }, utc("2027-01-06")), [
      "2026-12-21T00:00Z .. 2026-12-22T00:00Z",
      "2026-12-22T00:00Z .. 2026-12-23T00:00Z",
      "2026-12-23T00:00Z .. 2026-12-24T00:00Z",
      "2026-12-28T00:00Z .. 2026-12-29T00:00Z",
      "2026-12-29T00:00Z .. 2026-12-30T00:00Z",
      "2026-12-30T00:00Z .. 2026-12-31T00:00Z",
      "2027-01-04T00:00Z .. 2027-01-05T00:00Z",
      "2027-01-05T00:00Z .. 2027-01-06T00:00Z",
    ]);
  });

  test("without catchup after a downtime: only the latest business day that is over", () => {
    assert.equal(show(t.nextRun(q({ lastEnd: utc("2026-12-01"), now: utc("2026-12-27T10:00") }))), "2026-12-23T00:00Z .. 2026-12-24T00:00Z");
  });

  test("a manual run on a Monday morning covers the Friday before", () => {
    assert.equal(show(manualDataInterval(t, utc("2026-12-28T08:00"))), "2026-12-23T00:00Z .. 2026-12-24T00:00Z");
  });

  test("backfills work through the same interface", () => {
    assert.deepEqual(runsBetween(t, utc("2026-12-24"), utc("2027-01-01"), utc("2027-02-01")).map(show), [
      "2026-12-28T00:00Z .. 2026-12-29T00:00Z",
      "2026-12-29T00:00Z .. 2026-12-30T00:00Z",
      "2026-12-30T00:00Z .. 2026-12-31T00:00Z",
    ]);
  });

  test("its spec is plain data: name, description and timezone", () => {
    const { schedule } = parseScheduleOption(businessDays(holidays), "Europe/Berlin", "d");
    assert.deepEqual(schedule, { kind: "custom", name: "business-days", description: "every business day except 4 holidays, after it ends", timezone: "Europe/Berlin" });
    assert.doesNotThrow(() => JSON.stringify(schedule));
  });

  test("an answer that does not move forward is an error naming the DAG and the timetable, not a scheduler loop", () => {
    const stuck = tt({ name: "stuck", nextRun: () => ({ start: 0, end: DAY }) });
    throwsInvalid(() => stuck.nextRun(q({ lastEnd: DAY, now: 5 * DAY })), /^DAG "d": timetable "stuck": nextRun must move forward/);
    const wrong = tt({ name: "wrong", nextRun: () => ({ start: "soon" }) });
    throwsInvalid(() => wrong.nextRun(q({ now: 5 * DAY })), /timetable "wrong": nextRun must return \{ start, end \}/);
  });

  test("a DAG whose own timetable this process has not loaded cannot be scheduled from the spec alone", () => {
    const { schedule } = parseScheduleOption(businessDays([]), undefined, "d");
    throwsInvalid(() => timetableOf({ id: "d", schedule, startDate: null }), /DAG "d": its timetable "business-days" is the DAG's code/);
  });
});

describe("parseScheduleOption: bad input names the DAG and the field", () => {
  const rows: [string, unknown, RegExp, string][] = [
    ["an unknown trigger option", { trigger: "@daily", runImediately: true }, /^DAG "d": schedule\.runImediately: unknown option; a trigger schedule takes trigger, runImmediately/, "schedule.runImediately"],
    ["an invalid cron in a list", { trigger: ["0 6 * * *", "61 * * * *"] }, /^DAG "d": schedule\.trigger\[1\]: schedule "61 \* \* \* \*": minute field "61" is out of range 0-59/, "schedule.trigger[1]"],
    ["a delta in a list of crons", { trigger: ["0 6 * * *", "every 1h"] }, /schedule\.trigger\[1\]: "every 1h" is not a cron/, "schedule.trigger[1]"],
    ["an empty list", { trigger: [] }, /schedule\.trigger: must be a cron/, "schedule.trigger"],
    ["a bad runImmediately", { trigger: "@daily", runImmediately: "soon" }, /schedule\.runImmediately: "soon" is not a duration/, "schedule"],
    ["a bare list of crons", ["0 6 * * *"], /schedule: a list of crons runs at each of their ticks: write schedule: \{ trigger: \["0 6 \* \* \*"\] \}/, "schedule"],
    ["an object of another shape", { cron: "@daily" }, /schedule: an object schedule takes \{ trigger: \.\.\. \}.*got keys cron/, "schedule"],
    ["a Timetable without a name", { nextRun: () => null }, /schedule\.name: a Timetable needs a name/, "schedule.name"],
    ["a bad cron string", "61 * * * *", /^DAG "d": schedule "61 \* \* \* \*": minute field "61" is out of range/, "schedule"],
  ];
  for (const [name, option, message, field] of rows) {
    test(name, () => {
      assert.throws(
        () => parseScheduleOption(option, undefined, "d"),
        (e: unknown) => {
          assert.ok(e instanceof SluiceError);
          assert.equal(e.code, "INVALID_DAG");
          assert.match(e.message, message);
          if (field !== "schedule") assert.equal((e.details as { field?: string }).field, field);
          return true;
        },
      );
    });
  }
});
