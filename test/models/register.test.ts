/**
 * ctx.models.register through the engine, on a real SQLite file and a real PostgreSQL schema: a task
 * registers a file it wrote with a zod signature and a flavor next to its DAG file; the version records the
 * attempt, the run and the asset events the run consumed, and its bytes are in the artifact store. Bad
 * input (a missing artifact file, a missing flavor file, a metric that is not a number, a process-isolated
 * task) fails the task with a message naming task and model, and registers nothing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-models-register-");
const hasPython = spawnSync("python3", ["--version"]).status === 0;
after(() => sb.cleanup());

sb.write("models/spam.ts", `export function load() { return { predict: (rows: unknown[]) => rows.map(() => 1) }; }\n`);
sb.write("models/spam.py", `def load(path):\n    return None\n`);
sb.write(
  "fit.py",
  `import sluice_track as track
with open("sk-model.bin", "wb") as f:
    f.write(b"sklearn weights")
track.register_model("spam_sk", "sk-model.bin", flavor="./models/spam.py", metrics={"accuracy": 0.8}, framework="sklearn", signature={"type": "object", "properties": {"x": {"type": "number"}}})
`,
);
sb.write(
  "fit_bad.py",
  `import sluice_track as track
track._emit({"type": "model", "name": "ghost", "path": "/no/such/model.pkl", "flavor": {"python": "./models/spam.py"}, "metrics": {}})
`,
);
sb.write(
  "train.ts",
  `import { dag } from "sluice";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { z } from "zod";
export const ingest = dag("ingest", (d) => {
  d.task("load", { produces: ["emails"] }, async () => 1);
});
export const train = dag("train", { schedule: { assets: { anyOf: ["emails"] } } }, (d) => {
  d.task("fit", async (_i, ctx) => {
    const file = join(tmpdir(), "sluice-model-" + ctx.runId + ".bin");
    await writeFile(file, "weights-" + ctx.runId);
    return ctx.models.register("spam", {
      artifact: file,
      flavor: { module: "./models/spam.ts" },
      framework: "handmade",
      signature: z.object({ text: z.string(), n: z.number().optional() }),
      metrics: { accuracy: 0.93, latency_p95: 80 },
      params: { depth: 4 },
      description: "first try",
    });
  });
});
export const py = dag("py_flavor", (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("spam_py", { artifact: Buffer.from("pickle"), flavor: { python: "./models/spam.py" }, signature: { type: "object", properties: { x: { type: "number" } } } }));
});
export const missing = dag("missing_artifact", (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("ghost", { artifact: "no/such/model.bin", flavor: { module: "./models/spam.ts" } }));
});
export const noFlavor = dag("missing_flavor", (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("ghost", { artifact: Buffer.from("x"), flavor: { module: "./models/nope.ts" } }));
});
export const nan = dag("nan_metric", (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("ghost", { artifact: Buffer.from("x"), flavor: { module: "./models/spam.ts" }, metrics: { accuracy: Number.NaN } }));
});
export const isolated = dag("isolated_register", (d) => {
  d.task("fit", { isolation: "process" }, async (_i, ctx) => {
    const file = join(tmpdir(), "sluice-child-model-" + ctx.runId + ".bin");
    await writeFile(file, "child weights");
    return ctx.models.register("spam_child", { artifact: file, flavor: { module: "./models/spam.ts" }, signature: z.object({ x: z.number() }), metrics: { accuracy: 0.7 } });
  });
});
export const isolatedMissing = dag("isolated_missing", (d) => {
  d.task("fit", { isolation: "process" }, async (_i, ctx) => ctx.models.register("ghost", { artifact: "no/such/file.bin", flavor: { module: "./models/spam.ts" } }));
});
export const pyRegister = dag("py_register", (d) => {
  const fit = d.python("fit", { script: "fit.py" });
  d.promote("gate", { model: "spam_sk", candidate: fit, alias: "champion", compare: { accuracy: { min: 0.5 } } });
});
export const pyBad = dag("py_bad", (d) => {
  d.python("fit", { script: "fit_bad.py" });
});
`,
);

for (const d of dialects(2)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));

    test("a task registers versions 1 and 2 with their lineage, signature, flavor and bytes", async () => {
      const s = await open();
      try {
        assert.deepEqual(s.bag.errors, []);
        const first = await s.run("ingest");
        assert.equal(first.state, "success");
        const r1 = await s.run("train");
        assert.equal(r1.state, "success");
        const r2 = await s.run("train");
        assert.equal(r2.state, "success");
        const versions = await s.store.models.versions("spam");
        assert.deepEqual(versions.map((v) => v.version), [2, 1]);
        const v1 = versions[1]!;
        assert.equal(v1.runId, r1.runId);
        assert.equal(v1.dagId, "train");
        assert.equal(v1.taskId, "fit");
        assert.equal(v1.mapIndex, -1);
        assert.ok(v1.attemptId > 0);
        assert.ok(v1.dagVersion.length > 0);
        assert.deepEqual(v1.flavor, { kind: "js", module: "models/spam.ts", export: "load" });
        assert.equal(v1.framework, "handmade");
        assert.deepEqual(v1.metrics, { accuracy: 0.93, latency_p95: 80 });
        assert.deepEqual(v1.params, { depth: 4 });
        assert.equal(v1.description, "first try");
        assert.equal((v1.signature?.inputs as { type: string }).type, "object");
        assert.deepEqual((v1.signature?.inputs as { required: string[] }).required, ["text"]);
        assert.equal((await s.engine.artifacts.get(v1.artifactRef)).toString(), `weights-${r1.runId}`);
        // the task's output is what register returned
        const out = await s.engine.loadOutputs(r2.runId, "fit");
        assert.deepEqual(out, [{ name: "spam", version: 2 }]);
        const py = await s.run("py_flavor");
        assert.equal(py.state, "success");
        assert.deepEqual((await s.store.models.version("spam_py", 1))?.flavor, { kind: "python", script: "models/spam.py" });
      } finally {
        await s.close();
      }
    });

    test("a process-isolated task and a Python task (sluice_track.register_model) register too; a gate finds the Python task's version", async () => {
      const s = await open();
      try {
        const child = await s.run("isolated_register");
        assert.equal(child.state, "success");
        const v = await s.store.models.version("spam_child", 1);
        assert.equal((await s.engine.artifacts.get(v!.artifactRef)).toString(), "child weights");
        assert.deepEqual(v!.metrics, { accuracy: 0.7 });
        assert.equal((v!.signature?.inputs as { type: string }).type, "object");
        assert.deepEqual(await s.engine.loadOutputs(child.runId, "fit"), [{ name: "spam_child", version: 1 }]);
        if (!hasPython) return;
        const py = await s.run("py_register");
        assert.equal(py.state, "success");
        const sk = await s.store.models.version("spam_sk", 1);
        assert.equal(sk?.framework, "sklearn");
        assert.deepEqual(sk?.flavor, { kind: "python", script: "models/spam.py" });
        assert.equal((await s.engine.artifacts.get(sk!.artifactRef)).toString(), "sklearn weights");
        assert.equal((await s.store.models.resolve("spam_sk", "champion"))?.version, 1, "the gate found the version the Python task registered");
      } finally {
        await s.close();
      }
    });

    test("the asset events a triggered run consumed are the version's inputs", async () => {
      const s = await open();
      try {
        const before = (await s.store.models.get("spam"))?.latestVersion ?? 0;
        // the asset-triggered run of train, driven to its end by this process's worker
        const w = s.newWorker();
        await w.start();
        try {
          // what a scheduler does for the DAGs folder: register asset schedules
          await s.engine.triggers.register([...s.bag.dags.values()].map((l) => ({ id: l.dag.id, spec: l.dag.spec })));
          await s.run("ingest");
          await s.engine.triggers.evaluateAssets();
          const deadline = Date.now() + 60_000;
          while (((await s.store.models.get("spam"))?.latestVersion ?? 0) === before) {
            if (Date.now() > deadline) throw new Error("no asset-triggered registration: " + JSON.stringify(await s.store.history.runs?.({ limit: 20 } as never).catch((e: Error) => e.message)));
            await new Promise((r) => setTimeout(r, 50));
          }
        } finally {
          await w.stop();
        }
        const v = (await s.store.models.versions("spam"))[0]!;
        assert.equal(v.inputEvents?.length, 1);
        assert.equal(v.inputEvents?.[0]?.asset, "emails");
        assert.equal(v.inputEvents?.[0]?.dagId, "ingest");
      } finally {
        await s.close();
      }
    });

    test("bad input fails the task naming task, model and what is wrong; nothing is registered", async () => {
      const s = await open();
      try {
        const cases: [string, RegExp][] = [
          ["missing_artifact", /task "fit": model "ghost": artifact file no\/such\/model\.bin does not exist/],
          ["missing_flavor", /task "fit": model "ghost": flavor file \.\/models\/nope\.ts not found/],
          ["nan_metric", /task "fit": model "ghost": metric "accuracy" must be a finite number/],
          ["isolated_missing", /task "fit": model "ghost": artifact file no\/such\/file\.bin does not exist/],
          ...(hasPython ? ([["py_bad", /task "fit": model "ghost": artifact file \/no\/such\/model\.pkl does not exist/]] as [string, RegExp][]) : []),
        ];
        for (const [dagId, message] of cases) {
          const run = await s.run(dagId);
          assert.equal(run.state, "failed", dagId);
          const [attempt] = await s.store.attempts.list(run.runId, "fit");
          assert.match(attempt!.errorMessage ?? "", message, dagId);
        }
        assert.equal(await s.store.models.get("ghost"), null);
      } finally {
        await s.close();
      }
    });
  });
}
