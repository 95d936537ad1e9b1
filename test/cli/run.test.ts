/**
 * `sluice run` end to end: real DAG files, the real binary, a real SQLite file — and the same tests again
 * on a PostgreSQL schema (SLUICE_DATABASE_URL), so mapping, trigger rules, retries, timeouts and outputs
 * are checked on both stores. Every test asserts the recorded states (through `--json`, `runs show
 * --json` and `output`), so a wrong transition fails it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { dialects } from "../dialects.js";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";

const sb = sandbox("sluice-run-");
after(() => sb.cleanup());

interface TaskRow {
  taskId: string;
  mapIndex: number;
  state: string;
  attempts: number;
}
interface RunJson {
  runId: string;
  dagId: string;
  state: string;
  stateReason: string | null;
  tasks: TaskRow[];
}
interface AttemptJson {
  attempt: number;
  attemptId: number;
  state: string;
  startedAt: string;
  endedAt: string | null;
  pid: number;
  errorCode: string | null;
  errorMessage: string | null;
  errorStack: string | null;
  exitCode: number | null;
  outputSize: number | null;
  outputRef: string | null;
}
interface ShowJson {
  runId: string;
  dagId: string;
  state: string;
  stateReason: string | null;
  params: Record<string, unknown>;
  tasks: { taskId: string; mapIndex: number; state: string; tryNumber: number; attempts: AttemptJson[] }[];
}

function run(s: Sandbox, dagId: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = cliJson<RunJson>(s, ["run", dagId, ...args], env);
  assertNoStack(r.stderr);
  return r;
}

function show(s: Sandbox, runId: string): ShowJson {
  const r = cliJson<ShowJson>(s, ["runs", "show", runId]);
  assert.equal(r.code, 0, r.stderr);
  return r.json;
}

function output(s: Sandbox, runId: string, taskId: string): unknown {
  const r = cliJson<{ output: unknown }>(s, ["output", runId, taskId]);
  assert.equal(r.code, 0, r.stderr);
  return r.json.output;
}

/** taskId (or taskId[i]) -> state */
function states(r: { tasks: { taskId: string; mapIndex: number; state: string }[] }): Record<string, string> {
  return Object.fromEntries(r.tasks.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t.state]));
}

function ti(detail: ShowJson, taskId: string, mapIndex = -1) {
  const t = detail.tasks.find((x) => x.taskId === taskId && x.mapIndex === mapIndex);
  assert.ok(t, `no task instance ${taskId}[${mapIndex}] in ${JSON.stringify(detail.tasks.map((x) => [x.taskId, x.mapIndex]))}`);
  return t;
}

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s{4}at /m, `stderr has a stack trace:\n${stderr}`);
}

const SLEEP = `const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});
`;

// Every test below runs on SQLite, then on PostgreSQL: the CLI picks the store from the sandbox's
// SLUICE_DATABASE_URL. (The body is not re-indented, so that the DAG sources in it stay byte-identical.)
for (const d of dialects(20)) {
describe(`sluice run on ${d.name}`, { skip: d.skip }, () => {
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

test("typed data flows from task to task, Dates and Maps intact", () => {
  sb.write(
    "flow.ts",
    `import { dag } from "sluice";
export default dag("flow", (d) => {
  const rows = d.task("extract", async () => [{ id: 1, at: new Date("2026-01-02T03:04:05Z"), tags: new Map([["k", 1]]) }, { id: 2, at: new Date(0), tags: new Map() }]);
  const summary = d.task("transform", { inputs: { rows } }, async ({ rows }) => {
    if (!(rows[0]!.at instanceof Date)) throw new Error("Date lost: " + typeof rows[0]!.at);
    if (!(rows[0]!.tags instanceof Map)) throw new Error("Map lost");
    return { ids: rows.map((r) => r.id), first: rows[0]!.at.toISOString(), k: rows[0]!.tags.get("k") };
  });
  d.task("load", { inputs: { summary, rows } }, async ({ summary, rows }) => ({ ...summary, n: rows.length }));
});
`,
  );
  const r = run(sb, "flow");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  assert.equal(r.json.dagId, "flow");
  assert.deepEqual(states(r.json), { extract: "success", transform: "success", load: "success" });
  assert.ok(r.json.tasks.every((t) => t.attempts === 1 && t.mapIndex === -1));
  assert.deepEqual(output(sb, r.json.runId, "load"), { ids: [1, 2], first: "2026-01-02T03:04:05.000Z", k: 1, n: 2 });
});

test("a task failing twice succeeds on its third attempt; exponential backoff spaces the retries", () => {
  sb.write(
    "flaky.ts",
    `import { dag } from "sluice";
export default dag("flaky", (d) => {
  const f = d.task("flaky", { retries: 3, retryDelay: "100ms", retryBackoff: "exponential" }, async (_i, ctx) => {
    if (ctx.attempt < 4) throw new Error("boom on attempt " + ctx.attempt);
    return ctx.attempt;
  });
  const g = d.task("twice", { retries: 2, retryDelay: "20ms" }, async (_i, ctx) => {
    if (ctx.attempt <= 2) throw new Error("not yet " + ctx.attempt);
    return "ok after " + ctx.attempt;
  });
  d.task("after", { inputs: { f, g } }, async ({ f, g }) => [f, g]);
});
`,
  );
  const r = run(sb, "flaky");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  const byId = Object.fromEntries(r.json.tasks.map((t) => [t.taskId, t]));
  assert.equal(byId["twice"]!.attempts, 3);
  assert.equal(byId["flaky"]!.attempts, 4);
  assert.equal(byId["after"]!.attempts, 1);
  assert.deepEqual(output(sb, r.json.runId, "after"), [4, "ok after 3"]);

  const detail = show(sb, r.json.runId);
  const twice = ti(detail, "twice").attempts;
  assert.deepEqual(
    twice.map((a) => [a.attempt, a.state]),
    [
      [1, "failed"],
      [2, "failed"],
      [3, "success"],
    ],
  );
  assert.match(twice[0]!.errorMessage!, /not yet 1/);
  assert.match(twice[1]!.errorMessage!, /not yet 2/);

  const flaky = ti(detail, "flaky").attempts;
  assert.equal(flaky.length, 4);
  const t = (s: string | null) => Date.parse(s!);
  // A retry never starts before its delay (100, 200, 400 ms: doubling) has passed since the failure. Lower
  // bounds only: a loaded machine may start a retry late, never early — and a fixed 100 ms delay would fail
  // the second and third bounds, so they show the backoff grows.
  const waits = [1, 2, 3].map((i) => t(flaky[i]!.startedAt) - t(flaky[i - 1]!.endedAt));
  waits.forEach((w, i) => assert.ok(w >= 100 * 2 ** i - 2, `retry ${i + 1} waited ${w} ms, less than ${100 * 2 ** i} ms`));
});

test("a task that always fails fails the run (exit 1); downstream is upstream_failed; every attempt keeps its error", () => {
  sb.write(
    "doomed.ts",
    `import { dag } from "sluice";
export default dag("doomed", (d) => {
  const a = d.task("ok", async () => 1);
  const b = d.task("broken", { retries: 2, retryDelay: "10ms" }, async (_i, ctx) => {
    throw new Error("broken for good (attempt " + ctx.attempt + ")");
  });
  const c = d.task("uses_both", { inputs: { a, b } }, async ({ a, b }) => a + b);
  d.task("further", { inputs: { c } }, async ({ c }) => c);
});
`,
  );
  const r = run(sb, "doomed");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.json.state, "failed");
  assert.deepEqual(states(r.json), { ok: "success", broken: "failed", uses_both: "upstream_failed", further: "upstream_failed" });
  const byId = Object.fromEntries(r.json.tasks.map((t) => [t.taskId, t]));
  assert.equal(byId["broken"]!.attempts, 3);
  assert.equal(byId["uses_both"]!.attempts, 0);

  const detail = show(sb, r.json.runId);
  assert.equal(detail.state, "failed");
  const attempts = ti(detail, "broken").attempts;
  assert.equal(attempts.length, 3);
  attempts.forEach((a, i) => {
    assert.equal(a.attempt, i + 1);
    assert.equal(a.state, "failed");
    assert.equal(a.errorCode, "TASK_FAILED");
    assert.equal(a.errorMessage, `broken for good (attempt ${i + 1})`);
    assert.match(a.errorStack ?? "", /Error: broken for good/);
    assert.match(a.errorStack ?? "", /doomed\.ts/, "the stack points into the DAG file");
    assert.ok(a.endedAt !== null);
  });
  assert.deepEqual(ti(detail, "uses_both").attempts, []);

  // the text report says where to look
  const text = cli(sb, ["run", "doomed"]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /broken\s+failed\s+3/);
  assert.match(text.stdout, /see why: npx sluice runs show/);
  assertNoStack(text.stderr);
});

test("an execution timeout aborts the attempt (TIMEOUT) and retries it while retries remain", () => {
  sb.write(
    "slow.ts",
    `import { dag } from "sluice";
${SLEEP}
export default dag("slow", (d) => {
  // first attempt hangs (honouring the signal), the retry is quick
  d.task("sometimes_slow", { timeout: "200ms", retries: 1, retryDelay: "10ms" }, async (_i, ctx) => {
    if (ctx.attempt === 1) await sleep(120_000, ctx.signal);
    return "fast on attempt " + ctx.attempt;
  });
  const hang = d.task("always_slow", { timeout: "200ms", retries: 1, retryDelay: "10ms" }, async (_i, ctx) => {
    await sleep(120_000, ctx.signal);
    return "never";
  });
  d.task("after_hang", { inputs: { hang } }, async () => 1);
});
`,
  );
  const started = Date.now();
  const r = run(sb, "slow");
  // the attempts sleep for 2 minutes unless their timeout cuts them short (margin for a loaded machine)
  assert.ok(Date.now() - started < 100_000, "the hanging attempts were not cut short");
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(states(r.json), { sometimes_slow: "success", always_slow: "failed", after_hang: "upstream_failed" });

  const detail = show(sb, r.json.runId);
  const some = ti(detail, "sometimes_slow").attempts;
  assert.deepEqual(
    some.map((a) => [a.state, a.errorCode]),
    [
      ["failed", "TIMEOUT"],
      ["success", null],
    ],
  );
  assert.match(some[0]!.errorMessage!, /timed out/);
  const dur = Date.parse(some[0]!.endedAt!) - Date.parse(some[0]!.startedAt);
  assert.ok(dur >= 190 && dur < 100_000, `attempt 1 lasted ${dur} ms; the timeout is 200 ms`);
  assert.equal(output(sb, r.json.runId, "sometimes_slow"), "fast on attempt 2");

  const always = ti(detail, "always_slow").attempts;
  assert.deepEqual(
    always.map((a) => [a.state, a.errorCode]),
    [
      ["failed", "TIMEOUT"],
      ["failed", "TIMEOUT"],
    ],
  );
});

test("a run timeout fails the run with a reason, aborts the running task and skips the rest", () => {
  sb.write(
    "runtimeout.ts",
    `import { dag } from "sluice";
${SLEEP}
export default dag("runtimeout", { runTimeout: "600ms" }, (d) => {
  const a = d.task("quick", async () => 1);
  const b = d.task("long", { inputs: { a } }, async (_i, ctx) => { await sleep(120_000, ctx.signal); return 2; });
  d.task("never", { inputs: { b } }, async () => 3);
});
`,
  );
  const started = Date.now();
  const r = run(sb, "runtimeout");
  assert.ok(Date.now() - started < 100_000, "the run was not cut short by its timeout");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.json.state, "failed");
  assert.match(r.json.stateReason ?? "", /timed out/);
  const st = states(r.json);
  assert.equal(st["quick"], "success");
  assert.equal(st["long"], "failed");
  assert.equal(st["never"], "skipped");

  const detail = show(sb, r.json.runId);
  assert.match(detail.stateReason ?? "", /run timed out after/);
  const long = ti(detail, "long").attempts;
  assert.equal(long.length, 1);
  assert.equal(long[0]!.state, "failed");
  assert.equal(long[0]!.errorCode, "TIMEOUT");
});

test("trigger rules: all_done cleanup and one_failed alert run after a failure; none_failed_min_one_success joins a branch", () => {
  sb.write(
    "rules.ts",
    `import { dag } from "sluice";
export default dag("rules", (d) => {
  const work = d.task("work", async () => { throw new Error("work failed"); });
  const fine = d.task("fine", async () => "fine");
  d.task("report", { inputs: { work } }, async ({ work }) => work);
  d.task("cleanup", { inputs: { work, fine }, triggerRule: "all_done" }, async ({ work, fine }) => ({ work: work === undefined ? "missing" : work, fine }));
  d.task("alert", { after: [work, fine], triggerRule: "one_failed" }, async () => "alerted");
  d.task("no_alert", { after: [fine], triggerRule: "one_failed" }, async () => "should not run");
  d.task("all_failed_ok", { after: [work], triggerRule: "all_failed" }, async () => "all failed");
  d.task("one_success", { after: [work, fine], triggerRule: "one_success" }, async () => "one ok");
  d.task("none_failed", { after: [work, fine], triggerRule: "none_failed" }, async () => "x");
});
`,
  );
  const r = run(sb, "rules");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.json.state, "failed");
  assert.deepEqual(states(r.json), {
    work: "failed",
    fine: "success",
    report: "upstream_failed",
    cleanup: "success",
    alert: "success",
    no_alert: "skipped",
    all_failed_ok: "success",
    one_success: "success",
    none_failed: "upstream_failed",
  });
  assert.deepEqual(output(sb, r.json.runId, "cleanup"), { work: "missing", fine: "fine" });
  assert.equal(output(sb, r.json.runId, "alert"), "alerted");

  sb.write(
    "branchy.ts",
    `import { dag } from "sluice";
export default dag("branchy", (d) => {
  // a branch may return handles or ids; downstream its output reads as the list of followed task ids
  const pick = d.branch("pick", {}, async () => [left, "which"]);
  const left = d.task("left", { after: [pick] }, async () => "L");
  d.task("which", { inputs: { pick } }, async ({ pick }) => ({ isArray: Array.isArray(pick), pick }));
  const right = d.task("right", { after: [pick] }, async () => "R");
  const rightChild = d.task("right_child", { inputs: { right } }, async ({ right }) => right + "!");
  const rightGrandchild = d.task("right_grandchild", { inputs: { rightChild } }, async () => 1);
  d.task("join", { inputs: { left, rightGrandchild }, triggerRule: "none_failed_min_one_success" }, async ({ left, rightGrandchild }) => [left, rightGrandchild ?? null]);
  d.task("strict_join", { after: [left, right] }, async () => "never");
  d.task("done_join", { after: [left, rightChild], triggerRule: "all_done" }, async () => "done");
});
`,
  );
  const b = run(sb, "branchy");
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.json.state, "success");
  assert.deepEqual(states(b.json), {
    pick: "success",
    left: "success",
    which: "success",
    right: "skipped",
    right_child: "skipped",
    right_grandchild: "skipped",
    join: "success",
    strict_join: "skipped",
    done_join: "success",
  });
  assert.deepEqual(output(sb, b.json.runId, "join"), ["L", null]);
  assert.deepEqual(output(sb, b.json.runId, "pick"), ["left", "which"]);
  assert.deepEqual(output(sb, b.json.runId, "which"), { isArray: true, pick: ["left", "which"] });
});

test("a branch naming a task that is not downstream fails with a message listing the choices", () => {
  sb.write(
    "badbranch.ts",
    `import { dag } from "sluice";
export default dag("badbranch", (d) => {
  const pick = d.branch("pick", {}, async () => "nowhere");
  d.task("a", { after: [pick] }, async () => 1);
  d.task("b", { after: [pick] }, async () => 2);
});
`,
  );
  const r = run(sb, "badbranch");
  assert.equal(r.code, 1);
  assert.deepEqual(states(r.json), { pick: "failed", a: "upstream_failed", b: "upstream_failed" });
  const a = ti(show(sb, r.json.runId), "pick").attempts[0]!;
  assert.match(a.errorMessage!, /"nowhere"/);
  assert.match(a.errorMessage!, /"a", "b"/);
});

test("short-circuit: false skips everything downstream; with respectTriggerRules only the direct downstream", () => {
  sb.write(
    "shorty.ts",
    `import { dag } from "sluice";
const build = (id: string, respect: boolean) => dag(id, (d) => {
  const gate = d.shortCircuit("gate", { respectTriggerRules: respect }, async () => false);
  const direct = d.task("direct", { after: [gate] }, async () => 1);
  const other = d.task("independent", async () => 2);
  d.task("done_after", { after: [direct, other], triggerRule: "all_done" }, async () => 3);
  d.task("strict_after", { after: [direct] }, async () => 4);
});
export const all = build("short_all", false);
export const direct = build("short_direct", true);
export const open = dag("short_open", (d) => {
  const gate = d.shortCircuit("gate", {}, async () => 1 + 1 === 2);
  d.task("next", { after: [gate] }, async () => "ran");
});
`,
  );
  const all = run(sb, "short_all");
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.json.state, "success");
  assert.deepEqual(states(all.json), { gate: "success", direct: "skipped", independent: "success", done_after: "skipped", strict_after: "skipped" });

  const direct = run(sb, "short_direct");
  assert.equal(direct.code, 0, direct.stderr);
  assert.deepEqual(states(direct.json), { gate: "success", direct: "skipped", independent: "success", done_after: "success", strict_after: "skipped" });

  const open = run(sb, "short_open");
  assert.equal(open.code, 0, open.stderr);
  assert.deepEqual(states(open.json), { gate: "success", next: "success" });
  assert.equal(output(sb, open.json.runId, "gate"), true);
});

test("dynamic mapping over an upstream output: one instance per item, results downstream in order", () => {
  sb.write(
    "mapping.ts",
    `import { dag } from "sluice";
export default dag("mapping", (d) => {
  const nums = d.task("nums", async () => [5, 1, 4, 2, 3]);
  const doubled = d.map("double", { over: { n: nums } }, async ({ n }, ctx) => ({ i: ctx.mapIndex, v: n * 2 }));
  d.task("collect", { inputs: { doubled } }, async ({ doubled }) => doubled);
});
`,
  );
  const r = run(sb, "mapping");
  assert.equal(r.code, 0, r.stderr);
  const mapped = r.json.tasks.filter((t) => t.taskId === "double");
  assert.deepEqual(
    mapped.map((t) => [t.mapIndex, t.state]),
    [0, 1, 2, 3, 4].map((i) => [i, "success"]),
  );
  assert.deepEqual(output(sb, r.json.runId, "collect"), [
    { i: 0, v: 10 },
    { i: 1, v: 2 },
    { i: 2, v: 8 },
    { i: 3, v: 4 },
    { i: 4, v: 6 },
  ]);
  assert.equal(states(r.json)["collect"], "success");
});

test("mapping over an empty list skips the mapped task (and what needs it)", () => {
  sb.write(
    "emptymap.ts",
    `import { dag } from "sluice";
export default dag("emptymap", (d) => {
  const none = d.task("none", async () => [] as number[]);
  const each = d.map("each", { over: { n: none } }, async ({ n }) => n);
  d.task("strict", { inputs: { each } }, async ({ each }) => each);
  d.task("lenient", { inputs: { each }, triggerRule: "all_done" }, async ({ each }) => ({ isArray: Array.isArray(each), each }));
  d.map("remap", { over: { v: each }, triggerRule: "all_done" }, async ({ v }) => v);
  d.map("literal_empty", { over: { x: [] as number[] } }, async ({ x }) => x);
});
`,
  );
  const r = run(sb, "emptymap");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  assert.deepEqual(states(r.json), { none: "success", each: "skipped", strict: "skipped", lenient: "success", remap: "skipped", literal_empty: "skipped" });
  // a mapped task that expanded to nothing has no results: an empty list, not [undefined]
  assert.deepEqual(output(sb, r.json.runId, "lenient"), { isArray: true, each: [] });
  assert.deepEqual(output(sb, r.json.runId, "each"), []);
});

test("a join after a mapped task over a literal list waits for every map index and for its other inputs", () => {
  sb.write(
    "literalmap.ts",
    `import { dag } from "sluice";
import { z } from "zod";
export default dag("literalmap", { params: z.object({ fail: z.boolean().default(false) }) }, (d) => {
  const slow = d.task("slow", async (_i, ctx) => { await new Promise((r) => setTimeout(r, 400)); if (ctx.params.fail) throw new Error("slow failed"); return "slow done"; });
  const sq = d.map("square", { over: { n: [1, 2, 3] } }, async ({ n }) => n * n);
  d.task("join", { inputs: { slow, sq } }, async ({ slow, sq }) => ({ slow, sq }));
  const none = d.map("none", { over: { x: [] as number[] } }, async ({ x }) => x);
  d.task("after_none", { inputs: { none }, triggerRule: "all_done" }, async ({ none }) => none);
  d.task("strict_after_none", { inputs: { none } }, async () => "never");
});
`,
  );
  const ok = run(sb, "literalmap");
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(output(sb, ok.json.runId, "join"), { slow: "slow done", sq: [1, 4, 9] });
  const st = states(ok.json);
  assert.equal(st["none"], "skipped");
  assert.equal(st["after_none"], "success", "a task after an empty literal map is not left waiting");
  assert.equal(st["strict_after_none"], "skipped");
  assert.deepEqual(output(sb, ok.json.runId, "after_none"), []);
  const detail = show(sb, ok.json.runId);
  assert.ok(
    Date.parse(ti(detail, "join").attempts[0]!.startedAt) >= Date.parse(ti(detail, "slow").attempts[0]!.endedAt!),
    "join started before all its upstream tasks had ended",
  );

  const bad = run(sb, "literalmap", ["--param", "fail=true"]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(states(bad.json)["join"], "upstream_failed");
});

test("a failing map index: the others succeed, an all_done downstream receives undefined at that position", () => {
  sb.write(
    "mapfail.ts",
    `import { dag } from "sluice";
export default dag("mapfail", (d) => {
  const items = d.task("items", async () => [1, 2, 3, 4]);
  const sq = d.map("square", { over: { n: items } }, async ({ n }) => { if (n === 3) throw new Error("three is bad"); return n * n; });
  d.task("gather", { inputs: { sq }, triggerRule: "all_done" }, async ({ sq }) => ({ len: sq!.length, values: sq!.map((v) => (v === undefined ? "UNDEFINED" : v)) }));
  d.task("strict", { inputs: { sq } }, async ({ sq }) => sq);
});
`,
  );
  const r = run(sb, "mapfail");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.json.state, "failed");
  const st = states(r.json);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => st[`square[${i}]`]),
    ["success", "success", "failed", "success"],
  );
  assert.equal(st["gather"], "success");
  assert.equal(st["strict"], "upstream_failed");
  assert.deepEqual(output(sb, r.json.runId, "gather"), { len: 4, values: [1, 4, "UNDEFINED", 16] });
  const a = ti(show(sb, r.json.runId), "square", 2).attempts;
  assert.equal(a.length, 1);
  assert.match(a[0]!.errorMessage!, /three is bad/);
});

test("mapping over two lists gives their cross product, in row-major order", () => {
  sb.write(
    "cross.ts",
    `import { dag } from "sluice";
export default dag("cross", (d) => {
  const models = d.task("models", async () => ["a", "b"]);
  const grid = d.map("grid", { over: { model: models, lr: [0.1, 0.01, 0.001] } }, async ({ model, lr }) => model + "@" + lr);
  d.task("best", { inputs: { grid } }, async ({ grid }) => grid);
});
`,
  );
  const r = run(sb, "cross");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.tasks.filter((t) => t.taskId === "grid" && t.state === "success").length, 6);
  assert.deepEqual(output(sb, r.json.runId, "best"), ["a@0.1", "a@0.01", "a@0.001", "b@0.1", "b@0.01", "b@0.001"]);
});

test("params: defaults apply, --param overrides, an invalid param exits 2 naming it and creates no run", () => {
  sb.write(
    "params.ts",
    `import { dag } from "sluice";
import { z } from "zod";
export default dag("params", { params: z.object({ n: z.number().int().default(3), name: z.string().default("world"), flag: z.boolean().default(false) }) }, (d) => {
  d.task("echo", async (_i, ctx) => ({ n: ctx.params.n, name: ctx.params.name, flag: ctx.params.flag, types: [typeof ctx.params.n, typeof ctx.params.name] }));
});
`,
  );
  const bad = cli(sb, ["run", "params", "--param", "n=abc", "--json"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /INVALID_PARAM/);
  assert.match(bad.stderr, /"n"/);
  assertNoStack(bad.stderr);
  const badJson = JSON.parse(bad.stdout) as { error: { code: string; details?: { param?: string } } };
  assert.equal(badJson.error.code, "INVALID_PARAM");
  assert.equal(badJson.error.details?.param, "n");
  const bad2 = cli(sb, ["run", "params", "-p", "n=1.5"]);
  assert.equal(bad2.code, 2);
  assert.match(bad2.stderr, /param "n"/);
  const none = cliJson<{ runs: unknown[] }>(sb, ["runs", "list", "--dag", "params"]);
  assert.equal(none.code, 0, none.stderr);
  assert.deepEqual(none.json.runs, [], "a rejected run must not be recorded");

  const defaults = run(sb, "params");
  assert.equal(defaults.code, 0, defaults.stderr);
  assert.deepEqual(output(sb, defaults.json.runId, "echo"), { n: 3, name: "world", flag: false, types: ["number", "string"] });

  const over = run(sb, "params", ["--param", "n=7", "--param", "name=123", "--param", "flag=true"]);
  assert.equal(over.code, 0, over.stderr);
  assert.deepEqual(output(sb, over.json.runId, "echo"), { n: 7, name: "123", flag: true, types: ["number", "string"] });
  assert.deepEqual(show(sb, over.json.runId).params, { n: 7, name: "123", flag: true });

  const unknownDagParam = cli(sb, ["run", "flow", "--param", "x=1"]);
  assert.equal(unknownDagParam.code, 2);
  assert.match(unknownDagParam.stderr, /takes no params.*"x"/);
});

test("outputs over the inline limit go to the artifact store; downstream gets the same bytes (Buffer, Uint8Array)", () => {
  sb.write(
    "big.ts",
    `import { dag } from "sluice";
import { createHash } from "node:crypto";
const bytes = (n: number, seed: number) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255; return b; };
export default dag("big", (d) => {
  const buf = d.task("buf", async () => bytes(300_000, 7));
  const u8 = d.task("u8", async () => new Uint8Array(bytes(5_000, 3)));
  const small = d.task("small", async () => "tiny");
  const text = d.task("text", async () => "x".repeat(2_000));
  d.task("check", { inputs: { buf, u8, small, text } }, async ({ buf, u8, small, text }) => ({
    bufIsBuffer: Buffer.isBuffer(buf),
    u8IsU8: u8 instanceof Uint8Array && !Buffer.isBuffer(u8),
    bufSha: createHash("sha256").update(buf).digest("hex"),
    u8Sha: createHash("sha256").update(u8).digest("hex"),
    lens: [buf.length, u8.length, small.length, text.length],
  }));
});
`,
  );
  const sha = (n: number, seed: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
    return createHash("sha256").update(b).digest("hex");
  };
  const r = run(sb, "big", [], { SLUICE_INLINE_OUTPUT_LIMIT: "1024" });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(output(sb, r.json.runId, "check"), {
    bufIsBuffer: true,
    u8IsU8: true,
    bufSha: sha(300_000, 7),
    u8Sha: sha(5_000, 3),
    lens: [300_000, 5_000, 4, 2_000],
  });
  const detail = show(sb, r.json.runId);
  const artifacts = join(sb.home, "artifacts");
  for (const id of ["buf", "u8", "text"]) {
    const a = ti(detail, id).attempts[0]!;
    assert.match(a.outputRef ?? "", /^[0-9a-f]{64}$/, `${id} should be stored as an artifact`);
    const file = join(artifacts, a.outputRef!.slice(0, 2), a.outputRef!);
    assert.ok(existsSync(file), `missing artifact file ${file}`);
    assert.equal(statSync(file).size, a.outputSize);
    assert.equal(createHash("sha256").update(readFileSync(file)).digest("hex"), a.outputRef, "artifacts are addressed by their content hash");
  }
  assert.equal(ti(detail, "small").attempts[0]!.outputRef, null, "small outputs stay inline");
  // no temporary files are left behind
  for (const d of readdirSync(artifacts)) for (const f of readdirSync(join(artifacts, d))) assert.doesNotMatch(f, /\.tmp$/);
  // the CLI shows binary data by size
  assert.equal(output(sb, r.json.runId, "buf"), "<Buffer 300000 bytes>");

  // the default limit is 256 KB: 300 KB goes out, 2 KB stays in
  const d = run(sb, "big");
  assert.equal(d.code, 0, d.stderr);
  const dd = show(sb, d.json.runId);
  assert.match(ti(dd, "buf").attempts[0]!.outputRef ?? "", /^[0-9a-f]{64}$/);
  assert.equal(ti(dd, "text").attempts[0]!.outputRef, null);
  assert.equal(ti(dd, "u8").attempts[0]!.outputRef, null);
});

test("an output that cannot be serialised fails the attempt with SERIALIZATION, naming the task", () => {
  sb.write(
    "unserial.ts",
    `import { dag } from "sluice";
export default dag("unserial", (d) => {
  const f = d.task("returns_fn", async () => ({ ok: 1, fn: () => 42 }));
  d.task("downstream", { inputs: { f } }, async () => 1);
});
`,
  );
  const r = run(sb, "unserial");
  assert.equal(r.code, 1);
  assert.deepEqual(states(r.json), { returns_fn: "failed", downstream: "upstream_failed" });
  const a = ti(show(sb, r.json.runId), "returns_fn").attempts;
  assert.equal(a.length, 1);
  assert.equal(a[0]!.errorCode, "SERIALIZATION");
  assert.match(a[0]!.errorMessage!, /task "returns_fn"/);
  assert.match(a[0]!.errorMessage!, /cannot be stored/);
});

test('isolation "process" runs the task in another process; a crash there fails only that task', () => {
  sb.write(
    "isolated.ts",
    `import { dag } from "sluice";
export default dag("isolated", (d) => {
  const inline = d.task("inline_pid", async () => process.pid);
  const child = d.task("child_pid", { isolation: "process" }, async (_i, ctx) => { ctx.log.info("hello from the child"); return { pid: process.pid, buf: Buffer.from("abc") }; });
  d.task("crash", { isolation: "process" }, async () => { process.kill(process.pid, "SIGKILL"); await new Promise((r) => setTimeout(r, 10_000)); return 1; });
  d.task("exits", { isolation: "process" }, async () => { process.exit(3); });
  d.task("both", { inputs: { inline, child } }, async ({ inline, child }) => ({ inline, child: child.pid, isBuf: Buffer.isBuffer(child.buf), text: child.buf.toString() }));
});
`,
  );
  const r = run(sb, "isolated");
  assert.equal(r.code, 1, r.stderr);
  assert.deepEqual(states(r.json), { inline_pid: "success", child_pid: "success", crash: "failed", exits: "failed", both: "success" });
  const both = output(sb, r.json.runId, "both") as { inline: number; child: number; isBuf: boolean; text: string };
  const detail = show(sb, r.json.runId);
  const workerPid = ti(detail, "inline_pid").attempts[0]!.pid;
  assert.equal(both.inline, workerPid, "an inline task runs in the worker's process");
  assert.notEqual(both.child, workerPid, "a process task runs in another process");
  assert.ok(both.isBuf);
  assert.equal(both.text, "abc");
  const crash = ti(detail, "crash").attempts[0]!;
  assert.equal(crash.errorCode, "TASK_FAILED");
  assert.match(crash.errorMessage!, /killed by SIGKILL/);
  const exits = ti(detail, "exits").attempts[0]!;
  assert.match(exits.errorMessage!, /exited with code 3/);
  assert.equal(exits.exitCode, 3);
  const logs = cli(sb, ["logs", r.json.runId, "child_pid"]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /INFO\s+hello from the child/);
});

test("a shell task's non-zero exit fails it with the exit code recorded; stdout's last line is the output", () => {
  sb.write(
    "shelly.ts",
    `import { dag } from "sluice";
export default dag("shelly", (d) => {
  d.shell("echo", { command: "echo first; echo last", shell: true });
  d.shell("fails", { command: "echo about to fail; echo oops >&2; exit 7", shell: true });
  d.shell("missing", { command: "definitely-not-a-command-sluice" });
});
`,
  );
  const r = run(sb, "shelly");
  assert.equal(r.code, 1);
  assert.deepEqual(states(r.json), { echo: "success", fails: "failed", missing: "failed" });
  assert.equal(output(sb, r.json.runId, "echo"), "last");
  const detail = show(sb, r.json.runId);
  const f = ti(detail, "fails").attempts[0]!;
  assert.equal(f.exitCode, 7);
  assert.match(f.errorMessage!, /exited with code 7/);
  assert.match(ti(detail, "missing").attempts[0]!.errorMessage!, /command not found/);
  const logs = cliJson<{ lines: { level: string; msg: string }[] }>(sb, ["logs", r.json.runId, "fails"]);
  assert.deepEqual(
    logs.json.lines.filter((l) => l.level === "stdout" || l.level === "stderr").map((l) => [l.level, l.msg]),
    [
      ["stdout", "about to fail"],
      ["stderr", "oops"],
    ],
  );
});

test("logs: ctx.log lines with their levels; --attempt 1 shows the first failure", () => {
  sb.write(
    "logging.ts",
    `import { dag } from "sluice";
export default dag("logging", (d) => {
  d.task("talk", { retries: 1, retryDelay: "10ms" }, async (_i, ctx) => {
    ctx.log.info("processing %d rows", 42);
    ctx.log.warn("careful on attempt " + ctx.attempt);
    ctx.log.debug("details");
    if (ctx.attempt === 1) { ctx.log.error("giving up this time"); throw new Error("first attempt fails"); }
    return "done";
  });
});
`,
  );
  const r = run(sb, "logging");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.tasks[0]!.attempts, 2);

  const latest = cli(sb, ["logs", r.json.runId, "talk"]);
  assert.equal(latest.code, 0, latest.stderr);
  assert.match(latest.stdout, /INFO\s+processing 42 rows/);
  assert.match(latest.stdout, /WARN\s+careful on attempt 2/);
  assert.match(latest.stdout, /DEBUG\s+details/);
  assert.doesNotMatch(latest.stdout, /first attempt fails/);

  const first = cli(sb, ["logs", r.json.runId, "talk", "--attempt", "1"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /WARN\s+careful on attempt 1/);
  assert.match(first.stdout, /ERROR\s+giving up this time/);
  assert.match(first.stdout, /attempt 1 of \d+ failed: first attempt fails/);

  const j = cliJson<{ attempt: number; state: string; lines: { t: number; level: string; msg: string }[] }>(sb, ["logs", r.json.runId, "talk", "--attempt", "1"]);
  assert.equal(j.json.attempt, 1);
  assert.equal(j.json.state, "failed");
  const mine = j.json.lines.filter((l) => ["processing 42 rows", "careful on attempt 1", "details", "giving up this time"].includes(l.msg));
  assert.deepEqual(
    mine.map((l) => l.level),
    ["info", "warn", "debug", "error"],
  );
  assert.ok(j.json.lines.every((l) => typeof l.t === "number" && l.t > 0));

  const missing = cli(sb, ["logs", r.json.runId, "talk", "--attempt", "3"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no attempt 3; it has 2/);
});

test("logs: a task's CR/LF and terminal escapes print escaped, one stored line one printed line", () => {
  sb.write(
    "forger.ts",
    `import { dag } from "sluice";
export default dag("forger", (d) => {
  d.task("forge", async (_i, ctx) => {
    ctx.log.info("all good\\r\\n2026-01-01T00:00:00.000Z ERROR   forged line");
    ctx.log.info("title \\x1b]0;owned\\x07 and \\x1b[2J clear");
    ctx.log.warn("csi \\u009b2J");
  });
});
`,
  );
  const r = run(sb, "forger");
  assert.equal(r.code, 0, r.stderr);
  const j = cliJson<{ lines: { msg: string }[] }>(sb, ["logs", r.json.runId, "forge"]);
  const text = cli(sb, ["logs", r.json.runId, "forge"]);
  assert.equal(text.code, 0, text.stderr);
  // eslint-disable-next-line no-control-regex -- no raw control character may reach the terminal
  assert.doesNotMatch(text.stdout.replaceAll("\n", ""), /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  assert.equal(text.stdout.split("\n").filter(Boolean).length, j.json.lines.length, text.stdout);
  assert.match(text.stdout, /INFO\s+all good\\r\\n2026-01-01T00:00:00.000Z ERROR {3}forged line\n/);
  assert.match(text.stdout, /title \\x1b\]0;owned\\x07 and \\x1b\[2J clear/);
  assert.match(text.stdout, /csi \\x9b2J/);
  assert.doesNotMatch(text.stdout, /^\S+ ERROR\s+forged/m);
});

test("logs --follow streams a running task's lines and ends when the task ends", async () => {
  // The task logs until the test has seen its first lines through `logs --follow`, so the lines provably
  // arrive while it runs; then the test lets it finish and `--follow` must end by itself.
  const stop = join(sb.dir, "stop-chatty");
  rmSync(stop, { force: true }); // left by this test's run on the previous store
  sb.write(
    "chatty.ts",
    `import { dag } from "sluice";
import { existsSync } from "node:fs";
export default dag("chatty", (d) => {
  d.task("chat", async (_i, ctx) => {
    let i = 0;
    const end = Date.now() + 60_000;
    while (!existsSync(${JSON.stringify(stop)}) && Date.now() < end) { ctx.log.info("line " + ++i); await new Promise((r) => setTimeout(r, 100)); }
    ctx.log.warn("told to stop after " + i + " lines");
    return i;
  });
});
`,
  );
  const runner = cliSpawn(sb, ["run", "chatty", "--json"]);
  let runOut = "";
  runner.stdout.on("data", (c: Buffer) => (runOut += c.toString()));
  const runnerDone = new Promise<number>((resolve) => runner.on("close", (code) => resolve(code ?? -1)));
  const follower: { proc: ReturnType<typeof cliSpawn> | null } = { proc: null };
  try {
    let runId = "";
    await waitFor(
      () => {
        const l = cliJson<{ runs: { runId: string; dagId: string }[] }>(sb, ["runs", "list", "--dag", "chatty"]);
        runId = l.json.runs[0]?.runId ?? "";
        return runId !== "" && ti(show(sb, runId), "chat").attempts.length > 0;
      },
      60_000,
      "the chat task to start",
    );
    const f = cliSpawn(sb, ["logs", runId, "chat", "--follow"]);
    follower.proc = f;
    let out = "";
    let err = "";
    f.stdout.on("data", (c: Buffer) => (out += c.toString()));
    f.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const followerDone = new Promise<number>((resolve) => f.on("close", (c) => resolve(c ?? -1)));
    await waitFor(() => /line 3\n/.test(out), 60_000, "`logs --follow` to print the first lines");
    assert.equal(f.exitCode, null, "--follow must keep going while the task runs");
    writeFileSync(stop, "");
    assert.equal(await followerDone, 0, err);
    assert.equal(await runnerDone, 0);
    const total = (JSON.parse(runOut) as RunJson).state === "success" ? Number(output(sb, runId, "chat")) : -1;
    assert.ok(total >= 3, `the task logged ${total} lines`);
    const lines = out.split("\n").filter((l) => /line \d+$/.test(l));
    assert.deepEqual(
      lines.map((l) => Number(/line (\d+)$/.exec(l)![1])),
      Array.from({ length: total }, (_, i) => i + 1),
      "every line once, in order",
    );
    assert.match(out, new RegExp(`WARN\\s+told to stop after ${total} lines`));
    assert.match(out, /attempt 1 of \d+ succeeded/, "it printed to the end of the attempt");
  } finally {
    writeFileSync(stop, "");
    runner.kill("SIGKILL");
    follower.proc?.kill("SIGKILL");
  }
});

test("Ctrl-C twice hands the running task back (interrupted, not counted) and exits; the run resumes", async () => {
  const marks = join(sb.dir, "stubborn-marks");
  rmSync(marks, { force: true }); // left by this test's run on the previous store
  sb.write(
    "stubborn.ts",
    `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("stubborn", (d) => {
  d.task("ignores_abort", { retries: 0 }, async (_i, ctx) => {
    if (ctx.attempt > 1) return "second attempt";
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    setInterval(() => undefined, 1000);
    await new Promise(() => undefined); // never ends, never looks at ctx.signal
  });
});
`,
  );
  const runner = cliSpawn(sb, ["run", "stubborn", "--json"]);
  let err = "";
  runner.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const done = new Promise<number>((resolve) => runner.on("close", (code) => resolve(code ?? -1)));
  try {
    await waitFor(() => existsSync(marks), 60_000, "the task to start");
    runner.kill("SIGINT");
    await waitFor(() => err.includes("stopping"), 30_000, `the drain to start: ${err}`);
    runner.kill("SIGINT");
    assert.equal(await done, 130, err);
    assert.match(err, /handing back 1 running task/);
  } finally {
    runner.kill("SIGKILL");
  }
  const l = cliJson<{ runs: { runId: string }[] }>(sb, ["runs", "list", "--dag", "stubborn"]);
  const runId = l.json.runs[0]!.runId;
  const t = ti(show(sb, runId), "ignores_abort");
  assert.deepEqual(t.attempts.map((a) => a.state), ["interrupted"], "recorded, not left running for a lease");
  assert.equal(t.state, "scheduled");
  const resumed = cliJson<RunJson>(sb, ["runs", "resume", runId, "--json"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(resumed.json.state, "success", "retries: 0, yet it succeeds: the handed-back try did not count");
});
});
}
