/**
 * The dead-letter queue over HTTP against a real server, scheduler and worker (SQLite; the store and
 * engine part runs on both dialects in test/engine/deadLetters.test.ts, per-DAG access in
 * test/server/access.test.ts): list with filters and pages, show, bulk retry (the run resumes and
 * succeeds on the next try) and discard, a viewer's 403, and 4xx for malformed bodies and ids.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, type Deployment } from "./harness.js";

const sb = sandbox("sluice-api-dlq-");
sb.write(
  "flaky.ts",
  `import { dag } from "sluice";
export default dag("flaky", (d) => {
  const a = d.task("a", { retries: 1, retryDelay: 0 }, async (_i, ctx) => {
    if (ctx.attempt < 3) throw new Error("<b>not yet</b> try " + ctx.attempt);
    return ctx.attempt;
  });
  d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
});
`,
);

let dep: Deployment;
let admin: Client;
let viewer: Client;

async function finished(c: Client, runId: string): Promise<string> {
  let state = "";
  await waitFor(async () => ["success", "failed"].includes((state = (await c.get(`/api/v1/runs/${runId}`)).json?.state)), 60_000, `run ${runId} to finish`);
  return state;
}

async function failedRun(): Promise<string> {
  const r = await admin.post("/api/v1/dags/flaky/runs", {});
  assert.equal(r.status, 201, r.text);
  assert.equal(await finished(admin, r.json.runId), "failed");
  return r.json.runId;
}

before(async () => {
  dep = await deploy(sb);
  admin = new Client(dep.url);
  assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200);
  assert.equal((await admin.post("/api/v1/users", { username: "vera", password: "vera-password", role: "viewer" })).status, 201);
  viewer = new Client(dep.url);
  assert.equal((await viewer.login("vera", "vera-password")).status, 200);
  await waitFor(async () => (await admin.get("/api/v1/dags")).json?.items?.length === 1, 60_000, "the DAG registered");
});
after(async () => {
  await dep?.stop();
  sb.cleanup();
});

test("list, show and page; a viewer reads but may not act (403); a bulk retry resumes the run to success; discard keeps it listed", async () => {
  const runs = [await failedRun(), await failedRun(), await failedRun()];
  const list = await viewer.get("/api/v1/dlq?dagId=flaky&state=open&limit=2");
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.items.length, 2);
  assert.deepEqual(list.json.items.map((e: { runId: string }) => e.runId), [runs[2], runs[1]], "newest first");
  const next = await viewer.get(`/api/v1/dlq?dagId=flaky&state=open&limit=2&cursor=${list.json.nextCursor}`);
  assert.deepEqual(next.json.items.map((e: { runId: string }) => e.runId), [runs[0]]);
  assert.equal(next.json.nextCursor, null);
  const e = list.json.items[0];
  assert.deepEqual(
    { taskId: e.taskId, mapIndex: e.mapIndex, state: e.state, reason: e.reason, attempts: e.attempts, error: e.error, inputs: e.inputs, parked: e.parked },
    { taskId: "a", mapIndex: -1, state: "open", reason: "exhausted", attempts: 2, error: { code: "TASK_FAILED", message: "<b>not yet</b> try 2" }, inputs: {}, parked: false },
  );
  assert.equal((await viewer.get(`/api/v1/dlq/${e.id}`)).json.id, e.id);

  for (const [path, body] of [
    ["/api/v1/dlq/retry", { ids: [e.id] }],
    ["/api/v1/dlq/discard", { ids: [e.id] }],
    [`/api/v1/dlq/${e.id}/retry`, undefined],
    [`/api/v1/dlq/${e.id}/discard`, undefined],
  ] as const) {
    const r = await viewer.post(path, body);
    assert.equal(r.status, 403, `${path}: ${r.text}`);
    assert.equal(r.json.code, "FORBIDDEN");
  }
  assert.equal((await admin.get(`/api/v1/dlq/${e.id}`)).json.state, "open", "nothing changed");

  // bulk retry of two runs' entries (one id twice: once) — both runs resume and succeed on the next try
  const ids = list.json.items.map((x: { id: number }) => x.id);
  const retry = await admin.post("/api/v1/dlq/retry", { ids: [...ids, ids[0]] });
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.json.succeeded, 2);
  assert.deepEqual(retry.json.results.map((r: { entry: { state: string; resolvedBy: string } }) => [r.entry.state, r.entry.resolvedBy]), [
    ["retried", "admin"],
    ["retried", "admin"],
  ]);
  for (const runId of [runs[2]!, runs[1]!]) {
    assert.equal(await finished(admin, runId), "success");
    const tis = (await admin.get(`/api/v1/runs/${runId}/tasks`)).json.items;
    assert.deepEqual(tis.map((t: { taskId: string; state: string; tryNumber: number }) => [t.taskId, t.state, t.tryNumber]), [
      ["a", "success", 3],
      ["b", "success", 1],
    ]);
  }
  // retried again: each id its outcome, 409's code
  const again = await admin.post("/api/v1/dlq/retry", { ids: [ids[0]] });
  assert.deepEqual(again.json.results.map((r: { ok: boolean; error: { code: string } }) => [r.ok, r.error.code]), [[false, "CONFLICT"]]);
  assert.equal((await admin.post(`/api/v1/dlq/${ids[0]}/retry`)).status, 409);

  const last = next.json.items[0];
  const discard = await admin.post(`/api/v1/dlq/${last.id}/discard`);
  assert.equal(discard.status, 200, discard.text);
  assert.equal(discard.json.state, "discarded");
  assert.deepEqual((await admin.get("/api/v1/dlq?state=discarded")).json.items.map((x: { id: number }) => x.id), [last.id]);
  assert.deepEqual((await admin.get("/api/v1/dlq?state=open")).json.items, []);
  assert.equal((await admin.get(`/api/v1/runs/${runs[0]}`)).json.state, "failed", "a discard leaves the run as it is");
  const audit = (await admin.get("/api/v1/audit?action=dlq.retry")).json.items;
  assert.equal(audit.length, 2, "one audit entry per retried entry");
});

test("malformed bodies, ids and filters are 4xx naming the field; unknown ids are 404", async () => {
  const cases: [string, string, unknown, number, RegExp][] = [
    ["POST", "/api/v1/dlq/retry", {}, 400, /ids/],
    ["POST", "/api/v1/dlq/retry", { ids: [] }, 400, /ids/],
    ["POST", "/api/v1/dlq/retry", { ids: "1" }, 400, /ids/],
    ["POST", "/api/v1/dlq/retry", { ids: [0] }, 400, /ids/],
    ["POST", "/api/v1/dlq/retry", { ids: [1.5] }, 400, /ids/],
    ["POST", "/api/v1/dlq/discard", { ids: Array.from({ length: 501 }, (_, i) => i + 1) }, 400, /ids/],
    ["POST", "/api/v1/dlq/discard", { ids: [1], force: true }, 400, /unknown field "force"/],
    ["POST", "/api/v1/dlq/discard", "{not json", 400, /./],
    ["GET", "/api/v1/dlq/abc", undefined, 400, /id: must be a positive integer/],
    ["GET", "/api/v1/dlq/999999", undefined, 404, /no dead letter with id "999999"/],
    ["POST", "/api/v1/dlq/999999/retry", undefined, 404, /no dead letter with id "999999"/],
    ["GET", "/api/v1/dlq?state=stale", undefined, 400, /state/],
    ["GET", "/api/v1/dlq?cursor=nope", undefined, 400, /cursor/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const r = await admin.call(method, path, body);
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)?.slice(0, 60)}: ${r.text}`);
    assert.match(r.json.message, message, path);
  }
});
