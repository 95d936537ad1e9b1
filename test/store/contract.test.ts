/**
 * The store contract: the same cases on SQLite and on PostgreSQL (each PostgreSQL case in a fresh schema).
 * Several Store instances on one database stand for several processes: each has its own connections.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CompiledQuery } from "kysely";
import { ManualClock } from "../../src/core/clock.js";
import { SluiceError } from "../../src/errors.js";
import { DatabaseArtifactStore } from "../../src/store/artifacts.js";
import { DatabaseLogStore, LOG_FLUSH_MS, readWholeLog } from "../../src/logs/logStore.js";
import { AttemptLog } from "../../src/logs/attemptLog.js";
import { MIGRATION_NAMES } from "../../src/store/migrations.js";
import { Store, type NewTaskInstance } from "../../src/store/store.js";
import { dialects, freshSchema, pgSkip, type PgSchema } from "../dialects.js";
import { waitFor, storeDb } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-contract-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1);

/** The workers these cases claim as: claims count on the live workers' concurrency, so they register. */
const WORKERS = ["w", "w0", "w1", "w2", "w3"];

async function seedRun(store: Store, runId: string, n: number): Promise<void> {
  const known = new Set((await storeDb(store).selectFrom("workers").select("worker_id").execute()).map((w) => w.worker_id));
  for (const workerId of WORKERS) if (!known.has(workerId)) await store.workers.register({ workerId, queues: ["*"], concurrency: 8 });
  const instances: NewTaskInstance[] = Array.from({ length: n }, (_, i) => ({
    taskId: `t${i}`,
    mapIndex: -1,
    state: "scheduled",
    nUpstream: 0,
    readyAt: 0,
    priority: 0,
    queue: "default",
  }));
  await store.tx(async (tx) => {
    await tx.runs.insert(
      {
        runId,
        dagId: "d",
        dagVersion: "v1",
        runKey: `run:${runId}`,
        runType: "manual",
        state: "running",
        logicalDate: T0,
        dataIntervalStart: null,
        dataIntervalEnd: null,
        params: { x: 1 },
        unfinished: n,
        createdAt: T0,
        startedAt: T0,
        timeoutAt: null,
      },
      instances,
    );
  });
}

const CASES = 9;

for (const d of dialects(CASES)) {
  describe(`store contract on ${d.name}`, { skip: d.skip }, () => {
    async function withDb<T>(fn: (url: string) => Promise<T>): Promise<T> {
      const db = await d.fresh(dir);
      try {
        return await fn(db.url);
      } finally {
        await db.cleanup();
      }
    }

    test("migrations: several processes opening a new database at once all succeed; all migrations applied once", () =>
      withDb(async (url) => {
        const stores = await Promise.all([1, 2, 3, 4].map(() => Store.open({ url, poolSize: 2 })));
        try {
          const again = await stores[0]!.migrate();
          assert.deepEqual(again, [], "nothing left to migrate");
          const rows = await storeDb(stores[1]!).selectFrom("sluice_migrations" as never).select("name" as never).execute();
          assert.deepEqual(rows.map((r) => (r as { name: string }).name).sort(), [...MIGRATION_NAMES].sort());
        } finally {
          for (const s of stores) await s.close();
        }
      }));

    test("bigint columns read as numbers; bytes round-trip through output_inline", () =>
      withDb(async (url) => {
        const s = await Store.open({ url, poolSize: 2, clock: new ManualClock(T0) });
        try {
          await seedRun(s, "r1", 1);
          const run = (await s.runs.get("r1"))!;
          assert.equal(run.createdAt, T0);
          assert.equal(typeof run.unfinished, "number");
          const [a] = await s.tx((tx) => tx.claimReady({ workerId: "w1", limit: 5, leaseMs: 60_000 }));
          assert.equal(typeof a!.attemptId, "number");
          assert.deepEqual(a!.params, { x: 1 });
          const bytes = new Uint8Array([0, 1, 2, 255, 0, 127]);
          const ended = await s.tx((tx) => tx.attempts.end({ attemptId: a!.attemptId, state: "success", endedAt: T0 + 5, outputInline: bytes, outputSize: bytes.length }));
          assert.ok(ended);
          const out = (await s.attempts.output(a!.attemptId))!;
          assert.deepEqual([...out.inline!], [...bytes]);
          const rec = (await s.attempts.get(a!.attemptId))!;
          assert.equal(rec.endedAt, T0 + 5);
          assert.equal(rec.outputSize, 6);
        } finally {
          await s.close();
        }
      }));

    test("claims: four claimers taking 400 ready task instances at once never claim one twice", () =>
      withDb(async (url) => {
        // PostgreSQL: four stores (four pools, as four processes). SQLite: four claimers on one store —
        // better-sqlite3 waits for a lock synchronously, so two connections in one process would block
        // each other's event loop; its single writer is what serialises claims anyway.
        const one = d.name === "sqlite" ? await Store.open({ url }) : null;
        const stores = one ? [one, one, one, one] : await Promise.all([1, 2, 3, 4].map(() => Store.open({ url, poolSize: 2 })));
        try {
          await seedRun(stores[0]!, "r1", 400);
          const claimed = await Promise.all(
            stores.map(async (s, i) => {
              const mine: { attemptId: number; taskId: string }[] = [];
              for (;;) {
                const got = await s.tx((tx) => tx.claimReady({ workerId: `w${i}`, limit: 7, leaseMs: 60_000 }));
                if (got.length === 0) return mine;
                mine.push(...got.map((a) => ({ attemptId: a.attemptId, taskId: a.taskId })));
                // finish them, as a worker would (limits on running tasks must not stop the claims)
                const ended = await s.tx((tx) => tx.attempts.endMany(got.map((a) => ({ attemptId: a.attemptId, state: "success" as const, endedAt: T0 }))));
                assert.equal(ended.size, got.length);
              }
            }),
          );
          const all = claimed.flat();
          assert.equal(all.length, 400, "every instance claimed");
          assert.equal(new Set(all.map((a) => a.taskId)).size, 400, "no instance claimed twice");
          assert.equal(new Set(all.map((a) => a.attemptId)).size, 400);
          const attempts = await stores[0]!.attempts.list("r1");
          assert.equal(attempts.length, 400, "one attempt per instance");
          assert.ok(attempts.every((a) => a.tryNumber === 1 && a.state === "success"));
          const tis = await stores[0]!.taskInstances.list("r1");
          for (const t of tis) assert.equal(t.attemptId, attempts.find((a) => a.taskId === t.taskId)!.attemptId, `${t.taskId}: current attempt`);
        } finally {
          for (const s of new Set(stores)) await s.close();
        }
      }));

    test("fencing: only the current live attempt's heartbeat and end count; a stale worker's are rejected", () =>
      withDb(async (url) => {
        const s = await Store.open({ url, poolSize: 2 });
        try {
          await seedRun(s, "r1", 2);
          const [a, b] = await s.tx((tx) => tx.claimReady({ workerId: "w1", limit: 2, leaseMs: 60_000 }));
          // another worker cannot renew w1's leases
          assert.deepEqual(await s.workers.heartbeat("w2", [a!.attemptId], 60_000), [a!.attemptId]);
          assert.deepEqual(await s.workers.heartbeat("w1", [a!.attemptId, b!.attemptId], 60_000), []);
          // a sweep (or a cancel) ends attempt a: from then on its worker's writes are rejected
          assert.ok(await s.tx((tx) => tx.attempts.end({ attemptId: a!.attemptId, state: "failed", endedAt: T0, errorCode: "WORKER_LOST" })));
          assert.deepEqual(await s.workers.heartbeat("w1", [a!.attemptId, b!.attemptId], 60_000), [a!.attemptId], "the stale attempt is reported lost");
          const late = await s.tx((tx) => tx.attempts.endMany([{ attemptId: a!.attemptId, state: "success", endedAt: T0 + 1, outputInline: new Uint8Array([1]) }]));
          assert.equal(late.size, 0, "the stale completion is dropped");
          const rec = (await s.attempts.get(a!.attemptId))!;
          assert.equal(rec.state, "failed");
          assert.equal(rec.errorCode, "WORKER_LOST");
          assert.equal((await s.attempts.output(a!.attemptId))!.inline, null, "nothing of the stale write is kept");
          // an ended attempt is never written again, even by its own (current) token twice
          assert.ok(await s.tx((tx) => tx.attempts.end({ attemptId: b!.attemptId, state: "success", endedAt: T0 })));
          assert.equal(await s.tx((tx) => tx.attempts.end({ attemptId: b!.attemptId, state: "failed", endedAt: T0 })), null);
        } finally {
          await s.close();
        }
      }));

    test("leases: an attempt is lost once its lease expires (heartbeats renew it); expiry is in lease time", () =>
      withDb(async (url) => {
        const clock = new ManualClock(Date.now());
        const s = await Store.open({ url, poolSize: 2, clock });
        try {
          await seedRun(s, "r1", 1);
          const [a] = await s.tx((tx) => tx.claimReady({ workerId: "w1", limit: 1, leaseMs: 120_000 }));
          assert.deepEqual(await s.attempts.listLost([]), []);
          // the host clock jumps 10 minutes ahead: SQLite's lease time is this clock's, so the lease has
          // expired; PostgreSQL's is the database's, for every host alike, so it has not
          clock.advance(10 * 60_000);
          const lost = await s.attempts.listLost([]);
          if (d.name === "sqlite") assert.deepEqual(lost.map((l) => l.attemptId), [a!.attemptId]);
          else assert.deepEqual(lost, [], "a skewed host clock does not expire a PostgreSQL lease");
          // a heartbeat renews from lease time; a lease renewed into the past has expired everywhere
          assert.deepEqual(await s.workers.heartbeat("w1", [a!.attemptId], 120_000), []);
          assert.deepEqual(await s.attempts.listLost([]), []);
          await s.workers.heartbeat("w1", [a!.attemptId], -1);
          assert.deepEqual((await s.attempts.listLost([])).map((l) => [l.attemptId, l.runId, l.workerId]), [[a!.attemptId, "r1", "w1"]]);
          const rec = (await s.attempts.get(a!.attemptId))!;
          const dbNow = await s.leaseTime();
          assert.ok(rec.leaseExpiresAt < dbNow && rec.leaseExpiresAt > dbNow - 60_000, "lease_expires_at is in lease time");
        } finally {
          await s.close();
        }
      }));

    test("a worker of a dead process: its attempts are lost at once when named dead, before their lease expires", () =>
      withDb(async (url) => {
        const s = await Store.open({ url, poolSize: 2 });
        try {
          await s.workers.register({ workerId: "w9", queues: ["default"], concurrency: 1 });
          await seedRun(s, "r1", 1);
          const [a] = await s.tx((tx) => tx.claimReady({ workerId: "w9", limit: 1, leaseMs: 600_000 }));
          assert.deepEqual(await s.attempts.listLost([]), []);
          assert.deepEqual((await s.attempts.listLost(["w9"])).map((l) => l.attemptId), [a!.attemptId]);
        } finally {
          await s.close();
        }
      }));

    test("artifacts in the database: content-addressed, deduplicated, read back byte for byte, removed only after their grace", () =>
      withDb(async (url) => {
        const s = await Store.open({ url, poolSize: 2, clock: new ManualClock(T0) });
        try {
          const a = new DatabaseArtifactStore(s);
          const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
          const ref = await a.put(bytes);
          assert.equal(ref, createHash("sha256").update(bytes).digest("hex"));
          assert.equal(await a.put(bytes.slice()), ref, "the same bytes: the same reference");
          const rows = await storeDb(s).selectFrom("artifacts").select(["ref", "size"]).execute();
          assert.deepEqual(rows.map((r) => [r.ref, Number(r.size)]), [[ref, 300_000]], "stored once");
          assert.deepEqual(await a.get(ref), Buffer.from(bytes));
          assert.equal(await a.has(ref), true);
          const other = await a.put(new Uint8Array([1, 2, 3]));
          // just put: within an hour's grace, nothing goes; with a grace reaching past now, both go
          assert.equal(await a.removeStale([ref, other, "not-a-ref"], 3_600_000), 0);
          assert.equal(await a.removeStale([ref], -60_000), 1);
          assert.equal(await a.has(ref), false);
          assert.equal(await a.has(other), true, "only the references named are removed");
          await assert.rejects(a.get(ref), (e: SluiceError) => e.code === "INTERNAL" && e.message.includes(ref));
        } finally {
          await s.close();
        }
      }));

    test("logs in the database: chunks appended in order, read back page by page from any offset, fenced once the attempt ends, deleted with their run", () =>
      withDb(async (url) => {
        const s = await Store.open({ url, poolSize: 2, clock: new ManualClock(T0) });
        try {
          await s.workers.register({ workerId: "w1", queues: ["default"], concurrency: 1 });
          await seedRun(s, "r1", 1);
          const [a] = await s.tx((tx) => tx.claimReady({ workerId: "w1", limit: 1, leaseMs: 60_000 }));
          const logs = new DatabaseLogStore(s);
          const ref = { attemptId: a!.attemptId, dagId: "d", runId: "r1", taskId: "t0", mapIndex: -1, tryNumber: 1 };
          const log = new AttemptLog(logs.sink(ref), () => T0);
          log.note("attempt 1 started");
          // two chunks: what came before a flush, and the rest at close
          for (let i = 0; i < 15; i++) log.write("info", `line ${i}`);
          await new Promise((r) => setTimeout(r, LOG_FLUSH_MS + 300));
          for (let i = 15; i < 25; i++) log.write("info", `line ${i}`);
          await log.close();
          assert.deepEqual((await storeDb(s).selectFrom("attempt_logs").select(["first_line", "n"]).orderBy("first_line").execute()).map((r) => [r.first_line, r.n]), [[0, 16], [16, 10]]);
          const all = await readWholeLog(logs, ref);
          assert.deepEqual(all.map((l) => l.msg), ["attempt 1 started", ...Array.from({ length: 25 }, (_, i) => `line ${i}`)]);
          // pages of 10 from the start, then from an offset inside a chunk
          const p1 = await logs.read(ref, 0, 10);
          assert.equal(p1.lines.length, 10);
          assert.ok(p1.nextOffset < p1.end, "more behind a full page");
          const p2 = await logs.read(ref, p1.nextOffset, 10);
          assert.deepEqual(p2.lines.map((l) => l.msg), Array.from({ length: 10 }, (_, i) => `line ${i + 9}`));
          const tail = await logs.read(ref, 24, 100);
          assert.deepEqual(tail.lines.map((l) => l.msg), ["line 23", "line 24"]);
          assert.equal(tail.nextOffset, 26);
          assert.ok(tail.nextOffset >= tail.end, "everything read");
          // a second sink of the same attempt (a stale worker) after the attempt ended writes nothing
          await s.tx((tx) => tx.attempts.end({ attemptId: a!.attemptId, state: "success", endedAt: T0 + 1 }));
          const late = new AttemptLog(logs.sink(ref), () => T0);
          late.write("info", "from a stale worker");
          await late.close();
          assert.equal((await readWholeLog(logs, ref)).length, 26);
          assert.equal(await s.attemptLogs.deleteOfRuns(["r1"]), 2);
          assert.deepEqual(await readWholeLog(logs, ref), []);
        } finally {
          await s.close();
        }
      }));

    test("claim order: priority first, then ready time; not before ready_at", () =>
      withDb(async (url) => {
        const clock = new ManualClock(T0);
        const s = await Store.open({ url, poolSize: 2, clock });
        try {
          await seedRun(s, "r1", 3);
          await s.tx(async (tx) => {
            await tx.taskInstances.update({ runId: "r1", taskId: "t0", mapIndex: -1 }, { readyAt: T0 + 1000 });
            await tx.taskInstances.updateMany([{ runId: "r1", taskId: "t1", mapIndex: -1 }, { runId: "r1", taskId: "t2", mapIndex: -1 }], { readyAt: T0 - 10 });
          });
          await storeDb(s).updateTable("task_instances").set({ priority: 5 }).where("task_id", "=", "t2").execute();
          const first = await s.tx((tx) => tx.claimReady({ workerId: "w", limit: 5, leaseMs: 60_000 }));
          assert.deepEqual(first.map((a) => a.taskId), ["t2", "t1"]);
          assert.equal(await s.taskInstances.nextRetryAt(), T0 + 1000);
          clock.advance(1000);
          assert.deepEqual((await s.tx((tx) => tx.claimReady({ workerId: "w", limit: 5, leaseMs: 60_000 }))).map((a) => a.taskId), ["t0"]);
        } finally {
          await s.close();
        }
      }));
  });
}

describe("PostgreSQL only", { skip: pgSkip(5) }, () => {
  /** `count` stores (processes) on one fresh schema, closed and the schema dropped afterwards. */
  async function withStores<N extends 1 | 2>(count: N, poolSize: number, fn: (stores: N extends 1 ? [Store] : [Store, Store], db: PgSchema) => Promise<void>): Promise<void> {
    const db = await freshSchema();
    const stores: Store[] = [];
    try {
      for (let i = 0; i < count; i++) stores.push(await Store.open({ url: db.url, poolSize }));
      await fn(stores as N extends 1 ? [Store] : [Store, Store], db);
    } finally {
      for (const st of stores) await st.close();
      await db.drop();
    }
  }

  test("pipelined statements: one that fails fails the COMMIT with its own error, and nothing of the transaction is kept", () =>
    withStores(1, 2, async ([s]) => {
        await seedRun(s, "r1", 1);
        let tries = 0;
        await assert.rejects(
          s.tx(async (tx) => {
            tries++;
            // issued at once, none awaited: the transaction learns of the failure from its COMMIT
            void tx.send("update runs set unfinished = 99 where run_id = ?", ["r1"]);
            void tx.send("select 1 / (unfinished - unfinished) as x from runs where run_id = ?", ["r1"]);
            void tx.send("update runs set state = 'failed' where run_id = ?", ["r1"]);
          }),
          /division by zero/,
        );
        assert.equal(tries, 1, "not a failure worth running again");
        const run = (await s.runs.get("r1"))!;
        assert.deepEqual([run.unfinished, run.state], [1, "running"], "neither write before nor after the failure is kept");
        // the connection is usable again
        assert.equal((await s.tx((tx) => tx.send<{ n: number }>("select count(*)::int as n from runs", []))).rows[0]!.n, 1);
    }));

  test("the hot tables are autovacuumed by a count of dead rows, not a share of the table (migration 0011)", () =>
    withStores(1, 2, async ([s]) => {
        const r = await storeDb(s).executeQuery<{ relname: string; reloptions: string[] }>(
          CompiledQuery.raw("select relname, reloptions from pg_class where relnamespace = current_schema()::regnamespace and relname in ('attempts', 'task_instances', 'dags') order by relname"),
        );
        const options = Object.fromEntries(r.rows.map((x) => [x.relname, x.reloptions ?? []]));
        for (const t of ["attempts", "task_instances"]) {
          assert.ok(options[t]!.includes("autovacuum_vacuum_threshold=10000") && options[t]!.includes("autovacuum_vacuum_scale_factor=0"), `${t}: ${options[t]}`);
        }
        assert.deepEqual(options["dags"], [], "other tables keep the server's defaults");
    }));

  test("a deadlock between two transactions is retried: both commit", () =>
    withStores(1, 3, async ([s]) => {
        await seedRun(s, "ra", 1);
        await seedRun(s, "rb", 1);
        let release!: () => void;
        const barrier = new Promise<void>((r) => (release = r));
        let arrived = 0;
        let runs = 0;
        const cross = (first: string, second: string) =>
          s.tx(async (tx) => {
            runs++;
            await tx.lockRuns([first]);
            if (++arrived === 2) release();
            await barrier;
            await tx.lockRuns([second]);
            await tx.runs.addUnfinished(first, 1);
            return first;
          });
        const done = await Promise.all([cross("ra", "rb"), cross("rb", "ra")]);
        assert.deepEqual(done, ["ra", "rb"]);
        assert.equal(runs, 3, "one of them ran again after PostgreSQL broke the deadlock");
        assert.equal((await s.runs.get("ra"))!.unfinished, 2);
        assert.equal((await s.runs.get("rb"))!.unfinished, 2);
    }));

  test("NOTIFY at commit wakes another process's subscribers; not the sender's own", () =>
    withStores(2, 2, async ([a, b]) => {
        let atA = 0;
        let atB = 0;
        a.notifier!.subscribe(() => atA++);
        b.notifier!.subscribe(() => atB++);
        await waitFor(() => a.notifier!.listening && b.notifier!.listening, 30_000, "LISTEN connections");
        await a.tx((tx) => tx.notifyWake());
        await waitFor(() => atB === 1, 30_000, "b to be woken");
        // a rolled-back transaction notifies no one
        await assert.rejects(a.tx(async (tx) => {
          await tx.notifyWake();
          throw new Error("roll back");
        }));
        await b.tx((tx) => tx.notifyWake());
        await waitFor(() => atA === 1, 30_000, "a to be woken");
        assert.equal(atB, 1);
    }));

  test("connection loss: backends terminated; the pool and the LISTEN connection come back by themselves", () =>
    withStores(2, 2, async ([a, b], db) => {
        await seedRun(a, "r1", 3);
        let woken = 0;
        b.notifier!.subscribe(() => woken++);
        await waitFor(() => b.notifier!.listening, 30_000, "LISTEN connection");
        assert.ok((await db.terminateBackends()) >= 2, "backends terminated");
        // the next transaction on a dead pooled connection is retried on a new one
        const got = await a.tx((tx) => tx.claimReady({ workerId: "w", limit: 1, leaseMs: 60_000 }));
        assert.equal(got.length, 1);
        // the listener reconnects (waking its subscribers once for what it may have missed) and hears again
        await waitFor(() => b.notifier!.listening && b.notifier!.connects === 2, 30_000, "the LISTEN connection to come back");
        const before = woken;
        await a.tx((tx) => tx.notifyWake());
        await waitFor(() => woken > before, 30_000, "a notification after the reconnect");
        assert.equal(b.notifier!.connects, 2, "one reconnect, not a storm");
    }));
});
