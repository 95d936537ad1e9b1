/**
 * The capacity rules of the claim (store/capacity.ts), claim by claim inside real transactions, on
 * SQLite and on PostgreSQL: pools and poolSlots, queues, resources, maxActiveTasks, maxActiveTisPerDag,
 * priority, and fairness between DAGs even when one DAG's older ready tasks fill the rows read first.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { dag } from "../../src/dsl/dag.js";
import { loadConfig } from "../../src/config.js";
import { Sluice } from "../../src/sluice.js";
import { setPool } from "../../src/store/capacity.js";
import type { CapacityClaim } from "../../src/store/capacity.js";
import { dialects } from "../dialects.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-claims-");
after(() => sb.cleanup());

const many = (id: string, n: number, opts: Record<string, unknown> = {}, dagOpts: Record<string, unknown> = {}) =>
  dag(id, dagOpts, (d) => {
    for (let i = 0; i < n; i++) d.task(`t${String(i).padStart(3, "0")}`, opts, async () => i);
  });

const DAGS = [
  many("big", 200),
  many("small", 4),
  many("pooled", 5, { pool: "two" }),
  dag("wide", (d) => {
    d.task("w", { pool: "two", poolSlots: 2 }, async () => 1);
  }),
  many("gpu", 2, { queue: "gpu", resources: { gpu: 1, cpu: 2 } }),
  many("capped", 5, {}, { maxActiveTasks: 2 }),
  dag("single", { maxActiveRuns: 5 }, (d) => {
    d.task("only", { maxActiveTisPerDag: 1 }, async () => 1);
  }),
  dag("prio", (d) => {
    d.task("low", { priority: 1 }, async () => 1);
    d.task("high", { priority: 9 }, async () => 1);
    d.task("mid", { priority: 5 }, async () => 1);
  }),
];

for (const d of dialects(6)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> } | null = null;
    let s: Sluice;
    before(async () => {
      if (d.skip) return;
      db = await d.fresh(sb.dir);
      s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_DB_POOL_SIZE: "4" }), { dags: DAGS });
    });
    after(async () => {
      await s?.close();
      await db?.cleanup();
    });

    const claim = (c: Partial<CapacityClaim> & { limit: number }) => s.store.tx((tx) => tx.claimReady({ workerId: "w1", leaseMs: 600_000, ...c }));
    const dagOf = async (runId: string) => (await s.store.getRun(runId))!.dagId;

    test("fairness: one DAG's 200 older ready tasks do not hide another DAG's; each claim serves the DAG running fewer", async () => {
      await s.engine.createRun("big");
      await s.engine.createRun("small");
      const first = await claim({ limit: 2, runId: undefined, queues: ["default"] });
      assert.deepEqual((await Promise.all(first.map((a) => dagOf(a.runId)))).sort(), ["big", "small"]);
      const next = await claim({ limit: 4, queues: ["default"] });
      assert.deepEqual((await Promise.all(next.map((a) => dagOf(a.runId)))).sort(), ["big", "big", "small", "small"]);
    });

    test("pools: at most the pool's slots across workers; poolSlots counts; nothing else is taken from the pool", async () => {
      await setPool(s.store.db, { name: "two", slots: 2 }, Date.now());
      const run = await s.engine.createRun("pooled");
      const a = await claim({ limit: 10, runId: run.runId, workerId: "w1" });
      assert.equal(a.length, 2);
      assert.equal((await claim({ limit: 10, runId: run.runId, workerId: "w2" })).length, 0, "another worker gets nothing from a full pool");
      const wide = await s.engine.createRun("wide");
      assert.equal((await claim({ limit: 10, runId: wide.runId, workerId: "w2" })).length, 0, "poolSlots 2 does not fit in 0 free slots");
      await setPool(s.store.db, { name: "two", slots: 4 }, Date.now());
      assert.equal((await claim({ limit: 10, runId: wide.runId, workerId: "w2" })).length, 1, "2 used + 2 = 4 slots");
      assert.equal((await claim({ limit: 10, runId: run.runId, workerId: "w3" })).length, 0, "4 of 4 slots in use");
    });

    test("queues and resources: only the worker's queues; requests fit its declared capacity minus its running tasks", async () => {
      const run = await s.engine.createRun("gpu");
      assert.equal((await claim({ limit: 10, runId: run.runId, queues: ["default"] })).length, 0, "not a gpu worker");
      assert.equal((await claim({ limit: 10, runId: run.runId, queues: ["gpu"], resources: { gpu: 0 } })).length, 0, "gpu=0 declared");
      assert.equal((await claim({ limit: 10, runId: run.runId, queues: ["gpu"], resources: { gpu: 1, cpu: 8 }, workerId: "g1" })).length, 1, "one gpu: one task");
      assert.equal((await claim({ limit: 10, runId: run.runId, queues: ["gpu"], resources: { gpu: 1, cpu: 8 }, workerId: "g1" })).length, 0, "its gpu is in use");
      assert.equal((await claim({ limit: 10, runId: run.runId, queues: ["gpu"], resources: { gpu: 1, cpu: 8 }, workerId: "g2" })).length, 1, "another gpu worker");
    });

    test("maxActiveTasks per DAG and maxActiveTisPerDag per task across runs", async () => {
      const capped = await s.engine.createRun("capped");
      assert.equal((await claim({ limit: 10, runId: capped.runId })).length, 2);
      assert.equal((await claim({ limit: 10, runId: capped.runId, workerId: "w9" })).length, 0);
      const runs = [await s.engine.createRun("single"), await s.engine.createRun("single"), await s.engine.createRun("single")];
      let claimed = 0;
      for (const r of runs) claimed += (await claim({ limit: 10, runId: r.runId })).length;
      assert.equal(claimed, 1, "one instance of the task across the three runs");
    });

    test("priority: higher first", async () => {
      const run = await s.engine.createRun("prio");
      const order: string[] = [];
      for (let i = 0; i < 3; i++) order.push(...(await claim({ limit: 1, runId: run.runId })).map((a) => a.taskId));
      assert.deepEqual(order, ["high", "mid", "low"]);
    });
  });
}
