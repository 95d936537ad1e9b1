/**
 * Acting on runs through the REST API of a real deployment (scheduler + worker + HTTP on port 0): trigger
 * with params, clear with and without downstream, mark success/failed (downstream re-evaluated), the
 * live log stream of a running task, and the grid of a mapped task.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, type Deployment } from "./harness.js";

const sb = sandbox("sluice-api-runs-");
const WAIT = `const waitFile = async (path: string, signal: AbortSignal) => {
  const { existsSync } = await import("node:fs");
  while (!existsSync(path)) {
    if (signal.aborted) throw signal.reason;
    await new Promise((r) => setTimeout(r, 50));
  }
};
`;
sb.write(
  "dags.ts",
  `import { dag } from "sluice";
import { z } from "zod";
${WAIT}
export const chain = dag("chain", { params: z.object({ n: z.number().int().min(1), label: z.string().default("x") }) }, (d) => {
  const a = d.task("a", async (_i, ctx) => ctx.params.n);
  const b = d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
  d.task("c", { inputs: { b } }, async ({ b }) => b + 1);
});
export const gate = dag("gate", { params: z.object({ dir: z.string() }) }, (d) => {
  const wait = d.task("wait", { retries: 0 }, async (_i, ctx) => { await waitFile(ctx.params.dir + "/never", ctx.signal); });
  d.task("after", { after: [wait] }, async () => "ran");
});
export const leaf = dag("leaf", (d) => {
  const ok = d.task("ok", async () => 1);
  d.task("boom", { after: [ok], retries: 0 }, async () => { throw new Error("boom"); });
});
export const tail = dag("tail", { params: z.object({ dir: z.string() }) }, (d) => {
  d.task("talk", async (_i, ctx) => {
    ctx.log.info("line one");
    ctx.log.warn("line two <b>not html</b>");
    await waitFile(ctx.params.dir + "/go", ctx.signal);
    ctx.log.info("line three");
  });
});
export const late = dag("late", { params: z.object({ dir: z.string() }), deadline: { from: "queued", within: "1s" }, onDeadlineMiss: () => undefined, onFailure: (ctx) => { throw new Error("pager down for " + ctx.run.id); } }, (d) => {
  d.task("wait", { retries: 0 }, async (_i, ctx) => { await waitFile(ctx.params.dir + "/late-go", ctx.signal); throw new Error("done late"); });
});
export const mapped = dag("mapped", (d) => {
  const items = d.task("items", async () => [1, 2, 3]);
  const work = d.map("work", { over: { i: items }, retries: 0 }, async ({ i }) => { if (i === 2) throw new Error("two"); return i; });
  d.task("sum", { inputs: { work }, triggerRule: "all_done" }, async ({ work }) => work.length);
});
`,
);

let dep: Deployment;
let api: Client;

before(async () => {
  dep = await deploy(sb);
  api = new Client(dep.url);
  assert.equal((await api.login("admin", ADMIN_PASSWORD)).status, 200);
});

after(async () => {
  await dep?.stop();
  sb.cleanup();
});

async function finished(id: string) {
  await waitFor(async () => ["success", "failed"].includes((await api.get(`/api/v1/runs/${id}`)).json?.state), 60_000, `run ${id} to finish`);
  return (await api.get(`/api/v1/runs/${id}`)).json;
}

async function tasks(runId: string): Promise<Record<string, { state: string; tryNumber: number; mapIndex: number; lastAttemptId: number | null }>> {
  const items = (await api.get(`/api/v1/runs/${runId}/tasks`)).json.items as { taskId: string; mapIndex: number; state: string; tryNumber: number; lastAttemptId: number | null }[];
  return Object.fromEntries(items.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t]));
}

async function taskState(runId: string, taskId: string): Promise<string | undefined> {
  return (await tasks(runId))[taskId]?.state;
}

test("trigger with params: 201 with the validated params (defaults filled); invalid params are a 422 naming the field", async () => {
  let r = await api.post("/api/v1/dags/chain/runs", { params: { n: "three" } });
  assert.equal(r.status, 422);
  assert.equal(r.json.code, "INVALID_PARAM");
  assert.deepEqual(r.json.fields.map((f: { path: string }) => f.path), ["n"]);
  r = await api.post("/api/v1/dags/chain/runs", { params: {} });
  assert.equal(r.status, 422);
  assert.equal(r.json.fields[0].path, "n");
  assert.equal((await api.get("/api/v1/dags/chain/runs")).json.items.length, 0, "a rejected trigger creates nothing");

  r = await api.post("/api/v1/dags/chain/runs", { params: { n: 5 }, logicalDate: Date.UTC(2026, 0, 2), idempotencyKey: "once" });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.params, { n: 5, label: "x" });
  assert.equal(r.json.logicalDate, Date.UTC(2026, 0, 2));
  assert.equal(r.json.runType, "manual");
  const again = await api.post("/api/v1/dags/chain/runs", { params: { n: 5 }, idempotencyKey: "once" });
  assert.equal(again.json.runId, r.json.runId, "the same idempotency key gives the same run");
  assert.equal((await finished(r.json.runId)).state, "success");
  // the DAG detail carries the params schema and the structure its edges
  const detail = (await api.get("/api/v1/dags/chain")).json;
  assert.equal(detail.params.properties.n.type, "integer");
  const structure = (await api.get("/api/v1/dags/chain/structure")).json;
  assert.deepEqual(structure.tasks.map((t: { id: string; downstream: string[] }) => [t.id, t.downstream]), [["a", ["b"]], ["b", ["c"]], ["c", []]]);
});

test("clear without downstream runs the task again alone; with downstream, everything after it too", async () => {
  const run = (await api.post("/api/v1/dags/chain/runs", { params: { n: 1 } })).json;
  await finished(run.runId);
  let r = await api.post(`/api/v1/runs/${run.runId}/tasks/b/clear`, { downstream: false });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.cleared, ["b"]);
  assert.equal((await finished(run.runId)).state, "success");
  let t = await tasks(run.runId);
  assert.deepEqual([t["a"]!.tryNumber, t["b"]!.tryNumber, t["c"]!.tryNumber], [1, 2, 1]);

  r = await api.post(`/api/v1/runs/${run.runId}/tasks/b/clear`, { downstream: true });
  assert.deepEqual(r.json.cleared, ["b", "c"]);
  assert.equal((await finished(run.runId)).state, "success");
  t = await tasks(run.runId);
  assert.deepEqual([t["a"]!.tryNumber, t["b"]!.tryNumber, t["c"]!.tryNumber], [1, 3, 2]);
  const attempts = (await api.get(`/api/v1/runs/${run.runId}/tasks/b/attempts`)).json.items;
  assert.deepEqual(attempts.map((a: { tryNumber: number; state: string }) => [a.tryNumber, a.state]), [[1, "success"], [2, "success"], [3, "success"]]);
});

test("mark success on a running task: its attempt is ended and its downstream runs; mark failed: downstream fails upstream", async () => {
  const ok = (await api.post("/api/v1/dags/gate/runs", { params: { dir: sb.dir } })).json;
  await waitFor(async () => (await taskState(ok.runId, "wait")) === "running", 60_000, "wait to run");
  let r = await api.post(`/api/v1/runs/${ok.runId}/tasks/wait/mark`, { state: "success" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.marked, 1);
  const done = await finished(ok.runId);
  assert.equal(done.state, "success");
  let t = await tasks(ok.runId);
  assert.equal(t["wait"]!.state, "success");
  assert.equal(t["after"]!.state, "success");
  const attempt = (await api.get(`/api/v1/runs/${ok.runId}/tasks/wait/attempts`)).json.items[0];
  assert.equal(attempt.state, "failed");
  assert.equal(attempt.errorCode, "CANCELLED");

  const bad = (await api.post("/api/v1/dags/gate/runs", { params: { dir: sb.dir } })).json;
  await waitFor(async () => (await taskState(bad.runId, "wait")) === "running", 60_000, "wait to run");
  r = await api.post(`/api/v1/runs/${bad.runId}/tasks/wait/mark`, { state: "failed" });
  assert.equal(r.status, 200);
  assert.equal((await finished(bad.runId)).state, "failed");
  t = await tasks(bad.runId);
  assert.equal(t["wait"]!.state, "failed");
  assert.equal(t["after"]!.state, "upstream_failed");
});

test("mark success on the failed leaf of a failed run: the run's state is derived again (success)", async () => {
  const run = (await api.post("/api/v1/dags/leaf/runs", {})).json;
  assert.equal((await finished(run.runId)).state, "failed");
  const r = await api.post(`/api/v1/runs/${run.runId}/tasks/boom/mark`, { state: "success" });
  assert.equal(r.status, 200);
  assert.equal(r.json.run.state, "success");
  assert.equal((await taskState(run.runId, "boom")), "success");
  assert.equal((await api.post(`/api/v1/runs/${run.runId}/tasks/boom/mark`, { state: "failed", mapIndex: 4 })).status, 404);
});

test("the log stream (SSE) delivers the lines of a running task as they are written, then `end`", async () => {
  const run = (await api.post("/api/v1/dags/tail/runs", { params: { dir: sb.dir } })).json;
  await waitFor(async () => (await tasks(run.runId))["talk"]?.lastAttemptId != null, 60_000, "talk to start");
  const attemptId = (await tasks(run.runId))["talk"]!.lastAttemptId!;
  const res = await fetch(`${dep.url}/api/v1/attempts/${attemptId}/logs/stream`, { headers: { Cookie: `sluice_session=${api.cookie}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const events = () =>
    text
      .split("\n\n")
      .filter((b) => b.includes("event:"))
      .map((b) => ({ event: /event: (\w+)/.exec(b)![1], data: JSON.parse(/data: (.*)/.exec(b)![1]!) }));
  const readUntil = async (cond: () => boolean, what: string) => {
    const deadline = Date.now() + 60_000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${text}`);
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  };
  await readUntil(() => events().some((e) => e.data.msg === "line two <b>not html</b>"), "line two");
  assert.equal((await taskState(run.runId, "talk")), "running", "the lines arrived while the task was running");
  assert.ok(!events().some((e) => e.event === "end"));
  writeFileSync(join(sb.dir, "go"), "");
  await readUntil(() => events().some((e) => e.event === "end"), "end");
  const lines = events().filter((e) => e.event === "line").map((e) => e.data);
  assert.deepEqual(
    lines.filter((l) => l.msg.startsWith("line")).map((l) => [l.level, l.msg]),
    [["info", "line one"], ["warn", "line two <b>not html</b>"], ["info", "line three"]],
  );
  assert.ok(lines.every((l) => typeof l.t === "number"));
  assert.ok(existsSync(join(sb.dir, "go")));
  // paged reading gives the same lines, and eof once the attempt has ended
  const paged = (await api.get(`/api/v1/attempts/${attemptId}/logs?limit=2`)).json;
  assert.equal(paged.lines.length, 2);
  const rest = (await api.get(`/api/v1/attempts/${attemptId}/logs?offset=${paged.nextOffset}`)).json;
  assert.deepEqual([...paged.lines, ...rest.lines].map((l: { msg: string }) => l.msg), lines.map((l) => l.msg));
  assert.equal(rest.eof, true);
});

test("grid: one letter per task per run; a mapped task shows its worst map index", async () => {
  const run = (await api.post("/api/v1/dags/mapped/runs", {})).json;
  await finished(run.runId);
  const grid = (await api.get("/api/v1/dags/mapped/grid")).json;
  assert.deepEqual(grid.tasks, ["items", "work", "sum"]);
  assert.equal(grid.runs[0].runId, run.runId);
  assert.equal(grid.states[run.runId], "sfs"); // work[1] failed; sum ran (all_done)
  const t = await tasks(run.runId);
  assert.deepEqual([t["work[0]"]!.state, t["work[1]"]!.state, t["work[2]"]!.state], ["success", "failed", "success"]);
  // outputs and inputs previews
  const out = (await api.get(`/api/v1/attempts/${t["items"]!.lastAttemptId}/output`)).json;
  assert.equal(out.truncated, false);
  assert.deepEqual(JSON.parse(out.preview), [1, 2, 3]);
  const inputs = (await api.get(`/api/v1/runs/${run.runId}/tasks/sum/inputs`)).json;
  assert.deepEqual(JSON.parse(inputs.inputs.work.preview), [1, null, 3]);

  // clearing one map index runs only that index again
  assert.equal((await api.post(`/api/v1/runs/${run.runId}/tasks/work/clear`, { mapIndex: 7 })).status, 404);
  const cleared = await api.post(`/api/v1/runs/${run.runId}/tasks/work/clear`, { mapIndex: 1 });
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal((await api.get(`/api/v1/runs/${run.runId}`)).json.state, "running", "a clear reopens the run");
  await finished(run.runId);
  const after = await tasks(run.runId);
  assert.deepEqual(["work[0]", "work[1]", "work[2]", "sum"].map((k) => after[k]!.tryNumber), [1, 2, 1, 1]);
});

test("deadline misses and callbacks in the API: run detail (deadlineMisses, callbacks) and the DAG list (deadlineMisses)", async () => {
  const run = (await api.post("/api/v1/dags/late/runs", { params: { dir: sb.dir } })).json;
  assert.equal(typeof run.deadlineAt, "number");
  // the scheduler's deadline timer (or its sweep) records the miss while the task waits
  await waitFor(async () => (await api.get(`/api/v1/runs/${run.runId}`)).json.deadlineMisses.length === 1, 60_000, "the deadline miss");
  let detail = (await api.get(`/api/v1/runs/${run.runId}`)).json;
  assert.deepEqual(detail.deadlineMisses.map((m: any) => [m.taskId, m.deadlineAt]), [[null, run.deadlineAt]]);
  assert.equal(detail.state, "running", "a miss changes no state");
  writeFileSync(join(sb.dir, "late-go"), "go");
  detail = await finished(run.runId);
  assert.equal(detail.state, "failed");
  // the failure's callback throws: logged, retried, shown with its error; the run stays as it ended
  await waitFor(async () => (await api.get(`/api/v1/runs/${run.runId}`)).json.callbacks.some((c: any) => c.event === "failure" && c.tries >= 1 && c.state !== "running"), 60_000, "the failure callback's first try");
  detail = (await api.get(`/api/v1/runs/${run.runId}`)).json;
  const failure = detail.callbacks.find((c: any) => c.event === "failure");
  assert.equal(failure.name, "function onFailure");
  assert.equal(failure.state, "pending");
  assert.equal(failure.lastError, `pager down for ${run.runId}`);
  assert.equal(detail.callbacks.find((c: any) => c.event === "deadline_miss").state, "done");
  assert.equal(detail.state, "failed");
  const dags = (await api.get("/api/v1/dags")).json.items as any[];
  assert.equal(dags.find((d) => d.dagId === "late").deadlineMisses.runs, 1);
  assert.deepEqual(dags.find((d) => d.dagId === "chain").deadlineMisses, { runs: 0, lastMissedAt: null });
});
