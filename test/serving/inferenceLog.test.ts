/**
 * The inference log on SQLite and PostgreSQL: rows written in batches by the writer (off the request
 * path), sampled, pruned to the newest N per model, read back oldest first with filters; a write that
 * fails is counted and reported, never thrown at the caller.
 */
import { strict as assert } from "node:assert";
import { after, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import { dag } from "../../src/dsl/dag.js";
import { Sluice } from "../../src/sluice.js";
import { Store } from "../../src/store/store.js";
import { InferenceLogWriter } from "../../src/serving/inferenceLogWriter.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-inflog-");
after(() => sb.cleanup());

for (const d of dialects(4)) {
  describe(`inference log on ${d.name}`, { skip: d.skip }, () => {
    const url = suiteDatabase(d, sb.dir);

    it("writes rows in batches, keeps the newest N per model, reads back oldest first with filters", async () => {
      const store = await Store.open({ url: url() });
      try {
        const errors: string[] = [];
        const w = new InferenceLogWriter(store, { limit: 25, flushMs: 60_000, flushRows: 1_000_000 }, (m) => errors.push(m));
        for (let i = 0; i < 40; i++) w.record("iris", i < 30 ? 1 : 2, "champion", [{ x: i }, { x: i + 0.5 }], [{ y: i }, { y: i + 0.5 }], 1000 + i);
        w.record("other", 7, null, [{ z: 1 }], ["a"], 5);
        // nothing is written on the request path: only a flush writes
        assert.equal(await store.inferenceLog.count("iris"), 0);
        await w.flush();
        assert.deepEqual(errors, []);
        assert.equal(w.written, 81);
        // pruned to the newest 25 of iris; the other model is untouched
        assert.equal(await store.inferenceLog.count("iris"), 25);
        assert.equal(await store.inferenceLog.count("other"), 1);
        const rows = await store.inferenceLog.recent("iris", { limit: 1000 });
        assert.equal(rows.length, 25);
        // the newest rows, in the order they were served: the last is x=39.5
        assert.deepEqual(rows.at(-1), { id: rows.at(-1)!.id, at: 1039, version: 2, alias: "champion", input: { x: 39.5 }, prediction: { y: 39.5 } });
        assert.deepEqual(rows[0]!.input, { x: 27.5 });
        assert.ok(rows.every((r, i) => i === 0 || r.id > rows[i - 1]!.id));
        assert.deepEqual((await store.inferenceLog.recent("iris", { version: 1 })).map((r) => (r.input as { x: number }).x), [27.5, 28, 28.5, 29, 29.5]);
        assert.deepEqual((await store.inferenceLog.recent("iris", { since: 1038 })).map((r) => (r.input as { x: number }).x), [38, 38.5, 39, 39.5]);
        assert.deepEqual((await store.inferenceLog.recent("iris", { limit: 2 })).map((r) => (r.input as { x: number }).x), [39, 39.5]);
        const after = rows.at(-3)!.id;
        assert.deepEqual((await store.inferenceLog.recent("iris", { afterId: after })).map((r) => (r.input as { x: number }).x), [39, 39.5]);
        assert.deepEqual(await store.inferenceLog.recent("nobody"), []);
        await w.close();
      } finally {
        await store.close();
      }
    });

    it("a task reads it with ctx.models.inferenceLog (rows of { at, version, input, prediction }, filtered)", async () => {
      const monitor = dag("monitor", (b) => {
        b.task("read", async (_i, ctx) => {
          const all = await ctx.models.inferenceLog("watched");
          const recent = await ctx.models.inferenceLog("watched", { since: new Date(2002), version: 2, limit: 10 });
          const refused = await ctx.models.inferenceLog("watched", { limit: -1 }).then(() => "", (e: Error) => e.message);
          return { all: all.map((r) => [r.at.getTime(), r.version, r.input, r.prediction]), recent: recent.map((r) => r.input), refused };
        });
      });
      const s = await Sluice.open(loadConfig({ home: `${sb.dir}/home-${d.name}`, dags: sb.dags, databaseUrl: url() }), { loadDags: false, dags: [monitor] });
      try {
        const w = new InferenceLogWriter(s.store, {}, () => undefined);
        w.record("watched", 1, "champion", [{ f: 1 }], [0], 2001);
        w.record("watched", 2, "champion", [{ f: 2 }, { f: 3 }], [1, 1], 2002);
        await w.close();
        const run = await s.run("monitor");
        assert.equal(run.state, "success");
        const [out] = await s.engine.loadOutputs(run.runId, "read");
        assert.deepEqual(out, {
          all: [
            [2001, 1, { f: 1 }, 0],
            [2002, 2, { f: 2 }, 1],
            [2002, 2, { f: 3 }, 1],
          ],
          recent: [{ f: 2 }, { f: 3 }],
          refused: 'task "read": inference log of model "watched": limit must be a number ≥ 0',
        });
      } finally {
        await s.close();
      }
    });

    it("samples rows at the sample rate", async () => {
      const store = await Store.open({ url: url() });
      try {
        // a fixed sequence: every other row is below 0.5
        let n = 0;
        const w = new InferenceLogWriter(store, { sampleRate: 0.5, limit: 1000, random: () => (n++ % 2 === 0 ? 0.25 : 0.75) }, () => undefined);
        w.record("sampled", 1, "champion", Array.from({ length: 10 }, (_, i) => ({ i })), Array.from({ length: 10 }, (_, i) => i), 1);
        await w.close();
        assert.deepEqual((await store.inferenceLog.recent("sampled")).map((r) => r.prediction), [0, 2, 4, 6, 8]);
      } finally {
        await store.close();
      }
    });

    it("a failed write is reported and counted, never thrown; the next batch is written", async () => {
      const store = await Store.open({ url: url() });
      const errors: string[] = [];
      const w = new InferenceLogWriter(store, { limit: 1000, flushMs: 60_000 }, (m) => errors.push(m));
      try {
        // the database fails the write (as when it is unreachable)
        const inTx = store.inTx.bind(store);
        let fail = true;
        (store as unknown as { inTx: typeof store.inTx }).inTx = (fn) => (fail ? Promise.reject(new Error("database went away")) : inTx(fn));
        w.record("fragile", 1, "champion", [{ a: 1 }, { a: 2 }], [1, 2], 1);
        await w.flush();
        assert.equal(w.failures, 1);
        assert.equal(w.dropped, 2);
        assert.match(errors[0]!, /inference log: writing 2 rows failed \(they are dropped; requests were answered\): database went away/);
        fail = false;
        w.record("fragile", 1, "champion", [{ a: 3 }], [3], 2);
        await w.flush();
        assert.deepEqual((await store.inferenceLog.recent("fragile")).map((r) => r.input), [{ a: 3 }]);
      } finally {
        await w.close();
        await store.close();
      }
    });
  });
}
