/**
 * The scheduler against real DAG files (parsed in child processes, as in production) and a real SQLite
 * store, with a ManualClock: time moves only when a test says so, and `whenIdle()` waits for the work the
 * clock's timers started. Every assertion is on what the store recorded — runs, their logical dates, data
 * intervals, versions and states — never on how long something took.
 */
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { sql } from "kysely";
import { ManualClock } from "../../src/core/clock.js";
import { loadConfig } from "../../src/config.js";
import { DagCodeLoader } from "../../src/engine/codeLoader.js";
import { Scheduler, type SchedulerOptions } from "../../src/engine/scheduler.js";
import { Sluice } from "../../src/sluice.js";
import type { RunRecord } from "../../src/store/store.js";
import type { Worker } from "../../src/worker/worker.js";
import { ROOT, sandbox, waitFor, storeDb } from "../helpers.js";

const sb = sandbox("sluice-sched-");
after(() => sb.cleanup());

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const utc = (iso: string) => Date.parse(iso);
const isoOf = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** Tasks that wait until the test releases them (they run in this process: the in-process executor). */
const GATE = `
const g = globalThis as any;
g.__gates ??= new Map();
/** Resolves when the test calls release(key). */
const gate = (key: string) => new Promise<void>((resolve) => {
  const waiting = g.__gates.get(key) ?? [];
  waiting.push(resolve);
  g.__gates.set(key, waiting);
});
`;
const gates = (): Map<string, (() => void)[]> => ((globalThis as any).__gates ??= new Map());
const waiting = (key: string) => gates().get(key)?.length ?? 0;
function release(key: string, n = 1): void {
  const w = gates().get(key) ?? [];
  for (const r of w.splice(0, n)) r();
}

interface World {
  dir: string;
  dags: string;
  clock: ManualClock;
  s: Sluice;
  scheduler: Scheduler;
  worker: Worker | null;
  write(rel: string, text: string): string;
  /** Move the clock, then wait for the scheduling work it caused. */
  advance(ms: number): Promise<void>;
  /** Move the clock to exactly `t`. */
  advanceTo(t: number): Promise<void>;
  /** This DAG's runs in the order they were created. */
  runs(dagId: string): Promise<RunRecord[]>;
  /** A new scheduler on the same folder, store and clock (after `stop`). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

let worlds = 0;

/**
 * A DAGs folder with `files`, a store, a scheduler and (unless `worker: false`) a worker that runs the
 * tasks of every run, with task code loaded from the files as `sluice dev` does.
 */
async function world(
  files: Record<string, string>,
  start: number,
  o: { worker?: boolean; scheduler?: Partial<SchedulerOptions>; home?: string; dagsDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<World> {
  const dir = join(sb.dir, `w${++worlds}`);
  const dags = o.dagsDir ?? join(dir, "dags");
  mkdirSync(dags, { recursive: true });
  const write = (rel: string, text: string) => {
    const p = join(dags, rel);
    writeFileSync(p, text);
    return p;
  };
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  const clock = new ManualClock(start);
  const s = await Sluice.open(loadConfig({ home: o.home ?? join(dir, "home"), dags }, o.env ?? {}), { clock, loadDags: false });
  const code = new DagCodeLoader(s.store);
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  const make = () => new Scheduler(s.engine, s.store, clock, { dagsDir: dags, pollMs: 60_000, ...o.scheduler });
  const w: World = {
    dir,
    dags,
    clock,
    s,
    scheduler: make(),
    worker: o.worker === false ? null : s.newWorker(),
    write,
    async advance(ms) {
      clock.advance(ms);
      await w.scheduler.whenIdle();
    },
    async advanceTo(t) {
      assert.ok(t >= clock.now(), "the clock only moves forward");
      await w.advance(t - clock.now());
    },
    async runs(dagId) {
      const ids = await sql<{ run_id: string }>`select run_id from runs where dag_id = ${dagId} order by rowid`.execute(storeDb(s.store));
      return Promise.all(ids.rows.map(async (r) => (await s.store.runs.get(r.run_id))!));
    },
    async restart() {
      w.scheduler = make();
      await w.scheduler.start();
    },
    async stop() {
      await w.scheduler.stop();
      await w.worker?.stop();
      await s.close();
    },
  };
  await w.scheduler.start();
  await w.worker?.start();
  return w;
}

/** Wait (in real time: tasks run for real) until every run of the DAG has finished. */
async function allFinished(w: World, dagId: string): Promise<RunRecord[]> {
  let runs: RunRecord[] = [];
  await waitFor(async () => {
    runs = await w.runs(dagId);
    return runs.every((r) => r.state === "success" || r.state === "failed");
  }, 30_000, `the runs of ${dagId} to finish`);
  return runs;
}

const logicalDates = (runs: RunRecord[]) => runs.map((r) => isoOf(r.logicalDate));

// ---------------------------------------------------------------------------------------------------------

test("@daily: one run per day, created at the day's end, logical date = interval start, data interval on the run and in ctx", async () => {
  const w = await world(
    {
      "daily.ts": `import { dag } from "sluice";
export default dag("daily", { schedule: "@daily", startDate: "2026-01-01T00:00:00Z", catchup: true }, (d) => {
  d.task("t", async (_i, ctx) => ({
    logicalDate: ctx.logicalDate.toISOString(),
    start: ctx.dataInterval?.start.toISOString() ?? null,
    end: ctx.dataInterval?.end.toISOString() ?? null,
  }));
});
`,
    },
    utc("2026-01-01T00:00:00Z"),
  );
  try {
    const row = (await w.s.store.dags.get("daily"))!;
    assert.equal(isoOf(row.nextIntervalStart), "2026-01-01T00:00:00.000Z");
    assert.equal(isoOf(row.nextIntervalEnd), "2026-01-02T00:00:00.000Z");
    for (let day = 1; day <= 3; day++) {
      const end = utc(`2026-01-0${day + 1}T00:00:00Z`);
      await w.advanceTo(end - 1);
      assert.equal((await w.runs("daily")).length, day - 1, `no run before day ${day} ends`);
      await w.advance(1);
      const runs = await w.runs("daily");
      assert.equal(runs.length, day, `one run once day ${day} has ended`);
      const run = runs.at(-1)!;
      assert.equal(run.runType, "scheduled");
      assert.equal(run.runKey, `sched:2026-01-0${day}T00:00:00.000Z`);
      assert.equal(isoOf(run.logicalDate), `2026-01-0${day}T00:00:00.000Z`);
      assert.equal(isoOf(run.dataIntervalStart), `2026-01-0${day}T00:00:00.000Z`);
      assert.equal(isoOf(run.dataIntervalEnd), isoOf(end));
      assert.equal(run.createdAt, end, "created exactly when due");
    }
    const runs = await allFinished(w, "daily");
    assert.deepEqual(runs.map((r) => r.state), ["success", "success", "success"]);
    for (const [i, r] of runs.entries()) {
      const [out] = await w.s.engine.loadOutputs(r.runId, "t");
      assert.deepEqual(out, {
        logicalDate: `2026-01-0${i + 1}T00:00:00.000Z`,
        start: `2026-01-0${i + 1}T00:00:00.000Z`,
        end: `2026-01-0${i + 2}T00:00:00.000Z`,
      });
    }
  } finally {
    await w.stop();
  }
});

test("every 15m: intervals on the grid anchored at startDate (00:07, 00:22, …), not on the hour", async () => {
  const w = await world(
    {
      "grid.ts": `import { dag } from "sluice";
export default dag("grid", { schedule: "every 15m", startDate: "2026-01-01T00:07:00Z" }, (d) => { d.task("t", async () => 1); });
`,
    },
    utc("2026-01-01T00:00:00Z"),
    { worker: false },
  );
  try {
    // step by a minute: each run is created in the minute its interval ends, once
    for (let t = utc("2026-01-01T00:00:00Z"); t < utc("2026-01-01T01:10:00Z"); t += MIN) await w.advanceTo(t + MIN);
    const runs = await w.runs("grid");
    assert.deepEqual(logicalDates(runs), ["2026-01-01T00:07:00.000Z", "2026-01-01T00:22:00.000Z", "2026-01-01T00:37:00.000Z", "2026-01-01T00:52:00.000Z"]);
    assert.deepEqual(
      runs.map((r) => [isoOf(r.dataIntervalStart), isoOf(r.dataIntervalEnd), isoOf(r.createdAt)]),
      [
        ["2026-01-01T00:07:00.000Z", "2026-01-01T00:22:00.000Z", "2026-01-01T00:22:00.000Z"],
        ["2026-01-01T00:22:00.000Z", "2026-01-01T00:37:00.000Z", "2026-01-01T00:37:00.000Z"],
        ["2026-01-01T00:37:00.000Z", "2026-01-01T00:52:00.000Z", "2026-01-01T00:52:00.000Z"],
        ["2026-01-01T00:52:00.000Z", "2026-01-01T01:07:00.000Z", "2026-01-01T01:07:00.000Z"],
      ],
    );
  } finally {
    await w.stop();
  }
});

test("Europe/Berlin 30 2 * * *: exactly one run per day across the spring-forward and fall-back changes of 2026", async () => {
  const w = await world(
    {
      "berlin.ts": `import { dag } from "sluice";
export default dag("berlin", { schedule: "30 2 * * *", timezone: "Europe/Berlin", startDate: "2026-03-26T00:00:00Z" }, (d) => { d.task("t", async () => 1); });
`,
    },
    utc("2026-03-27T00:00:00Z"),
    { worker: false },
  );
  try {
    // Hour by hour through the spring-forward night (2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not
    // exist and runs shifted to 03:30 CEST = 01:30Z).
    while (w.clock.now() < utc("2026-04-01T00:00:00Z")) await w.advance(HOUR);
    // Jump to October (catchup false: the missed intervals are skipped but the latest), then hour by hour
    // through the fall-back night (2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice and runs once,
    // at its second occurrence, 02:30 CET = 01:30Z).
    await w.advanceTo(utc("2026-10-23T00:00:00Z"));
    while (w.clock.now() < utc("2026-10-28T00:00:00Z")) await w.advance(HOUR);
    const runs = await w.runs("berlin");
    assert.deepEqual(
      runs.map((r) => [isoOf(r.dataIntervalStart), isoOf(r.dataIntervalEnd)]),
      [
        ["2026-03-26T01:30:00.000Z", "2026-03-27T01:30:00.000Z"], // 02:30 CET
        ["2026-03-27T01:30:00.000Z", "2026-03-28T01:30:00.000Z"],
        ["2026-03-28T01:30:00.000Z", "2026-03-29T01:30:00.000Z"], // ends at 03:30 CEST: 02:30 shifted by the gap
        ["2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"], // 23 hours long
        ["2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z"], // 02:30 CEST
        // the jump to October: only the latest complete interval (catchup false)
        ["2026-10-21T00:30:00.000Z", "2026-10-22T00:30:00.000Z"],
        ["2026-10-22T00:30:00.000Z", "2026-10-23T00:30:00.000Z"],
        ["2026-10-23T00:30:00.000Z", "2026-10-24T00:30:00.000Z"],
        ["2026-10-24T00:30:00.000Z", "2026-10-25T01:30:00.000Z"], // 25 hours: 02:30 CEST to the second 02:30 (CET)
        ["2026-10-25T01:30:00.000Z", "2026-10-26T01:30:00.000Z"],
        ["2026-10-26T01:30:00.000Z", "2026-10-27T01:30:00.000Z"],
      ],
    );
    assert.equal(new Set(runs.map((r) => r.logicalDate)).size, runs.length, "no logical date twice");
    for (const r of runs) assert.equal(r.logicalDate, r.dataIntervalStart);
  } finally {
    await w.stop();
  }
});

const dailyFile = (id: string, o: string) => `import { dag } from "sluice";
export default dag("${id}", { schedule: "@daily", startDate: "2026-01-01T00:00:00Z", ${o} }, (d) => { d.task("t", async () => 1); });
`;

for (const catchup of [false, true]) {
  test(`catchup=${catchup}: after 10 days with no scheduler running, ${catchup ? "all 10 missed intervals, oldest first" : "only the latest interval"}`, async () => {
    const w = await world({ "down.ts": dailyFile("down", `catchup: ${catchup}`) }, utc("2026-01-01T00:00:00Z"));
    try {
      await w.advanceTo(utc("2026-01-02T00:00:00Z"));
      assert.deepEqual(logicalDates(await w.runs("down")), ["2026-01-01T00:00:00.000Z"]);
      await w.scheduler.stop();
      await w.advance(10 * DAY); // downtime: nobody schedules
      assert.equal((await w.runs("down")).length, 1);
      await w.restart();
      await w.scheduler.whenIdle();
      const runs = await w.runs("down");
      const missed = Array.from({ length: 10 }, (_, i) => `2026-01-${String(i + 2).padStart(2, "0")}T00:00:00.000Z`);
      assert.deepEqual(logicalDates(runs).slice(1), catchup ? missed : ["2026-01-11T00:00:00.000Z"]);
      for (const r of runs.slice(1)) assert.equal(r.dataIntervalEnd! - r.dataIntervalStart!, DAY);
      // and then on as usual, once per day
      await w.advance(DAY);
      assert.equal(isoOf((await w.runs("down")).at(-1)!.logicalDate), "2026-01-12T00:00:00.000Z");
      assert.equal((await allFinished(w, "down")).length, catchup ? 12 : 3);
    } finally {
      await w.stop();
    }
  });
}

test("endDate: the interval starting at endDate is the last one; then nothing more is scheduled", async () => {
  const w = await world({ "ends.ts": dailyFile("ends", `endDate: "2026-01-03T00:00:00Z"`) }, utc("2026-01-01T00:00:00Z"), { worker: false });
  try {
    for (let i = 0; i < 10; i++) await w.advance(DAY);
    assert.deepEqual(logicalDates(await w.runs("ends")), ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]);
    const row = (await w.s.store.dags.get("ends"))!;
    assert.equal(row.nextIntervalEnd, null, "nothing due any more");
    assert.equal(row.isActive, true);
  } finally {
    await w.stop();
  }
});

test("maxActiveRuns=2: the third due run waits queued (none of its tasks start) until one finishes, then it is promoted", async () => {
  const w = await world(
    {
      "busy.ts": `import { dag } from "sluice";
${GATE}
export default dag("busy", { schedule: "@daily", startDate: "2026-01-01T00:00:00Z", catchup: true, maxActiveRuns: 2 }, (d) => {
  d.task("long", async (_i, ctx) => { await gate("busy"); return ctx.logicalDate.toISOString(); });
});
`,
    },
    utc("2026-01-01T00:00:00Z"),
  );
  try {
    await w.advance(3 * DAY);
    let runs = await w.runs("busy");
    assert.deepEqual(logicalDates(runs), ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]);
    assert.deepEqual(runs.map((r) => r.state), ["running", "running", "queued"]);
    await waitFor(() => waiting("busy") === 2, 30_000, "two long tasks to start");
    await new Promise((r) => setTimeout(r, 300)); // give a wrongly started third task the chance to show
    assert.equal(waiting("busy"), 2, "a task of the queued run started");
    const third = runs[2]!;
    assert.equal(third.startedAt, null);
    assert.deepEqual((await w.s.store.attempts.list(third.runId)).length, 0);
    // another day: a fourth run, also queued
    await w.advance(DAY);
    runs = await w.runs("busy");
    assert.deepEqual(runs.map((r) => r.state), ["running", "running", "queued", "queued"]);

    await w.advance(MIN); // the finish happens later than the creation
    const finishAt = w.clock.now();
    release("busy", 1);
    await waitFor(async () => (await w.runs("busy"))[2]!.state === "running", 30_000, "the queued run to be promoted");
    await w.scheduler.whenIdle();
    runs = await w.runs("busy");
    assert.equal(runs.filter((r) => r.state === "success").length, 1);
    assert.deepEqual(runs.map((r) => r.state).filter((s) => s !== "success"), ["running", "running", "queued"], "oldest queued first; never more than 2 active");
    assert.equal(runs[2]!.startedAt, finishAt);
    await waitFor(() => waiting("busy") === 2, 30_000, "the promoted run's task to start");
    release("busy", 2);
    await waitFor(() => waiting("busy") === 1, 30_000, "the last run's task to start");
    release("busy", 1);
    runs = await allFinished(w, "busy");
    assert.deepEqual(runs.map((r) => r.state), ["success", "success", "success", "success"]);
    // never more than 2 runs active at once (checked at every run's start, where the count can grow)
    for (const r of runs) {
      const active = runs.filter((o) => o.startedAt! <= r.startedAt! && o.endedAt! > r.startedAt!);
      assert.ok(active.length <= 2, `${active.length} runs active when run ${isoOf(r.logicalDate)} started`);
    }
  } finally {
    release("busy", 10);
    await w.stop();
  }
});

test("pause: no runs while paused; unpause with catchup=false creates only the latest interval", async () => {
  const w = await world({ "pz.ts": dailyFile("pz", "catchup: false") }, utc("2026-01-01T00:00:00Z"), { worker: false });
  try {
    await w.advance(DAY);
    assert.equal((await w.runs("pz")).length, 1);
    assert.equal(await w.s.store.dags.setPaused("pz", true, w.clock.now()), true);
    for (let i = 0; i < 5; i++) await w.advance(DAY);
    w.scheduler.tick();
    await w.scheduler.whenIdle();
    assert.equal((await w.runs("pz")).length, 1, "a run was created while paused");
    await w.s.store.dags.setPaused("pz", false, w.clock.now());
    w.scheduler.tick(); // what the safety poll does
    await w.scheduler.whenIdle();
    assert.deepEqual(logicalDates(await w.runs("pz")), ["2026-01-01T00:00:00.000Z", "2026-01-06T00:00:00.000Z"]);
    await w.advance(DAY);
    assert.deepEqual(logicalDates(await w.runs("pz")).at(-1), "2026-01-07T00:00:00.000Z");
  } finally {
    await w.stop();
  }
});

/**
 * A scheduler in its own process (as it would be deployed; built code, which `npm test` builds first), on
 * a ManualClock the test moves by messages: `{ advance: ms }` moves it and answers once the work that
 * caused is done, with the errors its ticks reported.
 */
const SCHEDULER_PROCESS = `
import { ManualClock } from ${JSON.stringify(join(ROOT, "dist/core/clock.js"))};
import { loadConfig } from ${JSON.stringify(join(ROOT, "dist/config.js"))};
import { Scheduler } from ${JSON.stringify(join(ROOT, "dist/engine/scheduler.js"))};
import { Sluice } from ${JSON.stringify(join(ROOT, "dist/sluice.js"))};
const [home, dags, start] = process.argv.slice(2);
const clock = new ManualClock(Number(start));
const s = await Sluice.open(loadConfig({ home, dags }, {}), { clock, loadDags: false });
const errors = [];
const scheduler = new Scheduler(s.engine, s.store, clock, { dagsDir: dags, pollMs: 3_600_000, onError: (e) => errors.push(String(e)) });
await scheduler.start();
process.send({ ready: true, errors: errors.splice(0) });
process.on("message", async (m) => {
  if (m.advance !== undefined) {
    clock.advance(m.advance);
    await scheduler.whenIdle();
    process.send({ now: clock.now(), errors: errors.splice(0) });
  } else if (m.stop) {
    await scheduler.stop();
    await s.close();
    process.disconnect();
  }
});
`;

function schedulerProcess(home: string, dags: string, start: number) {
  const script = join(sb.dir, "scheduler-process.mjs");
  writeFileSync(script, SCHEDULER_PROCESS);
  const child = fork(script, [home, dags, String(start)], { execArgv: [], cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = () =>
    new Promise<any>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`scheduler process exited (${code})`));
      child.once("exit", exited);
      child.once("message", (m) => {
        child.off("exit", exited);
        resolve(m);
      });
    });
  const ready = next();
  return {
    ready,
    async advance(ms: number): Promise<{ now: number; errors: string[] }> {
      const answer = next();
      child.send({ advance: ms });
      return answer;
    },
    async stop(): Promise<void> {
      if (!child.connected) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send({ stop: true });
      await exited;
    },
  };
}

test("two schedulers in two processes on one SQLite file, ticking at the same moments: exactly one run per (DAG, logical date)", async () => {
  const dir = join(sb.dir, "twins");
  const dags = join(dir, "dags");
  mkdirSync(dags, { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(dags, `d${i}.ts`), dailyFile(`twin_${i}`, "catchup: true"));
  const start = utc("2026-01-01T00:00:00Z");
  // the database exists (migrated) before both open it
  const s = await Sluice.open(loadConfig({ home: join(dir, "home"), dags }, {}), { loadDags: false });
  const a = schedulerProcess(join(dir, "home"), dags, start);
  const b = schedulerProcess(join(dir, "home"), dags, start);
  try {
    for (const r of await Promise.all([a.ready, b.ready])) assert.deepEqual(r.errors, []);
    const both = async (ms: number) => {
      const answers = await Promise.all([a.advance(ms), b.advance(ms)]);
      for (const x of answers) assert.deepEqual(x.errors, [], "a tick failed");
    };
    await both(10 * DAY); // catchup: 10 intervals per DAG, both schedulers creating them at once
    for (let d = 0; d < 3; d++) await both(DAY); // then day by day, both due at the same instant
    const expected = Array.from({ length: 13 }, (_, d) => isoOf(start + d * DAY));
    for (let i = 0; i < 5; i++) {
      const runs = await s.store.runs.list({ dagId: `twin_${i}`, limit: 100 });
      assert.deepEqual(logicalDates(runs).sort(), expected, `twin_${i}`);
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await s.close();
  }
});

test("a scheduled DAG with a param that has no default is an import error and gets no runs", async () => {
  const w = await world(
    {
      "noparam.ts": `import { dag } from "sluice";
import { z } from "zod";
export default dag("noparam", { schedule: "@daily", startDate: "2026-01-01T00:00:00Z", params: z.object({ region: z.string(), n: z.number().default(1) }) }, (d) => {
  d.task("t", async () => 1);
});
`,
      "fine.ts": dailyFile("fine", "catchup: true"),
    },
    utc("2026-01-01T00:00:00Z"),
    { worker: false },
  );
  try {
    const errors = await w.s.store.dags.listImportErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.file, "noparam.ts");
    assert.match(errors[0]!.message, /DAG "noparam" is scheduled.*region.*give every param a default/);
    for (let i = 0; i < 3; i++) await w.advance(DAY);
    assert.equal((await w.runs("noparam")).length, 0);
    assert.equal((await w.runs("fine")).length, 3, "the other file's DAG is scheduled");
  } finally {
    await w.stop();
  }
});

const versioned = (tasks: string[], extra = "") => `import { dag } from "sluice";
${GATE}
export default dag("ver", { schedule: "@daily", startDate: "2026-01-01T00:00:00Z" }, (d) => {
${tasks.map((t) => `  d.task("${t}", async (_i, ctx) => { await gate("ver:" + ctx.taskId); return "${t}"; });`).join("\n")}
});
${extra}`;

test("an edited DAG file: new runs use the new version, a run in flight keeps its own version and task set", async () => {
  const w = await world({ "ver.ts": versioned(["a"]) }, utc("2026-01-01T00:00:00Z"));
  try {
    const v1 = (await w.s.store.dags.get("ver"))!.version;
    await w.advance(DAY);
    const [first] = await w.runs("ver");
    assert.equal(first!.dagVersion, v1);
    await waitFor(() => waiting("ver:a") === 1, 30_000, "task a of the first run to start");

    w.write("ver.ts", versioned(["a", "b"], "// v2"));
    await w.scheduler.rescan();
    const v2 = (await w.s.store.dags.get("ver"))!.version;
    assert.notEqual(v2, v1, "the edit made a new version");
    await w.advance(DAY);
    const runs = await w.runs("ver");
    assert.equal(runs.length, 2);
    assert.equal(runs[0]!.dagVersion, v1, "the run in flight keeps its version");
    assert.equal(runs[1]!.dagVersion, v2);
    const tasks = async (runId: string) => (await w.s.store.taskInstances.list(runId)).map((t) => t.taskId).sort();
    assert.deepEqual(await tasks(runs[0]!.runId), ["a"]);
    assert.deepEqual(await tasks(runs[1]!.runId), ["a", "b"]);

    await waitFor(() => waiting("ver:a") === 2, 30_000, "task a of the second run to start");
    release("ver:a", 2);
    await waitFor(() => waiting("ver:b") === 1, 30_000, "task b of the second run to start").catch(async (e: Error) => {
      // say why: the states and errors the store recorded
      const state = await Promise.all(runs.map(async (r) => ({ run: (await w.s.store.runs.get(r.runId))?.state, attempts: await w.s.store.attempts.list(r.runId) })));
      throw new Error(`${e.message}: ${JSON.stringify(state, (_k, v) => (typeof v === "bigint" ? Number(v) : v))}`);
    });
    release("ver:b", 1);
    const done = await allFinished(w, "ver");
    assert.deepEqual(done.map((r) => r.state), ["success", "success"]);
    assert.deepEqual(await tasks(done[0]!.runId), ["a"], "the old run never got task b");
  } finally {
    release("ver:a", 10);
    release("ver:b", 10);
    await w.stop();
  }
});

test("a broken edit (syntax error) is an import error; the last good version stays scheduled; fixing it clears the error", async () => {
  const w = await world({ "brk.ts": dailyFile("brk", "catchup: true") }, utc("2026-01-01T00:00:00Z"), { worker: false });
  try {
    const good = (await w.s.store.dags.get("brk"))!.version;
    await w.advance(DAY);
    w.write("brk.ts", `import { dag } from "sluice";\nexport default dag("brk", { schedule: "@daily" }, (d) => { d.task("t", async () => 1 ;\n`);
    await w.scheduler.rescan();
    const errors = await w.s.store.dags.listImportErrors();
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.file, "brk.ts");
    assert.match(errors[0]!.message, /syntax error|Expected/i);
    const row = (await w.s.store.dags.get("brk"))!;
    assert.equal(row.version, good);
    assert.equal(row.isActive, true);
    await w.advance(DAY);
    await w.advance(DAY);
    const runs = await w.runs("brk");
    assert.deepEqual(logicalDates(runs), ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]);
    assert.ok(runs.every((r) => r.dagVersion === good), "runs of the last good version");

    w.write("brk.ts", dailyFile("brk", "catchup: true") + "// fixed\n");
    await w.scheduler.rescan();
    assert.deepEqual(await w.s.store.dags.listImportErrors(), []);
    assert.equal((await w.s.store.dags.get("brk"))!.version, good, "the same spec is the same version");
  } finally {
    await w.stop();
  }
});

test("deleting a DAG file stops its scheduling: the DAG is inactive, no more runs", async () => {
  const w = await world({ "gone.ts": dailyFile("gone", "catchup: true"), "stays.ts": dailyFile("stays", "catchup: true") }, utc("2026-01-01T00:00:00Z"), { worker: false });
  try {
    await w.advance(DAY);
    rmSync(join(w.dags, "gone.ts"));
    await w.scheduler.rescan();
    const row = (await w.s.store.dags.get("gone"))!;
    assert.equal(row.isActive, false);
    assert.equal(row.nextIntervalEnd, null);
    for (let i = 0; i < 3; i++) await w.advance(DAY);
    assert.equal((await w.runs("gone")).length, 1);
    assert.equal((await w.runs("stays")).length, 4);
  } finally {
    await w.stop();
  }
});

test("a DAG file deleted (or a DAG renamed) while no scheduler ran: the next scheduler deactivates it; its runs stay; a broken file keeps its DAG", async () => {
  const w = await world(
    {
      "gone.ts": dailyFile("gone", "catchup: true"),
      "renamed.ts": dailyFile("old_name", "catchup: true"),
      "broken.ts": dailyFile("broken", "catchup: true"),
      "stays.ts": dailyFile("stays", "catchup: true"),
    },
    utc("2026-01-01T00:00:00Z"),
    { worker: false },
  );
  try {
    await w.advance(DAY);
    await w.scheduler.stop();
    rmSync(join(w.dags, "gone.ts"));
    w.write("renamed.ts", dailyFile("new_name", "catchup: true"));
    w.write("broken.ts", "import { dag } from 'sluice';\nexport default dag(\n");
    await w.restart();
    for (const id of ["gone", "old_name"]) {
      const row = (await w.s.store.dags.get(id))!;
      assert.equal(row.isActive, false, `${id} is inactive`);
      assert.equal(row.nextIntervalEnd, null);
    }
    for (const id of ["broken", "stays", "new_name"]) assert.equal((await w.s.store.dags.get(id))!.isActive, true, `${id} stays active`);
    for (let i = 0; i < 2; i++) await w.advance(DAY);
    assert.equal((await w.runs("gone")).length, 1, "no new run; the old one is still there");
    assert.equal((await w.runs("old_name")).length, 1);
    assert.equal((await w.runs("broken")).length, 3, "the last good version stays scheduled");
    assert.equal((await w.runs("stays")).length, 3);
  } finally {
    await w.stop();
  }
});

test("pausedAtCreation (SLUICE_DAGS_PAUSED_AT_CREATION): a new DAG starts paused and gets no runs; a DAG already known keeps its flag", async () => {
  const w = await world({ "known.ts": dailyFile("known", "catchup: true") }, utc("2026-01-01T00:00:00Z"), { worker: false });
  try {
    await w.scheduler.stop();
    w.scheduler = new Scheduler(w.s.engine, w.s.store, w.clock, { dagsDir: w.dags, pollMs: 60_000, pausedAtCreation: true });
    await w.scheduler.start();
    w.write("fresh.ts", dailyFile("fresh", "catchup: true"));
    await w.scheduler.rescan();
    assert.equal((await w.s.store.dags.get("fresh"))!.isPaused, true, "new: paused");
    assert.equal((await w.s.store.dags.get("known"))!.isPaused, false, "known before: as it was");
    await w.advance(DAY);
    assert.equal((await w.runs("fresh")).length, 0);
    assert.equal((await w.runs("known")).length, 1);
    await w.s.store.dags.setPaused("fresh", false, w.clock.now());
    w.write("fresh.ts", dailyFile("fresh", "catchup: false"));
    await w.scheduler.rescan();
    assert.equal((await w.s.store.dags.get("fresh"))!.isPaused, false, "an edit does not pause it again");
  } finally {
    await w.stop();
  }
});

test("a DAG file that loops forever at import is an import error (parse timeout); the other files are scheduled", async () => {
  const w = await world(
    {
      "a_loops.ts": `import { dag } from "sluice";\nwhile (true) {}\nexport default dag("loops", { schedule: "@daily" }, (d) => { d.task("t", async () => 1); });\n`,
      "b_ok.ts": dailyFile("after_loop", "catchup: true"),
      "c_ok.ts": dailyFile("after_loop_2", "catchup: true"),
    },
    utc("2026-01-01T00:00:00Z"),
    { worker: false, scheduler: { parseTimeoutMs: 3000 } },
  );
  try {
    const errors = await w.s.store.dags.listImportErrors();
    assert.deepEqual(errors.map((e) => e.file), ["a_loops.ts"]);
    assert.match(errors[0]!.message, /took longer than 3 s/);
    assert.equal(await w.s.store.dags.get("loops"), null);
    await w.advance(DAY);
    assert.equal((await w.runs("after_loop")).length, 1);
    assert.equal((await w.runs("after_loop_2")).length, 1);
  } finally {
    await w.stop();
  }
});

test("a tick that fails (database locked past the busy timeout) is reported and retried by the poll, not an unhandled rejection", async () => {
  const errors: unknown[] = [];
  const w = await world({ "lk.ts": dailyFile("lk", "catchup: true") }, utc("2026-01-01T00:00:00Z"), {
    worker: false,
    env: { SLUICE_DB_BUSY_TIMEOUT_MS: "50" },
    scheduler: { pollMs: 20, onError: (e) => errors.push(e) },
  });
  const lock = new Database(join(w.dir, "home", "sluice.db"));
  try {
    lock.exec("begin immediate"); // another process writing for a long time
    w.clock.advance(DAY);
    await waitFor(() => errors.length > 0, 30_000, "the failed tick to be reported");
    assert.match(String(errors[0]), /locked/i);
    assert.equal((await w.runs("lk")).length, 0);
    lock.exec("rollback");
    await waitFor(async () => (await w.runs("lk")).length === 1, 30_000, "the poll to create the run");

    // a parse whose result cannot be written is reported too, and taken in by the next scan
    lock.exec("begin immediate");
    w.write("lk2.ts", dailyFile("lk2", "catchup: true"));
    await assert.rejects(w.scheduler.rescan(), /locked/i);
    assert.equal(await w.s.store.dags.get("lk2"), null);
    lock.exec("rollback");
    await w.scheduler.rescan();
    assert.equal((await w.s.store.dags.get("lk2"))?.isActive, true);
  } finally {
    if (lock.inTransaction) lock.exec("rollback");
    lock.close();
    await w.stop();
  }
});

test("a DAG whose run cannot be created is reported and retried; the other due DAGs of the same tick get their runs", async () => {
  const errors: unknown[] = [];
  const w = await world(
    { "g1.ts": dailyFile("good_1", "catchup: true"), "bad.ts": dailyFile("bad", "catchup: true"), "g2.ts": dailyFile("good_2", "catchup: true") },
    utc("2026-01-01T00:00:00Z"),
    { worker: false, scheduler: { onError: (e) => errors.push(e) } },
  );
  const engine = w.s.engine;
  const create = engine.createScheduledRuns.bind(engine);
  try {
    engine.createScheduledRuns = async (items) => {
      if (items.some((i) => i.dag.dagId === "bad")) throw new Error("bad's run cannot be created");
      return create(items);
    };
    await w.advance(DAY);
    assert.equal((await w.runs("good_1")).length, 1);
    assert.equal((await w.runs("good_2")).length, 1);
    assert.equal((await w.runs("bad")).length, 0);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /bad's run cannot be created/);
    engine.createScheduledRuns = create;
    w.scheduler.tick(); // what the safety poll does
    await w.scheduler.whenIdle();
    assert.deepEqual(logicalDates(await w.runs("bad")), ["2026-01-01T00:00:00.000Z"], "still due, created on the next tick");
    assert.equal((await w.runs("good_1")).length, 1);
  } finally {
    engine.createScheduledRuns = create;
    await w.stop();
  }
});
