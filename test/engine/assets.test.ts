/**
 * Assets and events through the embedding API (`sluice/runtime`) with DAGs defined in code, on real SQLite
 * files: what a producer's success records (and a failure does not), when anyOf/allOf DAGs run and what
 * they see, that two engines on one database create one run per consumed set of events, and external
 * events with idempotency keys.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { dag, isSluiceError, type Dag } from "sluice";
import { Sluice, loadConfig } from "sluice/runtime";
import { sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-assets-");
after(() => sb.cleanup());

let homes = 0;
/** A fresh database per test: assets and pointers of one test must not leak into the next. */
async function open(dags: Dag<any>[], home = join(sb.dir, `home-${++homes}`)): Promise<Sluice> {
  return Sluice.open(loadConfig({ home, dags: sb.dags }, {}), { dags, loadDags: false });
}

/** A DAG that records the asset events its run consumed (their ids) as its output. */
function consumer(id: string, schedule: { assets: { anyOf: string[] } } | { assets: { allOf: string[] } }): Dag<any> {
  return dag(id, { schedule, maxActiveRuns: 1000 }, (d) => {
    d.task("read", async (_, ctx) => ctx.triggeringAssetEvents.map((e) => ({ id: e.id, asset: e.asset, dagId: e.dagId, taskId: e.taskId })));
  });
}

function producer(id: string, asset: string): Dag<any> {
  return dag(id, (d) => {
    d.task("write", { produces: [asset] }, async (_, ctx) => ctx.assetMetadata(asset, { by: id }));
  });
}

async function runsOf(s: Sluice, dagId: string) {
  return (await s.store.runs.list({ dagId, limit: 1000 })).reverse();
}

/** Event ids each (finished) run of `dagId` saw in ctx.triggeringAssetEvents, oldest run first. */
async function consumed(s: Sluice, dagId: string): Promise<number[][]> {
  const out: number[][] = [];
  for (const r of await runsOf(s, dagId)) {
    await s.engine.waitForRun(r.runId);
    const [seen] = (await s.engine.loadOutputs(r.runId, "read")) as { id: number }[][];
    out.push(seen!.map((e) => e.id));
  }
  return out;
}

test("a producer's success records one asset event per asset, with run, task, attempt and metadata", async () => {
  const orders = "s3://lake/orders";
  const sales = "warehouse.daily_sales";
  const s = await open([
    dag("producer", (d) => {
      d.task("load", { produces: [sales, orders], retries: 1, retryDelay: "0s" }, async (_, ctx) => {
        if (ctx.attempt === 1) throw new Error("the first attempt fails");
        ctx.assetMetadata(sales, { rows: 123 });
        ctx.assetMetadata(sales, { partition: "2026-01-01" }); // calls merge
        return "ok";
      });
    }),
    dag("broken", (d) => {
      d.task("load", { produces: ["warehouse.never"] }, async () => {
        throw new Error("always fails");
      });
    }),
    dag("wrong_asset", (d) => {
      d.task("load", { produces: ["warehouse.right"] }, async (_, ctx) => ctx.assetMetadata("warehouse.wrong", { rows: 1 }));
    }),
  ]);
  try {
    const run = await s.run("producer");
    assert.equal(run.state, "success");
    const [salesEvent] = await s.store.assets.listEvents(sales, { limit: 10 });
    const [ordersEvent] = await s.store.assets.listEvents(orders, { limit: 10 });
    assert.ok(salesEvent && ordersEvent);
    const attempts = await s.store.attempts.list(run.runId, "load");
    const winner = attempts.find((a) => a.state === "success")!;
    assert.deepEqual(
      { ...salesEvent, eventId: 0, createdAt: 0 },
      { eventId: 0, asset: sales, dagId: "producer", runId: run.runId, taskId: "load", mapIndex: -1, tryNumber: 2, attemptId: winner.attemptId, createdAt: 0, metadata: { rows: 123, partition: "2026-01-01" } },
    );
    const [ti] = await s.store.taskInstances.list(run.runId);
    assert.equal(salesEvent.createdAt, ti!.endedAt, "the event's time is the recorded success's");
    assert.ok(salesEvent.createdAt >= winner.endedAt!);
    assert.deepEqual(ordersEvent.metadata, {});
    assert.equal(ordersEvent.runId, run.runId);

    const failed = await s.run("broken");
    assert.equal(failed.state, "failed");
    assert.deepEqual(await s.store.assets.listEvents("warehouse.never", { limit: 10 }), [], "a failed producer records no event");

    const wrong = await s.run("wrong_asset");
    assert.equal(wrong.state, "failed", "metadata for an asset the task does not produce fails the attempt");
    const [a] = await s.store.attempts.list(wrong.runId);
    assert.match(a!.errorMessage!, /"warehouse\.wrong".*not an asset of this task; it produces "warehouse\.right"/);
    assert.deepEqual(await s.store.assets.listEvents("warehouse.right", { limit: 10 }), []);
  } finally {
    await s.close();
  }
});

test("anyOf runs on every update of any asset; allOf once every asset has a new event; each run consumes its events once", async () => {
  const s = await open([producer("pa", "lake.a"), producer("pb", "lake.b"), consumer("any_ab", { assets: { anyOf: ["lake.a", "lake.b"] } }), consumer("all_ab", { assets: { allOf: ["lake.a", "lake.b"] } })]);
  const worker = s.newWorker();
  await worker.start();
  try {
    const ids = async (asset: string) => (await s.store.assets.listEvents(asset, { limit: 100 })).map((e) => e.eventId).reverse();

    await s.run("pa");
    await waitFor(async () => (await runsOf(s, "any_ab")).length === 1, 30_000, "the anyOf DAG to run");
    const [a1] = await ids("lake.a");
    assert.deepEqual(await consumed(s, "any_ab"), [[a1]]);
    assert.equal((await runsOf(s, "all_ab")).length, 0, "allOf waits for lake.b");

    await s.run("pa");
    await waitFor(async () => (await runsOf(s, "any_ab")).length === 2, 30_000, "the anyOf DAG to run again");
    assert.equal((await runsOf(s, "all_ab")).length, 0, "two updates of lake.a are still not lake.b");

    await s.run("pb");
    await waitFor(async () => (await runsOf(s, "all_ab")).length === 1, 30_000, "the allOf DAG to run");
    await waitFor(async () => (await runsOf(s, "any_ab")).length === 3, 30_000, "the anyOf DAG to run a third time");
    const [, a2] = await ids("lake.a");
    const [b1] = await ids("lake.b");
    assert.deepEqual(await consumed(s, "any_ab"), [[a1], [a2], [b1]]);
    assert.deepEqual(await consumed(s, "all_ab"), [[a1, a2, b1]], "allOf consumes every event since its last run, of every asset");

    const [allRun] = await runsOf(s, "all_ab");
    assert.equal(allRun!.runType, "asset");
    assert.match(allRun!.runKey, /^assets:/);
    const seen = await s.store.assets.runTriggers(allRun!.runId);
    assert.deepEqual(seen.assetEvents.map((e) => [e.asset, e.dagId, e.taskId, e.metadata]), [
      ["lake.a", "pa", "write", { by: "pa" }],
      ["lake.a", "pa", "write", { by: "pa" }],
      ["lake.b", "pb", "write", { by: "pb" }],
    ]);

    // nothing new: evaluating again (as every scheduler tick does) creates nothing
    assert.deepEqual(await s.engine.triggers.evaluateAssets(), []);
    assert.equal((await runsOf(s, "any_ab")).length, 3);
    assert.equal((await runsOf(s, "all_ab")).length, 1);
  } finally {
    await worker.stop();
    await s.close();
  }
});

test("a DAG runs on updates after it was registered, not on older history", async () => {
  const home = join(sb.dir, "home-history");
  const first = await open([producer("pa", "lake.a")], home);
  await first.run("pa");
  await first.close();
  const s = await open([producer("pa", "lake.a"), consumer("late", { assets: { anyOf: ["lake.a"] } })], home);
  try {
    assert.deepEqual(await s.engine.triggers.evaluateAssets(), []);
    await s.run("pa");
    const [latest] = await s.store.assets.listEvents("lake.a", { limit: 1 });
    await waitFor(async () => (await runsOf(s, "late")).length === 1, 30_000, "the consumer to run");
    const worker = s.newWorker();
    await worker.start();
    assert.deepEqual(await consumed(s, "late"), [[latest!.eventId]]);
    await worker.stop();
  } finally {
    await s.close();
  }
});

/**
 * Several engines on one SQLite file must be separate processes (better-sqlite3 is synchronous: two
 * connections in one process wait on each other's locks with the event loop blocked). Each process runs
 * producers and evaluates asset triggers again and again, and sends events with the same keys.
 */
const RACER = `
import { dag } from "sluice";
import { Sluice, loadConfig } from "sluice/runtime";
const [home, who] = process.argv.slice(2);
const producer = (id, asset) => dag(id, (d) => void d.task("write", { produces: [asset] }, async () => 1));
const consumer = (id, schedule) => dag(id, { schedule, maxActiveRuns: 1000 }, (d) =>
  void d.task("read", async (_, ctx) => ctx.triggeringAssetEvents.map((e) => ({ id: e.id }))));
const dags = [producer("pa", "lake.a"), producer("pb", "lake.b"),
  consumer("any_ab", { assets: { anyOf: ["lake.a", "lake.b"] } }), consumer("all_ab", { assets: { allOf: ["lake.a", "lake.b"] } }),
  dag("on_tick", { events: ["tick"] }, (d) => void d.task("t", async (_, ctx) => ctx.event.payload))];
const s = await Sluice.open(loadConfig({ home }, {}), { dags, loadDags: false });
for (let round = 0; round < 8; round++) {
  await Promise.all([s.run(round % 2 === Number(who) ? "pa" : "pb"), s.engine.triggers.evaluateAssets()]);
  await s.engine.triggers.evaluateAssets();
  await s.sendEvent("tick", { who, round }, { idempotencyKey: "round-" + round });
  await s.engine.triggers.evaluateAssets();
}
await s.close();
`;

function racer(home: string, who: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(sb.dir, "racer.mjs"), home, String(who)], { cwd: sb.dir, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`racer ${who} exited ${code}: ${err}`))));
  });
}

test("two engines (processes) on one SQLite file: every asset event is consumed once per DAG by one run; an idempotency key makes one run", async () => {
  const home = join(sb.dir, "home-race");
  writeFileSync(join(sb.dir, "racer.mjs"), RACER);
  // the database exists before the racers start: they race on assets, not on creating the schema
  await (await open([], home)).close();
  await Promise.all([racer(home, 0), racer(home, 1), racer(home, 2)]);
  const dags = [consumer("any_ab", { assets: { anyOf: ["lake.a", "lake.b"] } }), consumer("all_ab", { assets: { allOf: ["lake.a", "lake.b"] } })];
  const s = await open(dags, home);
  const w = s.newWorker();
  await w.start();
  try {
    const events = [...(await s.store.assets.listEvents("lake.a", { limit: 1000 })), ...(await s.store.assets.listEvents("lake.b", { limit: 1000 }))];
    assert.equal(events.length, 3 * 8);
    const all = events.map((e) => e.eventId).sort((x, y) => x - y);
    for (const dagId of ["any_ab", "all_ab"]) {
      const runs = await consumed(s, dagId);
      const flat = runs.flat().sort((x, y) => x - y);
      assert.equal(new Set(flat).size, flat.length, `${dagId}: an event was consumed by two runs: ${JSON.stringify(runs)}`);
      for (const r of runs) assert.ok(r.length > 0, `${dagId}: a run consumed nothing`);
      const keys = (await runsOf(s, dagId)).map((r) => r.runKey);
      assert.equal(new Set(keys).size, keys.length);
      if (dagId === "any_ab") assert.deepEqual(flat, all, "anyOf consumed every event");
    }
    for (const r of await runsOf(s, "all_ab")) {
      const t = await s.store.assets.runTriggers(r.runId);
      assert.deepEqual([...new Set(t.assetEvents.map((e) => e.asset))].sort(), ["lake.a", "lake.b"], "every allOf run saw both assets");
    }
    const ticks = await runsOf(s, "on_tick");
    assert.equal(ticks.length, 8, "one run per idempotency key, whichever process sent it first");
  } finally {
    await w.stop();
    await s.close();
  }
});

test("external events: one run per subscribed DAG with the payload; the same idempotency key never creates a second run; unknown names create nothing", async () => {
  const s = await open([
    dag("orders", { events: ["new_orders"] }, (d) => {
      d.task("take", async (_, ctx) => ({ name: ctx.event?.name, payload: ctx.event?.payload, assets: ctx.triggeringAssetEvents.length }));
    }),
    dag("audit", { events: ["new_orders", "refund"] }, (d) => {
      d.task("take", async (_, ctx) => ctx.event?.payload ?? null);
    }),
  ]);
  const worker = s.newWorker();
  await worker.start();
  try {
    const sent = await s.sendEvent("new_orders", { orderIds: [1, 2] }, { idempotencyKey: "batch-7" });
    assert.equal(sent.duplicate, false);
    assert.deepEqual(sent.runs.map((r) => r.dagId), ["audit", "orders"]);
    assert.deepEqual(sent.pending, []);
    const ordersRun = await s.engine.waitForRun(sent.runs.find((r) => r.dagId === "orders")!.runId);
    assert.equal(ordersRun.state, "success");
    assert.equal(ordersRun.runType, "event");
    assert.deepEqual(await s.engine.loadOutputs(ordersRun.runId, "take"), [{ name: "new_orders", payload: { orderIds: [1, 2] }, assets: 0 }]);

    const again = await s.sendEvent("new_orders", { orderIds: [3] }, { idempotencyKey: "batch-7" });
    assert.equal(again.duplicate, true);
    assert.equal(again.eventId, sent.eventId);
    assert.deepEqual(again.runs, sent.runs);
    assert.equal((await s.store.runs.list({ dagId: "orders", limit: 10 })).length, 1);

    const other = await s.sendEvent("refund", null);
    assert.deepEqual(other.runs.map((r) => r.dagId), ["audit"]);

    await assert.rejects(s.sendEvent("no_such_event", { x: 1 }), (e: unknown) => isSluiceError(e, "EVENT_NOT_FOUND") && /subscribed events: new_orders, refund/.test((e as Error).message));
    const runs = await s.store.runs.list({ limit: 100 });
    assert.equal(runs.length, 3, "an unknown event creates no run");
  } finally {
    await worker.stop();
    await s.close();
  }
});

test("a mapped producer records one event per map index; each is consumed once", async () => {
  const s = await open([
    dag("mapped", (d) => {
      d.map("write", { over: { part: ["a", "b", "c"] }, produces: ["lake.parts"] }, async ({ part }, ctx) => ctx.assetMetadata("lake.parts", { part }));
    }),
    consumer("on_parts", { assets: { anyOf: ["lake.parts"] } }),
  ]);
  const worker = s.newWorker();
  await worker.start();
  try {
    const run = await s.run("mapped");
    const events = (await s.store.assets.listEvents("lake.parts", { limit: 10 })).reverse();
    assert.deepEqual(events.map((e) => [e.runId, e.mapIndex, e.metadata]).sort(), [
      [run.runId, 0, { part: "a" }],
      [run.runId, 1, { part: "b" }],
      [run.runId, 2, { part: "c" }],
    ]);
    await waitFor(async () => (await consumed(s, "on_parts")).flat().length === 3, 30_000, "every part to be consumed");
    assert.deepEqual((await consumed(s, "on_parts")).flat().sort((x, y) => x - y), events.map((e) => e.eventId).sort((x, y) => x - y));
  } finally {
    await worker.stop();
    await s.close();
  }
});

test("a task in a child process (isolation: process) gets ctx.event and attaches asset metadata", async () => {
  const home = join(sb.dir, "home-iso");
  sb.write(
    "iso.ts",
    `import { dag } from "sluice";
export default dag("iso", { events: ["go"] }, (d) => {
  d.task("child", { isolation: "process", produces: ["lake.iso"] }, async (_, ctx) => {
    ctx.assetMetadata("lake.iso", { pid: process.pid, payload: ctx.event?.payload ?? null });
    return { name: ctx.event?.name, payload: ctx.event?.payload, pid: process.pid };
  });
});
`,
  );
  const s = await Sluice.open(loadConfig({ home, dags: sb.dags }, {}));
  try {
    await s.engine.triggers.register([...s.bag.dags.values()].map(({ dag: d }) => ({ id: d.id, spec: d.spec })));
    const sent = await s.sendEvent("go", { n: 7 });
    const summary = await s.drive(sent.runs[0]!.runId);
    assert.equal(summary.state, "success");
    const [out] = (await s.engine.loadOutputs(summary.runId, "child")) as { name: string; payload: unknown; pid: number }[];
    assert.deepEqual({ ...out, pid: 0 }, { name: "go", payload: { n: 7 }, pid: 0 });
    assert.notEqual(out!.pid, process.pid, "it ran in a child process");
    const [ev] = await s.store.assets.listEvents("lake.iso", { limit: 1 });
    assert.deepEqual(ev!.metadata, { pid: out!.pid, payload: { n: 7 } });
  } finally {
    await s.close();
  }
});

test("the DSL validates assets, asset schedules and event names", () => {
  const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isSluiceError(e, "INVALID_DAG") && re.test((e as Error).message));
  bad(() => dag("x", (d) => void d.task("t", { produces: ["has space"] }, async () => 1)), /task "t".*asset "has space" is invalid/);
  bad(() => dag("x", (d) => void d.task("t", { produces: "s3://a" as unknown as string[] }, async () => 1)), /produces must be a list/);
  bad(() => dag("x", { schedule: { assets: { anyOf: [] } } }, (d) => void d.task("t", async () => 1)), /must name at least one asset/);
  bad(() => dag("x", { schedule: { assets: { oneOf: ["a"] } } as never }, (d) => void d.task("t", async () => 1)), /anyOf.*allOf/);
  bad(() => dag("x", { events: ["new orders"] }, (d) => void d.task("t", async () => 1)), /event name "new orders" is invalid/);
  bad(() => dag("x", { schedule: { assets: { anyOf: ["lake.a"] } } }, (d) => void d.task("t", { produces: ["lake.a"] }, async () => 1)), /scheduled on asset "lake\.a", which its own task "t" produces/);

  const ok = dag("ok", { schedule: { assets: { allOf: ["b", "s3://x/a", "b"] } }, events: ["z", "a"] }, (d) => void d.task("t", { produces: ["s3://out/y", "file:///tmp/x.csv"] }, async () => 1));
  assert.deepEqual(ok.spec.assetSchedule, { mode: "allOf", assets: ["b", "s3://x/a"] });
  assert.equal(ok.spec.schedule, null);
  assert.deepEqual(ok.spec.events, ["a", "z"]);
  assert.deepEqual(ok.spec.tasks[0]!.produces, ["file:///tmp/x.csv", "s3://out/y"]);
  const plain = dag("plain", (d) => void d.task("t", async () => 1));
  assert.ok(!("produces" in plain.spec.tasks[0]!) && !("assetSchedule" in plain.spec) && !("events" in plain.spec), "specs without assets are unchanged (same versions)");
});
