/**
 * Branching and short-circuiting on the real engine (a SQLite file and a PostgreSQL schema), with Airflow's
 * semantics (core/branching.ts): a branch skips only the direct downstream tasks it did not follow and
 * that no followed task leads to; it may name a task group (its roots); a clear keeps the skips of a
 * decision that still stands; a bad target fails the branch's attempt with a message naming DAG, task and id.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Sluice, loadConfig, type RunSummary } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-branching-");
after(() => sb.cleanup());

sb.write(
  "branching.ts",
  `import { dag } from "sluice";
import { z } from "zod";
const params = z.object({ to: z.string().default("task1") });

// branch -> task1 -> join, branch -> join: the most common branch-and-join shape
export const join = dag("branch_join", { params }, (d) => {
  const branch = d.branch("branch", {}, async (_i, ctx) => ctx.params.to);
  const task1 = d.task("task1", { after: [branch] }, async () => 1);
  d.task("join", { after: [branch, task1], triggerRule: "none_failed_min_one_success" }, async () => "joined");
});

// branch -> a -> join, branch -> b -> join, branch -> c (a leaf): following a skips b and c, join runs
export const fork = dag("branch_fork", { params }, (d) => {
  const branch = d.branch("branch", {}, async (_i, ctx) => ctx.params.to.split(","));
  const a = d.task("a", { after: [branch] }, async () => "a");
  const b = d.task("b", { after: [branch] }, async () => "b");
  d.task("c", { after: [branch] }, async () => "c");
  d.task("after_b", { after: [b] }, async () => "after_b");
  d.task("join", { after: [a, b], triggerRule: "none_failed_min_one_success" }, async () => "joined");
});

// a branch naming a task group follows the group's roots
export const groups = dag("branch_group", { params }, (d) => {
  const branch = d.branch("branch", {}, async (_i, ctx) => ctx.params.to);
  d.group("train", (g) => {
    const x = g.task("x", { after: [branch] }, async () => "x");
    const y = g.task("y", { after: [branch] }, async () => "y");
    g.task("merge", { after: [x, y] }, async () => "merge");
  });
  d.task("other", { after: [branch] }, async () => "other");
});

// inside a group, a branch may name its siblings by their local ids
export const local = dag("branch_local", (d) => {
  d.group("g", (g) => {
    const branch = g.branch("pick", {}, async () => "left");
    g.task("left", { after: [branch] }, async () => "l");
    g.task("right", { after: [branch] }, async () => "r");
  });
});

// the branch decides by its try: the first try follows "a", a cleared branch follows "b"
export const byTry = dag("branch_by_try", (d) => {
  const branch = d.branch("branch", {}, async (_i, ctx) => (ctx.attempt === 1 ? "a" : "b"));
  d.task("a", { after: [branch] }, async () => "a");
  d.task("b", { after: [branch] }, async () => "b");
});

export const sc = dag("short_circuit_clear", (d) => {
  const gate = d.shortCircuit("gate", {}, async () => false);
  const x = d.task("x", { after: [gate] }, async () => "x");
  d.task("y", { after: [x] }, async () => "y");
});

// a mapped branch: each instance decides; for each task, its decision counts as a success or a skip
export const mapped = dag("branch_mapped", (d) => {
  const route = d.branch("route", { over: { n: [1, 2, 3] } }, async ({ n }) => (n % 2 ? "odd" : ["even", "also"]));
  d.task("odd", { after: [route] }, async () => "odd");
  d.task("even", { after: [route], triggerRule: "none_failed_min_one_success" }, async () => "even");
  d.task("also", { after: [route], triggerRule: "all_done" }, async () => "also");
  d.task("never", { after: [route], triggerRule: "none_failed_min_one_success" }, async () => "never");
  // a direct downstream task no instance follows: it gets the decisions under a rule that runs anyway
  d.task("uses", { inputs: { route }, triggerRule: "all_done" }, async ({ route }) => route!.map((r) => r.join("+")).join(","));
});

export const bad = dag("branch_bad", { params }, (d) => {
  const branch = d.branch("branch", {}, async (_i, ctx) => ctx.params.to);
  const a = d.task("a", { after: [branch] }, async () => "a");
  d.task("deep", { after: [a] }, async () => "deep");
});
`,
);

const states = (s: RunSummary) => Object.fromEntries(s.tasks.map((t) => [t.taskId, t.state]));

for (const d of dialects(1)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> } | null = null;
    let s: Sluice;
    before(async () => {
      db = await d.fresh(sb.dir);
      s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_DB_POOL_SIZE: "4" }));
    });
    after(async () => {
      await s?.close();
      await db?.cleanup();
    });

    test("branch -> task1 -> join plus branch -> join: following task1 runs task1 and join; following join skips task1 and runs join", async () => {
      const viaTask1 = await s.run("branch_join", { params: { to: "task1" } });
      assert.equal(viaTask1.state, "success");
      assert.deepEqual(states(viaTask1), { branch: "success", task1: "success", join: "success" });
      const direct = await s.run("branch_join", { params: { to: "join" } });
      assert.equal(direct.state, "success");
      assert.deepEqual(states(direct), { branch: "success", task1: "skipped", join: "success" });
    });

    test("a branch skips the direct downstream tasks it did not follow, and the skips propagate by rule; the join of the followed path runs", async () => {
      const r = await s.run("branch_fork", { params: { to: "a" } });
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), { branch: "success", a: "success", b: "skipped", c: "skipped", after_b: "skipped", join: "success" });
      const both = await s.run("branch_fork", { params: { to: "a,b" } });
      assert.deepEqual(states(both), { branch: "success", a: "success", b: "success", c: "skipped", after_b: "success", join: "success" });
    });

    test("a branch returning a task group's id follows the group's roots; the rest of the group runs by its rules", async () => {
      const r = await s.run("branch_group", { params: { to: "train" } });
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), { branch: "success", "train.x": "success", "train.y": "success", "train.merge": "success", other: "skipped" });
      const o = await s.run("branch_group", { params: { to: "other" } });
      assert.deepEqual(states(o), { branch: "success", "train.x": "skipped", "train.y": "skipped", "train.merge": "skipped", other: "success" });
      const local = await s.run("branch_local");
      assert.deepEqual(states(local), { "g.pick": "success", "g.left": "success", "g.right": "skipped" });
    });

    test("a branch returning an id that is neither a direct downstream task nor a group fails its attempt, naming DAG, task and id", async () => {
      for (const to of ["nope", "deep"]) {
        const r = await s.run("branch_bad", { params: { to } });
        assert.equal(r.state, "failed");
        assert.deepEqual(states(r), { branch: "failed", a: "upstream_failed", deep: "upstream_failed" });
        const [attempt] = await s.store.attempts.list(r.runId);
        assert.equal(attempt!.errorCode, "TASK_FAILED");
        assert.match(attempt!.errorMessage!, new RegExp(`DAG "branch_bad": branch "branch" returned "${to}", which is neither a direct downstream task nor a task group after it; it must name one of: "a"`));
      }
    });

    test("clearing a task the branch skipped keeps it skipped while the decision stands; clearing the branch decides anew", async () => {
      const r = await s.run("branch_by_try");
      assert.deepEqual(states(r), { branch: "success", a: "success", b: "skipped" });
      await s.engine.clearTasks(r.runId, { taskIds: ["b"], downstream: false });
      const kept = await s.drive(r.runId);
      assert.equal(kept.state, "success");
      assert.deepEqual(states(kept), { branch: "success", a: "success", b: "skipped" });
      assert.equal((await s.store.attempts.list(r.runId)).filter((a) => a.taskId === "b").length, 0, "b never ran");

      await s.engine.clearTasks(r.runId, { taskIds: ["branch"], downstream: true });
      const anew = await s.drive(r.runId);
      assert.equal(anew.state, "success");
      assert.deepEqual(states(anew), { branch: "success", a: "skipped", b: "success" });
      await checkInvariants(s.config.databaseUrl);
    });

    test("a mapped branch: each instance's decision counts as a success or a skip for each direct downstream task, whose rule decides; a clear keeps it", async () => {
      const r = await s.run("branch_mapped");
      assert.equal(r.state, "success");
      const byTask = (sum: RunSummary) => sum.tasks.map((t) => `${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}=${t.state}`);
      const expected = ["route[0]=success", "route[1]=success", "route[2]=success", "odd=skipped", "even=success", "also=success", "never=skipped", "uses=success"];
      assert.deepEqual(byTask(r), expected);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "uses"), ["odd,also+even,odd"]);
      await s.engine.clearTasks(r.runId, { taskIds: ["never", "odd", "even"], downstream: false });
      const again = await s.drive(r.runId);
      assert.deepEqual(byTask(again), expected, "the instances' decisions still stand");
      assert.equal((await s.store.attempts.list(r.runId)).filter((a) => a.taskId === "even").length, 2, "even ran again");
      await checkInvariants(s.config.databaseUrl);
    });

    test("clearing the tasks a short-circuit skipped keeps them skipped (every descendant, as its false result did)", async () => {
      const r = await s.run("short_circuit_clear");
      assert.deepEqual(states(r), { gate: "success", x: "skipped", y: "skipped" });
      await s.engine.clearTasks(r.runId, { taskIds: ["x"], downstream: true });
      const again = await s.drive(r.runId);
      assert.equal(again.state, "success");
      assert.deepEqual(states(again), { gate: "success", x: "skipped", y: "skipped" });
      assert.equal((await s.store.attempts.list(r.runId)).length, 1, "only the gate ever ran");
    });
  });
}
