/**
 * Wide fan-ins (issue 17): a join after 100,000 tasks is decided from counters kept in place, and mark and
 * clear recount them with one grouped count (engine/upstreamCounts) — nothing loads a row per upstream
 * instance. Run summaries stay counts however big the run (RunSummary.counts, failed; tasks only up to
 * SUMMARY_TASKS). States are asserted, not timings (`node dist/bench/main.js fanout-100000` measures).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { dag } from "sluice";
import { Sluice, SUMMARY_FAILED, SUMMARY_TASKS, loadConfig } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-fanin-");
after(() => sb.cleanup());

/**
 * `n` independent tasks; the ones in `failing` fail on their first attempt only (a clear makes them run
 * again, and then they succeed). After them: `join` (all_success), `settled` (all_done), `alarm`
 * (one_failed).
 */
function wide(id: string, n: number, failing: ReadonlySet<number>) {
  return dag(id, (b) => {
    const all = [];
    for (let i = 0; i < n; i++) {
      all.push(
        b.task(`t${i}`, (_in, ctx) => {
          if (failing.has(i) && ctx.attempt === 1) throw new Error(`t${i} fails once`);
          return i;
        }),
      );
    }
    b.task("join", { after: all }, () => "joined");
    b.task("settled", { after: all, triggerRule: "all_done" }, () => "settled");
    b.task("alarm", { after: all, triggerRule: "one_failed" }, () => "alarm");
  });
}

async function open(url: string, d: ReturnType<typeof wide>): Promise<Sluice> {
  return Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: url }, { SLUICE_DB_POOL_SIZE: "4" }), { loadDags: false, dags: [d] });
}

async function stateOf(s: Sluice, runId: string, taskId: string): Promise<string | undefined> {
  return (await s.store.taskInstances.get(runId, taskId, -1))?.state;
}

describe("a join after 100,000 tasks (SQLite)", () => {
  test("the run completes with the right states; the summary is counts; clearing the failed tasks reruns them and decides the joins again", async () => {
    const n = 100_000;
    const failing = new Set([0, 12_345, 50_000, 99_999]);
    const d = wide("wide_100k", n, failing);
    const s = await open(`sqlite:${sb.dir}/wide-100k.sqlite`, d);
    try {
      const first = await s.run(d.id);
      assert.equal(first.state, "failed");
      assert.equal(first.total, n + 3);
      assert.deepEqual(first.counts, { success: n - failing.size + 2, failed: failing.size, upstream_failed: 1 });
      assert.equal(first.tasksOmitted, true);
      assert.deepEqual(first.tasks, []);
      assert.deepEqual(
        first.failed.map((t) => [t.taskId, t.state, t.attempts]),
        [...failing].map((i) => [`t${i}`, "failed", 1]).sort(),
      );
      assert.equal(await stateOf(s, first.runId, "join"), "upstream_failed");
      assert.equal(await stateOf(s, first.runId, "settled"), "success");
      assert.equal(await stateOf(s, first.runId, "alarm"), "success");

      // clear the failed ones with what follows them: the joins wait again, recounted from 99,996 successes
      await s.engine.clearTasks(first.runId, { taskIds: [...failing].map((i) => `t${i}`), downstream: true });
      const join = await s.store.taskInstances.get(first.runId, "join", -1);
      assert.equal(join?.state, "none");
      assert.equal(join?.nSuccess, n - failing.size);
      assert.equal(join?.nFailed, 0);
      const second = await s.drive(first.runId);
      assert.equal(second.state, "success");
      assert.deepEqual(second.counts, { success: n + 2, skipped: 1 });
      assert.deepEqual(second.failed, []);
      for (const t of ["join", "settled", "alarm"]) assert.equal(await stateOf(s, first.runId, t), t === "alarm" ? "skipped" : "success", t);
    } finally {
      await s.close();
    }
  });
});

for (const d of dialects(2)) {
  describe(`wide fan-ins on ${d.name}`, { skip: d.skip }, () => {
    test("clear and mark recount a 2,000-task join's counters: waiting, then failed upstream, then success", async () => {
      const db = await d.fresh(sb.dir);
      const n = 2000;
      const dg = wide(`wide_mark_${d.name}`, n, new Set([7]));
      const s = await open(db.url, dg);
      try {
        const run = await s.run(dg.id);
        assert.equal(run.state, "failed");
        assert.deepEqual(run.counts, { success: n - 1 + 2, failed: 1, upstream_failed: 1 });
        // clearing t7 with what follows: the joins wait for it again, their counters recounted
        await s.engine.clearTasks(run.runId, { taskIds: ["t7"], downstream: true });
        const waiting = await s.store.taskInstances.get(run.runId, "join", -1);
        assert.deepEqual([waiting?.state, waiting?.nSuccess, waiting?.nFailed], ["none", n - 1, 0]);
        // marking t7 failed decides the waiting joins from the recounted counters
        await s.engine.markTasks(run.runId, { taskId: "t7", state: "failed" });
        assert.equal(await stateOf(s, run.runId, "join"), "upstream_failed");
        // all_done and one_failed are met: ready to run (no worker drives the run now)
        assert.equal(await stateOf(s, run.runId, "settled"), "scheduled");
        assert.equal(await stateOf(s, run.runId, "alarm"), "scheduled");
        // cleared again, t7 runs (its second attempt succeeds) and the joins are decided as the run ends
        await s.engine.clearTasks(run.runId, { taskIds: ["t7"], downstream: true });
        const after = await s.drive(run.runId);
        assert.equal(after.state, "success");
        assert.deepEqual(after.counts, { success: n + 2, skipped: 1 });
        assert.equal(await stateOf(s, run.runId, "join"), "success");
        assert.equal(await stateOf(s, run.runId, "alarm"), "skipped");
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    test("a summary lists every task instance up to SUMMARY_TASKS and only counts and the failed ones beyond", async () => {
      const db = await d.fresh(sb.dir);
      const failing = new Set(Array.from({ length: SUMMARY_FAILED + 5 }, (_, i) => i * 3));
      const small = wide(`wide_small_${d.name}`, 10, new Set([3]));
      const big = wide(`wide_big_${d.name}`, SUMMARY_TASKS, failing);
      const s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_DB_POOL_SIZE: "4" }), { loadDags: false, dags: [small, big] });
      try {
        const a = await s.run(small.id);
        assert.equal(a.tasksOmitted, false);
        assert.deepEqual(
          a.tasks.map((t) => [t.taskId, t.state]),
          [...Array.from({ length: 10 }, (_, i) => [`t${i}`, i === 3 ? "failed" : "success"]), ["join", "upstream_failed"], ["settled", "success"], ["alarm", "success"]],
        );
        assert.deepEqual(a.failed, [{ taskId: "t3", mapIndex: -1, state: "failed", attempts: 1 }]);
        assert.deepEqual(a.counts, { success: 11, failed: 1, upstream_failed: 1 });

        const b = await s.run(big.id);
        assert.equal(b.total, SUMMARY_TASKS + 3);
        assert.equal(b.tasksOmitted, true);
        assert.deepEqual(b.tasks, []);
        assert.equal(b.counts.failed, failing.size);
        assert.equal(b.failed.length, SUMMARY_FAILED, "at most SUMMARY_FAILED named");
        assert.ok(b.failed.every((t) => t.state === "failed" && failing.has(Number(t.taskId.slice(1)))));
        // the rest is paged on demand
        const page = await s.store.taskInstances.page(b.runId, { limit: 50, after: null });
        assert.equal(page.length, 50);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });
  });
}
