import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type DataInterval,
  describeSchedule,
  intervalsBetween,
  nextDataInterval,
  parseSchedule,
  type Schedule,
} from "../../src/core/schedules.js";
import { SluiceError } from "../../src/errors.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const utc = (iso: string): number => Date.parse(iso.endsWith("Z") ? iso : `${iso}Z`);

const formats = new Map<string, Intl.DateTimeFormat>();
/** "2026-03-29 03:30" in the given zone (sv-SE writes dates the ISO way). */
function local(t: number, tz: string): string {
  let f = formats.get(tz);
  if (!f) formats.set(tz, (f = new Intl.DateTimeFormat("sv-SE", { timeZone: tz, dateStyle: "short", timeStyle: "short" })));
  return f.format(t);
}

/** The interval a scheduler would create next, with fewer words at the call site. */
function next(
  s: Schedule,
  o: { lastEnd?: number | null; startDate?: number | null; endDate?: number | null; catchup?: boolean; now: number },
): DataInterval | null {
  return nextDataInterval(s, {
    lastEnd: o.lastEnd ?? null,
    startDate: o.startDate ?? null,
    endDate: o.endDate ?? null,
    catchup: o.catchup ?? false,
    now: o.now,
  });
}

/** Drive nextDataInterval like the scheduler does (catchup on) from startDate until an interval starts at/after `until`. */
function walk(s: Schedule, startDate: number, until: number): DataInterval[] {
  const out: DataInterval[] = [];
  let lastEnd: number | null = null;
  for (;;) {
    const iv = next(s, { lastEnd, startDate, catchup: true, now: until + 400 * DAY });
    if (iv === null || iv.start >= until) return out;
    out.push(iv);
    lastEnd = iv.end;
  }
}

function assertContiguous(ivs: DataInterval[]): void {
  for (let i = 0; i < ivs.length; i++) {
    assert.ok(ivs[i]!.end > ivs[i]!.start, `interval ${i} is empty`);
    if (i > 0) assert.equal(ivs[i]!.start, ivs[i - 1]!.end, `interval ${i} does not start where ${i - 1} ended`);
  }
}

/** Every calendar day of 2026 in order: "2026-01-01" … "2026-12-31". */
const DAYS_2026 = Array.from({ length: 365 }, (_, i) => new Date(Date.UTC(2026, 0, 1) + i * DAY).toISOString().slice(0, 10));

function throwsInvalid(fn: () => unknown, message: RegExp | string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, "INVALID_DAG");
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe("parseSchedule", () => {
  const presets: [string, string][] = [
    ["@hourly", "0 * * * *"],
    ["@daily", "0 0 * * *"],
    ["@weekly", "0 0 * * 0"],
    ["@monthly", "0 0 1 * *"],
    ["@quarterly", "0 0 1 */3 *"],
    ["@yearly", "0 0 1 1 *"],
    ["@annually", "0 0 1 1 *"],
    ["@DAILY", "0 0 * * *"],
  ];
  for (const [text, expression] of presets) {
    test(`${text} expands to "${expression}" in UTC`, () => {
      assert.deepEqual(parseSchedule(text), { kind: "cron", expression, timezone: "UTC", hasSeconds: false });
    });
  }

  test("a 5-field cron is normalised: single spaces, names upper-cased", () => {
    assert.deepEqual(parseSchedule("  */15   *  * * *  "), { kind: "cron", expression: "*/15 * * * *", timezone: "UTC", hasSeconds: false });
    assert.equal((parseSchedule("0 9 * jan-mar mon-fri") as { expression: string }).expression, "0 9 * JAN-MAR MON-FRI");
  });

  test("a 6-field cron has seconds first", () => {
    const s = parseSchedule("*/10 * * * * *");
    assert.deepEqual(s, { kind: "cron", expression: "*/10 * * * * *", timezone: "UTC", hasSeconds: true });
    const ivs = intervalsBetween(s, utc("2026-01-01T00:00:00"), utc("2026-01-01T00:00:30"));
    assert.deepEqual(
      ivs.map((iv) => iv.start - utc("2026-01-01T00:00:00")),
      [0, 10_000, 20_000, 30_000],
    );
  });

  test('"5/15" (croniter\'s "from 5, every 15") is written "5-59/15" and fires at 5, 20, 35, 50', () => {
    const s = parseSchedule("5/15 * * * *");
    assert.equal((s as { expression: string }).expression, "5-59/15 * * * *");
    const starts = intervalsBetween(s, utc("2026-01-01T00:00"), utc("2026-01-01T00:59")).map((iv) => new Date(iv.start).getUTCMinutes());
    assert.deepEqual(starts, [5, 20, 35, 50]);
  });

  test("day-specific forms croner supports are accepted (L, 15W, 5L, FRI#2, ?)", () => {
    for (const text of ["0 0 L * *", "0 0 15W * *", "0 0 * * 5L", "0 0 * * FRI#2", "0 0 ? * MON", "0 0 * * 7"]) {
      assert.equal(parseSchedule(text).kind, "cron", text);
    }
    // The last Friday of January 2026 is the 30th.
    const [iv] = intervalsBetween(parseSchedule("0 0 * * 5L"), utc("2026-01-01"), utc("2026-01-31"));
    assert.equal(iv!.start, utc("2026-01-30T00:00"));
  });

  test("the timezone is validated and made canonical", () => {
    assert.equal((parseSchedule("@daily", "Europe/Berlin") as { timezone: string }).timezone, "Europe/Berlin");
    assert.equal((parseSchedule("@daily", "europe/berlin") as { timezone: string }).timezone, "Europe/Berlin");
    assert.equal((parseSchedule("@daily", "US/Eastern") as { timezone: string }).timezone, "America/New_York");
  });

  test("fixed intervals", () => {
    assert.deepEqual(parseSchedule("every 15m"), { kind: "interval", everyMs: 15 * MIN });
    assert.deepEqual(parseSchedule("every 1h30m"), { kind: "interval", everyMs: 90 * MIN });
    assert.deepEqual(parseSchedule("Every 1d", "Europe/Berlin"), { kind: "interval", everyMs: DAY });
    assert.deepEqual(parseSchedule("every 3 days"), { kind: "interval", everyMs: 3 * DAY });
    assert.deepEqual(parseSchedule("every 5 minutes"), { kind: "interval", everyMs: 5 * MIN });
    assert.deepEqual(parseSchedule("every 2 hours"), { kind: "interval", everyMs: 120 * MIN });
  });

  test("calendar deltas: months and years, in the schedule's timezone", () => {
    assert.deepEqual(parseSchedule("every 1 month"), { kind: "calendar", months: 1, timezone: "UTC" });
    assert.deepEqual(parseSchedule("every 3mo", "Europe/Berlin"), { kind: "calendar", months: 3, timezone: "Europe/Berlin" });
    assert.deepEqual(parseSchedule("every 2 years"), { kind: "calendar", months: 24, timezone: "UTC" });
    assert.deepEqual(parseSchedule("every 1y"), { kind: "calendar", months: 12, timezone: "UTC" });
  });

  test("a parsed schedule is frozen", () => {
    assert.ok(Object.isFrozen(parseSchedule("@daily")));
    assert.ok(Object.isFrozen(parseSchedule("every 1h")));
  });

  const bad: [string, RegExp | string][] = [
    ["61 * * * *", 'schedule "61 * * * *": minute field "61" is out of range 0-59'],
    ["0 24 * * *", 'schedule "0 24 * * *": hour field "24" is out of range 0-23'],
    ["0 0 0 * *", 'schedule "0 0 0 * *": day-of-month field "0" is out of range 1-31'],
    ["0 0 * 13 *", 'schedule "0 0 * 13 *": month field "13" is out of range 1-12'],
    ["0 0 * * 8", 'schedule "0 0 * * 8": day-of-week field "8" is out of range 0-7'],
    ["60 0 0 * * *", 'schedule "60 0 0 * * *": second field "60" is out of range 0-59'],
    ["*/5,61 * * * *", 'schedule "*/5,61 * * * *": minute field "*/5,61": 61 is out of range 0-59'],
    ["0 1-25 * * *", /hour field "1-25": 25 is out of range 0-23/],
    ["* * * *", /expected 5 cron fields \(minute hour day-of-month month day-of-week\) or 6 with seconds first, got 4/],
    ["* * * * * * *", /got 7$/],
    ["*/0 * * * *", /minute field "\*\/0" has a step of 0/],
    ["*/61 * * * *", /minute field "\*\/61" has a step of 61, larger than the field's range 0-59/],
    ["0 22-2 * * *", /hour field "22-2" is a range that runs backwards \(22-2\)/],
    ["0 0 * * FUNDAY", /day-of-week field "FUNDAY" is not a number or a name \(SUN-SAT\)/],
    ["0 0 * FOO *", /month field "FOO" is not a number or a name \(JAN-DEC\)/],
    ["0 0 * * 5#6", /day-of-week field "5#6" needs a week number 1-5/],
    ["? 0 * * *", /minute field "\?" uses "\?", which only day-of-month and day-of-week allow/],
    ["0 0,,1 * * *", /hour field "0,,1" has an empty list item/],
    ["0 0 * * 1+2", /day-of-week field "1\+2" is not a cron field/],
    ["0 0 30 2 *", /schedule "0 0 30 2 \*": no date ever matches it \(like February 30\)/],
    ["hello", /^schedule "hello": not a schedule; use a cron expression/],
    ["daily", /not a schedule \(did you mean "@daily"\?\)/],
    ["", /^schedule "": not a schedule/],
    ["@sometimes", /schedule "@sometimes": unknown preset; use one of @hourly, @daily/],
    ["@once", /unknown preset.*trigger the DAG manually/],
    ["every 0m", 'schedule "every 0m": the interval must be at least 1s'],
    ["every 500ms", /the interval must be at least 1s/],
    ["every 5 fortnights", /schedule "every 5 fortnights": "5 fortnights" is not a duration; write e\.g\. "every 15m"/],
    ["every 0 months", /the interval must be at least 1/],
    ["every", /"" is not a duration/],
  ];
  for (const [text, message] of bad) {
    test(`rejects ${JSON.stringify(text)} with a message naming what is wrong`, () => throwsInvalid(() => parseSchedule(text), message));
  }

  test("a field error carries the field name in details", () => {
    try {
      parseSchedule("0 0 32 * *");
      assert.fail("no error");
    } catch (e) {
      assert.ok(e instanceof SluiceError);
      assert.deepEqual(e.details, { field: "day-of-month", value: "0 0 32 * *" });
    }
  });

  test("an unknown timezone is rejected, for cron and interval schedules alike", () => {
    throwsInvalid(() => parseSchedule("@daily", "Mars/Base"), /unknown timezone "Mars\/Base"; use an IANA name such as "Europe\/Berlin"/);
    throwsInvalid(() => parseSchedule("every 1h", "Mars/Base"), /unknown timezone "Mars\/Base"/);
    throwsInvalid(() => parseSchedule("@daily", ""), /timezone must be an IANA name/);
  });

  test("a non-string schedule is rejected", () => {
    throwsInvalid(() => parseSchedule(42 as unknown as string), /schedule must be a string, got number/);
  });
});

describe("nextDataInterval: cron", () => {
  const daily = parseSchedule("@daily");

  test("the first interval starts at startDate's first tick; its logical date is the start, due at the end", () => {
    const iv = next(daily, { startDate: utc("2026-01-01T00:00"), catchup: true, now: utc("2026-01-01T00:00") });
    assert.deepEqual(iv, { start: utc("2026-01-01T00:00"), end: utc("2026-01-02T00:00") });
  });

  test("a startDate between ticks starts at the next tick", () => {
    const iv = next(daily, { startDate: utc("2026-01-01T10:00"), catchup: true, now: utc("2026-02-01") });
    assert.deepEqual(iv, { start: utc("2026-01-02T00:00"), end: utc("2026-01-03T00:00") });
  });

  test("catchup false without history: the latest complete interval", () => {
    assert.deepEqual(next(daily, { now: utc("2026-03-10T10:30") }), { start: utc("2026-03-09"), end: utc("2026-03-10") });
    // Exactly on a tick: the interval that ends now is complete.
    assert.deepEqual(next(daily, { now: utc("2026-03-10T00:00") }), { start: utc("2026-03-09"), end: utc("2026-03-10") });
    assert.deepEqual(next(daily, { now: utc("2026-03-09T23:59:59.999") }), { start: utc("2026-03-08"), end: utc("2026-03-09") });
  });

  test("catchup false after a long downtime gives only the latest complete interval, then waits for the next", () => {
    const now = utc("2026-03-10T10:30");
    const iv = next(daily, { lastEnd: utc("2026-01-05"), startDate: utc("2026-01-01"), now });
    assert.deepEqual(iv, { start: utc("2026-03-09"), end: utc("2026-03-10") });
    const after = next(daily, { lastEnd: iv!.end, startDate: utc("2026-01-01"), now });
    assert.deepEqual(after, { start: utc("2026-03-10"), end: utc("2026-03-11") });
    assert.ok(after!.end > now, "the next interval is not due yet");
  });

  test("catchup true enumerates every missed interval, oldest first", () => {
    const now = utc("2026-03-10T10:30");
    const seen: DataInterval[] = [];
    let lastEnd: number | null = utc("2026-01-05");
    for (;;) {
      const iv = next(daily, { lastEnd, startDate: utc("2026-01-01"), catchup: true, now });
      if (iv === null || iv.end > now) break;
      seen.push(iv);
      lastEnd = iv.end;
    }
    assert.equal(seen.length, 64); // Jan 5 … Mar 9
    assert.equal(seen[0]!.start, utc("2026-01-05"));
    assert.equal(seen.at(-1)!.end, utc("2026-03-10"));
    assertContiguous(seen);
  });

  test("catchup false with a startDate in the future waits for startDate", () => {
    const iv = next(daily, { startDate: utc("2026-06-01T12:00"), now: utc("2026-03-10") });
    assert.deepEqual(iv, { start: utc("2026-06-02"), end: utc("2026-06-03") });
  });

  test("catchup false: startDate bounds the skip from below", () => {
    const iv = next(daily, { startDate: utc("2026-03-05"), now: utc("2026-03-05T10:00") });
    assert.deepEqual(iv, { start: utc("2026-03-05"), end: utc("2026-03-06") });
  });

  test("endDate: an interval may start at endDate but not after it", () => {
    const endDate = utc("2026-01-03T00:00");
    const starts: number[] = [];
    let lastEnd: number | null = null;
    for (let iv; (iv = next(daily, { lastEnd, startDate: utc("2026-01-01"), endDate, catchup: true, now: utc("2027-01-01") })); ) {
      starts.push(iv.start);
      lastEnd = iv.end;
    }
    assert.deepEqual(starts, [utc("2026-01-01"), utc("2026-01-02"), utc("2026-01-03")]);
    assert.equal(next(daily, { lastEnd: utc("2026-01-02"), endDate: utc("2026-01-01T12:00"), now: utc("2027-01-01") }), null);
    // catchup false past endDate: nothing, rather than an interval after it.
    assert.equal(next(daily, { startDate: utc("2026-01-01"), endDate, now: utc("2026-06-01") }), null);
  });

  test("a lastEnd off the schedule (the schedule changed) moves forward to the next tick, never back", () => {
    const iv = next(daily, { lastEnd: utc("2026-01-05T06:00"), catchup: true, now: utc("2026-02-01") });
    assert.deepEqual(iv, { start: utc("2026-01-06"), end: utc("2026-01-07") });
  });

  test("a cron DAG with no startDate and no history starts at the latest complete interval even with catchup", () => {
    assert.deepEqual(next(daily, { catchup: true, now: utc("2026-03-10T10:30") }), { start: utc("2026-03-09"), end: utc("2026-03-10") });
  });
});

describe("nextDataInterval: fixed intervals", () => {
  const every15 = parseSchedule("every 15m");
  const startDate = utc("2026-01-01T00:07");

  test("intervals are anchored at startDate", () => {
    const first = next(every15, { startDate, catchup: true, now: utc("2026-01-02") });
    assert.deepEqual(first, { start: utc("2026-01-01T00:07"), end: utc("2026-01-01T00:22") });
    const second = next(every15, { lastEnd: first!.end, startDate, catchup: true, now: utc("2026-01-02") });
    assert.deepEqual(second, { start: utc("2026-01-01T00:22"), end: utc("2026-01-01T00:37") });
  });

  test("a startDate is required", () => {
    throwsInvalid(() => next(every15, { now: utc("2026-01-02") }), /schedule "every 15m" needs a startDate/);
  });

  test("catchup false after a downtime: the latest complete interval, still on the startDate grid", () => {
    const now = utc("2026-01-10T12:00");
    const iv = next(every15, { lastEnd: utc("2026-01-01T01:07"), startDate, now });
    assert.deepEqual(iv, { start: utc("2026-01-10T11:37"), end: utc("2026-01-10T11:52") });
    assert.equal((iv!.start - startDate) % (15 * MIN), 0);
  });

  test("catchup true enumerates every missed interval", () => {
    const now = utc("2026-01-01T03:07");
    const ivs: DataInterval[] = [];
    let lastEnd: number | null = null;
    for (let iv; (iv = next(every15, { lastEnd, startDate, catchup: true, now })) && iv.end <= now; lastEnd = iv.end) ivs.push(iv);
    assert.equal(ivs.length, 12);
    assertContiguous(ivs);
    assert.equal(ivs[0]!.start, startDate);
  });

  test("endDate stops a fixed-interval schedule", () => {
    const endDate = utc("2026-01-01T00:37");
    assert.notEqual(next(every15, { lastEnd: utc("2026-01-01T00:37"), startDate, endDate, catchup: true, now: utc("2026-02-01") }), null);
    assert.equal(next(every15, { lastEnd: utc("2026-01-01T00:52"), startDate, endDate, catchup: true, now: utc("2026-02-01") }), null);
  });
});

describe("nextDataInterval: never a duplicate, always the same answer", () => {
  // A small deterministic PRNG, so a failure can be replayed.
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  const schedules = [
    parseSchedule("@daily", "Europe/Berlin"),
    parseSchedule("0 * * * *", "America/New_York"),
    parseSchedule("30 2 * * *", "Europe/Berlin"),
    parseSchedule("*/20 9-17 * * MON-FRI", "Asia/Tokyo"),
    parseSchedule("every 45m"),
  ];

  test("for random inputs the interval never starts before lastEnd or startDate, is well-formed, and is idempotent", () => {
    const rand = rng(42);
    const base = utc("2026-01-01");
    for (let i = 0; i < 600; i++) {
      const s = schedules[i % schedules.length]!;
      const startDate = base + Math.floor(rand() * 300 * DAY);
      const lastEnd = rand() < 0.3 ? null : startDate + Math.floor(rand() * 40 * DAY);
      const now = startDate + Math.floor((rand() - 0.1) * 60 * DAY);
      const opts = { lastEnd, startDate, endDate: null, catchup: rand() < 0.5, now };
      const a = nextDataInterval(s, opts);
      const b = nextDataInterval(s, { ...opts });
      assert.deepEqual(a, b, "same inputs, same interval");
      assert.ok(a !== null);
      assert.ok(a.end > a.start);
      if (lastEnd !== null) assert.ok(a.start >= lastEnd, `case ${i}: starts before lastEnd`);
      assert.ok(a.start >= startDate, `case ${i}: starts before startDate`);
    }
  });

  test("a scheduler polling at random times creates each interval once; with catchup, all of them", () => {
    const rand = rng(7);
    for (const s of schedules) {
      for (const catchup of [true, false]) {
        const startDate = utc("2026-03-20");
        let now = startDate;
        let lastEnd: number | null = null;
        const created: DataInterval[] = [];
        while (now < utc("2026-04-10")) {
          now += Math.floor(rand() * (catchup ? 30 * HOUR : 3 * HOUR));
          // The scheduler loop: create every due interval, then sleep.
          for (let iv; (iv = next(s, { lastEnd, startDate, catchup, now })) && iv.end <= now; ) {
            created.push(iv);
            lastEnd = iv.end;
          }
        }
        const starts = created.map((iv) => iv.start);
        assert.equal(new Set(starts).size, starts.length, "no interval created twice");
        assert.deepEqual([...starts].sort((x, y) => x - y), starts, "oldest first");
        if (catchup) {
          assertContiguous(created);
          assert.deepEqual(created, intervalsBetween(s, startDate, created.at(-1)!.start, 10_000, startDate));
        }
      }
    }
  });
});

describe("daylight saving time", () => {
  const zones = ["Europe/Berlin", "America/New_York"] as const;
  const yearStart = (tz: string): number => parseLocal("2026-01-01 00:00", tz);
  const yearEnd = (tz: string): number => parseLocal("2027-01-01 00:00", tz);

  /** The instant of a local wall time (not in a gap or fold), found by search: tests need no tz library. */
  function parseLocal(wall: string, tz: string): number {
    const guess = utc(wall.replace(" ", "T"));
    for (let off = -14 * HOUR; off <= 14 * HOUR; off += 15 * MIN) if (local(guess - off, tz) === wall) return guess - off;
    throw new Error(`no instant for ${wall} in ${tz}`);
  }

  for (const tz of zones) {
    test(`@daily in ${tz} across 2026: every local midnight once, contiguous, one 23h and one 25h day`, () => {
      const ivs = walk(parseSchedule("@daily", tz), yearStart(tz), yearEnd(tz));
      assertContiguous(ivs);
      assert.deepEqual(
        ivs.map((iv) => local(iv.start, tz)),
        DAYS_2026.map((d) => `${d} 00:00`),
      );
      assert.equal(ivs.at(-1)!.end, yearEnd(tz));
      const lengths = ivs.map((iv) => (iv.end - iv.start) / HOUR);
      assert.equal(lengths.filter((h) => h === 23).length, 1);
      assert.equal(lengths.filter((h) => h === 25).length, 1);
      assert.equal(lengths.filter((h) => h === 24).length, 363);
    });

    test(`"0 * * * *" in ${tz} across 2026: every real hour exactly once`, () => {
      const ivs = walk(parseSchedule("0 * * * *", tz), yearStart(tz), yearEnd(tz));
      assertContiguous(ivs);
      assert.equal(ivs.length, (yearEnd(tz) - yearStart(tz)) / HOUR);
      assert.ok(ivs.every((iv) => iv.end - iv.start === HOUR));
    });
  }

  test('"30 2 * * *" in Europe/Berlin across 2026: one run every day; 03:30 on spring-forward, the second 02:30 on fall-back', () => {
    const tz = "Europe/Berlin";
    const ivs = walk(parseSchedule("30 2 * * *", tz), yearStart(tz), yearEnd(tz));
    assertContiguous(ivs);
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz).slice(0, 10)),
      DAYS_2026,
    );
    const byDay = new Map(ivs.map((iv) => [local(iv.start, tz).slice(0, 10), iv]));
    // 2026-03-29: 02:00 → 03:00; 02:30 does not exist and runs shifted by the gap, at 03:30 CEST.
    assert.equal(byDay.get("2026-03-29")!.start, utc("2026-03-29T01:30"));
    assert.equal(local(byDay.get("2026-03-29")!.start, tz), "2026-03-29 03:30");
    assert.equal(byDay.get("2026-03-28")!.end - byDay.get("2026-03-28")!.start, 24 * HOUR);
    assert.equal(byDay.get("2026-03-29")!.end - byDay.get("2026-03-29")!.start, 23 * HOUR);
    // 2026-10-25: 03:00 → 02:00; 02:30 happens twice and runs once, at the second (CET, 01:30 UTC).
    assert.equal(byDay.get("2026-10-25")!.start, utc("2026-10-25T01:30"));
    assert.equal(byDay.get("2026-10-24")!.end - byDay.get("2026-10-24")!.start, 25 * HOUR);
    for (const [day, iv] of byDay) if (day !== "2026-03-29") assert.equal(local(iv.start, tz).slice(11), "02:30", day);
  });

  test('"30 2 * * *" in America/New_York: 03:30 EDT on 2026-03-08; "30 1 * * *" runs once, at 01:30 EST, on 2026-11-01', () => {
    const tz = "America/New_York";
    const ivs = walk(parseSchedule("30 2 * * *", tz), yearStart(tz), yearEnd(tz));
    assertContiguous(ivs);
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz).slice(0, 10)),
      DAYS_2026,
    );
    assert.equal(ivs.find((iv) => local(iv.start, tz).startsWith("2026-03-08"))!.start, utc("2026-03-08T07:30"));

    const fold = walk(parseSchedule("30 1 * * *", tz), yearStart(tz), yearEnd(tz));
    assertContiguous(fold);
    assert.deepEqual(
      fold.map((iv) => local(iv.start, tz).slice(0, 10)),
      DAYS_2026,
    );
    assert.equal(fold.find((iv) => local(iv.start, tz).startsWith("2026-11-01"))!.start, utc("2026-11-01T06:30"));
  });

  test("hourly across fall-back in Europe/Berlin: the wall-clock hour 02:00 fires twice, once per real hour", () => {
    const tz = "Europe/Berlin";
    const ivs = intervalsBetween(parseSchedule("@hourly", tz), utc("2026-10-24T22:00"), utc("2026-10-25T03:00"));
    assert.deepEqual(
      ivs.map((iv) => new Date(iv.start).toISOString().slice(11, 16)),
      ["22:00", "23:00", "00:00", "01:00", "02:00", "03:00"],
    );
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz).slice(11)),
      ["00:00", "01:00", "02:00", "02:00", "03:00", "04:00"],
    );
  });

  test("hourly across spring-forward in America/New_York: no real hour is lost (02:00 does not exist)", () => {
    const tz = "America/New_York";
    const ivs = intervalsBetween(parseSchedule("0 * * * *", tz), utc("2026-03-08T05:00"), utc("2026-03-08T09:00"));
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz).slice(11)),
      ["00:00", "01:00", "03:00", "04:00", "05:00"],
    );
    assert.ok(ivs.every((iv) => iv.end - iv.start === HOUR));
  });

  test('"*/30 2 * * *" in Europe/Berlin: two runs every day, none skipped in the gap, none doubled in the fold', () => {
    const tz = "Europe/Berlin";
    const ivs = walk(parseSchedule("*/30 2 * * *", tz), yearStart(tz), yearEnd(tz));
    assertContiguous(ivs);
    const perDay = new Map<string, string[]>();
    for (const iv of ivs) {
      const [day, time] = local(iv.start, tz).split(" ") as [string, string];
      perDay.set(day, [...(perDay.get(day) ?? []), time]);
    }
    assert.deepEqual([...perDay.keys()], DAYS_2026);
    assert.deepEqual(perDay.get("2026-03-29"), ["03:00", "03:30"]);
    assert.deepEqual(perDay.get("2026-10-25"), ["02:00", "02:30"]);
    assert.equal(ivs.find((iv) => local(iv.start, tz) === "2026-10-25 02:00")!.start, utc("2026-10-25T01:00"));
    assert.ok([...perDay.values()].every((times) => times.length === 2));
  });

  test('"0 2,3 * * *" in Europe/Berlin on spring-forward: 02:00 shifts onto 03:00 and they are one run', () => {
    const tz = "Europe/Berlin";
    const ivs = intervalsBetween(parseSchedule("0 2,3 * * *", tz), utc("2026-03-28T12:00"), utc("2026-03-30T12:00"));
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz)),
      ["2026-03-29 03:00", "2026-03-30 02:00", "2026-03-30 03:00"],
    );
  });

  test("@daily in America/Santiago, whose DST changes at midnight: every local day once, 01:00 on the day midnight is skipped", () => {
    const tz = "America/Santiago";
    const ivs = walk(parseSchedule("@daily", tz), parseLocal("2026-01-01 00:00", tz), parseLocal("2027-01-01 00:00", tz));
    assertContiguous(ivs);
    assert.deepEqual(
      ivs.map((iv) => local(iv.start, tz).slice(0, 10)),
      DAYS_2026,
    );
    const odd = ivs.filter((iv) => !local(iv.start, tz).endsWith("00:00")).map((iv) => local(iv.start, tz));
    assert.deepEqual(odd, ["2026-09-06 01:00"]);
  });

  test('"15,40 1,2 * * *" in Australia/Lord_Howe (30-minute DST): a shifted 02:15 runs after 02:40, at 02:45', () => {
    const tz = "Australia/Lord_Howe";
    const s = parseSchedule("15,40 1,2 * * *", tz);
    const spring = intervalsBetween(s, utc("2026-10-03T14:00"), utc("2026-10-03T16:00"));
    assert.deepEqual(
      spring.map((iv) => local(iv.start, tz)),
      ["2026-10-04 01:15", "2026-10-04 01:40", "2026-10-04 02:40", "2026-10-04 02:45"],
    );
    assertContiguous(spring);
    // 2026-04-05: 02:00 (+11) → 01:30 (+10:30); 01:40 happens twice and runs at the second.
    const fall = intervalsBetween(s, utc("2026-04-04T14:00"), utc("2026-04-04T16:30"));
    assert.deepEqual(
      fall.map((iv) => new Date(iv.start).toISOString().slice(11, 16)),
      ["14:15", "15:10", "15:45", "16:10"],
    );
  });

  for (const [expr, tz, windows] of [
    ["0 * * * *", "Europe/Berlin", ["2026-03-27", "2026-10-23"]],
    ["30 2 * * *", "Europe/Berlin", ["2026-03-27", "2026-10-23"]],
    ["*/30 2 * * *", "Europe/Berlin", ["2026-03-27", "2026-10-23"]],
    ["30 1 * * *", "America/New_York", ["2026-03-06", "2026-10-30"]],
    ["@daily", "America/New_York", ["2026-03-06", "2026-10-30"]],
    ["@daily", "America/Santiago", ["2026-04-02", "2026-09-03"]],
    ["15,40 1,2 * * *", "Australia/Lord_Howe", ["2026-04-03", "2026-10-02"]],
  ] as const) {
    test(`catchup false picks the interval ending at the latest tick <= now, near DST changes ("${expr}" in ${tz})`, () => {
      const s = parseSchedule(expr, tz);
      for (const w of windows) {
        const ivs = intervalsBetween(s, utc(`${w}T00:00`), utc(`${w}T00:00`) + 4 * DAY);
        // Probe instants on, just before and just after every boundary, and between them.
        for (let i = 1; i < ivs.length; i++) {
          const iv = ivs[i]!;
          for (const now of [iv.end, iv.end - 1, iv.end + 1, (iv.start + iv.end) / 2]) {
            const expected = now >= iv.end ? iv : ivs[i - 1]!;
            assert.deepEqual(next(s, { now }), expected, `now=${new Date(now).toISOString()}`);
          }
        }
      }
    });
  }
});

describe("intervalsBetween", () => {
  const daily = parseSchedule("@daily");

  test("every interval whose start lies in [from, to], both ends included, oldest first", () => {
    assert.deepEqual(intervalsBetween(daily, utc("2026-01-01"), utc("2026-01-03")), [
      { start: utc("2026-01-01"), end: utc("2026-01-02") },
      { start: utc("2026-01-02"), end: utc("2026-01-03") },
      { start: utc("2026-01-03"), end: utc("2026-01-04") },
    ]);
  });

  test("from between ticks starts at the next tick; from after to gives nothing", () => {
    assert.deepEqual(
      intervalsBetween(daily, utc("2026-01-01T06:00"), utc("2026-01-02T06:00")).map((iv) => iv.start),
      [utc("2026-01-02")],
    );
    assert.deepEqual(intervalsBetween(daily, utc("2026-01-05"), utc("2026-01-01")), []);
  });

  test("more intervals than the limit throw USAGE; exactly the limit is fine", () => {
    assert.equal(intervalsBetween(daily, utc("2026-01-01"), utc("2026-01-10"), 10).length, 10);
    assert.throws(
      () => intervalsBetween(daily, utc("2026-01-01"), utc("2026-01-11"), 10),
      (e: unknown) => e instanceof SluiceError && e.code === "USAGE" && /holds more than 10 intervals of cron "0 0 \* \* \*" in UTC/.test(e.message),
    );
    assert.throws(() => intervalsBetween(daily, 0, 1, 0), (e: unknown) => e instanceof SluiceError && e.code === "USAGE");
  });

  test("the default limit is 1000", () => {
    assert.equal(intervalsBetween(parseSchedule("@hourly"), utc("2026-01-01"), utc("2026-01-01") + 999 * HOUR).length, 1000);
    assert.throws(() => intervalsBetween(parseSchedule("@hourly"), utc("2026-01-01"), utc("2026-01-01") + 1000 * HOUR), SluiceError);
  });

  test("fixed intervals are laid from `from`, or from an anchor (the DAG's startDate)", () => {
    const s = parseSchedule("every 1h");
    assert.deepEqual(
      intervalsBetween(s, utc("2026-01-01T00:20"), utc("2026-01-01T02:20")).map((iv) => local(iv.start, "UTC").slice(11)),
      ["00:20", "01:20", "02:20"],
    );
    assert.deepEqual(
      intervalsBetween(s, utc("2026-01-01T00:20"), utc("2026-01-01T02:20"), 1000, utc("2025-12-01T00:05")).map((iv) =>
        local(iv.start, "UTC").slice(11),
      ),
      ["01:05", "02:05"],
    );
  });

  test("agrees with nextDataInterval across a DST change", () => {
    const s = parseSchedule("30 2 * * *", "Europe/Berlin");
    const from = utc("2026-03-25");
    assert.deepEqual(intervalsBetween(s, from, utc("2026-04-02")), walk(s, from, utc("2026-04-02T00:00:01")));
  });
});

describe("describeSchedule", () => {
  const cases: [Schedule, string][] = [
    [parseSchedule("@daily"), 'cron "0 0 * * *" in UTC: every day at 00:00'],
    [parseSchedule("30 2 * * *", "Europe/Berlin"), 'cron "30 2 * * *" in Europe/Berlin: every day at 02:30'],
    [parseSchedule("@weekly"), 'cron "0 0 * * 0" in UTC: every Sunday at 00:00'],
    [parseSchedule("0 9 * * 1-5", "America/New_York"), 'cron "0 9 * * 1-5" in America/New_York: every weekday at 09:00'],
    [parseSchedule("@monthly"), 'cron "0 0 1 * *" in UTC: on day 1 of every month at 00:00'],
    [parseSchedule("@yearly"), 'cron "0 0 1 1 *" in UTC: every year on Jan 1 at 00:00'],
    [parseSchedule("@hourly"), 'cron "0 * * * *" in UTC: every hour, on the hour'],
    [parseSchedule("15 * * * *"), 'cron "15 * * * *" in UTC: every hour at minute 15'],
    [parseSchedule("*/15 * * * *"), 'cron "*/15 * * * *" in UTC: every 15 minutes'],
    [parseSchedule("0 30 2 * * *"), 'cron "0 30 2 * * *" in UTC: every day at 02:30'],
    [parseSchedule("5 4 * 1-3 2"), 'cron "5 4 * 1-3 2" in UTC'],
    [parseSchedule("every 1h30m"), "every 1h30m"],
    [parseSchedule("every 1d"), "every 1d"],
  ];
  for (const [s, text] of cases) test(text, () => assert.equal(describeSchedule(s), text));
});
