/**
 * Backfills through the embedding API (`sluice/runtime`) with DAGs defined in code, on a real SQLite
 * file: the plan (logical dates, reprocess behaviours), one run per (DAG, logical date) shared with the
 * scheduler, maxActive at every instant and the DAG's maxActiveRuns left to live runs, cancel, and
 * fairness — a live run's first task starts before more than `concurrency` further backfill tasks do,
 * asserted on the claim order recorded in the store.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { sql } from "kysely";
import { dag } from "sluice";
import { ManualClock, Sluice, loadConfig, type BackfillSummary } from "sluice/runtime";
import { backfillPriority, intervalAction, parseBackfillDate, parseReprocess } from "../../src/core/backfill.js";
import { sandbox, waitFor, storeDb } from "../helpers.js";

const sb = sandbox("sluice-backfill-api-");
after(() => sb.cleanup());

const DAY = 86_400_000;
const HOUR = 3_600_000;
const day = (d: number) => Date.UTC(2026, 0, d);
const isoDay = (d: number) => new Date(day(d)).toISOString();

/** Logical dates (ISO) whose task fails; the tests change it between backfills. */
const failing = new Set<string>();
const daily = dag("daily", { schedule: "@daily", startDate: "2026-01-01" }, (d) => {
  const a = d.task("extract", async (_i, ctx) => {
    if (failing.has(ctx.logicalDate.toISOString())) throw new Error("no data for " + ctx.logicalDate.toISOString());
    return ctx.dataInterval ? ctx.dataInterval.end.getTime() - ctx.dataInterval.start.getTime() : -1;
  });
  d.task("load", { inputs: { a } }, async ({ a }) => a);
});

/** Held until `open()`: runs of `held` stay running. */
let open: () => void = () => undefined;
let gate = new Promise<void>((r) => (open = r));
const held = dag("held", { schedule: "@daily", startDate: "2026-01-01", maxActiveRuns: 2 }, (d) => {
  d.task("wait", async () => {
    await gate;
    return 1;
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const wide = dag("wide", { schedule: "@hourly" }, (d) => {
  for (let i = 0; i < 12; i++) d.task(`t${i}`, async () => (await sleep(15), i));
});
const nightly = dag("nightly", (d) => {
  d.task("report", async () => "done");
});

let homes = 0;
/** A fresh store per test, so their histories do not mix. */
async function openSluice(opts: { clock?: ManualClock; concurrency?: number } = {}): Promise<Sluice> {
  const home = `${sb.dir}/home-${++homes}`;
  return Sluice.open(loadConfig({ home, dags: sb.dags, ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) }, {}), {
    loadDags: false,
    dags: [daily, held, wide, nightly],
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
}

async function runsOf(s: Sluice, dagId: string) {
  return storeDb(s.store).selectFrom("runs").selectAll().where("dag_id", "=", dagId).orderBy("logical_date").execute();
}

describe("core", () => {
  test("reprocess behaviours decide per existing run state, as Airflow 3", () => {
    assert.equal(parseReprocess("none"), "missing");
    assert.equal(parseReprocess("completed"), "all");
    assert.throws(() => parseReprocess("some"), /--reprocess must be one of missing, failed, all/);
    const table = (["missing", "failed", "all"] as const).map((r) => [null, "success", "failed", "running", "queued"].map((st) => intervalAction(st as never, r)));
    assert.deepEqual(table, [
      ["create", "skip_exists", "skip_exists", "skip_in_flight", "skip_in_flight"],
      ["create", "skip_exists", "reprocess", "skip_in_flight", "skip_in_flight"],
      ["create", "reprocess", "reprocess", "skip_in_flight", "skip_in_flight"],
    ]);
  });

  test("backfill priorities are below every live priority and keep their order", () => {
    for (const p of [-400_000_000, -1, 0, 5, 400_000_000, 1e12, -1e12]) assert.ok(backfillPriority(p) < -400_000_000, String(p));
    assert.ok(backfillPriority(5) > backfillPriority(0));
    assert.ok(backfillPriority(-(2 ** 31)) >= -(2 ** 31), "fits a 32-bit column");
  });

  test("dates without an offset are the DAG's wall-clock days; impossible dates are refused", () => {
    assert.equal(new Date(parseBackfillDate("2026-03-01", "--from", "Europe/Berlin", "earlier")).toISOString(), "2026-02-28T23:00:00.000Z");
    assert.equal(new Date(parseBackfillDate("2026-03-01T06:30", "--from", "UTC", "earlier")).toISOString(), "2026-03-01T06:30:00.000Z");
    assert.equal(new Date(parseBackfillDate("2026-03-01T06:30:00+02:00", "--from", "UTC", "earlier")).toISOString(), "2026-03-01T04:30:00.000Z");
    // 02:30 happens twice in Berlin on 2026-10-25: --from takes the first, --to the second
    assert.equal(new Date(parseBackfillDate("2026-10-25T02:30", "--from", "Europe/Berlin", "earlier")).toISOString(), "2026-10-25T00:30:00.000Z");
    assert.equal(new Date(parseBackfillDate("2026-10-25T02:30", "--to", "Europe/Berlin", "later")).toISOString(), "2026-10-25T01:30:00.000Z");
    for (const bad of ["2026-02-30", "2026-13-01", "yesterday", "2026-01-01T25:00", "01/02/2026", ""]) {
      assert.throws(() => parseBackfillDate(bad, "--from", "UTC", "earlier"), /--from ".*" is not a date; use ISO 8601/, bad);
    }
  });
});

test("the plan: logical dates are the schedule's interval starts in [from, to]; unfinished intervals are left out; nothing is written", async () => {
  const clock = new ManualClock(day(10) + 12 * HOUR);
  const s = await openSluice({ clock });
  try {
    const plan = await s.planBackfill({ dagId: "daily", from: day(1), to: day(12) });
    assert.deepEqual(
      plan.intervals.map((i) => [new Date(i.start).toISOString(), i.end - i.start, i.action]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => [isoDay(d), DAY, "create"]),
    );
    assert.equal(plan.incomplete, 3, "Jan 10 (not ended), 11 and 12");
    const back = await s.planBackfill({ dagId: "daily", from: day(3), to: day(5), runBackwards: true });
    assert.deepEqual(back.intervals.map((i) => new Date(i.start).toISOString()), [isoDay(5), isoDay(4), isoDay(3)]);
    assert.equal((await runsOf(s, "daily")).length, 0);
    assert.equal((await storeDb(s.store).selectFrom("backfills").selectAll().execute()).length, 0);
    await assert.rejects(s.planBackfill({ dagId: "daily", from: day(5), to: day(3) }), /--from \(2026-01-05T00:00:00.000Z\) is after --to \(2026-01-03/);
    await assert.rejects(s.planBackfill({ dagId: "nightly", from: day(1), to: day(3) }), /DAG "nightly" has no time schedule/);
    await assert.rejects(s.planBackfill({ dagId: "nope", from: day(1), to: day(3) }), (e: Error & { code?: string }) => e.code === "DAG_NOT_FOUND");
    await assert.rejects(s.planBackfill({ dagId: "daily", from: day(20), to: day(25) }), /is in the future/);
    await assert.rejects(s.planBackfill({ dagId: "daily", from: day(1) + 1, to: day(2) - 1 }), /no interval of .* starts between/);
  } finally {
    await s.close();
  }
});

test("reprocess missing, failed, all: exactly one run per logical date, cleared and re-run in place", async () => {
  const clock = new ManualClock(day(20));
  const s = await openSluice({ clock });
  const attemptsOf = async (runId: string) => (await s.store.attempts.list(runId)).length;
  const byDate = (sum: BackfillSummary) => new Map(sum.intervals.map((i) => [new Date(i.logicalDate).toISOString(), i]));
  try {
    failing.clear();
    failing.add(isoDay(2)).add(isoDay(4));
    const first = await s.backfill({ dagId: "daily", from: day(1), to: day(6) });
    assert.equal(first.state, "failed");
    assert.deepEqual(first.counts, { planned: 6, pending: 0, active: 0, succeeded: 4, failed: 2, skipped: 0 });
    const runs1 = await runsOf(s, "daily");
    assert.deepEqual(runs1.map((r) => [new Date(r.logical_date).toISOString(), r.run_type, r.run_key, r.state]), [1, 2, 3, 4, 5, 6].map((d) => [isoDay(d), "backfill", `sched:${isoDay(d)}`, d === 2 || d === 4 ? "failed" : "success"]));
    assert.ok(runs1.every((r) => r.data_interval_start === r.logical_date && r.data_interval_end === r.logical_date + DAY && r.backfill_id === first.backfillId));
    const ids = new Map(runs1.map((r) => [r.logical_date, r.run_id]));
    // the task saw its data interval
    assert.equal((await s.engine.loadOutputs(ids.get(day(1))!, "load"))[0], DAY);

    failing.clear();
    const missing = await s.backfill({ dagId: "daily", from: day(1), to: day(8) });
    assert.equal(missing.state, "success");
    assert.deepEqual([...byDate(missing).values()].map((i) => i.action), ["skip_exists", "skip_exists", "skip_exists", "skip_exists", "skip_exists", "skip_exists", "create", "create"]);
    for (const [t, id] of ids) assert.equal(await attemptsOf(id), t === day(2) || t === day(4) ? 1 : 2, "missing does not touch existing runs");

    const failed = await s.backfill({ dagId: "daily", from: day(1), to: day(8), reprocess: "failed" });
    assert.equal(failed.state, "success");
    assert.deepEqual(
      [...byDate(failed).entries()].filter(([, i]) => i.action === "reprocess").map(([d]) => d),
      [isoDay(2), isoDay(4)],
    );
    assert.equal(byDate(failed).get(isoDay(2))!.runId, ids.get(day(2)), "the failed run itself is re-run");
    const runs2 = await runsOf(s, "daily");
    assert.equal(runs2.length, 8, "one run per logical date");
    assert.ok(runs2.every((r) => r.state === "success"));
    assert.equal(await attemptsOf(ids.get(day(2))!), 3, "the failed attempt of extract is kept; one new attempt each for extract and load (upstream_failed before)");
    assert.equal(await attemptsOf(ids.get(day(3))!), 2, "successful runs are left alone");

    const all = await s.backfill({ dagId: "daily", from: day(1), to: day(8), reprocess: "all" });
    assert.equal(all.state, "success");
    assert.deepEqual(all.counts, { planned: 8, pending: 0, active: 0, succeeded: 8, failed: 0, skipped: 0 });
    assert.equal(await attemptsOf(ids.get(day(3))!), 4, "every run re-ran");
    const runs3 = await runsOf(s, "daily");
    assert.equal(runs3.length, 8);
    assert.ok(runs3.every((r) => r.backfill_id === all.backfillId && r.run_type === "backfill"));
    // cleared instances ran with backfill priorities
    const prios = await storeDb(s.store).selectFrom("task_instances").select("priority").where("run_id", "in", [...ids.values()]).execute();
    assert.ok(prios.every((p) => p.priority === backfillPriority(0)));
  } finally {
    failing.clear();
    await s.close();
  }
});

test("a backfill run and the scheduled run of an interval are the same run; in-flight runs are skipped; the DAG's maxActiveRuns is for live runs", async () => {
  const clock = new ManualClock(day(20));
  const s = await openSluice({ clock });
  let driving: Promise<BackfillSummary> | null = null;
  try {
    gate = new Promise<void>((r) => (open = r));
    const { dag: h, file } = s.engine.getDag("held");
    const info = { dagId: "held", version: h.version, spec: h.spec, file };
    // the scheduler already runs Jan 3 (in flight)
    const sched = await s.engine.createScheduledRun(info, {}, { start: day(3), end: day(4) }, async () => undefined);
    assert.equal(sched.state, "running");
    driving = s.backfill({ dagId: "held", from: day(1), to: day(5), maxActive: 2 });
    await waitFor(async () => (await runsOf(s, "held")).filter((r) => r.run_type === "backfill" && r.state === "running").length === 2, 60_000, "two backfill runs");
    // maxActiveRuns is 2 and three runs are running, one of them live: backfill runs do not count ...
    const jan10 = await s.engine.createScheduledRun(info, {}, { start: day(10), end: day(11) }, async () => undefined);
    assert.equal(jan10.state, "running", "a live scheduled run is not queued behind backfill runs");
    // ... but live ones do
    const jan11 = await s.engine.createScheduledRun(info, {}, { start: day(11), end: day(12) }, async () => undefined);
    assert.equal(jan11.state, "queued");
    // one running backfill per DAG
    await assert.rejects(s.backfill({ dagId: "held", from: day(1), to: day(2) }), /DAG "held" already has a running backfill #\d+ .*sluice backfill resume/);
    open();
    const sum = await driving;
    assert.equal(sum.state, "success");
    const acts = new Map(sum.intervals.map((i) => [new Date(i.logicalDate).toISOString(), i]));
    assert.equal(acts.get(isoDay(3))!.action, "skip_in_flight");
    assert.equal(acts.get(isoDay(3))!.runId, null);
    // the scheduler later reaches Jan 1: it gets the backfill's run, not a second one
    const again = await s.engine.createScheduledRun(info, {}, { start: day(1), end: day(2) }, async () => undefined);
    assert.equal(again.runId, acts.get(isoDay(1))!.runId);
    assert.equal(again.runType, "backfill");
    const keys = (await runsOf(s, "held")).map((r) => r.run_key);
    assert.equal(new Set(keys).size, keys.length);
    const w = s.newWorker();
    await w.start();
    await s.engine.waitForRun(sched.runId);
    await w.stop();
  } finally {
    open();
    await driving?.catch(() => undefined);
    await s.close();
  }
});

test("maxActive holds at every instant of the recorded history; cancel stops new runs and lets running ones finish", async () => {
  const s = await openSluice();
  try {
    const now = Date.now();
    const from = Math.floor(now / HOUR) * HOUR - 20 * HOUR;
    const full = await s.backfill({ dagId: "wide", from, to: from + 9 * HOUR, maxActive: 3 });
    assert.equal(full.state, "success");
    assert.equal(full.counts.succeeded, 10);
    const runs = await runsOf(s, "wide");
    assert.equal(maxOverlap(runs.map((r) => [r.started_at!, r.ended_at!])), 3);

    // cancel from this process once 2 runs have finished
    let cancelled = false;
    const sum = await s.backfill(
      { dagId: "wide", from: from + 10 * HOUR, to: from + 19 * HOUR, maxActive: 2 },
      {
        hooks: {
          onDriver: (d) => {
            const off = s.engine.onRunFinished(() => {
              void storeDb(s.store).selectFrom("runs").select("state").where("backfill_id", "is not", null).where("state", "=", "success").execute().then((r) => {
                if (!cancelled && r.length >= 12) {
                  cancelled = true;
                  off();
                  d.cancel("enough");
                }
              });
            });
          },
        },
      },
    );
    assert.equal(sum.state, "cancelled");
    assert.equal(sum.stateReason, "enough");
    assert.equal(sum.counts.active, 0, "running runs finished before the driver returned");
    assert.ok(sum.counts.pending > 0 && sum.counts.pending <= 8, JSON.stringify(sum.counts));
    const started = sum.intervals.filter((i) => i.runId !== null);
    assert.ok(started.every((i) => i.runState === "success"), "runs that were running finished (as Airflow), none failed");
    assert.equal((await runsOf(s, "wide")).length, 10 + started.length, "no run for intervals that had not started");
    await assert.rejects(s.cancelBackfill(sum.backfillId), /has already ended \(cancelled\)/);
  } finally {
    await s.close();
  }
});

test("fairness: a live run's first task starts before more than `concurrency` further backfill tasks", async () => {
  const N = 3;
  const s = await openSluice({ concurrency: N });
  try {
    const from = Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR;
    // 29 runs x 12 tasks; up to 10 runs active: a backlog of ~100 ready backfill tasks for 3 slots.
    // The backfill's own worker is off: one shared worker (as `sluice worker`) runs everything.
    const driving = s.backfill({ dagId: "wide", from, to: from + 28 * HOUR, maxActive: 10 }, { runTasks: false, pollMs: 50 });
    const worker = s.newWorker();
    await worker.start();
    const count = async (text: string) => Number((await sql.raw<{ n: number }>(text).execute(storeDb(s.store))).rows[0]!.n);
    await waitFor(async () => (await count("select count(*) as n from attempts")) >= 5 * N, 30_000, "the worker to be busy with the backfill");
    const backlog = await count("select count(*) as n from task_instances ti join runs r on r.run_id = ti.run_id where r.backfill_id is not null and r.state = 'running' and ti.state = 'scheduled'");
    assert.ok(backlog > 10 * N, `a real backlog of ready backfill tasks (${backlog}): first-come-first-served would start them all first`);
    const before = await count("select coalesce(max(attempt_id), 0) as n from attempts");
    const live = await s.engine.createRun("nightly");
    const summary = await s.engine.waitForRun(live.runId);
    assert.equal(summary.state, "success");
    const liveAttempt = (await s.store.attempts.list(live.runId))[0]!;
    const overtaking = await count(`select count(*) as n from attempts where attempt_id > ${before} and attempt_id < ${liveAttempt.attemptId}`);
    assert.ok(overtaking <= N, `${overtaking} backfill tasks started between the live run's creation and its first task (at most ${N})`);
    const tis = await s.store.taskInstances.list(live.runId);
    assert.equal(tis[0]!.priority, 0);
    const result = await driving;
    assert.equal(result.state, "success");
    assert.equal(result.counts.succeeded, 29);
    await worker.stop();
  } finally {
    await s.close();
  }
});

/** The most intervals [start, end) open at one instant (ends before starts at the same millisecond). */
function maxOverlap(spans: [number, number][]): number {
  const ev = spans.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (open += d));
  return max;
}
