/**
 * The processes' own logs: `--log-format json` (or SLUICE_LOG_FORMAT=json) makes every line a JSON object
 * with level, time and msg (and the record's fields) on stdout; `--log-level` drops what is below it; text
 * stays the default, even on a pipe (the other tests read those lines).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cli, waitFor } from "../helpers.js";
import { Procs, runStates } from "../worker/procs.js";

const procs = new Procs();
after(() => procs.cleanup());

const DAG = () => `import { dag } from "sluice";
export default dag("logged", (d) => {
  const ok = d.task("ok", () => 1);
  d.task("boom", { after: [ok], retries: 0 }, () => { throw new Error("on purpose"); });
});
`;

function spawnSplit(p: ReturnType<Procs["start"]>): { stdout: () => string; stderr: () => string } {
  let stdout = "";
  let stderr = "";
  p.proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  p.proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return { stdout: () => stdout, stderr: () => stderr };
}

test("sluice dev --log-format json: every line is a JSON object with level, time and msg; tasks and runs are records with their ids", async () => {
  const sb = procs.sandbox(DAG);
  const p = procs.start(sb, ["dev", "--port", "0", "--log-format", "json"]);
  const io = spawnSplit(p);
  await waitFor(() => io.stdout().includes('"event":"scheduler started"'), 60_000, `sluice dev to start\n${p.out()}`);
  assert.equal(cli(sb, ["trigger", "logged"]).code, 0);
  await waitFor(() => io.stdout().includes('"event":"run finished"'), 60_000, `the run to finish\n${p.out()}`);
  p.proc.kill("SIGTERM");
  assert.equal(await p.exited, 0, p.out());
  assert.equal(io.stderr(), "", "JSON goes to stdout only");
  const records = io.stdout().trimEnd().split("\n").map((line) => {
    const r = JSON.parse(line) as Record<string, unknown>;
    assert.ok(["debug", "info", "warn", "error"].includes(r.level as string), line);
    assert.ok(!Number.isNaN(Date.parse(r.time as string)), line);
    assert.equal(typeof r.msg, "string", line);
    assert.equal(r.role, "dev", line);
    assert.equal(r.pid, p.proc.pid, line);
    return r;
  });
  const events = (name: string) => records.filter((r) => r.event === name);
  assert.equal(events("started").length, 1);
  assert.deepEqual(events("dag").map((r) => [r.dagId, r.schedule]), [["logged", "manual"]]);
  const ok = events("task succeeded")[0]!;
  assert.deepEqual([ok.level, ok.dagId, ok.taskId, ok.mapIndex, ok.attempt, typeof ok.durationMs], ["info", "logged", "ok", -1, 1, "number"]);
  const boom = events("task failed")[0]!;
  assert.deepEqual([boom.level, boom.taskId, boom.error], ["warn", "boom", "on purpose"]);
  const [run] = events("run finished");
  assert.deepEqual([run!.level, run!.dagId, run!.state, run!.msg], ["warn", "logged", "failed", `run ${run!.runId as string} of logged: failed`], "no colour codes in msg");
  assert.ok(records.some((r) => r.event === "stopping"));
  assert.ok(!io.stdout().includes("DAG  SCHEDULE"), "no text table in JSON");
});

test("SLUICE_LOG_FORMAT=json and SLUICE_LOG_LEVEL=warn: a worker writes only its warnings and errors, as JSON", async () => {
  const sb = procs.sandbox(DAG);
  const env = { SLUICE_LOG_FORMAT: "json", SLUICE_LOG_LEVEL: "warn" };
  const w = procs.start(sb, ["worker"], env);
  await waitFor(() => w.proc.exitCode !== null || cli(sb, ["status", "--json"]).stdout.includes('"role": "worker"'), 60_000, `the worker to register\n${w.out()}`);
  assert.equal(cli(sb, ["trigger", "logged"]).code, 0);
  await waitFor(() => runStates(sb, "logged")[0] === "failed", 60_000, `the run to fail\n${w.out()}`);
  await waitFor(() => w.out().includes('"event":"run finished"'), 60_000, `the run's record\n${w.out()}`);
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0, w.out());
  const records = w.out().trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(records.length >= 2, w.out());
  for (const r of records) assert.ok(r.level === "warn" || r.level === "error", JSON.stringify(r));
  assert.deepEqual(records.filter((r) => r.event === "task failed").map((r) => r.taskId), ["boom"]);
});

test("text stays the default on a pipe; --log-level warn drops the banner and keeps failures; a bad value is a usage error", async () => {
  const sb = procs.sandbox(DAG);
  const w = procs.start(sb, ["worker", "--log-level", "warn"]);
  await waitFor(() => w.proc.exitCode !== null || cli(sb, ["status", "--json"]).stdout.includes('"role": "worker"'), 60_000, `the worker to register\n${w.out()}`);
  assert.equal(cli(sb, ["trigger", "logged"]).code, 0);
  await waitFor(() => /run \S+ of logged: failed/.test(w.out()), 60_000, `the run to fail\n${w.out()}`);
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0, w.out());
  assert.match(w.out(), /✗ logged\.boom: on purpose/);
  assert.doesNotMatch(w.out(), /Sluice worker —|✓ logged\.ok|stopping/, "info lines are below warn");
  assert.doesNotMatch(w.out(), /^\{/m, "text, not JSON");

  const bad = cli(sb, ["worker", "--log-format", "xml"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--log-format must be one of text, json, got "xml"/);
  const badEnv = cli(sb, ["worker"], { SLUICE_LOG_LEVEL: "loud" });
  assert.equal(badEnv.code, 2, badEnv.stderr);
  assert.match(badEnv.stderr, /SLUICE_LOG_LEVEL/);
});
