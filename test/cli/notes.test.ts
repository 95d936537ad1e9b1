/**
 * Notes on runs and task instances (Airflow's notes), through the real binary on a SQLite file: set, shown
 * by `runs show` (text and JSON), replaced, removed; audited with who wrote them; bad input named; and
 * `sluice db clean` takes them with their run.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cli, cliJson, sandbox } from "../helpers.js";

const sb = sandbox("sluice-cli-notes-");
after(() => sb.cleanup());
sb.write(
  "noted.ts",
  `import { dag } from "sluice";
export default dag("noted", (d) => {
  const a = d.task("a", async () => 1);
  d.map("m", { over: { n: [1, 2] }, inputs: { a } }, async ({ n }) => n);
});
`,
);

interface Shown {
  note: { note: string; updatedBy: string; updatedAt: string } | null;
  tasks: { taskId: string; mapIndex: number; note: { note: string; updatedBy: string } | null }[];
}

test("runs note and tasks note: set, shown, replaced, removed, audited; bad input named", () => {
  const run = cliJson<{ runId: string; state: string }>(sb, ["run", "noted"]).json;
  assert.equal(run.state, "success");

  const set = cli(sb, ["runs", "note", run.runId, "backfilled", "after", "the", "**outage**"]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, new RegExp(`noted run ${run.runId}`));
  const mapped = cliJson<{ note: string; updatedBy: string }>(sb, ["tasks", "note", run.runId, "m", "slow", "host", "--map-index", "1", "--json"]);
  assert.equal(mapped.code, 0, mapped.stderr);
  assert.equal(mapped.json.note, "slow host");

  const shown = cliJson<Shown>(sb, ["runs", "show", run.runId]).json;
  assert.equal(shown.note?.note, "backfilled after the **outage**");
  assert.ok(shown.note!.updatedBy.length > 0, "who wrote it");
  assert.deepEqual(shown.tasks.filter((t) => t.note).map((t) => [t.taskId, t.mapIndex, t.note!.note]), [["m", 1, "slow host"]]);
  const text = cli(sb, ["runs", "show", run.runId]);
  assert.match(text.stdout, /note by \S+ \(.+\): backfilled after the \*\*outage\*\*/);
  assert.match(text.stdout, /note on m\[1\] by \S+ \(.+\): slow host/);

  // replaced, then removed
  assert.equal(cli(sb, ["runs", "note", run.runId, "second", "thoughts"]).code, 0);
  assert.equal(cliJson<Shown>(sb, ["runs", "show", run.runId]).json.note?.note, "second thoughts");
  const cleared = cli(sb, ["runs", "note", run.runId, "--clear"]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /removed the note of run/);
  assert.equal(cliJson<Shown>(sb, ["runs", "show", run.runId]).json.note, null);

  // every change is one audit entry, with the text before and after
  const audit = cliJson<{ entries: { action: string; runId: string | null; before: unknown; after: unknown }[] }>(sb, ["audit", "list", "--action", "runs.setNote", "--json"]).json;
  const entries = audit.entries.filter((e) => e.runId === run.runId).reverse();
  assert.deepEqual(
    entries.map((e) => [e.before, e.after]),
    [
      [null, { note: "backfilled after the **outage**" }],
      [null, { note: "slow host" }],
      [{ note: "backfilled after the **outage**" }, { note: "second thoughts" }],
      [{ note: "second thoughts" }, null],
    ],
  );

  // bad input: named, non-zero, nothing written
  const neither = cli(sb, ["runs", "note", run.runId]);
  assert.equal(neither.code, 2);
  assert.match(neither.stderr, /give the note's text \(or --clear/);
  const both = cli(sb, ["runs", "note", run.runId, "x", "--clear"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /not both/);
  const noRun = cli(sb, ["runs", "note", "nope", "x"]);
  assert.notEqual(noRun.code, 0);
  assert.match(noRun.stderr, /no run with id "nope"/);
  const noTask = cli(sb, ["tasks", "note", run.runId, "zz", "x"]);
  assert.notEqual(noTask.code, 0);
  assert.match(noTask.stderr, /has no task "zz"/);
  const noIndex = cli(sb, ["tasks", "note", run.runId, "m", "x", "--map-index", "7"]);
  assert.notEqual(noIndex.code, 0);
  assert.match(noIndex.stderr, /has no instance of task "m" with map index 7/);
  const long = cli(sb, ["runs", "note", run.runId, "y".repeat(10_001)]);
  assert.notEqual(long.code, 0);
  assert.match(long.stderr, /note: at most 10000 characters, got 10001/);
  assert.equal(cliJson<Shown>(sb, ["runs", "show", run.runId]).json.note, null);
});
