/**
 * The REST API's access control against a real server on port 0 and a real SQLite file: every route ×
 * {anonymous, viewer, operator, admin} (deny by default; a viewer changes nothing), CSRF, sessions that
 * die on logout, password change and deletion, API tokens, bad input, path traversal, and no secret in
 * any response.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, storeSnapshot, type Deployment } from "./harness.js";

const sb = sandbox("sluice-api-auth-");
sb.write(
  "simple.ts",
  `import { dag } from "sluice";
import { z } from "zod";
export default dag("simple", { params: z.object({ n: z.number().int().default(1) }), tags: ["t1"], owner: "team-a" }, (d) => {
  const a = d.task("a", async (_i, ctx) => { ctx.log.info("hello from a"); ctx.track.metric("loss", 1); return { n: ctx.params.n }; });
  const b = d.task("b", { inputs: { a } }, async ({ a }) => a.n + 1);
  d.task("c", { inputs: { b }, produces: ["warehouse.simple"] }, async ({ b }) => b * 2);
});
`,
);

let dep: Deployment;
let admin: Client;
let viewer: Client;
let operator: Client;
let runId = "";
let attemptId = 0;
let adminTokenId = "";

async function finished(c: Client, id: string) {
  await waitFor(async () => ["success", "failed"].includes((await c.get(`/api/v1/runs/${id}`)).json?.state), 60_000, `run ${id} to finish`);
  return (await c.get(`/api/v1/runs/${id}`)).json;
}

before(async () => {
  dep = await deploy(sb);
  admin = new Client(dep.url);
  assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200);
  for (const [name, role] of [["viewer1", "viewer"], ["operator1", "operator"], ["victim", "viewer"]] as const) {
    assert.equal((await admin.post("/api/v1/users", { username: name, password: `${name}-password`, role })).status, 201);
  }
  viewer = new Client(dep.url);
  assert.equal((await viewer.login("viewer1", "viewer1-password")).status, 200);
  operator = new Client(dep.url);
  assert.equal((await operator.login("operator1", "operator1-password")).status, 200);
  const run = await admin.post("/api/v1/dags/simple/runs", { params: { n: 3 } });
  assert.equal(run.status, 201, run.text);
  runId = run.json.runId;
  assert.equal((await finished(admin, runId)).state, "success");
  attemptId = (await admin.get(`/api/v1/runs/${runId}/tasks/a/attempts`)).json.items[0].attemptId;
  // a model named like the asset (requestFor's :name), so its routes read something that exists
  await dep.s.store.models.register({ name: "warehouse.simple", artifactRef: "sha256:x", artifactSize: 1, flavor: { kind: "js", module: "m.ts", export: "load" }, framework: null, signature: null, metrics: {}, params: {}, description: null, dagId: "simple", dagVersion: "v", runId, taskId: "a", mapIndex: -1, attemptId, inputEvents: [] });
  const t = await admin.post("/api/v1/tokens", { name: "admin-script" });
  assert.equal(t.status, 201);
  adminTokenId = t.json.id;
});

after(async () => {
  await dep?.stop();
  sb.cleanup();
});

type Who = "anonymous" | "viewer" | "operator" | "admin";
const RANK: Record<string, number> = { viewer: 1, operator: 2, admin: 3 };

/** A request for every route in the table, with ids that exist. */
function requestFor(method: string, path: string, who: Who): { url: string; body?: unknown } {
  const url =
    "/api/v1" +
    path
      .replace(":dagId", "simple")
      .replace(":runId", runId)
      .replace(":taskId", "a")
      .replace(":attemptId", String(attemptId))
      .replace(":username", "victim")
      .replace(":name", path.startsWith("/experiments") ? "simple" : "warehouse.simple")
      .replace(":key", "threshold")
      .replace(":version", "1")
      .replace(":id", path.startsWith("/tokens") ? adminTokenId : "1");
  const bodies: Record<string, unknown> = {
    "POST /auth/login": { username: "nobody", password: "wrong-password" },
    "POST /auth/password": { current: "x", password: "yyyyyyyyyy" },
    "POST /users": { username: `new_${who}`, password: "password123", role: "viewer" },
    "PATCH /users/:username": { role: "operator" },
    "POST /tokens": { name: `t-${who}` },
    "PATCH /dags/:dagId": { paused: false },
    "POST /dags/:dagId/runs": { params: { n: 2 } },
    "POST /runs/:runId/tasks/:taskId/clear": { downstream: false },
    "POST /runs/:runId/tasks/:taskId/mark": { state: "success" },
    "PUT /runs/:runId/note": { note: "checked by **ops**" },
    "PUT /runs/:runId/tasks/:taskId/note": { note: "slow today" },
    "POST /backfills": { dagId: "simple", from: 0, to: 1, dryRun: true },
    "PUT /connections/:id": { uri: "http://example.com" },
    "PUT /variables/:key": { value: 1 },
    "POST /models/:name/promote": { alias: "champion", version: 1 },
    "POST /models/:name/rollback": { alias: "champion" },
    "POST /approvals/:id": { decision: "approve" },
    // no such model: the operator is let through to a 404
    "POST /models/:name/aliases/:alias/predict": { inputs: [{ x: 1 }] },
  };
  // routes that name what they read in the query
  const queries: Record<string, string> = { "/compare": `?runs=${runId}`, "/runs/:runId/metrics": "?task=a&names=loss" };
  const body = bodies[`${method.toUpperCase()} ${path}`];
  const full = url + (queries[path] ?? "");
  return body === undefined ? { url: full } : { url: full, body };
}

test("every route × {anonymous, viewer, operator, admin}: deny by default, roles enforced, a viewer changes nothing", async () => {
  const spec = (await new Client(dep.url).get("/api/v1/openapi.json")).json;
  const routes = dep.http.routes;
  // the OpenAPI document lists every route of the table (and the events endpoint)
  for (const r of routes) {
    const p = `/api/v1${r.path.replace(/:([A-Za-z]+)/g, "{$1}")}`;
    assert.ok(spec.paths[p]?.[r.method], `openapi.json lacks ${r.method} ${p}`);
  }
  assert.ok(spec.paths["/api/v1/events/{name}"].post);

  const clients: Record<Who, Client> = { anonymous: new Client(dep.url), viewer, operator, admin };
  // self-service routes change the caller's own session or tokens: tested on their own below
  const selfService = new Set(["/auth/logout", "/auth/password", "/tokens"]);
  const failures: string[] = [];
  let viewerBefore: Record<string, string> | null = null;
  for (const who of ["anonymous", "viewer", "operator", "admin"] as Who[]) {
    if (who === "viewer") viewerBefore = storeSnapshot(sb.home);
    for (const r of routes) {
      if (who !== "anonymous" && selfService.has(r.path) && r.method !== "get") continue;
      const { url, body } = requestFor(r.method, r.path, who);
      const res = await clients[who].call(r.method.toUpperCase(), url, body);
      const where = `${who} ${r.method.toUpperCase()} ${url} -> ${res.status} ${res.text.slice(0, 200)}`;
      if (r.access === "public") {
        const expected = r.path === "/auth/login" ? 401 : 200;
        if (res.status !== expected) failures.push(`${where} (expected ${expected})`);
      } else if (who === "anonymous") {
        if (res.status !== 401) failures.push(`${where} (expected 401)`);
      } else if (RANK[who]! < RANK[r.access]!) {
        if (res.status !== 403) failures.push(`${where} (expected 403)`);
      } else if (res.status === 401 || res.status === 403 || res.status >= 500) {
        failures.push(`${where} (expected to be allowed)`);
      } else if (r.method === "get" && res.status !== 200 && !(res.status === 404 && ["/backfills/:id", "/connections/:id", "/variables/:key", "/dlq/:id"].includes(r.path))) {
        failures.push(`${where} (expected 200)`);
      }
    }
    if (who === "viewer") {
      // the audit log records the viewer's failed POST /auth/login (test/app/audit.test.ts): nothing else changes
      const withoutAudit = (snap: Record<string, string>) => Object.fromEntries(Object.entries(snap).filter(([t]) => t !== "audit_log"));
      assert.deepEqual(withoutAudit(storeSnapshot(sb.home)), withoutAudit(viewerBefore!), "a viewer's requests changed the store");
    }
  }
  assert.deepEqual(failures, []);
  // the operator's and admin's calls did act: the user was deleted, a run was triggered
  assert.equal((await admin.get("/api/v1/users")).json.items.some((u: { username: string }) => u.username === "victim"), false);
});

test("CSRF: a state change with the session cookie needs the session's X-CSRF-Token; bearer tokens need none", async () => {
  const c = new Client(dep.url);
  await c.login("operator1", "operator1-password");
  const before = storeSnapshot(sb.home);
  let r = await c.call("PATCH", "/api/v1/dags/simple", { paused: true }, { csrf: false });
  assert.equal(r.status, 403);
  assert.match(r.json.message, /CSRF/);
  r = await c.call("PATCH", "/api/v1/dags/simple", { paused: true }, { csrf: false, headers: { "X-CSRF-Token": "forged" } });
  assert.equal(r.status, 403);
  // another session's token does not fit this session
  r = await c.call("PATCH", "/api/v1/dags/simple", { paused: true }, { csrf: false, headers: { "X-CSRF-Token": operator.csrf! } });
  assert.equal(r.status, 403);
  assert.deepEqual(storeSnapshot(sb.home), before);
  r = await c.call("PATCH", "/api/v1/dags/simple", { paused: true });
  assert.equal(r.status, 200);
  assert.equal(r.json.paused, true);
  const t = new Client(dep.url);
  t.bearer = (await c.post("/api/v1/tokens", { name: "ci" })).json.token;
  r = await t.call("PATCH", "/api/v1/dags/simple", { paused: false });
  assert.equal(r.status, 200);
  assert.equal(r.json.paused, false);
});

test("sessions die on logout, on password change and when the user is deleted; the cookie is HttpOnly, SameSite=Lax", async () => {
  await admin.post("/api/v1/users", { username: "sam", password: "sam-password-1", role: "operator" });
  const raw = await fetch(`${dep.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "sam", password: "sam-password-1" }) });
  const cookie = raw.headers.getSetCookie().find((c) => c.startsWith("sluice_session="))!;
  assert.match(cookie, /HttpOnly/i);
  assert.match(cookie, /SameSite=Lax/i);
  assert.match(cookie, /Path=\//);
  assert.doesNotMatch(cookie, /Secure/); // plain http here

  const a = new Client(dep.url);
  const b = new Client(dep.url);
  await a.login("sam", "sam-password-1");
  await b.login("sam", "sam-password-1");
  assert.equal((await a.post("/api/v1/auth/logout")).status, 200);
  assert.equal((await a.get("/api/v1/auth/me")).status, 401);
  assert.equal((await b.get("/api/v1/auth/me")).status, 200);

  // a password change ends every session, and opens a new one for the caller
  const c = new Client(dep.url);
  await c.login("sam", "sam-password-1");
  const oldC = c.cookie;
  let r = await b.post("/api/v1/auth/password", { current: "wrong-password", password: "sam-password-2" });
  assert.equal(r.status, 403);
  r = await b.post("/api/v1/auth/password", { current: "sam-password-1", password: "sam-password-2" });
  assert.equal(r.status, 200, r.text);
  assert.equal((await c.get("/api/v1/auth/me")).status, 401);
  const stale = new Client(dep.url);
  stale.cookie = oldC;
  assert.equal((await stale.get("/api/v1/auth/me")).status, 401);
  assert.equal((await b.get("/api/v1/auth/me")).status, 200); // the caller's new session
  b.csrf = r.json.csrfToken;
  assert.equal((await new Client(dep.url).login("sam", "sam-password-1")).status, 401);

  // an admin setting the password ends the sessions too
  const d = new Client(dep.url);
  await d.login("sam", "sam-password-2");
  assert.equal((await admin.call("PATCH", "/api/v1/users/sam", { password: "sam-password-3" })).status, 200);
  assert.equal((await d.get("/api/v1/auth/me")).status, 401);

  // deletion: sessions and tokens die
  const e = new Client(dep.url);
  await e.login("sam", "sam-password-3");
  const tok = new Client(dep.url);
  tok.bearer = (await e.post("/api/v1/tokens", { name: "sam-script" })).json.token;
  assert.equal((await tok.get("/api/v1/dags")).status, 200);
  assert.equal((await admin.call("DELETE", "/api/v1/users/sam")).status, 200);
  assert.equal((await e.get("/api/v1/auth/me")).status, 401);
  assert.equal((await tok.get("/api/v1/dags")).status, 401);
});

test("API tokens: shown once, stored hashed, role capped by the owner's, revocable", async () => {
  const v = new Client(dep.url);
  await v.login("viewer1", "viewer1-password");
  assert.equal((await v.post("/api/v1/tokens", { name: "too-strong", role: "operator" })).status, 403);
  const created = await operator.post("/api/v1/tokens", { name: "deploy", role: "viewer" });
  assert.equal(created.status, 201);
  const token: string = created.json.token;
  const t = new Client(dep.url);
  t.bearer = token;
  assert.equal((await t.get("/api/v1/auth/me")).json.user.role, "viewer");
  assert.equal((await t.post("/api/v1/dags/simple/runs", {})).status, 403); // the token's role, not the owner's
  const list = await operator.get("/api/v1/tokens");
  assert.ok(list.json.items.some((x: { id: string }) => x.id === created.json.id));
  assert.ok(!list.text.includes(token));
  // the operator does not see the admin's tokens; the admin sees everyone's
  assert.ok(!list.json.items.some((x: { id: string }) => x.id === adminTokenId));
  assert.equal((await operator.call("DELETE", `/api/v1/tokens/${adminTokenId}`)).status, 404);
  assert.equal((await operator.call("DELETE", `/api/v1/tokens/${created.json.id}`)).status, 200);
  assert.equal((await t.get("/api/v1/dags")).status, 401);
  const wrong = new Client(dep.url);
  wrong.bearer = "sluice_000000000000_notatoken";
  assert.equal((await wrong.get("/api/v1/dags")).status, 401);
});

test("login: wrong passwords are rate-limited per username and address", async () => {
  const c = new Client(dep.url);
  let last = 0;
  for (let i = 0; i < 10; i++) last = (await c.login("viewer1", "not-the-password")).status;
  assert.equal(last, 401);
  const r = await c.login("viewer1", "viewer1-password");
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers.get("retry-after")) > 0);
  // another username from the same address is not locked out
  assert.equal((await new Client(dep.url).login("operator1", "operator1-password")).status, 200);
});

test("bad input: a 4xx with { code, message } naming the problem, and nothing changes", async () => {
  const before = storeSnapshot(sb.home);
  const cases: [string, string, unknown, number, RegExp][] = [
    ["POST", "/api/v1/dags/simple/runs", '{"params": {"n": 1', 400, /not JSON/],
    ["POST", "/api/v1/dags/simple/runs", { params: {}, colour: "red" }, 400, /unknown field "colour"/],
    ["POST", "/api/v1/dags/simple/runs", { params: {}, logicalDate: "yesterday" }, 400, /logicalDate/],
    ["POST", "/api/v1/dags/simple/runs", { params: { n: "two" } }, 422, /n/],
    ["POST", "/api/v1/dags/simple/runs", { params: { m: 1 } }, 422, /"m"/],
    ["POST", "/api/v1/dags/simple/runs", [1, 2], 400, /body/],
    ["POST", "/api/v1/dags/nope/runs", {}, 404, /nope/],
    ["POST", "/api/v1/dags/simple/runs", { params: { n: 1, pad: "x".repeat(1_100_000) } }, 413, /1 MB/],
    ["PATCH", "/api/v1/dags/simple", { paused: "yes" }, 400, /paused/],
    ["PATCH", "/api/v1/dags/simple", {}, 400, /paused/],
    // the same rule as `sluice dags pause` (app/dags): a DAG no scheduler registered is not found, saying so
    ["PATCH", "/api/v1/dags/nope", { paused: true }, 404, /^no DAG with id "nope": no scheduler has registered it/],
    ["POST", `/api/v1/runs/${runId}/tasks/nope/clear`, {}, 404, /nope/],
    ["POST", `/api/v1/runs/${runId}/tasks/a/mark`, { state: "running" }, 400, /state/],
    ["POST", "/api/v1/runs/no-such-run/cancel", undefined, 404, /no-such-run/],
    ["POST", `/api/v1/runs/${runId}/cancel`, undefined, 409, /finished/],
    ["POST", "/api/v1/users", { username: "../x", password: "password123", role: "viewer" }, 400, /username/],
    ["POST", "/api/v1/users", { username: "ok_name", password: "short", role: "viewer" }, 400, /password/],
    ["POST", "/api/v1/users", { username: "ok_name", password: "password123", role: "root" }, 400, /role/],
    ["POST", "/api/v1/users", { username: "viewer1", password: "password123", role: "viewer" }, 409, /exists/],
    ["DELETE", "/api/v1/users/admin", undefined, 409, /last admin/],
    ["GET", "/api/v1/runs?limit=0", undefined, 400, /limit/],
    ["GET", "/api/v1/runs?limit=501", undefined, 400, /limit/],
    ["GET", "/api/v1/runs?cursor=bogus", undefined, 400, /cursor/],
    ["GET", "/api/v1/runs?colour=red", undefined, 400, /colour/],
    ["GET", "/api/v1/runs?state=sleeping", undefined, 400, /state/],
    ["GET", "/api/v1/runs/no-such-run", undefined, 404, /no-such-run/],
    ["GET", "/api/v1/dags/nope", undefined, 404, /nope/],
    ["GET", "/api/v1/attempts/999999/logs", undefined, 404, /999999/],
    ["GET", "/api/v1/nothing-here", undefined, 404, /no endpoint/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const r = await admin.call(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    assert.equal(typeof r.json?.code, "string", `${method} ${path}: no code in ${r.text.slice(0, 200)}`);
    assert.match(r.json.message, message, `${method} ${path}`);
    assert.doesNotMatch(r.text, /\n\s+at /, "no stack trace");
    if (status === 422) assert.ok(Array.isArray(r.json.fields) && r.json.fields.length > 0 && typeof r.json.fields[0].path === "string");
  }
  // an error about one input names it in `fields`, so a form shows it next to that field
  const fieldOf = async (body: unknown) => ((await admin.call("POST", "/api/v1/users", body)).json.fields as { path: string }[] | undefined)?.map((f) => f.path);
  assert.deepEqual(await fieldOf({ username: "ok_name", password: "short", role: "viewer" }), ["password"]);
  assert.deepEqual(await fieldOf({ username: "viewer1", password: "password123", role: "viewer" }), ["username"], "a duplicate names the username");
  assert.deepEqual(storeSnapshot(sb.home), before);
});

test("logs and code take ids only: ../, encoded forms and absolute paths never reach a file outside", async () => {
  const probes = [
    "/api/v1/attempts/../../../../etc/passwd/logs",
    "/api/v1/attempts/..%2F..%2F..%2Fetc%2Fpasswd/logs",
    "/api/v1/attempts/%2e%2e%2f%2e%2e%2fetc%2fpasswd/logs",
    "/api/v1/attempts/%2Fetc%2Fpasswd/logs",
    "/api/v1/attempts/1%2F..%2F..%2F..%2Fetc%2Fpasswd/logs/download",
    `/api/v1/attempts/${attemptId}%2F..%2F..%2Fsluice.db/logs/download`,
    "/api/v1/attempts/-1/output",
    "/api/v1/attempts/1e3/logs",
    "/api/v1/dags/simple/code?version=..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/dags/..%2F..%2Fetc/code",
  ];
  for (const p of probes) {
    const r = await admin.get(p);
    assert.ok([400, 404].includes(r.status), `${p}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.doesNotMatch(r.text, /root:|SQLite format/);
  }
  // the real thing works, by id
  const logs = await admin.get(`/api/v1/attempts/${attemptId}/logs`);
  assert.equal(logs.status, 200);
  assert.ok(logs.json.lines.some((l: { msg: string }) => l.msg === "hello from a"));
  const dl = await admin.get(`/api/v1/attempts/${attemptId}/logs/download`);
  assert.match(dl.headers.get("content-disposition") ?? "", /attachment/);
  assert.match(dl.text, /hello from a/);
  const code = await admin.get("/api/v1/dags/simple/code");
  assert.equal(code.json.file, "simple.ts");
  assert.match(code.json.code, /dag\("simple"/);
});

test("security headers on every response; no secret in any response", async () => {
  const tokenRes = await admin.post("/api/v1/tokens", { name: "secret-check" });
  const secrets = [ADMIN_PASSWORD, tokenRes.json.token, "scrypt$", admin.cookie!];
  const paths = ["/api/v1/health", "/api/v1/auth/me", "/api/v1/users", "/api/v1/tokens", "/api/v1/status", "/api/v1/dags", "/api/v1/dags/simple", `/api/v1/runs/${runId}`, "/api/v1/openapi.json", "/api/v1/nothing"];
  const tokenHash = (await import("node:crypto")).createHash("sha256").update(tokenRes.json.token).digest("hex");
  for (const p of paths) {
    const r = await admin.get(p);
    assert.equal(r.headers.get("content-security-policy"), "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'", p);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", p);
    assert.ok(r.headers.get("referrer-policy"), p);
    for (const s of [...secrets, tokenHash]) assert.ok(!r.text.includes(s), `${p} leaks a secret`);
  }
  const health = await new Client(dep.url).get("/api/v1/health");
  assert.deepEqual(health.json, { status: "ok", db: "ok", disk: "ok" });
  // the status endpoint shows no database URL
  assert.ok(!(await admin.get("/api/v1/status")).text.includes("sluice.db"));
});
