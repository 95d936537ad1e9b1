/**
 * Sensors through the public embedding API (`sluice/runtime`), on real SQLite files, a real HTTP server and
 * real files, with a ManualClock: poke intervals and timeouts are exact. The "deferrable" promise is
 * asserted, not assumed: 100 waiting sensors leave all 4 slots of a worker to ordinary tasks. Every test
 * runs on SQLite, then again on PostgreSQL (a fresh sandbox, so files the first pass wrote are not there).
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { dag, httpOk, type Dag } from "sluice";
import { ManualClock, Sluice, loadConfig } from "sluice/runtime";
import { readWholeLog } from "../../src/logs/logStore.js";
import { dialects } from "../dialects.js";
import { sandbox, waitFor, type Sandbox } from "../helpers.js";
import { checkInvariants, type CheckOptions, type History } from "../invariants.js";

/** The current pass's sandbox and database (PostgreSQL's URL; undefined: the sandbox's SQLite file). */
let sb: Sandbox = newSandbox();
let databaseUrl: string | undefined;

const SEC = 1000;
const MIN = 60_000;

function newSandbox(): Sandbox {
  const box = sandbox("sluice-sensors-");
  box.write(
  "sensors.ts",
  `import { dag, fileExists, sqlRow } from "sluice";
export const files = dag("files", (d) => {
  const found = d.sensor("wait_orders", { poke: fileExists("incoming/orders-*.csv"), pokeInterval: "30s", timeout: "1h" });
  d.task("count", { inputs: { found } }, async ({ found }) => found.map((f) => f.split("/").pop()));
});
export const soft = dag("soft", (d) => {
  const never = d.sensor("never", { poke: async () => false, pokeInterval: "1m", timeout: "2m", softFail: true });
  const next = d.task("next", { inputs: { never } }, async () => "ran");
  d.task("after_next", { after: [next] }, async () => "ran");
  d.task("report", { after: [never], triggerRule: "all_done" }, async () => "report");
});
export const hard = dag("hard", (d) => {
  const never = d.sensor("never", { poke: async () => false, pokeInterval: "1m", timeout: "90s", retries: 2, retryDelay: "1s" });
  d.task("next", { inputs: { never } }, async () => "ran");
});
export const rows = dag("rows", (d) => {
  const batch = d.sensor("batch", {
    poke: sqlRow<{ id: number; day: string }>({ database: "sqlite:../state/etl.db", query: "select id, day from batches where day = ?", params: ["2026-01-01"] }),
    pokeInterval: "5m",
  });
  d.task("use", { inputs: { batch } }, async ({ batch }) => batch.id * 2);
});
export const backoff = dag("backoff", (d) => {
  d.sensor("grows", { poke: async () => false, pokeInterval: "1m", exponentialBackoff: true, maxWait: "3m", timeout: "1h" });
});
export const child = dag("child", (d) => {
  const flag = d.sensor("in_child", { isolation: "process", poke: fileExists("child-flag.txt"), pokeInterval: "1m" });
  d.task("got", { inputs: { flag } }, async ({ flag }) => flag);
});
export const waiting = dag("waiting", (d) => {
  d.sensor("w", { poke: async () => false, pokeInterval: "10m" });
});
`,
  );
  return box;
}

async function open(clock: ManualClock, dags: Dag[] = [], concurrency?: number): Promise<Sluice> {
  return Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, ...(databaseUrl ? { databaseUrl } : {}), ...(concurrency ? { concurrency } : {}) }, {}), { clock, dags });
}

async function runIdOf(s: Sluice, dagId: string): Promise<string> {
  let id = "";
  await waitFor(async () => (id = (await s.store.runs.list({ dagId, limit: 1 }))[0]?.runId ?? "") !== "", 30_000, `a run of ${dagId}`);
  return id;
}

async function ti(s: Sluice, runId: string, taskId: string) {
  return (await s.store.taskInstances.list(runId)).find((t) => t.taskId === taskId)!;
}

/** Wait until the sensor has found its condition unmet `pokes` times and waits for the next poke. */
async function waitingAfter(s: Sluice, runId: string, taskId: string, pokes: number) {
  await waitFor(async () => {
    const t = await ti(s, runId, taskId);
    return t.state === "up_for_reschedule" && t.pokeCount === pokes;
  }, 30_000, `${taskId} to wait after ${pokes} poke(s)`);
  return ti(s, runId, taskId);
}

/** The invariants of ARCHITECTURE.md on the recorded history (test/invariants.ts), with sensors: pokes are not attempts. */
function checkHistory(s: Sluice, opts: CheckOptions = {}): Promise<History> {
  return checkInvariants(s.config.databaseUrl, opts);
}

// Every test below, on each store in turn. (The body is not re-indented, so that the DAG sources in it
// stay byte-identical.)
for (const d of dialects(9)) {
describe(`sensors on ${d.name}`, { skip: d.skip }, () => {
let db: { url: string; cleanup(): Promise<void> } | null = null;
before(async () => {
  if (d.name === "sqlite") return;
  sb = newSandbox();
  db = await d.fresh(sb.dir);
  databaseUrl = db.url;
});
after(async () => {
  sb.cleanup();
  await db?.cleanup();
  databaseUrl = undefined;
});

test("a file sensor waits between pokes without a worker, then succeeds once the file is written; pokes are not attempts", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const s = await open(clock);
  try {
    assert.deepEqual(s.bag.errors, []);
    const done = s.run("files");
    const runId = await runIdOf(s, "files");
    const t0 = clock.now();
    let t = await waitingAfter(s, runId, "wait_orders", 1);
    assert.equal(t.readyAt, t0 + 30 * SEC, "the next poke is one poke interval later");
    assert.equal(t.sensorDeadline, t0 + 60 * MIN, "first poke + timeout");
    assert.equal(t.tryNumber, 1);
    let [a] = await s.store.attempts.list(runId, "wait_orders");
    assert.equal(a!.state, "up_for_reschedule", "between pokes the attempt waits, with no worker running it");
    assert.equal(a!.endedAt, null);

    clock.advance(30 * SEC - 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await ti(s, runId, "wait_orders")).pokeCount, 1, "poked before its interval");
    clock.advance(1);
    t = await waitingAfter(s, runId, "wait_orders", 2);
    assert.equal(t.readyAt, t0 + 60 * SEC);
    assert.equal(t.sensorDeadline, t0 + 60 * MIN, "the deadline stays");

    mkdirSync(join(sb.dags, "incoming"), { recursive: true });
    writeFileSync(join(sb.dags, "incoming", "orders-2026-01-01.csv"), "id,amount\n1,10\n");
    writeFileSync(join(sb.dags, "incoming", "ignored.txt"), "x");
    clock.advance(30 * SEC);
    const summary = await done;
    assert.equal(summary.state, "success");
    assert.deepEqual(await s.engine.loadOutputs(runId, "count"), [["orders-2026-01-01.csv"]]);
    const [found] = await s.engine.loadOutputs(runId, "wait_orders");
    assert.deepEqual(found, [join(sb.dags, "incoming", "orders-2026-01-01.csv")]);

    // three pokes, one attempt: Airflow's reschedule mode keeps the try number
    const attempts = await s.store.attempts.list(runId, "wait_orders");
    assert.deepEqual(
      attempts.map((x) => [x.tryNumber, x.state]),
      [[1, "success"]],
    );
    a = attempts[0];
    assert.equal(a!.startedAt, t0, "the attempt started with the first poke");
    assert.equal(a!.endedAt, t0 + 60 * SEC, "and ended with the poke that found the file");
    t = await ti(s, runId, "wait_orders");
    assert.equal(t.pokeCount, 2, "two pokes found the condition unmet");
    assert.equal(summary.tasks.find((x) => x.taskId === "wait_orders")!.attempts, 1);
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("softFail: at the timeout the sensor is skipped, its downstream tasks are skipped, all_done runs; the run succeeds", async () => {
  const clock = new ManualClock(Date.UTC(2026, 1, 1));
  const s = await open(clock);
  try {
    const done = s.run("soft");
    const runId = await runIdOf(s, "soft");
    const t0 = clock.now();
    await waitingAfter(s, runId, "never", 1);
    clock.advance(MIN);
    const t = await waitingAfter(s, runId, "never", 2);
    assert.equal(t.readyAt, t0 + 2 * MIN);
    clock.advance(MIN);
    const summary = await done;
    assert.equal(summary.state, "success", "skipped leaves do not fail a run");
    assert.deepEqual(
      summary.tasks.map((x) => [x.taskId, x.state]),
      [
        ["never", "skipped"],
        ["next", "skipped"],
        ["report", "success"],
        ["after_next", "skipped"],
      ],
    );
    const [a] = await s.store.attempts.list(runId, "never");
    assert.equal(a!.errorCode, "TIMEOUT");
    assert.match(a!.errorMessage!, /sensor "never" timed out: its condition was not met within 2m0s \(3 pokes\); softFail: skipped/);
    assert.equal(a!.endedAt! - a!.startedAt, 2 * MIN, "timed out exactly at first poke + timeout");
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("timeout: the sensor fails with TIMEOUT at first poke + timeout (the last poke is not late), without retrying", async () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1));
  const s = await open(clock);
  try {
    const done = s.run("hard");
    const runId = await runIdOf(s, "hard");
    const t0 = clock.now();
    await waitingAfter(s, runId, "never", 1);
    clock.advance(MIN);
    const t = await waitingAfter(s, runId, "never", 2);
    assert.equal(t.readyAt, t0 + 90 * SEC, "the next poke is capped at the deadline");
    clock.advance(30 * SEC);
    const summary = await done;
    assert.equal(summary.state, "failed");
    assert.deepEqual(
      summary.tasks.map((x) => [x.taskId, x.state, x.attempts]),
      [
        ["never", "failed", 1],
        ["next", "upstream_failed", 0],
      ],
    );
    const attempts = await s.store.attempts.list(runId, "never");
    assert.equal(attempts.length, 1, "a sensor timeout is not retried (Airflow's AirflowSensorTimeout), though retries: 2");
    assert.equal(attempts[0]!.errorCode, "TIMEOUT");
    assert.equal(attempts[0]!.endedAt! - t0, 90 * SEC);
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("an HTTP sensor against a real server: 503, 503, then 200 with the expected body", async () => {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (requests <= 2) {
      res.writeHead(503).end("starting");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(`ready: ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  const http = dag("http", (d) => {
    const up = d.sensor("api_up", { poke: httpOk(url, { bodyIncludes: "ready" }), pokeInterval: "10s", timeout: "5m" });
    d.task("use", { inputs: { up } }, async ({ up }) => `${up.status} ${up.body}`);
  });
  const clock = new ManualClock(Date.UTC(2026, 3, 1));
  const s = await open(clock, [http]);
  try {
    const done = s.run("http");
    const runId = await runIdOf(s, "http");
    await waitingAfter(s, runId, "api_up", 1);
    clock.advance(10 * SEC);
    await waitingAfter(s, runId, "api_up", 2);
    clock.advance(10 * SEC);
    const summary = await done;
    assert.equal(summary.state, "success");
    assert.equal(requests, 3, "one request per poke");
    assert.deepEqual(await s.engine.loadOutputs(runId, "use"), ["200 ready: GET /health"]);
    assert.deepEqual(await s.store.attempts.list(runId, "api_up").then((a) => a.map((x) => [x.tryNumber, x.state])), [[1, "success"]]);
    // the pokes of one attempt write one log, which says why the sensor waited (a file on SQLite, rows on PostgreSQL)
    const [a] = await s.store.attempts.list(runId, "api_up");
    const lines = await readWholeLog(s.engine.logs, { attemptId: a!.attemptId, dagId: "http", runId, taskId: "api_up", mapIndex: -1, tryNumber: 1 });
    const log = lines.map((l) => l.msg).join("\n");
    assert.equal(log.match(/status 503; poking again later/g)?.length, 2, log);
    assert.match(log, /poke 2 of attempt 1/, log);
    await checkHistory(s);
  } finally {
    await s.close();
    server.close();
  }
});

test("a SQL sensor on a real SQLite file: no file yet, then no row, then the row (relative to the DAG file's folder)", async () => {
  const clock = new ManualClock(Date.UTC(2026, 4, 1));
  const s = await open(clock);
  const dbFile = join(sb.dir, "state", "etl.db");
  try {
    const done = s.run("rows");
    const runId = await runIdOf(s, "rows");
    await waitingAfter(s, runId, "batch", 1); // the database file does not exist yet
    mkdirSync(join(sb.dir, "state"), { recursive: true });
    const db = new Database(dbFile);
    db.exec("create table batches (id integer primary key, day text not null)");
    db.prepare("insert into batches (id, day) values (?, ?)").run(3, "2025-12-31");
    clock.advance(5 * MIN);
    await waitingAfter(s, runId, "batch", 2); // no row for the day yet
    db.prepare("insert into batches (id, day) values (?, ?)").run(7, "2026-01-01");
    db.close();
    clock.advance(5 * MIN);
    const summary = await done;
    assert.equal(summary.state, "success");
    assert.deepEqual(await s.engine.loadOutputs(runId, "batch"), [{ id: 7, day: "2026-01-01" }]);
    assert.deepEqual(await s.engine.loadOutputs(runId, "use"), [14]);
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("100 waiting sensors hold no worker slot: with concurrency 4, four ordinary tasks run at once and finish while every sensor waits", async () => {
  let met = false;
  let pokes = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let started = 0;
  const track = async <T>(fn: () => Promise<T>): Promise<T> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await fn();
    } finally {
      inFlight--;
    }
  };
  const crowd = dag("crowd", (d) => {
    // sensors first in claim order: every one of them is poked before the ordinary tasks start
    for (let i = 0; i < 100; i++) {
      d.sensor(`s${i}`, {
        priority: 10,
        pokeInterval: "1m",
        timeout: "1h",
        poke: () =>
          track(async () => {
            pokes++;
            await new Promise((r) => setTimeout(r, 1));
            return met;
          }),
      });
    }
    for (let j = 0; j < 4; j++) {
      d.task(`work${j}`, async () =>
        track(async () => {
          // a barrier: each ordinary task finishes only once all four run at the same time
          started++;
          const until = Date.now() + 20_000;
          while (started < 4) {
            if (Date.now() > until) throw new Error(`only ${started} of 4 ordinary tasks could start: the slots are taken`);
            await new Promise((r) => setTimeout(r, 5));
          }
          return j;
        }),
      );
    }
  });
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const s = await open(clock, [crowd], 4);
  try {
    assert.equal(s.config.concurrency, 4);
    const done = s.run("crowd");
    const runId = await runIdOf(s, "crowd");
    await waitFor(async () => (await s.store.taskInstances.list(runId)).filter((t) => t.taskId.startsWith("work") && t.state === "success").length === 4, 30_000, "the 4 ordinary tasks to finish");
    const tis = await s.store.taskInstances.list(runId);
    const sensors = tis.filter((t) => t.taskId.startsWith("s"));
    assert.equal(sensors.length, 100);
    assert.deepEqual([...new Set(sensors.map((t) => t.state))], ["up_for_reschedule"], "every sensor still waits");
    assert.equal((await s.store.runs.get(runId))!.state, "running");
    assert.equal(pokes, 100, "each sensor was poked once");
    assert.equal(started, 4);
    assert.ok(maxInFlight <= 4, `at most 4 things ran at once, saw ${maxInFlight}`);
    const attempts = await s.store.attempts.list(runId);
    assert.equal(attempts.filter((a) => a.state === "running").length, 0, "no attempt holds a slot while the sensors wait");
    assert.equal(attempts.filter((a) => a.state === "up_for_reschedule").length, 100);

    met = true;
    clock.advance(MIN);
    const summary = await done;
    assert.equal(summary.state, "success");
    assert.equal(pokes, 200);
    assert.ok(maxInFlight <= 4, `at most 4 things ran at once, saw ${maxInFlight}`);
    const after = await s.store.attempts.list(runId);
    assert.equal(after.length, 104, "one attempt per task instance: pokes are not attempts");
    assert.ok(after.every((a) => a.tryNumber === 1 && a.state === "success"));
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("exponential backoff: the waits grow (Airflow's spread) and are capped by maxWait", async () => {
  const clock = new ManualClock(Date.UTC(2026, 6, 1));
  const s = await open(clock);
  try {
    const done = s.run("backoff");
    const runId = await runIdOf(s, "backoff");
    const waits: number[] = [];
    for (let n = 1; n <= 4; n++) {
      const t = await waitingAfter(s, runId, "grows", n);
      waits.push(t.readyAt! - clock.now());
      clock.advance(t.readyAt! - clock.now());
    }
    assert.ok(waits[0]! >= 30 * SEC && waits[0]! < 60 * SEC, `first wait ${waits[0]}`);
    assert.ok(waits[1]! >= 60 * SEC && waits[1]! < 120 * SEC, `second wait ${waits[1]}`);
    assert.ok(waits[2]! >= 120 * SEC && waits[2]! <= 180 * SEC, `third wait ${waits[2]}`);
    assert.equal(waits[3], 180 * SEC, "capped by maxWait");
    await s.engine.cancelRun(runId);
    await done;
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("a sensor with isolation: process pokes in a child process, relative to its DAG file's folder", async () => {
  const clock = new ManualClock(Date.UTC(2026, 8, 1));
  const s = await open(clock);
  try {
    const done = s.run("child");
    const runId = await runIdOf(s, "child");
    await waitingAfter(s, runId, "in_child", 1);
    writeFileSync(join(sb.dags, "child-flag.txt"), "go");
    clock.advance(MIN);
    const summary = await done;
    assert.equal(summary.state, "success");
    assert.deepEqual(await s.engine.loadOutputs(runId, "got"), [[join(sb.dags, "child-flag.txt")]]);
    await checkHistory(s);
  } finally {
    await s.close();
  }
});

test("cancel and clear reach a waiting sensor: its attempt ends, nothing stays live", async () => {
  const clock = new ManualClock(Date.UTC(2026, 7, 1));
  const s = await open(clock);
  try {
    // clear: the waiting attempt ends as CANCELLED and the sensor starts over, with a fresh timeout
    const done = s.run("waiting");
    const runId = await runIdOf(s, "waiting");
    await waitingAfter(s, runId, "w", 1);
    clock.advance(10 * MIN);
    await waitingAfter(s, runId, "w", 2);
    await s.engine.clearTasks(runId, { taskIds: ["w"], downstream: false });
    const t = await waitingAfter(s, runId, "w", 1);
    assert.equal(t.tryNumber, 2);
    assert.equal(t.sensorDeadline, clock.now() + 7 * 24 * 60 * MIN, "the timeout counts again from the new first poke (default 7 days)");
    let attempts = await s.store.attempts.list(runId, "w");
    assert.deepEqual(
      attempts.map((a) => [a.tryNumber, a.state, a.errorCode]),
      [
        [1, "failed", "CANCELLED"],
        [2, "up_for_reschedule", null],
      ],
    );
    assert.match(attempts[0]!.errorMessage!, /cleared while waiting for its next poke/);
    await checkHistory(s, { mayRun: [runId] });

    // cancel: the run fails, the waiting sensor is skipped and its attempt ends
    await s.engine.cancelRun(runId);
    const summary = await done;
    assert.equal(summary.state, "failed");
    assert.equal(summary.tasks[0]!.state, "skipped");
    attempts = await s.store.attempts.list(runId, "w");
    assert.deepEqual(attempts.at(-1)!.errorCode, "CANCELLED");
    await checkHistory(s);
  } finally {
    await s.close();
  }
});
});
}
