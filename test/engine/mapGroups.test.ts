/**
 * Mapped task groups (`d.mapGroup`, Airflow's `@task_group` + `.expand()`) on the real engine, SQLite and
 * PostgreSQL (core/mapGroups.ts, docs/decisions/0032): per-index progress (instance i of a task runs when
 * instance i of its upstream in the group is done, not all of them), per-index trigger rules, a reduce
 * outside the group, empty lists, retries of one index, clearing one index, and a branch inside a group.
 * Progress is proved by order, not time: a[0] waits for a file that b[1] writes, so the run can only end if
 * b[1] ran while a[0] was still running.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { dag } from "sluice";
import { Sluice, loadConfig, type RunSummary } from "sluice/runtime";
import { dialects, pgFleet, pgSkip, suiteDatabase } from "../dialects.js";
import { sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-mapgroups-");
after(() => sb.cleanup());

sb.write(
  "groups.ts",
  `import { dag, zip, SkipTask } from "sluice";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// a[0] finishes only after b[1] has run: the group runs depth-first, per map index
export const progress = dag("mg_progress", { params: z.object({ dir: z.string() }) }, (d) => {
  const items = d.task("items", async () => [0, 1]);
  const out = d.mapGroup("g", { over: { x: items } }, (g, { x }) => {
    const a = g.task("a", { inputs: { x } }, async ({ x }, ctx) => {
      if (x === 0) {
        for (let i = 0; i < 600 && !existsSync(join(ctx.params.dir, "b1")); i++) await sleep(50);
        if (!existsSync(join(ctx.params.dir, "b1"))) throw new Error("b[1] never ran while a[0] was running");
      }
      return x * 10;
    });
    return g.task("b", { inputs: { a, x } }, async ({ a, x }, ctx) => {
      writeFileSync(join(ctx.params.dir, "b" + x), String(a));
      return a + 1;
    });
  });
  d.task("sum", { inputs: { out } }, async ({ out }) => out);
});

// a[2] fails: b[2] is upstream_failed, b[0] and b[1] succeed; rules inside the group see their own index
export const failure = dag("mg_failure", (d) => {
  const items = d.task("items", async () => [0, 1, 2]);
  const r = d.mapGroup("g", { over: { x: items } }, (g, { x }) => {
    const a = g.task("a", { inputs: { x } }, async ({ x }) => {
      if (x === 2) throw new Error("bad item 2");
      return x * 10;
    });
    const b = g.task("b", { inputs: { a } }, async ({ a }) => a + 1);
    const onFail = g.task("on_fail", { after: [a], triggerRule: "one_failed" }, async (_, ctx) => ctx.mapIndex);
    const done = g.task("done", { inputs: { a }, triggerRule: "all_done" }, async ({ a }) => a ?? -1);
    return { b, onFail, done };
  });
  d.task("reduce", { inputs: { b: r.b, done: r.done }, triggerRule: "all_done" }, async ({ b, done }) => JSON.stringify({ b, done }));
});

// an empty list skips every task of the group; a literal zip with partial values
export const empty = dag("mg_empty", (d) => {
  const items = d.task("items", async (): Promise<string[]> => []);
  const out = d.mapGroup("g", { over: { s: items } }, (g, { s }) => {
    const a = g.task("a", { inputs: { s } }, async ({ s }) => s.length);
    return g.task("b", { inputs: { a } }, async ({ a }) => a);
  });
  d.task("after_all", { inputs: { out }, triggerRule: "all_done" }, async ({ out }) => out?.length ?? -1);
});

export const literal = dag("mg_literal", (d) => {
  const out = d.mapGroup("g", { over: zip({ n: [1, 2, 3], s: ["a", "b"] }), partial: { k: 10 } }, (g, { n, s, k }) => {
    const a = g.task("a", { inputs: { n, s, k } }, async ({ n, s, k }) => s + (n * k));
    return g.task("b", { inputs: { a, s } }, async ({ a, s }) => a + "/" + s);
  });
  d.task("all", { inputs: { out } }, async ({ out }) => out.join(","));
});

// a[1] fails its first try: only a[1] is retried, and b[1] waits for it
export const retry = dag("mg_retry", (d) => {
  const out = d.mapGroup("g", { over: { x: [0, 1, 2] } }, (g, { x }) => {
    const a = g.task("a", { inputs: { x }, retries: 1, retryDelay: "1ms" }, async ({ x }, ctx) => {
      if (x === 1 && ctx.attempt === 1) throw new Error("flaky");
      return x;
    });
    return g.task("b", { inputs: { a } }, async ({ a }) => a * 2);
  });
  d.task("all", { inputs: { out } }, async ({ out }) => out);
});

// r1 is skipped before the group expands (its upstream outside the group skipped itself): it stays one
// instance (map index -1), which every instance of b counts, as Airflow's unexpanded upstream
export const decidedEarly = dag("mg_decided_early", (d) => {
  const skipper = d.task("skipper", async () => {
    throw new SkipTask("nothing to do");
  });
  const items = d.task("items", { after: [skipper], triggerRule: "all_done" }, async () => [1, 2]);
  const out = d.mapGroup("g", { over: { x: items } }, (g, { x }) => {
    const r1 = g.task("r1", { inputs: { x }, after: [skipper] }, async ({ x }) => x);
    const r2 = g.task("r2", { inputs: { x } }, async ({ x }) => x * 10);
    return g.task("b", { inputs: { r1, r2 }, triggerRule: "all_done" }, async ({ r1, r2 }) => String(r1) + "/" + String(r2));
  });
  d.task("all", { inputs: { out } }, async ({ out }) => out.join(","));
});

// a branch inside the group decides for its own index only (Airflow's mapped branch in a mapped group)
export const branch = dag("mg_branch", (d) => {
  d.mapGroup("g", { over: { x: [1, 2, 3] } }, (g, { x }) => {
    const br = g.branch("br", { inputs: { x } }, async ({ x }) => (x % 2 ? "odd" : "even"));
    g.task("odd", { after: [br] }, async () => "odd");
    g.task("even", { after: [br] }, async () => "even");
  });
});
`,
);

const states = (s: RunSummary) => s.tasks.map((t) => `${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}=${t.state}`);

for (const d of dialects(8)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const url = suiteDatabase(d, sb.dir);
    let s: Sluice;
    before(async () => {
      s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: url(), concurrency: 4 }, { SLUICE_DB_POOL_SIZE: "4" }));
    });
    after(async () => {
      await s?.close();
    });
    const attempts = async (runId: string, taskId: string) => (await s.store.attempts.list(runId)).filter((a) => a.taskId === taskId).map((a) => a.mapIndex);

    test("per-index progress: b[1] runs while a[0] is still running, and the reduce gets every b in map-index order", async () => {
      const dir = join(sb.dir, `progress-${d.name}`);
      mkdirSync(dir);
      const r = await s.run("mg_progress", { params: { dir } });
      assert.equal(r.state, "success", JSON.stringify(r.failed));
      assert.deepEqual(states(r), ["items=success", "g.a[0]=success", "g.a[1]=success", "g.b[0]=success", "g.b[1]=success", "sum=success"]);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "sum"), [[1, 11]]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("a failure of a[2] makes b[2] upstream_failed while b[0] and b[1] succeed; rules are evaluated per index; an all_done reduce sees all", async () => {
      const r = await s.run("mg_failure");
      assert.equal(r.state, "success", "the run's state comes from its leaves (the reduce and on_fail), as in Airflow");
      assert.deepEqual(states(r), [
        "items=success",
        "g.a[0]=success",
        "g.a[1]=success",
        "g.a[2]=failed",
        "g.b[0]=success",
        "g.b[1]=success",
        "g.b[2]=upstream_failed",
        "g.on_fail[0]=skipped",
        "g.on_fail[1]=skipped",
        "g.on_fail[2]=success",
        "g.done[0]=success",
        "g.done[1]=success",
        "g.done[2]=success",
        "reduce=success",
      ]);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "reduce"), [JSON.stringify({ b: [1, 11, null], done: [0, 10, -1] })]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("an empty list skips every task of the group (one instance each, as an empty mapped task); literal zip lists and partial values", async () => {
      const r = await s.run("mg_empty");
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), ["items=success", "g.a=skipped", "g.b=skipped", "after_all=success"]);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "after_all"), [0], "the reduce gets an empty list");

      const lit = await s.run("mg_literal");
      assert.equal(lit.state, "success");
      assert.deepEqual(await s.engine.loadOutputs(lit.runId, "all"), ["a10/a,b20/b"]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("retries of one index: only a[1] runs twice, and b[1] waits for its second try", async () => {
      const r = await s.run("mg_retry");
      assert.equal(r.state, "success");
      assert.deepEqual((await attempts(r.runId, "g.a")).sort(), [0, 1, 1, 2]);
      assert.deepEqual((await attempts(r.runId, "g.b")).sort(), [0, 1, 2]);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "all"), [[0, 2, 4]]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("clearing one index of a task with its downstream tasks clears that index of the group's tasks after it, and the reduce", async () => {
      const r = await s.run("mg_retry");
      assert.equal(r.state, "success");
      await s.engine.clearTasks(r.runId, { taskIds: ["g.a"], downstream: true, mapIndex: 2 });
      const again = await s.drive(r.runId);
      assert.equal(again.state, "success");
      assert.deepEqual((await attempts(r.runId, "g.a")).sort(), [0, 1, 1, 2, 2], "a[2] ran again, a[0] and a[1] did not");
      assert.deepEqual((await attempts(r.runId, "g.b")).sort(), [0, 1, 2, 2], "b[2] ran again, b[0] and b[1] did not");
      assert.equal((await attempts(r.runId, "all")).length, 2, "the reduce outside the group ran again");
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "all"), [[0, 2, 4]]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("a task of the group decided before the group expanded stays one instance, and every instance after it counts it", async () => {
      const r = await s.run("mg_decided_early");
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), ["skipper=skipped", "items=success", "g.r1=skipped", "g.r2[0]=success", "g.r2[1]=success", "g.b[0]=success", "g.b[1]=success", "all=success"]);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "all"), ["undefined/10,undefined/20"]);
      await checkInvariants(s.config.databaseUrl);
    });

    test("a branch inside a mapped group follows its own index's downstream instance only", async () => {
      const r = await s.run("mg_branch");
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), [
        "g.br[0]=success",
        "g.br[1]=success",
        "g.br[2]=success",
        "g.odd[0]=success",
        "g.odd[1]=skipped",
        "g.odd[2]=success",
        "g.even[0]=skipped",
        "g.even[1]=success",
        "g.even[2]=skipped",
      ]);
      await checkInvariants(s.config.databaseUrl);
    });
  });
}

// PostgreSQL: engines as separate processes settle one group's instances side by side
const WIDE = 60;
const wide = dag("mg_wide", (d) => {
  const items = d.task("items", async () => Array.from({ length: WIDE }, (_, i) => i));
  const outside = d.task("outside", async () => 1000);
  const out = d.mapGroup("g", { over: { x: items } }, (g, { x }) => {
    const a = g.task("a", { inputs: { x } }, async ({ x }) => x);
    const b = g.task("b", { inputs: { a } }, async ({ a }) => a + 1);
    const c = g.task("c", { inputs: { a } }, async ({ a }) => a + 2);
    // a diamond in the group, and an upstream outside it that ends while the group runs
    return g.task("d", { inputs: { b, c, outside } }, async ({ b, c, outside }) => b + c + outside);
  });
  d.task("reduce", { inputs: { out } }, async ({ out }) => out.reduce((s, v) => s + v, 0));
});

describe("PostgreSQL: four engines settle a mapped group's instances side by side", { skip: pgSkip(1) }, () => {
  const fleet = pgFleet(4, (url) => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: url, concurrency: 8 }, { SLUICE_DB_POOL_SIZE: "4" }), { dags: [wide] }));
  const engines = fleet.engines;

  test("every per-index count arrives once: each d[i] counted its four upstream instances and ran once; the reduce sums all", async () => {
    const runs = await Promise.all([0, 1].map((i) => engines[i]!.engine.createRun("mg_wide")));
    const done = await Promise.all(runs.map((r, i) => engines[(i + 2) % 4]!.engine.waitForRun(r.runId)));
    assert.deepEqual(done.map((r) => r.state), ["success", "success"]);
    const s = engines[0]!;
    for (const r of runs) {
      const tis = await s.store.taskInstances.list(r.runId);
      const ds = tis.filter((t) => t.taskId === "g.d");
      assert.equal(ds.length, WIDE);
      for (const t of ds) {
        assert.equal(t.state, "success");
        assert.equal(t.nSuccess, 4, `g.d[${t.mapIndex}] counted b, c, items and outside once each`);
        assert.equal(t.tryNumber, 1);
      }
      const expected = Array.from({ length: WIDE }, (_, i) => 2 * i + 3 + 1000).reduce((a, b) => a + b, 0);
      assert.deepEqual(await s.engine.loadOutputs(r.runId, "reduce"), [expected]);
      assert.equal((await s.store.runs.get(r.runId))!.unfinished, 0);
      assert.ok(new Set((await s.store.attempts.list(r.runId)).map((a) => a.workerId)).size > 1, "tasks ran on several workers");
    }
    await checkInvariants(fleet.url);
  });
});
