/**
 * Experiment tracking (issue 15, item 2) through the engine, on a real SQLite file and a real PostgreSQL
 * schema: params, metric series, tags and files recorded with ctx.track in process, in a child process
 * and from Python (sluice_track.py) arrive complete and in order; 10,000 points are written in batches;
 * a retry's values replace the failed attempt's; a sweep's mapped instances are trials compared side by
 * side; a metric that is not a finite number fails the task naming it. Also the CLI's experiments and
 * `runs compare` on SQLite.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, describe, test } from "node:test";
import { cliActor } from "../../dist/app/actor.js";
import { compareRuns, experimentPage, listExperiments, metricSeries, runTracking } from "../../dist/app/experiments.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import { TrackingRows } from "../../dist/store/tracking.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { cliJson, cli, sandbox } from "../helpers.js";

const sb = sandbox("sluice-tracking-");
after(() => sb.cleanup());
const hasPython = spawnSync("python3", ["--version"]).status === 0;

sb.write(
  "train.py",
  `import sluice_track as track
track.param("lr", 0.1)
track.params({"depth": 4, "kind": "tree"})
for step in range(500):
    track.metric("loss", 1.0 / (step + 1), step=step)
track.metric("accuracy", 0.91)
track.tag("framework", "python")
with open("model.bin", "wb") as f:
    f.write(b"weights")
track.artifact("model.bin", "model.bin")
`,
);
sb.write("nan.py", `import sluice_track as track\ntrack.metric("loss", float("nan"))\n`);
sb.write(
  "tracking.ts",
  `import { dag } from "sluice";
export const curve = dag("curve", (d) => {
  d.task("fit", async (_i, ctx) => {
    ctx.track.params({ lr: 0.01, layers: [64, 32] });
    for (let step = 0; step < 10000; step++) ctx.track.metric("loss", 10000 - step, { step });
    ctx.track.metric("accuracy", 0.875);
    ctx.track.tag("stage", "dev");
    await ctx.track.artifact("weights.bin", Buffer.from("w1"));
    return "ok";
  });
});
export const sweep = dag("sweep", (d) => {
  d.map("trial", { over: { depth: [2, 4, 8] } }, async ({ depth }, ctx) => {
    ctx.track.param("depth", depth);
    ctx.track.metric("accuracy", 0.5 + depth / 100);
    return depth;
  });
});
export const child = dag("child", (d) => {
  d.task("isolated", { isolation: "process" }, async (_i, ctx) => {
    ctx.track.param("where", "child");
    for (let step = 0; step < 100; step++) ctx.track.metric("loss", step * 2, { step });
    await ctx.track.artifact("note.txt", Buffer.from("from the child"));
  });
});
export const retried = dag("retried", (d) => {
  d.task("flaky", { retries: 1, retryDelay: 0 }, async (_i, ctx) => {
    ctx.track.param("try", ctx.attempt);
    ctx.track.metric("loss", ctx.attempt === 1 ? 99 : 1);
    if (ctx.attempt === 1) throw new Error("diverged");
  });
});
export const bad = dag("bad_metric", (d) => {
  d.task("nan", async (_i, ctx) => { ctx.track.metric("val_loss", Number.NaN); });
});
export const python = dag("python_tracking", (d) => {
  d.python("train", { script: "train.py" });
});
export const pythonNan = dag("python_nan", (d) => {
  d.python("nan", { script: "nan.py" });
});
`,
);

for (const d of dialects(6)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));

    test("10,000 points of a curve arrive complete and in order, in batches; params, tags and a file beside them", async () => {
      const s = await open();
      // counts the real writes: each batch is one call (one transaction)
      const record = TrackingRows.prototype.record;
      let batches = 0;
      TrackingRows.prototype.record = function (b) {
        batches++;
        return record.call(this, b);
      };
      try {
        assert.deepEqual(s.bag.errors, []);
        const run = await s.run("curve");
        assert.equal(run.state, "success");
        assert.ok(batches >= 10 && batches <= 20, `10,000 points in ${batches} batches`);
        const t = await runTracking(s, cliActor(), run.runId);
        assert.equal(t.trials.length, 1);
        const [trial] = t.trials;
        assert.deepEqual(trial!.params, { lr: 0.01, layers: [64, 32] });
        assert.deepEqual(trial!.tags, { stage: "dev" });
        assert.deepEqual(trial!.metrics.loss, { last: 1, lastStep: 9999, min: 1, max: 10000, points: 10000 });
        assert.deepEqual(trial!.metrics.accuracy, { last: 0.875, lastStep: 0, min: 0.875, max: 0.875, points: 1 });
        const series = (await metricSeries(s, cliActor(), run.runId, "fit", -1, ["loss"])).loss!;
        assert.equal(series.length, 10000);
        assert.ok(series.every((p, i) => p.step === i && p.value === 10000 - i), "every point, in step order");
        assert.deepEqual(
          t.artifacts.map((a) => [a.name, a.size]),
          [["weights.bin", 2]],
        );
        assert.equal((await s.engine.artifacts.get(t.artifacts[0]!.ref)).toString(), "w1");
      } finally {
        TrackingRows.prototype.record = record;
        await s.close();
      }
    });

    test("a sweep: each mapped instance is a trial; runs compare side by side; experiments list them", async () => {
      const s = await open();
      try {
        const a = await s.run("sweep");
        const b = await s.run("sweep");
        const trials = await compareRuns(s, cliActor(), [a.runId, b.runId]);
        assert.deepEqual(
          trials.map((t) => [t.runId, t.taskId, t.mapIndex, t.params.depth, t.metrics.accuracy?.last]),
          [
            [a.runId, "trial", 0, 2, 0.52],
            [a.runId, "trial", 1, 4, 0.54],
            [a.runId, "trial", 2, 8, 0.58],
            [b.runId, "trial", 0, 2, 0.52],
            [b.runId, "trial", 1, 4, 0.54],
            [b.runId, "trial", 2, 8, 0.58],
          ],
        );
        const experiments = await listExperiments(s, cliActor());
        assert.equal(experiments.find((e) => e.experiment === "sweep")?.runs, 2);
        const page = await experimentPage(s, cliActor(), "sweep", { limit: 1, after: null });
        assert.deepEqual(
          page.runs.map((r) => r.runId),
          [b.runId],
          "newest first",
        );
        // a viewer limited to another DAG sees neither the experiment nor the runs
        const limited = { via: "token" as const, name: "lim", role: "none" as const };
        assert.deepEqual(await listExperiments(s, limited), []);
        await assert.rejects(compareRuns(s, limited, [a.runId]), (e: { code?: string }) => e.code === "RUN_NOT_FOUND");
        await assert.rejects(compareRuns(s, cliActor(), ["nope"]), (e: { code?: string; message?: string }) => e.code === "RUN_NOT_FOUND" && /nope/.test(e.message ?? ""));
      } finally {
        await s.close();
      }
    });

    test("a process-isolated task tracks through its parent; a retry's values replace the failed attempt's", async () => {
      const s = await open();
      try {
        const c = await s.run("child");
        assert.equal(c.state, "success");
        const t = await runTracking(s, cliActor(), c.runId);
        assert.deepEqual(t.trials[0]!.params, { where: "child" });
        assert.equal(t.trials[0]!.metrics.loss!.points, 100);
        assert.deepEqual(
          (await metricSeries(s, cliActor(), c.runId, "isolated", -1, ["loss"])).loss!.map((p) => p.value),
          Array.from({ length: 100 }, (_, i) => i * 2),
        );
        assert.deepEqual(
          t.artifacts.map((a) => a.name),
          ["note.txt"],
        );

        const r = await s.run("retried");
        assert.equal(r.state, "success");
        const [trial] = (await runTracking(s, cliActor(), r.runId)).trials;
        assert.deepEqual(trial!.params, { try: 2 }, "the second attempt's params");
        assert.deepEqual(trial!.metrics.loss, { last: 1, lastStep: 0, min: 1, max: 1, points: 1 }, "not merged with the failed attempt's 99");
      } finally {
        await s.close();
      }
    });

    test("a metric that is not a finite number fails the task, naming the metric", async () => {
      const s = await open();
      try {
        const r = await s.run("bad_metric");
        assert.equal(r.state, "failed");
        const [attempt] = await s.store.attempts.list(r.runId);
        assert.match(attempt!.errorMessage ?? "", /metric "val_loss" must be a finite number, got NaN/);
      } finally {
        await s.close();
      }
    });

    test("Python tasks track with sluice_track: params, 500 points in order, a tag and a file; NaN fails the task", { skip: !hasPython && "no python3" }, async () => {
      const s = await open();
      try {
        const r = await s.run("python_tracking");
        assert.equal(r.state, "success");
        const t = await runTracking(s, cliActor(), r.runId);
        const [trial] = t.trials;
        assert.deepEqual(trial!.params, { lr: 0.1, depth: 4, kind: "tree" });
        assert.deepEqual(trial!.tags, { framework: "python" });
        assert.equal(trial!.metrics.accuracy!.last, 0.91);
        const loss = (await metricSeries(s, cliActor(), r.runId, "train", -1, ["loss"])).loss!;
        assert.equal(loss.length, 500);
        assert.ok(
          loss.every((p, i) => p.step === i && Math.abs(p.value - 1 / (i + 1)) < 1e-12),
          "complete and in order",
        );
        assert.equal((await s.engine.artifacts.get(t.artifacts.find((a) => a.name === "model.bin")!.ref)).toString(), "weights");

        const n = await s.run("python_nan");
        assert.equal(n.state, "failed");
        const logs = (await s.store.attempts.list(n.runId))[0]!;
        assert.match(logs.errorMessage ?? "", /exit|code/);
      } finally {
        await s.close();
      }
    });

    test("the CLI: experiments list and show, runs compare", { skip: d.name !== "sqlite" }, async () => {
      const s = await open();
      let runIds: string[];
      try {
        runIds = [(await s.run("sweep")).runId, (await s.run("curve")).runId];
      } finally {
        await s.close();
      }
      const env = { SLUICE_DATABASE_URL: dbUrl() };
      const list = cliJson<{ items: { experiment: string; runs: number }[] }>(sb, ["experiments", "list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.ok(list.json.items.some((e) => e.experiment === "curve"));
      const show = cli(sb, ["experiments", "show", "sweep", "--sort", "accuracy"], env);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /RUN\s+TASK\s+param:depth\s+accuracy/);
      const rows = show.stdout.trim().split("\n").slice(1);
      assert.match(rows[0]!, /trial\[2\]\s+8\s+0\.58/, "best accuracy first");
      const cmp = cliJson<{ trials: { runId: string }[] }>(sb, ["runs", "compare", ...runIds], env);
      assert.equal(cmp.code, 0, cmp.stderr);
      assert.deepEqual([...new Set(cmp.json.trials.map((t) => t.runId))], runIds);
      const missing = cli(sb, ["experiments", "show", "no_such"], env);
      assert.equal(missing.code, 2, "a name that matches nothing is bad input");
      assert.match(missing.stderr, /no tracked runs in experiment "no_such"/);
    });
  });
}
