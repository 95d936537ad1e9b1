/**
 * Settles of one run side by side (decision 0013). On PostgreSQL several engines — each its own pool and
 * LISTEN connection, as several processes — settle the ends of one run at once: fan-in task instances
 * are counted into in place, decided once, and a run whose count reaches zero in a settle that expected
 * more is finished after it. On both dialects: the sweep finishes a run whose finishing transaction's
 * process died, decides a fan-in task left waiting on complete counters, and fails a run that can never
 * end by itself.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
// the built package (as api.test.ts): workers' heartbeat threads load their entry as JavaScript
import { dag } from "sluice";
import { Sluice, loadConfig } from "sluice/runtime";
import { dialects, pgFleet, pgSkip } from "../dialects.js";
import { sandbox, storeDb } from "../helpers.js";

const sb = sandbox("sluice-concurrent-");
after(() => sb.cleanup());

const WIDE = 300;
const fanIn = dag("fan_in", (d) => {
  const xs = [];
  for (let i = 0; i < WIDE; i++) xs.push(d.task(`t${i}`, async () => i));
  d.task("join", { after: xs }, async () => "joined");
});
const diamond = dag("diamond", (d) => {
  const a = d.task("a", async () => 1);
  const b = d.task("b", async () => 2);
  d.task("join", { after: [a, b] }, async () => 3);
});

const open = (url: string, concurrency = 16) =>
  Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: url, concurrency }, { SLUICE_DB_POOL_SIZE: "4" }), { dags: [fanIn, diamond] });

describe("PostgreSQL: four engines settle one run's ends side by side", { skip: pgSkip(2) }, () => {
  const { engines } = pgFleet(4, (url) => open(url));

  test("a 300-wide fan-in, three runs at once: every join runs exactly once, after all its upstream tasks", async () => {
    const runs = await Promise.all([0, 1, 2].map((i) => engines[i]!.engine.createRun("fan_in")));
    const done = await Promise.all(runs.map((r, i) => engines[(i + 1) % 4]!.engine.waitForRun(r.runId)));
    assert.deepEqual(done.map((r) => r.state), ["success", "success", "success"]);
    const s = engines[0]!;
    for (const r of runs) {
      const tis = await s.store.taskInstances.list(r.runId);
      const join = tis.find((t) => t.taskId === "join")!;
      assert.equal(join.state, "success");
      assert.equal(join.nSuccess, WIDE, "every upstream end counted into the join, none twice");
      assert.equal(join.tryNumber, 1, "the join ran once");
      const attempts = await s.store.attempts.list(r.runId);
      assert.equal(attempts.length, WIDE + 1, "one attempt per task");
      const joinStart = attempts.find((a) => a.taskId === "join")!.startedAt;
      assert.ok(attempts.every((a) => a.taskId === "join" || a.endedAt! <= joinStart), "the join started after every upstream end");
      // the work really was shared: more than one engine's worker ran the run's tasks
      assert.ok(new Set(attempts.map((a) => a.workerId)).size > 1, "tasks ran on several workers");
      assert.equal((await s.store.runs.get(r.runId))!.unfinished, 0);
    }
  });

  test("creating a run wakes the workers of other processes at once (NOTIFY), not at their next poll", async () => {
    let woken = 0;
    const off = engines[3]!.store.notifier!.subscribe(() => woken++);
    try {
      const before = woken;
      await engines[0]!.engine.createRun("diamond");
      const t0 = Date.now();
      while (woken === before && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 10));
      assert.ok(woken > before, "another engine heard of the new run");
    } finally {
      off();
    }
  });
});

for (const d of dialects(3)) {
  describe(`the sweep on ${d.name}: runs left behind by a process that died`, { skip: d.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let s: Sluice;
    before(async () => {
      if (d.skip) return;
      db = await d.fresh(sb.dir);
      s = await open(db.url);
    });
    after(async () => {
      await s?.close();
      await db?.cleanup();
    });

    /** A diamond run whose a and b ended (as a settle would have recorded) and whose join is as given. */
    async function leftBehind(join: { nSuccess: number }, unfinished: number): Promise<string> {
      const run = await s.engine.createRun("diamond");
      const t = Date.now();
      await storeDb(s.store).updateTable("task_instances").set({ state: "success", ended_at: t, ready_at: null }).where("run_id", "=", run.runId).where("task_id", "in", ["a", "b"]).execute();
      await storeDb(s.store).updateTable("task_instances").set({ n_success: join.nSuccess }).where("run_id", "=", run.runId).where("task_id", "=", "join").execute();
      await storeDb(s.store).updateTable("runs").set({ unfinished }).where("run_id", "=", run.runId).execute();
      return run.runId;
    }

    test("a fan-in task left waiting on complete counters is decided, and the run goes on to succeed", async () => {
      const runId = await leftBehind({ nSuccess: 2 }, 1);
      await s.engine.recoverLostAttempts();
      const join = (await s.store.taskInstances.list(runId)).find((t) => t.taskId === "join")!;
      assert.equal(join.state, "scheduled", "the sweep applied the join's rule");
      const summary = await s.drive(runId);
      assert.equal(summary.state, "success");
    });

    test("a run whose count reached zero but was never finished is finished, its state derived from its leaves", async () => {
      const run = await s.engine.createRun("diamond");
      await storeDb(s.store).updateTable("task_instances").set({ state: "success", ended_at: Date.now(), ready_at: null }).where("run_id", "=", run.runId).execute();
      await storeDb(s.store).updateTable("runs").set({ unfinished: 0 }).where("run_id", "=", run.runId).execute();
      await s.engine.recoverLostAttempts();
      const after = (await s.store.runs.get(run.runId))!;
      assert.equal(after.state, "success");
      assert.ok(after.endedAt !== null);
    });

    test("a run that can never end by itself (a lost count) fails, saying it stalled", async () => {
      const runId = await leftBehind({ nSuccess: 1 }, 1);
      await s.engine.recoverLostAttempts();
      const run = (await s.store.runs.get(runId))!;
      assert.equal(run.state, "failed");
      assert.match(run.stateReason ?? "", /stalled/);
      const join = (await s.store.taskInstances.list(runId)).find((t) => t.taskId === "join")!;
      assert.equal(join.state, "skipped", "nothing is left unfinished");
    });
  });
}
