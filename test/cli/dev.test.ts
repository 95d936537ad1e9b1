/**
 * `sluice dev` as a user runs it: a real process on a sandbox project, with real time. Scheduled runs
 * appear and succeed; `sluice trigger`, `dags pause` and `dags show --versions` from other processes act on
 * it through the shared SQLite file; an edited DAG file is picked up; SIGTERM lets a running task finish
 * and exits 0. Waits are for states in the store (with generous time limits), never speed thresholds.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-dev-");

const tickFile = (tasks: string[]) => `import { dag } from "sluice";
// every 2 seconds (cron with seconds)
export default dag("tick", { schedule: "*/2 * * * * *" }, (d) => {
${tasks.map((t) => `  d.task("${t}", async (_i, ctx) => ctx.dataInterval?.start.toISOString() ?? null);`).join("\n")}
});
`;

sb.write("tick.ts", tickFile(["a"]));
sb.write(
  "manual.ts",
  `import { dag } from "sluice";
import { z } from "zod";
export default dag("manual", { params: z.object({ k: z.string().default("none") }) }, (d) => {
  d.task("echo", async (_i, ctx) => ctx.params.k);
});
`,
);
sb.write(
  "slow.ts",
  `import { dag } from "sluice";
export default dag("slow", (d) => {
  d.task("sleep", async () => { await new Promise((r) => setTimeout(r, 2500)); return "slept"; });
});
`,
);

let dev: ChildProcess;
let stdout = "";
let stderr = "";
let db: Database.Database;

interface Row {
  run_id: string;
  state: string;
  dag_version: string;
  run_type: string;
  created_at: number;
  logical_date: number;
}
const runs = (dagId: string): Row[] =>
  db.prepare("select run_id, state, dag_version, run_type, created_at, logical_date from runs where dag_id = ? order by rowid").all(dagId) as Row[];
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  dev = cliSpawn(sb, ["dev", "--port", "0"]);
  dev.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  dev.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  await waitFor(() => stdout.includes("Trigger a run"), 60_000, `sluice dev to start\n${stdout}\n${stderr}`);
  db = new Database(join(sb.home, "sluice.db"), { readonly: true, fileMustExist: true });
});

after(() => {
  db?.close();
  if (dev.exitCode === null && dev.signalCode === null) dev.kill("SIGKILL");
  sb.cleanup();
});

test("scheduled runs appear and succeed (cron with seconds: one run per 2 s interval, logical date = interval start)", async () => {
  assert.match(stdout, /tick\s+.*\*\/2 \* \* \* \* \*/, "the banner lists the DAG and its schedule");
  await waitFor(() => runs("tick").filter((r) => r.state === "success").length >= 2, 30_000, "two successful scheduled runs");
  const done = runs("tick").filter((r) => r.state === "success");
  for (const r of done) {
    assert.equal(r.run_type, "scheduled");
    assert.equal(r.logical_date % 2000, 0, "on the 2 s grid");
  }
  assert.equal(new Set(runs("tick").map((r) => r.logical_date)).size, runs("tick").length, "one run per interval");
  const shown = cliJson(sb, ["runs", "show", done[0]!.run_id]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.json.state, "success");
  assert.equal(shown.json.logicalDate, new Date(done[0]!.logical_date).toISOString());
});

test("sluice trigger from another process: the dev process runs it with the params; the same idempotency key gives the same run", async () => {
  const t = cli(sb, ["trigger", "manual", "--param", "k=hello"]);
  assert.equal(t.code, 0, t.stderr);
  const runId = t.stdout.trim();
  assert.match(runId, /^\d{8}T\d{6}-[0-9a-f]{12}$/);
  await waitFor(() => runs("manual").some((r) => r.run_id === runId && r.state === "success"), 30_000, "the triggered run to succeed");
  const shown = cliJson(sb, ["runs", "show", runId]);
  assert.equal(shown.json.state, "success");
  assert.equal(shown.json.runType, "manual");
  assert.deepEqual(shown.json.params, { k: "hello" });
  const out = cliJson(sb, ["output", runId, "echo"]);
  assert.equal(out.json.output, "hello");

  const first = cliJson(sb, ["trigger", "manual", "--param", "k=once", "--idempotency-key", "nightly-1"]);
  const second = cliJson(sb, ["trigger", "manual", "--param", "k=once", "--idempotency-key", "nightly-1"]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.json.runId, first.json.runId);
  await waitFor(() => runs("manual").some((r) => r.run_id === first.json.runId && r.state === "success"), 30_000, "the keyed run to succeed");
  assert.equal(runs("manual").length, 2, "two runs: the plain one and the keyed one");
});

test("editing a DAG file while dev runs: the next scheduled runs use the new version (dags show --versions lists 2)", async () => {
  const before = runs("tick");
  const v1 = before.at(-1)!.dag_version;
  sb.write("tick.ts", tickFile(["a", "b"]));
  await waitFor(() => stdout.includes("reloaded tick.ts"), 30_000, `dev to reload the file\n${stdout}\n${stderr}`);
  await waitFor(() => runs("tick").some((r) => r.dag_version !== v1 && r.state === "success"), 30_000, "a successful run of the new version");
  const after = runs("tick");
  const firstNew = after.findIndex((r) => r.dag_version !== v1);
  assert.ok(after.slice(firstNew).every((r) => r.dag_version !== v1), "no run of the old version after the first of the new one");
  const newRun = after.find((r) => r.dag_version !== v1 && r.state === "success")!;
  const shown = cliJson(sb, ["runs", "show", newRun.run_id]);
  assert.deepEqual(shown.json.tasks.map((t: { taskId: string; state: string }) => [t.taskId, t.state]), [["a", "success"], ["b", "success"]]);
  const versions = cliJson(sb, ["dags", "show", "tick", "--versions"]);
  assert.equal(versions.code, 0, versions.stderr);
  assert.equal(versions.json.versions.length, 2);
  assert.equal(versions.json.current, newRun.dag_version);
  assert.ok(versions.json.versions.some((v: { version: string }) => v.version === v1));
});

test("dags pause from another process stops new scheduled runs; unpause resumes them", async () => {
  const p = cliJson(sb, ["dags", "pause", "tick"]);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(p.json, { dagId: "tick", isPaused: true });
  await wait(1500); // a tick that had read the DAG as due before the pause committed has finished
  const count = runs("tick").length;
  await wait(4000); // two intervals and several safety polls
  assert.equal(runs("tick").length, count, "a run was created while paused");
  const listed = cliJson(sb, ["dags", "list"]);
  assert.equal(listed.json.dags.find((d: { dagId: string }) => d.dagId === "tick").isPaused, true);

  assert.equal(cli(sb, ["dags", "unpause", "tick"]).code, 0);
  await waitFor(() => runs("tick").length > count, 30_000, "scheduled runs again after unpause");
  assert.equal(cli(sb, ["dags", "pause", "tick"]).code, 0); // quiet for the last test
});

test("SIGTERM: dev lets the running task finish (its attempt succeeds), then exits 0", async () => {
  const t = cli(sb, ["trigger", "slow"]);
  assert.equal(t.code, 0, t.stderr);
  const runId = t.stdout.trim();
  await waitFor(() => (db.prepare("select count(*) as n from attempts where run_id = ? and state = 'running'").get(runId) as { n: number }).n === 1, 30_000, "the slow task to start");
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => dev.once("exit", (code, signal) => resolve({ code, signal })));
  dev.kill("SIGTERM");
  const result = await Promise.race([exited, wait(20_000).then(() => null)]);
  assert.ok(result, `dev did not exit after SIGTERM\n${stdout}\n${stderr}`);
  assert.deepEqual(result, { code: 0, signal: null }, stderr);
  assert.match(stderr, /stopping: waiting for 1 running task/);
  const attempts = db.prepare("select state from attempts where run_id = ?").all(runId) as { state: string }[];
  assert.deepEqual(attempts.map((a) => a.state), ["success"], "the running attempt finished");
  assert.equal(runs("slow")[0]!.state, "success");
});
