/**
 * dependsOnPast and waitForDownstream through the engine, on a real SQLite file and a real PostgreSQL
 * schema, with a real worker: the first run needs nothing; a later run's instance is held (a waiting
 * reason says why, the run is not taken for stalled) until the previous run's instance ends successful —
 * by itself or marked by a person — and then runs, woken by that end (no poll). The recorded history is
 * checked against the invariants.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
// dist/, as the workers' heartbeat threads need built code
import { cliActor } from "../../dist/app/actor.js";
import { markTasks } from "../../dist/app/runs.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox, waitFor } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-past-");
after(() => sb.cleanup());

sb.write(
  "past.ts",
  `import { dag } from "sluice";
const g = globalThis as any;
g.__pastGates ??= new Map();
/** Resolves when the test opens the gate of this key; a key set to "fail" throws instead. */
const gate = (key: string) => new Promise<void>((resolve, reject) => {
  const v = g.__pastGates.get(key);
  if (v === "open") return resolve();
  if (v === "fail") return reject(new Error("told to fail: " + key));
  g.__pastGates.set(key, resolve);
});
export const past = dag("past", { schedule: "@daily", startDate: "2026-01-01" }, (d) => {
  d.task("a", { dependsOnPast: true }, async (_i, ctx) => {
    await gate("past:" + ctx.logicalDate.toISOString().slice(0, 10));
    return ctx.logicalDate.toISOString();
  });
});
export const wfd = dag("wfd", { schedule: "@daily", startDate: "2026-01-01" }, (d) => {
  const a = d.task("a", { waitForDownstream: true }, async () => "a");
  d.task("b", { inputs: { a } }, async (_i, ctx) => {
    await gate("wfd:b:" + ctx.logicalDate.toISOString().slice(0, 10));
    return "b";
  });
});
`,
);

const gates = (): Map<string, unknown> => ((globalThis as any).__pastGates ??= new Map());
function open(key: string): void {
  const v = gates().get(key);
  gates().set(key, "open");
  if (typeof v === "function") v();
}
const day = (d: number) => new Date(Date.UTC(2026, 0, d));

for (const d of dialects(2)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);

    const openStore = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));
    const tiState = async (s: Sluice, runId: string, taskId: string) => (await s.store.taskInstances.list(runId)).find((t) => t.taskId === taskId)!.state;

    test("dependsOnPast: the first run needs nothing; the next waits (with a reason) until the previous instance succeeds, then runs", async () => {
      gates().clear(); // the gates are this process's: each dialect's test starts with all closed
      const s = await openStore();
      const worker = s.newWorker();
      await worker.start();
      try {
        assert.deepEqual(s.bag.errors, []);
        const run1 = await s.engine.createRun("past", { logicalDate: day(1), runType: "scheduled" });
        // run 1 is the DAG's first: its instance runs (and waits at its gate, running)
        await waitFor(async () => (await tiState(s, run1.runId, "a")) === "running", 20_000, "run 1's a to run");
        const run2 = await s.engine.createRun("past", { logicalDate: day(2), runType: "scheduled" });
        assert.equal(run2.dataIntervalStart, day(1).getTime(), "a manual run of a daily DAG on Jan 2 covers Jan 1");
        assert.equal(await tiState(s, run2.runId, "a"), "none", "held: run 1's a has not succeeded");
        const tis = await s.store.taskInstances.list(run2.runId);
        const why = await s.engine.waitingReasons(run2.runId, tis);
        assert.match(why.get("a\0-1") ?? "", /^waiting for the past: task "a" in the previous run .* \(2026-01-01T00:00:00\.000Z\) is running, not success or skipped \(dependsOnPast\)$/);
        assert.ok(!(await s.store.runs.stalled()).includes(run2.runId), "a run waiting for the past is not stalled");

        open("past:2026-01-02"); // run 2's task would pass its gate at once: only the past holds it
        open("past:2026-01-01"); // run 1's a succeeds: that end wakes run 2's a
        await waitFor(async () => (await s.store.runs.get(run2.runId))!.state === "success", 20_000, "run 2 to succeed");
        assert.equal((await s.store.runs.get(run1.runId))!.state, "success");
        assert.equal((await s.engine.waitingReasons(run2.runId, await s.store.taskInstances.list(run2.runId))).size, 0);

        // a failed instance holds the next run's until a person marks it successful
        gates().set("past:2026-01-03", "fail");
        open("past:2026-01-04");
        const run3 = await s.engine.createRun("past", { logicalDate: day(3), runType: "scheduled" });
        await waitFor(async () => (await s.store.runs.get(run3.runId))!.state === "failed", 20_000, "run 3 to fail");
        const run4 = await s.engine.createRun("past", { logicalDate: day(4), runType: "scheduled" });
        assert.equal(await tiState(s, run4.runId, "a"), "none");
        const why4 = await s.engine.waitingReasons(run4.runId, await s.store.taskInstances.list(run4.runId));
        assert.match(why4.get("a\0-1") ?? "", /is failed, not success or skipped/);
        await markTasks(s, cliActor(), { runId: run3.runId, taskId: "a", state: "success" });
        await waitFor(async () => (await s.store.runs.get(run4.runId))!.state === "success", 20_000, "run 4 to succeed after run 3's a was marked");
        await checkInvariants(dbUrl());
      } finally {
        await worker.stop();
        await s.close();
      }
    });

    test("waitForDownstream: also waits for the previous run's direct downstream instances", async () => {
      gates().clear(); // the gates are this process's: each dialect's test starts with all closed
      const s = await openStore();
      const worker = s.newWorker();
      await worker.start();
      try {
        const run1 = await s.engine.createRun("wfd", { logicalDate: day(1), runType: "scheduled" });
        await waitFor(async () => (await tiState(s, run1.runId, "b")) === "running", 20_000, "run 1's b to run");
        assert.equal(await tiState(s, run1.runId, "a"), "success");
        const run2 = await s.engine.createRun("wfd", { logicalDate: day(2), runType: "scheduled" });
        assert.equal(await tiState(s, run2.runId, "a"), "none", "held: run 1's b (downstream of a) is still running");
        const why = await s.engine.waitingReasons(run2.runId, await s.store.taskInstances.list(run2.runId));
        assert.match(why.get("a\0-1") ?? "", /tasks downstream of "a" in the previous run .* are running \(waitForDownstream\)/);
        open("wfd:b:2026-01-02");
        open("wfd:b:2026-01-01");
        await waitFor(async () => (await s.store.runs.get(run2.runId))!.state === "success", 20_000, "run 2 to succeed");
        await checkInvariants(dbUrl());
      } finally {
        await worker.stop();
        await s.close();
      }
    });
  });
}
