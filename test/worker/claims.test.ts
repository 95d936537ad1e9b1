/**
 * The capacity rules of the claim (core/capacity.ts, read and locked by store/claims.ts), claim by claim
 * inside real transactions, on SQLite and on PostgreSQL: pools and poolSlots, queues, resources,
 * maxActiveTasks, maxActiveTisPerDag, priority, and fairness between DAGs even when one DAG's older ready
 * tasks fill the rows read first.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { dag } from "../../src/dsl/dag.js";
import { loadConfig } from "../../src/config.js";
import { Sluice } from "../../src/sluice.js";
import { setPool } from "../../src/store/capacity.js";
import type { CapacityClaim } from "../../src/store/claims.js";
import { dialects, freshSchema, pgSkip } from "../dialects.js";
import { sandbox, storeDb } from "../helpers.js";

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
  dag("bigpool", (d) => {
    for (let i = 0; i < 30; i++) d.task(`one${i}`, { pool: "big" }, async () => i);
    d.task("twenty", { pool: "big", poolSlots: 20, priority: 10 }, async () => 20);
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
      // claims count on the live workers' concurrency: the claimers register, as workers do
      for (const workerId of ["w1", "w2", "w3", "w9", "g1", "g2"]) await s.store.workers.register({ workerId, queues: ["*"], concurrency: 8 });
    });
    after(async () => {
      await s?.close();
      await db?.cleanup();
    });

    const claim = (c: Partial<CapacityClaim> & { limit: number }) => s.store.tx((tx) => tx.claimReady({ workerId: "w1", leaseMs: 600_000, ...c }));
    const dagOf = async (runId: string) => (await s.store.runs.get(runId))!.dagId;

    test("fairness: one DAG's 200 older ready tasks do not hide another DAG's; each claim serves the DAG running fewer", async () => {
      await s.engine.createRun("big");
      await s.engine.createRun("small");
      const first = await claim({ limit: 2, runId: undefined, queues: ["default"] });
      assert.deepEqual((await Promise.all(first.map((a) => dagOf(a.runId)))).sort(), ["big", "small"]);
      const next = await claim({ limit: 4, queues: ["default"] });
      assert.deepEqual((await Promise.all(next.map((a) => dagOf(a.runId)))).sort(), ["big", "big", "small", "small"]);
    });

    test("pools: at most the pool's slots across workers; poolSlots counts; nothing else is taken from the pool", async () => {
      await setPool(s.store, { name: "two", slots: 2 }, Date.now());
      const run = await s.engine.createRun("pooled");
      const a = await claim({ limit: 10, runId: run.runId, workerId: "w1" });
      assert.equal(a.length, 2);
      assert.equal((await claim({ limit: 10, runId: run.runId, workerId: "w2" })).length, 0, "another worker gets nothing from a full pool");
      const wide = await s.engine.createRun("wide");
      assert.equal((await claim({ limit: 10, runId: wide.runId, workerId: "w2" })).length, 0, "poolSlots 2 does not fit in 0 free slots");
      await setPool(s.store, { name: "two", slots: 4 }, Date.now());
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

/**
 * Claims of several processes at once on PostgreSQL (decision 0013): they take a pool's advisory lock
 * shared while its slots cover the live workers' total concurrency, and take turns otherwise — the limits
 * hold either way, however the claims overlap.
 */
describe("PostgreSQL: overlapping claims of several processes", { skip: pgSkip(3) }, () => {
  let db: Awaited<ReturnType<typeof freshSchema>> | null = null;
  const procs: Sluice[] = [];
  before(async () => {
    db = await freshSchema();
    for (let i = 0; i < 2; i++) procs.push(await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_DB_POOL_SIZE: "3" }), { dags: DAGS }));
    await setPool(procs[0]!.store, { name: "two", slots: 2 }, Date.now());
    await setPool(procs[0]!.store, { name: "big", slots: 32 }, Date.now());
  });
  after(async () => {
    for (const p of procs) await p.close();
    await db?.drop();
  });

  /**
   * Two claims that overlap: process 0 claims from `runs[0]` as `a` and holds its transaction open while
   * process 1 claims from `runs[1]` as `b` (another run: the rows the first read stay locked until it
   * commits); then 0 commits. Claims that must take turns make the second wait for the first.
   */
  async function overlapping(runs: [string, string], a: string, b: string): Promise<{ first: number; second: number; waited: boolean }> {
    let claimed!: () => void;
    let release!: () => void;
    const hasClaimed = new Promise<void>((r) => (claimed = r));
    const released = new Promise<void>((r) => (release = r));
    const first = procs[0]!.store.tx(async (tx) => {
      const got = await tx.claimReady({ workerId: a, limit: 8, leaseMs: 600_000, runId: runs[0] });
      claimed();
      await released;
      return got.length;
    });
    await hasClaimed;
    let done = false;
    const second = procs[1]!.store.tx((tx) => tx.claimReady({ workerId: b, limit: 8, leaseMs: 600_000, runId: runs[1] })).finally(() => (done = true));
    await new Promise((r) => setTimeout(r, 500)); // time enough for the second claim, unless it must wait
    const waited = !done;
    release();
    return { first: await first, second: (await second).length, waited };
  }
  const slotsRunning = async (runIds: string[]) => {
    const rows = await storeDb(procs[0]!.store).selectFrom("attempts").select(["task_id"]).where("run_id", "in", runIds).where("state", "=", "running").execute();
    return rows.reduce((n, r) => n + (r.task_id === "twenty" ? 20 : 1), 0);
  };
  /** Workers of 8 slots each; the ones of an earlier case stop (they leave the total). */
  const workers = async (ids: string[], stop: string[] = []) => {
    for (const id of stop) await procs[0]!.store.workers.stop(id);
    for (const id of ids) await procs[0]!.store.workers.register({ workerId: id, queues: ["*"], concurrency: 8 });
  };

  test("a pool that could overflow (W = 32 > 2 slots): overlapping claims take turns; 2 slots at most", async () => {
    await workers(["a0", "a1", "a2", "a3"]);
    const runs = [(await procs[0]!.engine.createRun("pooled")).runId, (await procs[0]!.engine.createRun("pooled")).runId] as [string, string];
    const { first, second, waited } = await overlapping(runs, "a0", "a1");
    assert.equal(first, 2);
    assert.ok(waited, "the second claim waited for the first");
    assert.equal(second, 0, "and found the pool full");
    assert.equal(await slotsRunning(runs), 2);
  });

  test("a pool of exactly W = 32 slots: one-slot claims overlap, a 20-slot task makes them take turns; 32 slots at most", async () => {
    await workers(["b0", "b1", "b2", "b3"], ["a0", "a1", "a2", "a3"]);
    // four default-pool tasks a run (128 slots): claims of one slot, which overlap
    const small = [(await procs[0]!.engine.createRun("small")).runId, (await procs[0]!.engine.createRun("small")).runId] as [string, string];
    assert.deepEqual(await overlapping(small, "b0", "b1"), { first: 4, second: 4, waited: false }, "the second claim did not wait for the first");
    const runs = [(await procs[0]!.engine.createRun("bigpool")).runId, (await procs[0]!.engine.createRun("bigpool")).runId] as [string, string];
    // Process 0 has claimed from this pool before (rolled back: the database is as it was), so it knows
    // that the 20-slot task makes the pool's claims take turns. Each store learns that from its own claims
    // only, as separate processes do (Store.claimState); process 1 has not claimed from the pool yet.
    await procs[0]!.store
      .tx(async (tx) => {
        await tx.claimReady({ workerId: "b2", limit: 8, leaseMs: 600_000, runId: runs[0] });
        throw new Error("roll back");
      })
      .catch((e: unknown) => assert.match(String(e), /roll back/));
    const { first, second, waited } = await overlapping(runs, "b2", "b3");
    assert.equal(first, 8, "the 20-slot task (priority 10) and seven one-slot tasks");
    assert.ok(waited, "the second claim waited for the first");
    assert.equal(second, 5, "it saw the first's 27 slots: five one-slot tasks more");
    assert.equal(await slotsRunning(runs), 32);
  });

  test("a buried worker claims nothing until it counts again; only a silent worker with nothing running is buried", async () => {
    const s = procs[1]!.store;
    await s.workers.register({ workerId: "quiet", queues: ["*"], concurrency: 1 });
    await s.workers.register({ workerId: "busy", queues: ["*"], concurrency: 1 });
    const run = await procs[1]!.engine.createRun("small");
    assert.equal((await s.tx((tx) => tx.claimReady({ workerId: "busy", limit: 1, leaseMs: 600_000, runId: run.runId }))).length, 1);
    // both fell silent ten minutes ago
    await storeDb(s).updateTable("workers").set((eb) => ({ heartbeat_at: eb("heartbeat_at", "-", 600_000) })).where("worker_id", "in", ["quiet", "busy"]).execute();
    assert.deepEqual(await s.workers.buryStale(60_000), ["quiet"], "the one holding a running attempt is not buried");
    assert.equal((await s.tx((tx) => tx.claimReady({ workerId: "quiet", limit: 1, leaseMs: 600_000, runId: run.runId }))).length, 0, "a buried worker claims nothing");
    await s.workers.revive("quiet");
    assert.equal((await s.tx((tx) => tx.claimReady({ workerId: "quiet", limit: 1, leaseMs: 600_000, runId: run.runId }))).length, 1, "it counts again, and claims");
  });
});
