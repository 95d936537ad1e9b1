/**
 * sluice/testing: `testDag` runs a DAG on a temporary store with virtual time. These tests run through the
 * package entry (`sluice/testing`, built in dist/) as a user's tests would. A DAG with two one-hour retry
 * delays or a sensor poking every 10 minutes would keep a real-clock run busy for hours: that they end at
 * all (within the test runner's default timeout) is the proof that time is skipped, and `virtualMs` says how
 * far the clock moved.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { z } from "zod";
import { dag, isSluiceError, type TaskRef } from "sluice";
import { testDag } from "sluice/testing";

const HOUR = 3_600_000;

test("two one-hour retry delays are skipped: the run succeeds on its third attempt", { timeout: 60_000 }, async () => {
  let calls = 0;
  let fetched!: TaskRef<{ rows: number }>;
  const d = dag("flaky", (b) => {
    const fetch = (fetched = b.task("fetch", { retries: 2, retryDelay: "1h" }, async () => {
      calls++;
      if (calls < 3) throw new Error(`upstream down (call ${calls})`);
      return { rows: 42 };
    }));
    b.task("count", { inputs: { fetch } }, async ({ fetch }) => fetch.rows * 2);
  });
  const run = await testDag(d);
  assert.equal(run.state, "success");
  assert.equal(run.task("fetch").attempts, 3);
  assert.equal(run.task("fetch").state, "success");
  assert.deepEqual(run.output(fetched), { rows: 42 });
  assert.equal(run.task("count").state, "success");
  assert.ok(run.virtualMs >= 2 * HOUR, `the clock moved ${run.virtualMs} ms, not the two retry delays`);
  assert.ok(run.virtualMs < 3 * HOUR, `the clock moved ${run.virtualMs} ms, further than needed`);
  // the failed attempts' errors are in their logs
  assert.match(run.log("fetch", { attempt: 1 }).map((l) => l.msg).join("\n"), /upstream down \(call 1\)/);
});

test("a sensor poking every 10 minutes succeeds on its third poke in virtual time, holding no slot", { timeout: 60_000 }, async () => {
  let pokes = 0;
  const d = dag("waits", (b) => {
    const ready = b.sensor("ready", { pokeInterval: "10m", timeout: "6h", poke: async () => ++pokes >= 3 });
    b.task("after", { after: [ready] }, async () => "ran");
  });
  const run = await testDag(d);
  assert.equal(run.state, "success");
  assert.equal(pokes, 3);
  assert.equal(run.task("after").state, "success");
  assert.ok(run.virtualMs >= 20 * 60_000 && run.virtualMs < 30 * 60_000, `virtual time ${run.virtualMs} ms`);
});

test("outputs are typed by their refs; mapped tasks give the list of their instances' outputs", async () => {
  let squares!: TaskRef<number[]>;
  let sum!: TaskRef<number>;
  const d = dag("maths", (b) => {
    squares = b.map("square", { over: { x: [1, 2, 3] } }, async ({ x }) => x * x);
    sum = b.task("sum", { inputs: { squares } }, async ({ squares }) => squares.reduce((a, c) => a + c, 0));
  });
  const run = await testDag(d);
  assert.equal(run.output(sum), 14);
  assert.deepEqual(run.output(squares), [1, 4, 9]);
  assert.deepEqual(
    run.tasks.filter((t) => t.taskId === "square").map((t) => [t.mapIndex, t.state]),
    [
      [0, "success"],
      [1, "success"],
      [2, "success"],
    ],
  );
});

test("mocks replace a shell task's body, a connection and a variable; params are validated as for a trigger", async () => {
  let load!: TaskRef<string>;
  const d = dag("warehouse", { params: z.object({ limit: z.number().max(10) }) }, (b) => {
    const dump = b.shell("dump", { command: "definitely-not-a-program-sluice" });
    load = b.task("load", { inputs: { dump } }, async ({ dump }, ctx) => {
      const conn = await ctx.connection("warehouse");
      const table = await ctx.variable("table");
      return `${dump} -> ${conn.host}:${conn.port}/${String(table)} (limit ${ctx.params.limit})`;
    });
  });
  const run = await testDag(d, {
    params: { limit: 5 },
    mocks: {
      tasks: { dump: async () => "rows.csv" },
      connections: { warehouse: "postgres://u:secret@db.example:5433/dw" },
      variables: { table: "orders" },
    },
  });
  assert.equal(run.state, "success", JSON.stringify(run.tasks));
  assert.equal(run.output(load), "rows.csv -> db.example:5433/orders (limit 5)");

  // a param against the schema is refused before anything runs, naming the field
  await assert.rejects(
    testDag(d, { params: { limit: 20 } }),
    (e: unknown) => isSluiceError(e) && e.code === "INVALID_PARAM" && /limit/.test(e.message),
  );
});

test("relative paths of shell tasks resolve from the DAG file's folder (`file`), and process-isolated tasks run here", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-testdag-"));
  try {
    await mkdir(join(dir, "data"));
    await writeFile(join(dir, "data", "rows.txt"), "a\nb\nlast-row\n");
    let tail!: TaskRef<string>;
    let isolated!: TaskRef<number>;
    const d = dag("paths", (b) => {
      tail = b.shell("tail", { command: "tail", args: ["-n", "1", "rows.txt"], cwd: "data" });
      isolated = b.task("isolated", { isolation: "process" }, async () => process.pid);
    });
    const run = await testDag(d, { file: join(dir, "paths.ts") });
    assert.equal(run.state, "success", JSON.stringify(run.tasks));
    assert.equal(run.output(tail), "last-row");
    assert.equal(run.output(isolated), process.pid);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a failing task: its state, its error and its downstream's upstream_failed are there to assert on", async () => {
  const d = dag("breaks", (b) => {
    const a = b.task("a", async () => {
      throw new Error("disk on fire");
    });
    b.task("b", { after: [a] }, async () => 1);
  });
  const run = await testDag(d, { keep: true });
  try {
    assert.equal(run.state, "failed");
    assert.equal(run.task("a").state, "failed");
    assert.match(run.task("a").error ?? "", /disk on fire/);
    assert.equal(run.task("b").state, "upstream_failed");
    assert.ok(existsSync(run.home), "keep: true keeps the temporary home");
  } finally {
    await rm(run.home, { recursive: true, force: true });
  }
});

test("bad input names what is wrong: a mock of a task the DAG does not have", async () => {
  const d = dag("small", (b) => {
    b.task("only", async () => 1);
  });
  await assert.rejects(
    testDag(d, { mocks: { tasks: { olny: async () => 2 } } }),
    (e: unknown) => isSluiceError(e) && e.code === "TASK_NOT_FOUND" && /mocks\.tasks\.olny/.test(e.message) && /"small"/.test(e.message),
  );
});

test("the developer's own SLUICE_* environment does not reach the test's store", async () => {
  const before = process.env.SLUICE_DATABASE_URL;
  process.env.SLUICE_DATABASE_URL = "postgres://nobody@127.0.0.1:1/none";
  try {
    const run = await testDag(dag("isolated", (b) => void b.task("t", async () => "ok")));
    assert.equal(run.state, "success");
  } finally {
    if (before === undefined) delete process.env.SLUICE_DATABASE_URL;
    else process.env.SLUICE_DATABASE_URL = before;
  }
});
