/**
 * Setup and teardown tasks through the real engine and workers, on a real SQLite file and a real
 * PostgreSQL schema. The use case: a setup creates a scratch resource (a file), mapped tasks use it (one
 * fails), a teardown always releases it; the run's state follows Airflow's rules (work failed -> failed;
 * only the teardown failed -> success, unless onFailureFailDagRun). A clear of the failed map index
 * takes the setup and the teardown along (app layer), and `dags show` flags both.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
// dist/, as the workers' heartbeat threads and task processes need built code
import { cliActor } from "../../dist/app/actor.js";
import { clearTasks } from "../../dist/app/runs.js";
import { loadConfig } from "../../dist/config.js";
import { readWholeLog } from "../../dist/logs/logStore.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { cli, cliJson, sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-setup-");
after(() => sb.cleanup());
const scratch = join(sb.dir, "scratch");

sb.write(
  "setup.ts",
  `import { dag, SkipTask } from "sluice";
import { appendFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
const dir = ${JSON.stringify(scratch)};
const create = async (_i: unknown, ctx: { runId: string; dagId: string }) => {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, ctx.dagId + "-" + ctx.runId + ".txt");
  appendFileSync(file, "");
  return file;
};
export const scratch = dag("scratch", (d) => {
  const file = d.setup("create", create);
  const work = d.map("work", { over: { n: [1, 2, 3] }, inputs: { file } }, async ({ n, file }, ctx) => {
    // item 2 fails its first try (a clear gives it a second)
    if (n === 2 && ctx.attempt === 1) throw new Error("item 2 failed");
    ctx.log.info("writing " + n);
    appendFileSync(file, n + "\\n");
    return n;
  });
  d.teardown("drop", { setups: file, inputs: { file, work } }, async ({ file, work }) => {
    const lines = readFileSync(file!, "utf8").trim().split("\\n");
    rmSync(file!);
    return { lines: lines.length, work: work ?? null };
  });
});
export const teardownFails = dag("teardown_fails", (d) => {
  const s = d.setup("create", create);
  const w = d.task("work", { inputs: { s } }, async () => "ok");
  d.teardown("drop", { setups: [s], after: [w] }, async () => { throw new Error("cannot drop"); });
});
export const teardownFailsRun = dag("teardown_fails_run", (d) => {
  const s = d.setup("create", create);
  const w = d.task("work", { inputs: { s } }, async () => "ok");
  d.teardown("drop", { setups: [s], after: [w], onFailureFailDagRun: true }, async () => { throw new Error("cannot drop"); });
});
export const setupFails = dag("setup_fails", (d) => {
  const s = d.setup("create", async () => { throw new Error("no space"); });
  const w = d.task("work", { inputs: { s } }, async () => "ok");
  d.teardown("drop", { setups: [s], after: [w] }, async () => "dropped");
});
export const setupSkips = dag("setup_skips", (d) => {
  const s = d.setup("create", async () => { throw new SkipTask("nothing to set up"); });
  const w = d.task("work", { inputs: { s } }, async () => "ok");
  d.teardown("drop", { setups: [s], after: [w] }, async () => "dropped");
});
`,
);

type Summary = { state: string; tasks: { taskId: string; mapIndex: number; state: string; attempts: number }[] };
const states = (r: Summary) => Object.fromEntries(r.tasks.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t.state]));

for (const d of dialects(3)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));
    const leftovers = (dagId: string) => (existsSync(scratch) ? readdirSync(scratch).filter((f) => f.startsWith(`${dagId}-`)) : []);

    test("a scratch file made by a setup, used by mapped tasks (one fails), always released; the run fails with its work; a clear takes setup and teardown along", async () => {
      const s = await open();
      try {
        assert.deepEqual(s.bag.errors, []);
        const run = await s.run("scratch");
        assert.deepEqual(states(run), { create: "success", "work[0]": "success", "work[1]": "failed", "work[2]": "success", drop: "success" });
        assert.equal(run.state, "failed", "the work failed: the run fails, though the teardown (its only leaf) succeeded");
        assert.deepEqual(leftovers("scratch"), [], "the teardown removed the scratch file");
        // the teardown ran with the mapped results, the failed index undefined
        assert.deepEqual(await s.engine.loadOutputs(run.runId, "drop"), [{ lines: 2, work: [1, undefined, 3] }]);

        // clearing the failed index alone clears the setup and its teardown too, and the run succeeds
        const { cleared } = await clearTasks(s, cliActor(), { runId: run.runId, taskIds: ["work"], downstream: false, mapIndex: 1 });
        assert.deepEqual(cleared, ["create", "work", "drop"]);
        const again = await s.drive(run.runId);
        assert.equal(again.state, "success");
        assert.deepEqual(Object.fromEntries(again.tasks.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, [t.state, t.attempts]])), {
          create: ["success", 2],
          "work[0]": ["success", 1],
          "work[1]": ["success", 2],
          "work[2]": ["success", 1],
          drop: ["success", 2],
        });
        assert.deepEqual(leftovers("scratch"), []);
        // the worker's own lines count the try of this round, and the try overall (core/tries.ts)
        const second = (await s.store.attempts.list(run.runId, "work", 1)).find((a) => a.tryNumber === 2)!;
        const lines = (await readWholeLog(s.engine.logs, { attemptId: second.attemptId, dagId: "scratch", runId: run.runId, taskId: "work", mapIndex: 1, tryNumber: 2 })).map((l) => l.msg);
        assert.deepEqual([lines[0], lines.at(-1)], ["attempt 1 of 1 (try 2 overall) started (in process)", "attempt 1 of 1 (try 2 overall) succeeded"]);
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("only the teardown failed: the run succeeds; with onFailureFailDagRun it fails", async () => {
      const s = await open();
      try {
        const a = await s.run("teardown_fails");
        assert.deepEqual(states(a), { create: "success", work: "success", drop: "failed" });
        assert.equal(a.state, "success");
        const b = await s.run("teardown_fails_run");
        assert.deepEqual(states(b), { create: "success", work: "success", drop: "failed" });
        assert.equal(b.state, "failed");
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("the setup failed: work and teardown are upstream_failed, the run fails; the setup skipped: both skipped, the run succeeds", async () => {
      const s = await open();
      try {
        const a = await s.run("setup_fails");
        assert.deepEqual(states(a), { create: "failed", work: "upstream_failed", drop: "upstream_failed" });
        assert.equal(a.state, "failed");
        const b = await s.run("setup_skips");
        assert.deepEqual(states(b), { create: "skipped", work: "skipped", drop: "skipped" });
        assert.equal(b.state, "success");
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });
  });
}

test("dags show flags setups and teardowns (text and JSON)", () => {
  const text = cli(sb, ["dags", "show", "teardown_fails_run"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /create\s+task \(setup\)/);
  assert.match(text.stdout, /drop\s+task \(teardown, fails the run\)\s+all_done_setup_success/);
  const json = cliJson<{ tasks: { id: string; setup?: boolean; teardown?: boolean; onFailureFailDagRun?: boolean; upstream: string[] }[] }>(sb, ["dags", "show", "scratch"]).json;
  const byId = new Map(json.tasks.map((t) => [t.id, t]));
  assert.equal(byId.get("create")!.setup, true);
  assert.equal(byId.get("drop")!.teardown, true);
  assert.equal(byId.get("drop")!.onFailureFailDagRun, undefined);
  assert.deepEqual(byId.get("drop")!.upstream, ["create", "work"]);
  assert.equal(byId.get("work")!.setup, undefined);
});
