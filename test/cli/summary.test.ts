/**
 * `sluice run`'s result in a size that does not grow with the run (issue 17): per-state counts and the
 * failed task instances; `--json` one line with the counts, listing instances only for a run of at most
 * SUMMARY_TASKS; `runs show` lists them and the API pages them. The real binary, a real DAG file, both stores.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { dialects } from "../dialects.js";
import { cli, cliJson, sandbox } from "../helpers.js";

const sb = sandbox("sluice-summary-");
after(() => sb.cleanup());

// 1,200 tasks, 3 of which fail, then a join: more than SUMMARY_TASKS (1,000) instances
sb.write(
  "wide.ts",
  `import { dag } from "sluice";
const failing = new Set([5, 600, 1199]);
export const wide = dag("wide", (d) => {
  const all = [];
  for (let i = 0; i < 1200; i++) all.push(d.task("t" + i, () => { if (failing.has(i)) throw new Error("t" + i + " broke"); return i; }));
  d.task("join", { after: all }, () => "joined");
});
export const small = dag("small", (d) => {
  const a = d.task("a", () => 1);
  d.task("b", { after: [a] }, () => 2);
});
`,
);

interface SummaryJson {
  runId: string;
  state: string;
  counts: Record<string, number>;
  total: number;
  failed: { taskId: string; mapIndex: number; state: string; attempts: number }[];
  tasks: { taskId: string; state: string }[];
  tasksOmitted: boolean;
}

for (const d of dialects(2)) {
  describe(`run summaries on ${d.name}`, { skip: d.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> } | null = null;
    before(async () => {
      if (d.name === "sqlite") return; // the sandbox's own file
      db = await d.fresh(sb.dir);
      sb.env["SLUICE_DATABASE_URL"] = db.url;
    });
    after(async () => {
      delete sb.env["SLUICE_DATABASE_URL"];
      await db?.cleanup();
    });

    test("a 1,201-task run prints its counts and its failed tasks, not a line per task; --json is one line of counts", () => {
      const text = cli(sb, ["run", "wide"]);
      assert.equal(text.code, 1, text.stderr);
      const lines = text.stdout.trimEnd().split("\n");
      assert.ok(lines.length < 15, `a short report, got ${lines.length} lines:\n${text.stdout}`);
      assert.match(text.stdout, /^1201 task instances: 1197 success, 3 failed, 1 upstream_failed$/m);
      for (const t of ["t5", "t600", "t1199"]) assert.match(text.stdout, new RegExp(`^${t}\\s+failed\\s+1\\s*$`, "m"));
      assert.doesNotMatch(text.stdout, /^t6\s/m, "succeeded tasks are not listed");
      assert.match(text.stdout, /wide: failed/);
      assert.match(text.stdout, /see why: npx sluice runs show/);

      const json = cli(sb, ["run", "wide", "--json"]);
      assert.equal(json.code, 1, json.stderr);
      assert.equal(json.stdout.trimEnd().split("\n").length, 1, "one line");
      const r = JSON.parse(json.stdout) as SummaryJson;
      assert.equal(r.state, "failed");
      assert.equal(r.total, 1201);
      assert.deepEqual(r.counts, { success: 1197, failed: 3, upstream_failed: 1 });
      assert.deepEqual(
        r.failed.map((t) => [t.taskId, t.state, t.attempts]),
        [["t1199", "failed", 1], ["t5", "failed", 1], ["t600", "failed", 1]],
      );
      assert.equal(r.tasksOmitted, true);
      assert.deepEqual(r.tasks, []);

      // the instances are there on demand (runs show lists them; the API pages them)
      const shown = cliJson<{ tasks: { taskId: string; state: string }[] }>(sb, ["runs", "show", r.runId]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(shown.json.tasks.length, 1201);
      assert.equal(shown.json.tasks.filter((t) => t.state === "failed").length, 3);
    });

    test("a small run's summary lists every task in DAG order", () => {
      const r = cliJson<SummaryJson>(sb, ["run", "small"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.tasksOmitted, false);
      assert.deepEqual(r.json.counts, { success: 2 });
      assert.deepEqual(r.json.failed, []);
      assert.deepEqual(r.json.tasks.map((t) => [t.taskId, t.state]), [["a", "success"], ["b", "success"]]);
      const text = cli(sb, ["run", "small"]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^2 task instances: 2 success$/m);
      assert.match(text.stdout, /small: success/);
    });
  });
}
