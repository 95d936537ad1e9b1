/**
 * Dynamic task mapping on the real engine (a SQLite file and a PostgreSQL schema), with Airflow's
 * semantics (core/mapping.ts): a failed upstream makes the mapped task upstream_failed (never a silent
 * skip); an unmappable value fails the task that produced it; objects map over their entries; and the
 * richer shapes — zip, overKwargs, partial, ref.map(fn) — give the instances and inputs they promise.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Sluice, loadConfig, type RunSummary } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-mapping-");
after(() => sb.cleanup());

sb.write(
  "mapping.ts",
  `import { dag, zip } from "sluice";
import { z } from "zod";

// mapping over an upstream that failed, under a rule that lets the mapped task be evaluated
export const failedUpstream = dag("map_failed_upstream", (d) => {
  const items = d.task("items", async (): Promise<number[]> => { throw new Error("no items today"); });
  const other = d.task("other", async () => 1);
  d.map("each", { over: { i: items }, after: [other], triggerRule: "all_done" }, async ({ i }) => i);
});

// a producer whose value cannot be mapped over (chosen by the params)
export const unmappable = dag("map_unmappable", { params: z.object({ give: z.string() }) }, (d) => {
  const items = d.task("items", async (_i, ctx): Promise<number[]> => JSON.parse(ctx.params.give));
  d.map("each", { over: { i: items } }, async ({ i }) => i);
});

// a value nobody maps over may be anything
export const notMapped = dag("map_not_consumed", (d) => {
  const s = d.task("s", async () => "just a string");
  d.task("t", { inputs: { s } }, async ({ s }) => s.length);
});

export const objects = dag("map_object", (d) => {
  const prices = d.task("prices", async () => ({ apple: 3, pear: 5 }));
  const each = d.map("each", { over: { entry: prices } }, async ({ entry }) => entry[0] + "=" + entry[1] * 2);
  d.task("all", { inputs: { each } }, async ({ each }) => each.join(","));
});

export const zipped = dag("map_zip", (d) => {
  const files = d.task("files", async () => ["a.csv", "b.csv", "c.csv"]);
  const each = d.map("pair", { over: zip({ file: files, size: [10, 20] }) }, async ({ file, size }) => file + ":" + size);
  d.task("all", { inputs: { each } }, async ({ each }) => each.join(","));
});

export const kwargs = dag("map_kwargs", (d) => {
  const configs = d.task("configs", async () => [{ lr: 0.1, depth: 2 }, { lr: 0.5, depth: 4 }]);
  const each = d.map("train", { overKwargs: configs, partial: { epochs: 3 } }, async ({ lr, depth, epochs }) => lr * depth * epochs);
  d.task("best", { inputs: { each } }, async ({ each }) => Math.max(...each));
});

export const kwargsBad = dag("map_kwargs_bad", (d) => {
  const configs = d.task("configs", async (): Promise<Record<string, number>[]> => [{ lr: 0.1 }, 7 as never]);
  d.map("train", { overKwargs: configs }, async ({ lr }) => lr);
});

export const transformed = dag("map_transform", (d) => {
  const pages = d.task("pages", async () => [{ slug: "home" }, { slug: "about" }]);
  const urls = d.map("fetch", { over: { url: pages.map((p) => "https://example.com/" + p.slug), n: [1, 2] } }, async ({ url, n }) => url + "#" + n);
  d.task("all", { inputs: { urls } }, async ({ urls }) => urls.join(" "));
  const args = d.map("kw", { overKwargs: pages.map((p) => ({ name: p.slug.toUpperCase() })) }, async ({ name }) => name);
  d.task("names", { inputs: { args } }, async ({ args }) => args.join(","));
});
`,
);

const states = (s: RunSummary) => s.tasks.map((t) => `${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}=${t.state}`);

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

    /** The output of every instance of `taskId`, in map-index order. */
    const outputs = (runId: string, taskId: string) => s.engine.loadOutputs(runId, taskId);

    test("mapping over an upstream that failed, under all_done: the mapped task is upstream_failed and the run fails (not a silent skip)", async () => {
      const r = await s.run("map_failed_upstream");
      assert.deepEqual(states(r), ["items=failed", "other=success", "each=upstream_failed"]);
      assert.equal(r.state, "failed");
      await checkInvariants(s.config.databaseUrl);
    });

    test("a producer whose value cannot be mapped over fails its own attempt, naming both tasks; the mapped task is upstream_failed", async () => {
      const cases: [string, RegExp][] = [
        ['"a string"', /task "items" returned a string, not a list or an object, but task "each" maps over it \(over\.i\)/],
        ["null", /task "items" returned null, not a list or an object, but task "each" maps over it \(over\.i\)/],
        ["42", /task "items" returned a number, not a list or an object, but task "each" maps over it \(over\.i\)/],
      ];
      for (const [give, message] of cases) {
        const r = await s.run("map_unmappable", { params: { give } });
        assert.equal(r.state, "failed", give);
        assert.deepEqual(states(r), ["items=failed", "each=upstream_failed"], give);
        const [attempt] = await s.store.attempts.list(r.runId);
        assert.equal(attempt!.taskId, "items");
        assert.match(attempt!.errorMessage!, message);
      }
      const empty = await s.run("map_unmappable", { params: { give: "[]" } });
      assert.deepEqual(states(empty), ["items=success", "each=skipped"], "an empty list maps to nothing: skipped, as in Airflow");
      const consumed = await s.run("map_not_consumed");
      assert.equal(consumed.state, "success", "only values something maps over are checked");
    });

    test("mapping over an object maps over its [key, value] entries, in order", async () => {
      const r = await s.run("map_object");
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), ["prices=success", "each[0]=success", "each[1]=success", "all=success"]);
      assert.deepEqual(await outputs(r.runId, "all"), ["apple=6,pear=10"]);
    });

    test("zip: one instance per position, as many as the shortest list", async () => {
      const r = await s.run("map_zip");
      assert.equal(r.state, "success");
      assert.deepEqual(states(r), ["files=success", "pair[0]=success", "pair[1]=success", "all=success"]);
      assert.deepEqual(await outputs(r.runId, "all"), ["a.csv:10,b.csv:20"]);
    });

    test("overKwargs with partial: one instance per argument object, the fixed arguments beside them", async () => {
      const r = await s.run("map_kwargs");
      assert.equal(r.state, "success");
      assert.deepEqual(await outputs(r.runId, "train"), [0.1 * 2 * 3, 0.5 * 4 * 3]);
      assert.deepEqual(await outputs(r.runId, "best"), [6]);
      const bad = await s.run("map_kwargs_bad");
      assert.equal(bad.state, "failed");
      assert.match((await s.store.attempts.list(bad.runId))[0]!.errorMessage!, /task "configs" returned a list whose element 1 is a number, not an object of arguments, but task "train" maps over it \(overKwargs\)/);
    });

    test("ref.map(fn) transforms each element before the mapped task gets it (in over and in overKwargs)", async () => {
      const r = await s.run("map_transform");
      assert.equal(r.state, "success", JSON.stringify(r.tasks));
      assert.deepEqual(await outputs(r.runId, "all"), ["https://example.com/home#1 https://example.com/home#2 https://example.com/about#1 https://example.com/about#2"]);
      assert.deepEqual(await outputs(r.runId, "names"), ["HOME,ABOUT"]);
      await checkInvariants(s.config.databaseUrl);
    });
  });
}
