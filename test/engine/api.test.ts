/**
 * The engine through the public embedding API (`sluice/runtime`), on a real SQLite file and on a real
 * PostgreSQL schema (the same tests), with a
 * ManualClock where time matters: retry delays, timeouts and run timeouts are then exact, not "roughly".
 * Plus many runs at once in one process. Every test checks the recorded history against the invariants of
 * ARCHITECTURE.md (test/invariants.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ManualClock, Sluice, loadConfig } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { sandbox, waitFor } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-api-");
after(() => sb.cleanup());

const MIN = 60_000;

const SLEEP = `const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});
`;

sb.write(
  "timing.ts",
  `import { dag } from "sluice";
${SLEEP}
export const backoff = dag("backoff", (d) => {
  d.task("flaky", { retries: 3, retryDelay: "5m", retryBackoff: "exponential" }, async (_i, ctx) => {
    if (ctx.attempt < 4) throw new Error("try " + ctx.attempt);
    return ctx.attempt;
  });
});
export const capped = dag("capped", (d) => {
  d.task("flaky", { retries: 3, retryDelay: "1h", retryBackoff: "exponential", maxRetryDelay: "90m" }, async () => {
    throw new Error("always");
  });
});
export const timeout = dag("timeout", (d) => {
  d.task("hangs", { timeout: "10m" }, async (_i, ctx) => { await sleep(3_600_000, ctx.signal); return 1; });
});
export const runTimeout = dag("run_timeout", { runTimeout: "1h" }, (d) => {
  const a = d.task("hangs", async (_i, ctx) => { await sleep(3_600_000, ctx.signal); return 1; });
  d.task("after", { inputs: { a } }, async () => 2);
});
`,
);

/** Let the event loop run a little (a wall-clock pause: the ManualClock does not move). */
const pause = (ms = 300) => new Promise((r) => setTimeout(r, ms));

// The same engine tests on SQLite and on PostgreSQL (a fresh schema, dropped at the end).
for (const d of dialects(5)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
  let db: { url: string; cleanup(): Promise<void> } | null = null;
  before(async () => {
    if (!d.skip) db = await d.fresh(sb.dir);
  });
  after(async () => {
    await db?.cleanup();
  });

  async function open(clock?: ManualClock): Promise<Sluice> {
    return Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db!.url }, { SLUICE_DB_POOL_SIZE: "4" }), clock ? { clock } : {});
  }

  test("retry delays follow the backoff exactly: 5m, 10m, 20m; no retry starts a millisecond early", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const s = await open(clock);
    try {
      assert.deepEqual(s.bag.errors, []);
      const done = s.run("backoff");
      let runId = "";
      for (const [i, delay] of [5 * MIN, 10 * MIN, 20 * MIN].entries()) {
        const tryNumber = i + 1;
        await waitFor(async () => {
          runId ||= (await s.store.runs.list({ dagId: "backoff", limit: 1 }))[0]?.runId ?? "";
          const ti = runId ? (await s.store.taskInstances.list(runId))[0] : undefined;
          return ti?.state === "up_for_retry" && ti.tryNumber === tryNumber;
        }, 30_000, `attempt ${tryNumber} to fail`);
        const ti = (await s.store.taskInstances.list(runId))[0]!;
        const failed = (await s.store.attempts.list(runId)).at(-1)!;
        assert.equal(failed.tryNumber, tryNumber);
        assert.equal(ti.readyAt! - failed.endedAt!, delay, `delay after try ${tryNumber}`);
        clock.advance(delay - 1);
        await pause();
        assert.equal((await s.store.attempts.list(runId)).length, tryNumber, "a retry started before its delay");
        clock.advance(1);
      }
      const summary = await done;
      assert.equal(summary.state, "success");
      assert.equal(summary.tasks[0]!.attempts, 4);
      const attempts = await s.store.attempts.list(summary.runId);
      const gaps = attempts.slice(1).map((a, i) => a.startedAt - attempts[i]!.endedAt!);
      assert.deepEqual(gaps, [5 * MIN, 10 * MIN, 20 * MIN]);
      await checkInvariants(s.config.databaseUrl);
    } finally {
      await s.close();
    }
  });

  test("maxRetryDelay caps exponential backoff: 1h, 90m, 90m", async () => {
    const clock = new ManualClock(Date.UTC(2026, 1, 1));
    const s = await open(clock);
    try {
      const done = s.run("capped");
      let runId = "";
      for (const [i, delay] of [60 * MIN, 90 * MIN, 90 * MIN].entries()) {
        await waitFor(async () => {
          runId ||= (await s.store.runs.list({ dagId: "capped", limit: 1 }))[0]?.runId ?? "";
          const ti = runId ? (await s.store.taskInstances.list(runId))[0] : undefined;
          return ti?.state === "up_for_retry" && ti.tryNumber === i + 1;
        }, 30_000, `attempt ${i + 1} to fail`);
        const ti = (await s.store.taskInstances.list(runId))[0]!;
        assert.equal(ti.readyAt! - clock.now(), delay);
        clock.advance(delay);
      }
      const summary = await done;
      assert.equal(summary.state, "failed");
      assert.equal(summary.tasks[0]!.attempts, 4, "retries + 1 attempts, no more");
      await checkInvariants(s.config.databaseUrl);
    } finally {
      await s.close();
    }
  });

  test("an execution timeout fires exactly at its duration of clock time", async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1));
    const s = await open(clock);
    try {
      const done = s.run("timeout");
      await waitFor(async () => {
        const run = (await s.store.runs.list({ dagId: "timeout", limit: 1 }))[0];
        return run !== undefined && (await s.store.attempts.list(run.runId)).length === 1;
      }, 30_000, "the task to start");
      clock.advance(10 * MIN - 1);
      await pause();
      const runId = (await s.store.runs.list({ dagId: "timeout", limit: 1 }))[0]!.runId;
      assert.equal((await s.store.attempts.list(runId))[0]!.state, "running", "timed out early");
      clock.advance(1);
      const summary = await done;
      assert.equal(summary.state, "failed");
      const [a] = await s.store.attempts.list(runId);
      assert.equal(a!.errorCode, "TIMEOUT");
      assert.equal(a!.endedAt! - a!.startedAt, 10 * MIN);
      await checkInvariants(s.config.databaseUrl);
    } finally {
      await s.close();
    }
  });

  test("a run timeout fails the run at its duration of clock time, with a reason", async () => {
    const clock = new ManualClock(Date.UTC(2026, 3, 1));
    const s = await open(clock);
    try {
      const done = s.run("run_timeout");
      await waitFor(async () => {
        const run = (await s.store.runs.list({ dagId: "run_timeout", limit: 1 }))[0];
        return run !== undefined && (await s.store.attempts.list(run.runId)).length === 1;
      }, 30_000, "the task to start");
      const runId = (await s.store.runs.list({ dagId: "run_timeout", limit: 1 }))[0]!.runId;
      clock.advance(60 * MIN - 1);
      await pause();
      assert.equal((await s.store.runs.get(runId))!.state, "running", "the run timed out early");
      clock.advance(1);
      const summary = await done;
      assert.equal(summary.state, "failed");
      assert.equal(summary.stateReason, "run timed out after 1h0m0s");
      assert.deepEqual(
        summary.tasks.map((t) => [t.taskId, t.state]),
        [
          ["hangs", "failed"],
          ["after", "skipped"],
        ],
      );
      const run = (await s.store.runs.get(runId))!;
      assert.equal(run.endedAt! - run.startedAt!, 60 * MIN);
      assert.equal((await s.store.attempts.list(runId))[0]!.errorCode, "TIMEOUT");
      await checkInvariants(s.config.databaseUrl);
    } finally {
      await s.close();
    }
  });

  test("many runs at once in one process: every run ends, and the history keeps the invariants", async () => {
    sb.write(
      "busy.ts",
      `import { dag } from "sluice";
  import { z } from "zod";
  // deterministic "random" failures from the run's seed, so that some runs fail and some retry
  export default dag("busy", { params: z.object({ seed: z.number() }), defaults: { retries: 2, retryDelay: "5ms" } }, (d) => {
    const items = d.task("items", async (_i, ctx) => Array.from({ length: 3 + (ctx.params.seed % 4) }, (_, i) => i));
    const work = d.map("work", { over: { i: items } }, async ({ i }, ctx) => {
      await new Promise((r) => setTimeout(r, (i * 7 + ctx.params.seed) % 15));
      if ((i + ctx.params.seed + ctx.attempt) % 4 === 0) throw new Error("unlucky " + i);
      if ((i * ctx.params.seed) % 11 === 5) throw new Error("doomed " + i);
      return i;
    });
    d.task("total", { inputs: { work } }, async ({ work }) => work.reduce((a, b) => a + b, 0));
    d.task("always_report", { inputs: { work }, triggerRule: "all_done" }, async ({ work }) => work?.filter((w) => w === undefined).length);
  });
  `,
    );
    const s = await open();
    try {
      const seeds = Array.from({ length: 12 }, (_, i) => i + 1);
      const summaries = await Promise.all(seeds.map((seed) => s.run("busy", { params: { seed } })));
      const states = summaries.map((x) => x.state);
      assert.ok(states.every((x) => x === "success" || x === "failed"), `every run ends: ${states.join(",")}`);
      assert.ok(states.includes("success") && states.includes("failed"), `the seeds give both outcomes: ${states.join(",")}`);
      // every run ended with nothing unfinished or live; per task instance: attempts ≤ 3 (retries 2, and the
      // test's own figure), try numbers 1..n, earlier attempts failed, a success's last attempt succeeded,
      // and no two attempts overlap in time
      await checkInvariants(s.config.databaseUrl, { maxAttempts: ({ dagId }) => (dagId === "busy" ? 3 : Infinity) });
      for (const sum of summaries) {
        const tis = await s.store.taskInstances.list(sum.runId);
        // the all_done report always runs; the run failed exactly when some map index failed
        assert.equal(tis.find((t) => t.taskId === "always_report")!.state, "success");
        const failedWork = tis.filter((t) => t.taskId === "work" && t.state === "failed").length;
        assert.equal(sum.state, failedWork > 0 ? "failed" : "success");
        assert.equal(tis.find((t) => t.taskId === "total")!.state, failedWork > 0 ? "upstream_failed" : "success");
      }
    } finally {
      await s.close();
    }
  });
  });
}
