/**
 * `sluice backfill` through the real CLI on a real SQLite file, with a DAG file scheduled "@daily": the
 * dry run, the reprocess behaviours, --max-active checked against the recorded history, kill -9 and
 * resume (every interval ends with exactly one run), cancel from another process and by SIGTERM, and bad
 * input (exit 2, a message that says what is wrong, nothing created).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type CliResult, type Sandbox } from "../helpers.js";

const sandboxes: Sandbox[] = [];
after(() => sandboxes.forEach((s) => s.cleanup()));

/** A project with the scheduled DAG "daily" (extract -> load) and the unscheduled DAG "manual". */
function project(): Sandbox {
  const sb = sandbox("sluice-backfill-");
  sandboxes.push(sb);
  sb.write(
    "daily.ts",
    `import { dag } from "sluice";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
const dir = ${JSON.stringify(sb.dir)};
const sleepMs = Number(process.env["BF_SLEEP_MS"] ?? 0);
const retries = Number(process.env["BF_RETRIES"] ?? 0);
export default dag("daily", { schedule: "@daily", startDate: "2024-01-01", defaults: { retries, retryDelay: "10ms" } }, (d) => {
  const extract = d.task("extract", async (_i, ctx) => {
    const day = ctx.logicalDate.toISOString().slice(0, 10);
    appendFileSync(dir + "/marker", "start " + day + " " + process.pid + "\\n");
    await new Promise((r) => setTimeout(r, sleepMs));
    // days after BF_GATE_AFTER wait until the test writes the "go" file
    if (process.env["BF_GATE_AFTER"] && day > process.env["BF_GATE_AFTER"]) {
      while (!existsSync(dir + "/go")) await new Promise((r) => setTimeout(r, 20));
    }
    const failing = existsSync(dir + "/fail") ? readFileSync(dir + "/fail", "utf8").split(/\\s+/) : [];
    if (failing.includes(day)) throw new Error("no data for " + day);
    appendFileSync(dir + "/marker", "end " + day + "\\n");
    return day;
  });
  d.task("load", { inputs: { extract } }, async ({ extract }) => extract);
});
`,
  );
  sb.write(
    "manual.ts",
    `import { dag } from "sluice";
export default dag("manual", (d) => { d.task("only", async () => 1); });
`,
  );
  return sb;
}

function readDb<T>(sb: Sandbox, fn: (db: Database.Database) => T): T {
  const db = new Database(join(sb.home, "sluice.db"), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

interface RunRow {
  run_id: string;
  run_key: string;
  run_type: string;
  state: string;
  logical_date: number;
  backfill_id: number | null;
  started_at: number | null;
  ended_at: number | null;
}

/** Rows of a table; none while the database is still being created by the process under test. */
function rows<T>(sb: Sandbox, query: string): T[] {
  if (!existsSync(join(sb.home, "sluice.db"))) return [];
  try {
    return readDb(sb, (db) => db.prepare(query).all() as T[]);
  } catch (e) {
    if (/no such table/.test(String((e as Error).message))) return [];
    throw e;
  }
}

function runs(sb: Sandbox): RunRow[] {
  return rows<RunRow>(sb, "select * from runs order by logical_date");
}

function backfills(sb: Sandbox): { backfill_id: number; state: string; state_reason: string | null; driver_pid: number | null }[] {
  return rows(sb, "select * from backfills order by backfill_id");
}

/** Marker lines "start <day> <pid>" / "end <day>". */
function starts(sb: Sandbox, day: string): number {
  const f = join(sb.dir, "marker");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter((l) => l.startsWith(`start ${day} `)).length : 0;
}

const days = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `2024-01-${String(from + i).padStart(2, "0")}`);

function assertNoStack(r: CliResult): void {
  for (const text of [r.stderr, r.stdout]) {
    assert.doesNotMatch(text, /^\s{4}at /m, `output has a stack trace:\n${text}`);
    assert.doesNotMatch(text, /this is a bug in Sluice/);
  }
}

function killAndWait(p: ReturnType<typeof cliSpawn>, signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode);
    p.once("exit", (code) => resolve(code));
    p.kill(signal);
  });
}

function exitOf(p: ReturnType<typeof cliSpawn>): Promise<number | null> {
  return new Promise((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once("exit", (code) => resolve(code))));
}

function collect(p: ReturnType<typeof cliSpawn>): { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (err += d.toString()));
  return { out: () => out, err: () => err };
}

/** The most runs [started_at, ended_at) open at one instant (an end before a start at the same millisecond). */
function maxConcurrent(rows: RunRow[]): number {
  const ev = rows.flatMap((r) => [[r.started_at!, 1], [r.ended_at ?? Number.MAX_SAFE_INTEGER, -1]] as [number, number][]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (open += d));
  return max;
}

interface PlanJson {
  intervals: { logicalDate: string; dataIntervalEnd: string; runId: string | null; state: string | null; action: string }[];
  counts: Record<string, number>;
}
interface SummaryJson {
  backfillId: number;
  state: string;
  counts: { planned: number; pending: number; active: number; succeeded: number; failed: number; skipped: number };
  intervals: { logicalDate: string; action: string; runId: string | null; state: string | null }[];
}

test("dry run: the schedule's logical dates in [from, to] and what would happen to each; nothing is created", () => {
  const sb = project();
  const r = cliJson<PlanJson>(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-05", "--dry-run"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.json.intervals.map((i) => [i.logicalDate, i.dataIntervalEnd, i.action]),
    days(1, 5).map((d, i) => [`${d}T00:00:00.000Z`, `${days(2, 6)[i]}T00:00:00.000Z`, "create"]),
  );
  // a date-time bound and the text form
  const text = cli(sb, ["backfill", "daily", "--from", "2024-01-02T06:00:00Z", "--to", "2024-01-04T00:00:00Z", "--dry-run"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^2024-01-03T00:00:00\.000Z\s+2024-01-04T00:00:00\.000Z\s+create$/m);
  assert.match(text.stdout, /^2024-01-04T00:00:00\.000Z/m);
  assert.doesNotMatch(text.stdout, /2024-01-02T00/);
  assert.match(text.stdout, /dry run: 2 interval\(s\) of daily; would create 2 run\(s\), re-run 0, skip 0\. Nothing was created\./);
  assert.equal(runs(sb).length, 0);
  assert.equal(backfills(sb).length, 0);
  assert.equal(starts(sb, "2024-01-03"), 0);
});

test("reprocess: missing skips intervals that have a run; failed re-runs the failed ones only; all re-runs everything — one run per logical date", () => {
  const sb = project();
  writeFileSync(join(sb.dir, "fail"), "2024-01-02 2024-01-04");
  const first = cliJson<SummaryJson>(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-04"]);
  assert.equal(first.code, 1, "a failed run fails the backfill");
  assert.equal(first.json.state, "failed");
  assert.deepEqual(first.json.counts, { planned: 4, pending: 0, active: 0, succeeded: 2, failed: 2, skipped: 0 });
  assert.deepEqual(
    runs(sb).map((r) => [r.run_key, r.run_type, r.state]),
    days(1, 4).map((d) => [`sched:${d}T00:00:00.000Z`, "backfill", d === "2024-01-02" || d === "2024-01-04" ? "failed" : "success"]),
  );

  writeFileSync(join(sb.dir, "fail"), "");
  const plan = cliJson<PlanJson>(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-05", "--reprocess", "failed", "--dry-run"]);
  assert.deepEqual(plan.json.intervals.map((i) => [i.state, i.action]), [
    ["success", "skip_exists"],
    ["failed", "reprocess"],
    ["success", "skip_exists"],
    ["failed", "reprocess"],
    [null, "create"],
  ]);

  const missing = cli(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-05"]);
  assert.equal(missing.code, 0, missing.stderr);
  assert.match(missing.stdout, /backfill 2 of daily: success — 1 run\(s\) succeeded, 0 failed, 4 skipped/);
  assert.match(missing.stderr, /^1\/1 runs done \(0 failed\)$/m, "plain progress lines when stderr is not a terminal");
  assert.deepEqual(days(1, 5).map((d) => starts(sb, d)), [1, 1, 1, 1, 1], "missing ran only Jan 5");
  assert.equal(runs(sb).filter((r) => r.state === "failed").length, 2, "failed runs were left alone");

  const failed = cliJson<SummaryJson>(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-05", "--reprocess", "failed"]);
  assert.equal(failed.code, 0, failed.stderr);
  assert.deepEqual(failed.json.counts, { planned: 2, pending: 0, active: 0, succeeded: 2, failed: 0, skipped: 3 });
  assert.deepEqual(days(1, 5).map((d) => starts(sb, d)), [1, 2, 1, 2, 1], "only the failed ones ran again");

  const all = cliJson<SummaryJson>(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-05", "--reprocess", "all"]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.json.counts.succeeded, 5);
  assert.deepEqual(days(1, 5).map((d) => starts(sb, d)), [2, 3, 2, 3, 2], "every interval ran again");

  const rows = runs(sb);
  assert.equal(rows.length, 5, "exactly one run per logical date, re-run in place");
  assert.ok(rows.every((r) => r.state === "success" && r.run_type === "backfill" && r.backfill_id === all.json.backfillId));
  const listed = cliJson<{ backfills: { backfillId: number; state: string; reprocess: string }[] }>(sb, ["backfill", "list"]);
  assert.deepEqual(listed.json.backfills.map((b) => [b.backfillId, b.state, b.reprocess]), [
    [4, "success", "all"],
    [3, "success", "failed"],
    [2, "success", "missing"],
    [1, "failed", "missing"],
  ]);
});

test("--max-active holds at every instant of the recorded history", () => {
  const sb = project();
  const r = cli(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-09", "--max-active", "3"], { BF_SLEEP_MS: "150" });
  assert.equal(r.code, 0, r.stderr);
  const rows = runs(sb);
  assert.equal(rows.length, 9);
  assert.equal(maxConcurrent(rows), 3, "never more than 3 runs of the backfill at once (and the limit was used)");
  assert.ok(rows.every((r) => r.started_at !== null && r.ended_at !== null && r.state === "success"));
});

test("kill -9 mid-way: the same command again resumes it, then `backfill resume` finishes it; every interval has exactly one run, all succeed", async () => {
  const sb = project();
  const args = ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-12", "--max-active", "2"];
  // a task killed with its process gets a new attempt when retries remain (else its run fails, as any run's)
  const env = { BF_SLEEP_MS: "300", BF_RETRIES: "2" };
  const doneCount = () => runs(sb).filter((r) => r.state === "success").length;

  const first = cliSpawn(sb, args, env);
  try {
    await waitFor(() => doneCount() >= 3 && runs(sb).some((r) => r.state === "running"), 60_000, "3 runs done and more running");
  } finally {
    await killAndWait(first);
  }
  assert.equal(backfills(sb)[0]!.state, "running", "a killed backfill stays running, to be resumed");
  const afterFirst = runs(sb).length;
  assert.ok(afterFirst < 12);

  const second = cliSpawn(sb, args, env);
  const out2 = collect(second);
  try {
    await waitFor(() => doneCount() >= afterFirst + 2, 60_000, "the second process to make progress");
    assert.match(out2.err(), /resuming backfill 1 of daily/);
  } finally {
    await killAndWait(second);
  }

  const r = cliJson<SummaryJson>(sb, ["backfill", "resume", "1"], env);
  assert.equal(r.code, 0, `${r.stderr}\n${JSON.stringify(r.json, null, 1)}`);
  assert.equal(r.json.state, "success");
  assert.deepEqual(r.json.counts, { planned: 12, pending: 0, active: 0, succeeded: 12, failed: 0, skipped: 0 });
  const rows = runs(sb);
  assert.deepEqual(
    rows.map((x) => x.run_key),
    days(1, 12).map((d) => `sched:${d}T00:00:00.000Z`),
    "exactly one run per interval, none duplicated",
  );
  assert.ok(rows.every((x) => x.state === "success"));
  assert.equal(backfills(sb).length, 1, "no second backfill was created");
  // runs that were running when killed were continued: their lost attempts are recorded, finished tasks were not redone
  const lost = readDb(sb, (db) => db.prepare("select count(*) as n from attempts where error_code = 'WORKER_LOST'").get() as { n: number });
  assert.ok(lost.n >= 1, "attempts of the killed processes were recorded as WORKER_LOST and retried");
  for (const d of days(1, 12)) assert.ok(starts(sb, d) >= 1 && starts(sb, d) <= 3, `${d} started ${starts(sb, d)} times`);
  assert.equal(backfills(sb)[0]!.driver_pid, null, "the driver let go when it finished");
});

test("cancel from another process: no new runs start, the running ones finish; the backfill is cancelled (exit 1)", async () => {
  const sb = project();
  // the first two days run through; the later ones hold until the cancel has been recorded
  const p = cliSpawn(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-10", "--max-active", "2"], { BF_GATE_AFTER: "2024-01-02" });
  const io = collect(p);
  let code: number | null;
  try {
    await waitFor(() => runs(sb).filter((r) => r.state === "success").length >= 2 && runs(sb).some((r) => r.state === "running"), 60_000, "2 runs done");
    const c = cli(sb, ["backfill", "cancel", "1"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /backfill 1 of daily cancelled: \d+ interval\(s\) will not start; \d+ running run\(s\) finish/);
    writeFileSync(join(sb.dir, "go"), "");
    code = await exitOf(p);
  } finally {
    await killAndWait(p);
  }
  assert.equal(code, 1, io.err());
  assert.match(io.out(), /backfill 1 of daily: cancelled \(cancelled by user\) — \d+ run\(s\) succeeded, 0 failed, \d+ not started/);
  const rows = runs(sb);
  assert.ok(rows.length >= 3 && rows.length < 10, `${rows.length} runs`);
  assert.ok(rows.every((r) => r.state === "success"), "the runs that were running finished");
  assert.equal(backfills(sb)[0]!.state, "cancelled");
  const again = cli(sb, ["backfill", "cancel", "1"]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /backfill 1 has already ended \(cancelled\)/);
  // resuming a cancelled backfill starts nothing
  const resumed = cli(sb, ["backfill", "resume", "1"]);
  assert.equal(resumed.code, 1);
  assert.equal(runs(sb).length, rows.length);
});

test("SIGTERM (or Ctrl-C) cancels the backfill: running runs finish, the rest never start", async () => {
  const sb = project();
  const p = cliSpawn(sb, ["backfill", "daily", "--from", "2024-01-01", "--to", "2024-01-10", "--max-active", "3"], { BF_SLEEP_MS: "400" });
  const io = collect(p);
  let code: number | null;
  try {
    await waitFor(() => runs(sb).filter((r) => r.state === "running").length === 3, 60_000, "3 runs running");
    p.kill("SIGTERM");
    code = await exitOf(p);
  } finally {
    await killAndWait(p);
  }
  assert.equal(code, 1, io.err());
  assert.match(io.err(), /SIGTERM: cancelling backfill 1: no new runs start/);
  const b = backfills(sb)[0]!;
  assert.deepEqual([b.state, b.state_reason], ["cancelled", "cancelled by SIGTERM"]);
  const rows = runs(sb);
  assert.ok(rows.length >= 3 && rows.length < 10);
  assert.ok(rows.every((r) => r.state === "success"));
});

describe("bad input: exit 2, a message that says what is wrong, no run created", () => {
  const sb = project();
  const cases: [string, string[], RegExp][] = [
    ["--from after --to", ["daily", "--from", "2024-01-05", "--to", "2024-01-01"], /--from \(2024-01-05T00:00:00\.000Z\) is after --to \(2024-01-01T00:00:00\.000Z\); swap them/],
    ["an unknown DAG", ["nope", "--from", "2024-01-01", "--to", "2024-01-05"], /no DAG with id "nope" .*known DAGs: daily, manual/],
    ["a DAG without a schedule", ["manual", "--from", "2024-01-01", "--to", "2024-01-05"], /DAG "manual" has no time schedule, and a backfill runs the data intervals of one/],
    ["a date that does not exist", ["daily", "--from", "2024-02-30", "--to", "2024-03-05"], /--from "2024-02-30" is not a date; use ISO 8601/],
    ["a date that is not a date", ["daily", "--from", "2024-01-01", "--to", "next week"], /--to "next week" is not a date/],
    ["an unknown reprocess behaviour", ["daily", "--from", "2024-01-01", "--to", "2024-01-05", "--reprocess", "some"], /--reprocess must be one of missing, failed, all, got "some"/],
    ["--max-active 0", ["daily", "--from", "2024-01-01", "--to", "2024-01-05", "--max-active", "0"], /--max-active must be a whole number ≥ 1, got "0"/],
    ["dates in the future", ["daily", "--from", "2999-01-01", "--to", "2999-01-05"], /--from \(2999-01-01T00:00:00\.000Z\) is in the future/],
    ["a missing --to", ["daily", "--from", "2024-01-01"], /required option '--to <date>' not specified/],
  ];
  for (const [name, args, message] of cases) {
    test(name, () => {
      for (const dry of [false, true]) {
        const r = cli(sb, ["backfill", ...args, ...(dry ? ["--dry-run"] : [])]);
        assert.equal(r.code, 2, `${name}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stderr, message);
        assertNoStack(r);
      }
      assert.equal(runs(sb).length, 0, "no run created");
      assert.equal(backfills(sb).length, 0, "no backfill created");
    });
  }
  test("unknown backfill ids", () => {
    for (const sub of ["resume", "cancel", "show"]) {
      const r = cli(sb, ["backfill", sub, "7"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /no backfill with id 7 \(list them with: sluice backfill list\)/);
      const bad = cli(sb, ["backfill", sub, "x"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /a backfill id is a number/);
    }
  });
});
