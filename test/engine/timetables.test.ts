/**
 * Timetables through the scheduler, against real DAG files (parsed in child processes) and a real SQLite
 * store with a ManualClock: a cron trigger timetable runs at the tick with [tick, tick]; multiple crons
 * run once per tick of any; a user's own timetable (business days, holidays) is loaded from the DAG's code
 * and schedules only business days; `next run` (the dags row) follows each; a manual run of a trigger DAG
 * gets [date, date] and one of a data-interval DAG the interval its timetable infers.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ManualClock } from "../../src/core/clock.js";
import { loadConfig } from "../../src/config.js";
import { DagCodeLoader } from "../../src/engine/codeLoader.js";
import { Scheduler } from "../../src/engine/scheduler.js";
import { Sluice } from "../../src/sluice.js";
import type { RunRecord } from "../../src/store/store.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-timetables-");
after(() => sb.cleanup());

const isoOf = (t: number | null) => (t === null ? null : new Date(t).toISOString());
let worlds = 0;

/** A DAGs folder with `files`, a store and a scheduler (no worker: the runs' creation is what is tested). */
async function world(files: Record<string, string>, start: string) {
  const dir = join(sb.dir, `w${++worlds}`);
  const dags = join(dir, "dags");
  mkdirSync(dags, { recursive: true });
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(dags, rel), text);
  // the sandbox's node_modules (sluice, zod) serve every world's files
  const clock = new ManualClock(Date.parse(start));
  const s = await Sluice.open(loadConfig({ home: join(dir, "home"), dags }, {}), { clock, loadDags: false });
  const code = new DagCodeLoader(s.store);
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  const scheduler = new Scheduler(s.engine, s.store, clock, { dagsDir: dags, pollMs: 60_000 });
  await scheduler.start();
  return {
    s,
    clock,
    async advanceTo(iso: string) {
      clock.advance(Date.parse(iso) - clock.now());
      await scheduler.whenIdle();
    },
    async runs(dagId: string): Promise<RunRecord[]> {
      const list = await s.store.runs.list({ dagId, limit: 100 });
      return list.sort((a, b) => a.logicalDate - b.logicalDate);
    },
    async nextRun(dagId: string) {
      const row = (await s.store.dags.get(dagId))!;
      return { logicalDate: isoOf(row.nextIntervalStart), runAfter: isoOf(row.nextIntervalEnd) };
    },
    async stop() {
      await scheduler.stop();
      await s.close();
    },
  };
}

const show = (r: RunRecord) => `${isoOf(r.logicalDate)} [${isoOf(r.dataIntervalStart)}, ${isoOf(r.dataIntervalEnd)}] at ${isoOf(r.createdAt)}`;

test("a cron trigger timetable: a run at each tick, its logical date the tick, its data interval [tick, tick]; next run is the next tick", async () => {
  const w = await world(
    {
      "trigger.ts": `import { dag } from "sluice";
export default dag("trig", { schedule: { trigger: "0 6 * * *" }, startDate: "2026-01-01", catchup: true }, (d) => { d.task("t", async () => 1); });
`,
    },
    "2026-01-01T00:00:00Z",
  );
  try {
    assert.deepEqual(await w.nextRun("trig"), { logicalDate: "2026-01-01T06:00:00.000Z", runAfter: "2026-01-01T06:00:00.000Z" });
    await w.advanceTo("2026-01-01T05:59:59Z");
    assert.equal((await w.runs("trig")).length, 0);
    await w.advanceTo("2026-01-01T06:00:00Z");
    await w.advanceTo("2026-01-02T07:00:00Z");
    assert.deepEqual((await w.runs("trig")).map(show), [
      "2026-01-01T06:00:00.000Z [2026-01-01T06:00:00.000Z, 2026-01-01T06:00:00.000Z] at 2026-01-01T06:00:00.000Z",
      "2026-01-02T06:00:00.000Z [2026-01-02T06:00:00.000Z, 2026-01-02T06:00:00.000Z] at 2026-01-02T07:00:00.000Z",
    ]);
    assert.deepEqual(await w.nextRun("trig"), { logicalDate: "2026-01-03T06:00:00.000Z", runAfter: "2026-01-03T06:00:00.000Z" });
    // a manual run of a trigger DAG: [date, date]
    const manual = await w.s.engine.createRun("trig", { logicalDate: new Date("2026-01-02T09:30:00Z") });
    assert.equal(isoOf(manual.dataIntervalStart), "2026-01-02T09:30:00.000Z");
    assert.equal(isoOf(manual.dataIntervalEnd), "2026-01-02T09:30:00.000Z");
    // a backfill of a trigger timetable: its ticks in [from, to], keyed like the scheduled runs
    await w.s.engine.ensureDag("trig");
    const plan = await w.s.planBackfill({ dagId: "trig", from: Date.parse("2025-12-30T00:00:00Z"), to: Date.parse("2026-01-02T06:00:00Z") });
    assert.deepEqual(plan.intervals.map((i) => `${isoOf(i.start)} ${i.action}`), [
      "2025-12-30T06:00:00.000Z create",
      "2025-12-31T06:00:00.000Z create",
      "2026-01-01T06:00:00.000Z skip_in_flight",
      "2026-01-02T06:00:00.000Z skip_in_flight",
    ]);
  } finally {
    await w.stop();
  }
});

test("multiple crons: one run per tick of any of them, a shared tick once", async () => {
  const w = await world(
    {
      "multi.ts": `import { dag } from "sluice";
export default dag("multi", { schedule: { trigger: ["0 6 * * *", "0 18 * * *", "0 6 * * 5"] }, startDate: "2026-01-02", catchup: true }, (d) => { d.task("t", async () => 1); });
`,
    },
    "2026-01-02T00:00:00Z",
  );
  try {
    await w.advanceTo("2026-01-03T12:00:00Z");
    assert.deepEqual((await w.runs("multi")).map((r) => isoOf(r.logicalDate)), [
      "2026-01-02T06:00:00.000Z",
      "2026-01-02T18:00:00.000Z",
      "2026-01-03T06:00:00.000Z",
    ]);
  } finally {
    await w.stop();
  }
});

test("a user's own timetable (business days with holidays), loaded from the DAG's code by the scheduler", async () => {
  const w = await world(
    {
      "ledger.ts": `import { dag, type Timetable } from "sluice";
const DAY = 86_400_000;
function businessDays(holidays: string[]): Timetable {
  const off = new Set(holidays);
  const isBusinessDay = (t: number) => ![0, 6].includes(new Date(t).getUTCDay()) && !off.has(new Date(t).toISOString().slice(0, 10));
  const from = (t: number) => { let d = Math.ceil(t / DAY) * DAY; while (!isBusinessDay(d)) d += DAY; return d; };
  const latestOver = (t: number) => { let d = Math.floor(t / DAY) * DAY - DAY; while (!isBusinessDay(d)) d -= DAY; return d; };
  return {
    name: "business-days",
    description: "every business day, after it ends",
    nextRun({ lastEnd, startDate, endDate, catchup, now }) {
      const starts = [lastEnd, startDate].filter((t): t is number => t !== null).map(from);
      if (!catchup || starts.length === 0) starts.push(latestOver(now));
      const start = Math.max(...starts);
      return endDate !== null && start > endDate ? null : { start, end: start + DAY };
    },
    inferManualDataInterval: (t) => ({ start: latestOver(t), end: latestOver(t) + DAY }),
  };
}
export default dag("ledger", { schedule: businessDays(["2026-12-24", "2026-12-25"]), startDate: "2026-12-23", catchup: true }, (d) => { d.task("t", async () => 1); });
`,
    },
    "2026-12-23T12:00:00Z",
  );
  try {
    assert.deepEqual(await w.nextRun("ledger"), { logicalDate: "2026-12-23T00:00:00.000Z", runAfter: "2026-12-24T00:00:00.000Z" });
    await w.advanceTo("2026-12-29T01:00:00Z");
    assert.deepEqual((await w.runs("ledger")).map((r) => `${isoOf(r.logicalDate)} .. ${isoOf(r.dataIntervalEnd)}`), [
      "2026-12-23T00:00:00.000Z .. 2026-12-24T00:00:00.000Z",
      "2026-12-28T00:00:00.000Z .. 2026-12-29T00:00:00.000Z",
    ]);
    assert.deepEqual(await w.nextRun("ledger"), { logicalDate: "2026-12-29T00:00:00.000Z", runAfter: "2026-12-30T00:00:00.000Z" });
    // a manual run on a Monday morning covers the business day before: Wednesday the 23rd
    const manual = await w.s.engine.createRun("ledger", { logicalDate: new Date("2026-12-28T08:00:00Z") });
    assert.equal(isoOf(manual.dataIntervalStart), "2026-12-23T00:00:00.000Z");
    assert.equal(isoOf(manual.dataIntervalEnd), "2026-12-24T00:00:00.000Z");
    // a backfill asks the same timetable: business days only; the scheduled runs (no worker here) are in flight
    await w.s.engine.ensureDag("ledger");
    const plan = await w.s.planBackfill({ dagId: "ledger", from: Date.parse("2026-12-18T00:00:00Z"), to: Date.parse("2026-12-28T00:00:00Z") });
    assert.deepEqual(plan.intervals.map((i) => `${isoOf(i.start)} ${i.action}`), [
      "2026-12-18T00:00:00.000Z create",
      "2026-12-21T00:00:00.000Z create",
      "2026-12-22T00:00:00.000Z create",
      "2026-12-23T00:00:00.000Z skip_in_flight",
      "2026-12-28T00:00:00.000Z skip_in_flight",
    ]);
  } finally {
    await w.stop();
  }
});

test("a manual run of a data-interval DAG covers the latest complete interval at its logical date", async () => {
  const w = await world(
    {
      "daily.ts": `import { dag } from "sluice";
export default dag("daily", { schedule: "@daily", startDate: "2026-01-01" }, (d) => { d.task("t", async () => 1); });
`,
    },
    "2026-03-25T01:00:00Z",
  );
  try {
    const run = await w.s.engine.createRun("daily", { logicalDate: new Date("2026-03-25T01:00:00Z") });
    assert.equal(isoOf(run.logicalDate), "2026-03-25T01:00:00.000Z");
    assert.equal(isoOf(run.dataIntervalStart), "2026-03-24T00:00:00.000Z");
    assert.equal(isoOf(run.dataIntervalEnd), "2026-03-25T00:00:00.000Z");
  } finally {
    await w.stop();
  }
});
