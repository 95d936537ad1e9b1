/**
 * Per-DAG access against a real server and SQLite file (docs/decisions/0016, app/access.ts). The cases
 * are generated from the route table: every route must have a request for DAG A and for DAG B below, or
 * this test fails. Principals:
 *
 * - ana_viewer: global role none, viewer on dag:dag_a (by id glob)
 * - ana_op:     global role none, operator on tag:finance (dag_a's tag), and her API token
 * - vic:        global viewer, operator on owner:ana (dag_a's owner): reads everything, acts on A only
 * - an event token (scope events:orders.*) of an operator
 *
 * A restricted caller reads nothing of DAG B through any endpoint, SSE stream or download (404 for B's
 * objects, the same answer as for missing ones; lists without B), and can do what its grant allows on A.
 * On SQLite and PostgreSQL (the filters are SQL: runs, backfills, assets, counts).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { dialects, type Dialect } from "../dialects.js";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, storeSnapshot, type Deployment } from "./harness.js";

const EVENT_TOKEN = "compat-event-token-0123456789";

type Side = "A" | "B";
interface Ids {
  dagId: string;
  runId: string;
  attemptId: number;
  backfillId: number;
  asset: string;
  /** A dead letter of the side's run (planted: the DAGs' tasks do not fail). */
  deadLetterId: number;
}
function suite(dialect: Dialect): void {
  const sb = sandbox("sluice-access-");
  for (const [id, tag, owner, asset, event] of [
    ["dag_a", "finance", "ana", "asset.a", "orders.new"],
    ["dag_b", "ops", "bob", "asset.b", "billing.x"],
  ] as const) {
    sb.write(
      `${id}.ts`,
      `import { dag } from "sluice";
  export default dag("${id}", { tags: ["${tag}"], owner: "${owner}", schedule: "@daily", startDate: "2026-01-01", catchup: false, events: ["${event}"] }, (d) => {
    const a = d.task("a", async (_i, ctx) => { ctx.log.info("secret of ${id}"); ctx.track.param("owner", "${owner}"); ctx.track.metric("loss", 1); return { from: "${id}" }; });
    d.task("c", { inputs: { a }, produces: ["${asset}"] }, async ({ a }) => a.from);
  });
  `,
    );
  }

  const ids: Record<Side, Ids> = {
    A: { dagId: "dag_a", runId: "", attemptId: 0, backfillId: 0, asset: "asset.a", deadLetterId: 0 },
    B: { dagId: "dag_b", runId: "", attemptId: 0, backfillId: 0, asset: "asset.b", deadLetterId: 0 },
  };

  let dep: Deployment;
  let admin: Client;
  const who: Record<string, Client> = {};
  let eventToken = "";

  async function finished(id: string) {
    await waitFor(async () => ["success", "failed"].includes((await admin.get(`/api/v1/runs/${id}`)).json?.state), 60_000, `run ${id} to finish`);
  }

  async function user(name: string, role: string): Promise<Client> {
    assert.equal((await admin.post("/api/v1/users", { username: name, password: `${name}-password`, role })).status, 201, `create ${name}`);
    const c = new Client(dep.url);
    assert.equal((await c.login(name, `${name}-password`)).status, 200);
    return c;
  }

  async function grant(body: Record<string, string>) {
    const r = await admin.post("/api/v1/grants", body);
    assert.equal(r.status, 201, r.text);
    return r.json;
  }

  let db: { url: string; cleanup(): Promise<void> } | null = null;
  const snapshot = (): Record<string, string> | null => (dialect.name === "sqlite" ? storeSnapshot(sb.home) : null);

  before(async () => {
    if (dialect.name === "postgres") db = await dialect.fresh(sb.dir);
    dep = await deploy(sb, { eventToken: EVENT_TOKEN, ...(db ? { databaseUrl: db.url } : {}) });
    admin = new Client(dep.url);
    assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200);
    await waitFor(async () => (await admin.get("/api/v1/dags")).json?.items?.length === 2, 60_000, "both DAGs registered");
    for (const side of ["A", "B"] as Side[]) {
      const x = ids[side];
      const run = await admin.post(`/api/v1/dags/${x.dagId}/runs`, {});
      assert.equal(run.status, 201, run.text);
      x.runId = run.json.runId;
      await finished(x.runId);
      x.attemptId = (await admin.get(`/api/v1/runs/${x.runId}/tasks/a/attempts`)).json.items[0].attemptId;
      const bf = await admin.post("/api/v1/backfills", { dagId: x.dagId, from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2) });
      assert.equal(bf.status, 201, bf.text);
      x.backfillId = bf.json.id;
      const e = { runId: x.runId, taskId: "c", mapIndex: -1, dagId: x.dagId, attemptId: null, tryNumber: 1, attempts: 1, reason: "exhausted" as const, errorCode: "TASK_FAILED", errorMessage: "planted", inputs: { a: "a" }, parked: false, now: Date.now() };
      await dep.s.store.deadLetters.insert(e);
      x.deadLetterId = (await dep.s.store.deadLetters.page({ runId: x.runId, limit: 1, after: null }))[0]!.id;
    }
    // a type check's errors in both files: a caller limited to A sees dag_a.ts's only
    const typeError = (file: string) => ({ file, line: 3, column: 5, code: 2322, message: "Type 'string' is not assignable to type 'number'." });
    await dep.s.store.tx((tx) => tx.dags.replaceTypeErrors([typeError("dag_a.ts"), typeError("dag_b.ts")], Date.now()));
    who["ana_viewer"] = await user("ana_viewer", "none");
    await grant({ user: "ana_viewer", role: "viewer", selector: "dag:dag_a" });
    who["ana_op"] = await user("ana_op", "none");
    await grant({ user: "ana_op", role: "operator", selector: "tag:finance" });
    const tok = await who["ana_op"].post("/api/v1/tokens", { name: "ana-script" });
    assert.equal(tok.status, 201, tok.text);
    assert.equal(tok.json.role, "operator", "a token's default role is the highest its owner has");
    who["ana_op_token"] = new Client(dep.url);
    who["ana_op_token"].bearer = tok.json.token;
    who["vic"] = await user("vic", "viewer");
    await grant({ user: "vic", role: "operator", selector: "owner:ana" });
    await user("sender", "operator");
    const et = await admin.post("/api/v1/tokens", { name: "orders-feed", scope: "events:orders.*" });
    // an admin makes its own event token here; `sluice tokens create --user sender --scope` is the CLI's way
    assert.equal(et.status, 201, et.text);
    assert.equal(et.json.scope, "events:orders.*");
    eventToken = et.json.token;
  });

  after(async () => {
    await dep?.stop();
    await db?.cleanup();
    sb.cleanup();
  });

  /**
   * A request per route for the objects of one DAG. A route missing here fails the matrix: decide what it
   * returns for a caller limited to some DAGs, then add it.
   */
  const REQUESTS: Record<string, (x: Ids, tag: string) => { url: string; body?: unknown }> = {
    "GET /health": () => ({ url: "/health" }),
    "GET /status": () => ({ url: "/status" }),
    "POST /auth/login": () => ({ url: "/auth/login", body: { username: "nobody", password: "wrong-password" } }),
    "POST /auth/logout": () => ({ url: "/auth/logout" }),
    "GET /auth/me": () => ({ url: "/auth/me" }),
    "POST /auth/password": () => ({ url: "/auth/password", body: { current: "x", password: "yyyyyyyyyy" } }),
    "GET /users": () => ({ url: "/users" }),
    "POST /users": (_x, t) => ({ url: "/users", body: { username: `u_${t}`, password: "password123", role: "viewer" } }),
    "PATCH /users/:username": () => ({ url: "/users/vic", body: { role: "viewer" } }),
    "DELETE /users/:username": () => ({ url: "/users/nobody_here" }),
    "GET /tokens": () => ({ url: "/tokens" }),
    "POST /tokens": (_x, t) => ({ url: "/tokens", body: { name: `t-${t}` } }),
    "DELETE /tokens/:id": () => ({ url: "/tokens/sluice_nope" }),
    "GET /grants": () => ({ url: "/grants" }),
    "POST /grants": (x) => ({ url: "/grants", body: { user: "vic", role: "viewer", selector: `dag:${x.dagId}` } }),
    "DELETE /grants/:id": () => ({ url: "/grants/999999" }),
    "GET /dags": () => ({ url: "/dags" }),
    "GET /dags/:dagId": (x) => ({ url: `/dags/${x.dagId}` }),
    "PATCH /dags/:dagId": (x) => ({ url: `/dags/${x.dagId}`, body: { paused: false } }),
    "GET /dags/:dagId/structure": (x) => ({ url: `/dags/${x.dagId}/structure` }),
    "GET /dags/:dagId/versions": (x) => ({ url: `/dags/${x.dagId}/versions` }),
    "GET /dags/:dagId/code": (x) => ({ url: `/dags/${x.dagId}/code` }),
    "GET /import-errors": () => ({ url: "/import-errors" }),
    "GET /type-errors": () => ({ url: "/type-errors" }),
    // experiments: runs of readable DAGs only; a run of another DAG is not found
    "GET /experiments": () => ({ url: "/experiments" }),
    "GET /experiments/:name": (x) => ({ url: `/experiments/${x.dagId}` }),
    "GET /compare": (x) => ({ url: `/compare?runs=${x.runId}` }),
    "GET /runs/:runId/tracking": (x) => ({ url: `/runs/${x.runId}/tracking` }),
    "GET /runs/:runId/metrics": (x) => ({ url: `/runs/${x.runId}/metrics?task=a&names=loss` }),
    "GET /dags/:dagId/grid": (x) => ({ url: `/dags/${x.dagId}/grid` }),
    "GET /runs": () => ({ url: "/runs" }),
    "GET /task-instances": () => ({ url: "/task-instances" }),
    "GET /dashboard": () => ({ url: "/dashboard" }),
    "GET /dags/:dagId/runs": (x) => ({ url: `/dags/${x.dagId}/runs` }),
    "POST /dags/:dagId/runs": (x) => ({ url: `/dags/${x.dagId}/runs`, body: {} }),
    "GET /runs/:runId": (x) => ({ url: `/runs/${x.runId}` }),
    "POST /runs/:runId/cancel": (x) => ({ url: `/runs/${x.runId}/cancel` }),
    "PUT /runs/:runId/note": (x, t) => ({ url: `/runs/${x.runId}/note`, body: { note: `note ${t}` } }),
    "PUT /runs/:runId/tasks/:taskId/note": (x, t) => ({ url: `/runs/${x.runId}/tasks/c/note`, body: { note: `note ${t}` } }),
    "GET /runs/:runId/tasks": (x) => ({ url: `/runs/${x.runId}/tasks` }),
    "GET /runs/:runId/tasks/:taskId/attempts": (x) => ({ url: `/runs/${x.runId}/tasks/a/attempts` }),
    "GET /runs/:runId/attempts": (x) => ({ url: `/runs/${x.runId}/attempts` }),
    "POST /runs/:runId/tasks/:taskId/clear": (x) => ({ url: `/runs/${x.runId}/tasks/c/clear`, body: {} }),
    "POST /runs/:runId/tasks/:taskId/mark": (x) => ({ url: `/runs/${x.runId}/tasks/c/mark`, body: { state: "success" } }),
    "GET /runs/:runId/tasks/:taskId/inputs": (x) => ({ url: `/runs/${x.runId}/tasks/c/inputs` }),
    "GET /attempts/:attemptId": (x) => ({ url: `/attempts/${x.attemptId}` }),
    "GET /attempts/:attemptId/output": (x) => ({ url: `/attempts/${x.attemptId}/output` }),
    "GET /attempts/:attemptId/logs": (x) => ({ url: `/attempts/${x.attemptId}/logs` }),
    "GET /attempts/:attemptId/logs/download": (x) => ({ url: `/attempts/${x.attemptId}/logs/download` }),
    "GET /attempts/:attemptId/logs/stream": (x) => ({ url: `/attempts/${x.attemptId}/logs/stream` }),
    "GET /assets": () => ({ url: "/assets" }),
    "GET /assets/:name": (x) => ({ url: `/assets/${x.asset}` }),
    "GET /lineage": () => ({ url: "/lineage" }),
    "GET /backfills": () => ({ url: "/backfills" }),
    "POST /backfills": (x) => ({ url: "/backfills", body: { dagId: x.dagId, from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), dryRun: true } }),
    "GET /backfills/:id": (x) => ({ url: `/backfills/${x.backfillId}` }),
    "POST /backfills/:id/cancel": (x) => ({ url: `/backfills/${x.backfillId}/cancel` }),
    "GET /openapi.json": () => ({ url: "/openapi.json" }),
    // the dead-letter queue: entries of readable DAGs; acting needs operator on the entry's DAG
    "GET /dlq": () => ({ url: "/dlq?limit=500" }),
    "GET /dlq/:id": (x) => ({ url: `/dlq/${x.deadLetterId}` }),
    "POST /dlq/retry": (x) => ({ url: "/dlq/retry", body: { ids: [x.deadLetterId] } }),
    "POST /dlq/discard": (x) => ({ url: "/dlq/discard", body: { ids: [x.deadLetterId] } }),
    "POST /dlq/:id/retry": (x) => ({ url: `/dlq/${x.deadLetterId}/retry` }),
    "POST /dlq/:id/discard": (x) => ({ url: `/dlq/${x.deadLetterId}/discard` }),
    // entries about DAGs the caller may read only (app/audit.ts auditScope)
    "GET /audit": () => ({ url: "/audit?limit=500" }),
    // connections and variables are the deployment's, not a DAG's: global roles only (operator reads, admin writes)
    "GET /connections": () => ({ url: "/connections" }),
    "GET /connections/:id": () => ({ url: "/connections/nope" }),
    "PUT /connections/:id": (_x, t) => ({ url: `/connections/c_${t}`, body: { uri: "http://example.com" } }),
    "DELETE /connections/:id": () => ({ url: "/connections/nope" }),
    "POST /connections/:id/test": () => ({ url: "/connections/nope/test" }),
    "GET /variables": () => ({ url: "/variables" }),
    "GET /variables/:key": () => ({ url: "/variables/nope" }),
    "PUT /variables/:key": (_x, t) => ({ url: `/variables/v_${t}`, body: { value: 1 } }),
    "DELETE /variables/:key": () => ({ url: "/variables/nope" }),
    // the model registry is the deployment's, not a DAG's (several DAGs may register one model): global roles only
    "GET /models": () => ({ url: "/models" }),
    "GET /models/:name": () => ({ url: "/models/nope" }),
    "GET /models/:name/versions/:version": () => ({ url: "/models/nope/versions/1" }),
    "POST /models/:name/promote": () => ({ url: "/models/nope/promote", body: { alias: "champion", version: 1 } }),
    "POST /models/:name/rollback": () => ({ url: "/models/nope/rollback", body: { alias: "champion" } }),
    "GET /approvals": () => ({ url: "/approvals" }),
    "POST /approvals/:id": () => ({ url: "/approvals/1", body: { decision: "approve" } }),
    // serving: viewer reads the inference log, operator predicts
    "POST /models/:name/aliases/:alias/predict": () => ({ url: "/models/nope/aliases/champion/predict", body: { inputs: [{ x: 1 }] } }),
    "GET /models/:name/inference-log": () => ({ url: "/models/nope/inference-log" }),
  };

  /** What of DAG B must never appear in an answer to a caller limited to A. */
  const leaksB = (text: string) => ["dag_b", ids.B.runId, "asset.b", "secret of dag_b", "billing.x", '"bob"', '"ops"'].filter((s) => text.includes(s));
  const keyOf = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;
  // routes that name a DAG's object in the query instead of the path (GET /compare?runs=…) answer like those
  const namesInQuery = new Set(["/compare"]);
  const hasParam = (path: string) =>
    namesInQuery.has(path) || (/:[A-Za-z]+/.test(path) && !["/users", "/tokens", "/grants", "/connections", "/variables", "/models", "/approvals"].some((p) => path.startsWith(p)));

  test("every route has a case: a new route must say what a caller limited to some DAGs gets", () => {
    const missing = dep.http.routes.map(keyOf).filter((k) => !REQUESTS[k]);
    assert.deepEqual(missing, [], "add these routes to REQUESTS (and check the expectations below cover them)");
    for (const r of dep.http.routes) if (r.scope !== "dag" && r.access !== "public" && r.access !== "none") assert.ok(!hasParam(r.path), `${keyOf(r)} takes a DAG object but is not scope "dag"`);
  });

  test("a user with a viewer grant on A (global role none) reads all of A and nothing of B, by any endpoint, stream or download", async () => {
    const c = who["ana_viewer"]!;
    const failures: string[] = [];
    const before = snapshot();
    for (const r of dep.http.routes) {
      if (r.access === "public" || r.path === "/auth/logout" || r.path === "/auth/password" || (r.path === "/tokens" && r.method !== "get")) continue;
      for (const side of ["A", "B"] as Side[]) {
        const { url, body } = REQUESTS[keyOf(r)]!(ids[side], `v${side}`);
        const res = await c.call(r.method.toUpperCase(), `/api/v1${url}`, body);
        const where = `ana_viewer ${side} ${r.method.toUpperCase()} ${url} -> ${res.status} ${res.text.slice(0, 160)}`;
        // a 404 may echo the id the caller sent: that is not a leak; anything else of B is
        const echoed = url.split(/[/?=&]/).filter((p) => p.length > 3);
        const leaked = leaksB(echoed.reduce((t, p) => t.split(p).join("<sent>"), res.text));
        if (leaked.length) failures.push(`${where}: leaks ${leaked.join(", ")}`);
        if (r.scope !== "dag") {
          // global routes: self-service passes, the rest needs a global role
          const expected = r.access === "none" ? (r.method === "delete" ? [404] : [200]) : [403];
          if (!expected.includes(res.status)) failures.push(`${where} (expected ${expected})`);
        } else if (r.method !== "get") {
          // she holds no operator role anywhere: every change is refused before any DAG is looked at
          // (which reveals nothing of B); a caller with operator on A gets 404 for B (the next tests)
          if (res.status !== 403) failures.push(`${where} (expected 403)`);
        } else if (side === "B" && hasParam(r.path)) {
          if (res.status !== 404) failures.push(`${where} (expected 404)`);
        } else if (res.status !== 200) {
          failures.push(`${where} (expected 200)`);
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(snapshot(), before, "a viewer's requests changed the store");
  });

  test("not readable answers exactly as missing: same status, code and message shape", async () => {
    const c = who["ana_viewer"]!;
    const pairs: [string, string][] = [
      [`/api/v1/dags/dag_b`, `/api/v1/dags/dag_zz`],
      [`/api/v1/runs/${ids.B.runId}`, `/api/v1/runs/no-such-run`],
      [`/api/v1/attempts/${ids.B.attemptId}/logs`, `/api/v1/attempts/999999/logs`],
      [`/api/v1/attempts/${ids.B.attemptId}`, `/api/v1/attempts/999999`],
      [`/api/v1/backfills/${ids.B.backfillId}`, `/api/v1/backfills/999999`],
      [`/api/v1/assets/asset.b`, `/api/v1/assets/asset.zz`],
    ];
    for (const [hidden, missing] of pairs) {
      const h = await c.get(hidden);
      const m = await c.get(missing);
      assert.equal(h.status, 404, hidden);
      assert.equal(h.json.code, m.json.code, hidden);
      const idOf = (p: string) => p.split("/")[4]!;
      assert.equal(h.json.message.split(idOf(hidden)).join("X"), m.json.message.split(idOf(missing)).join("X"), `${hidden} vs ${missing}`);
    }
    // lists and counts: only A
    const dags = await c.get("/api/v1/dags");
    assert.deepEqual(dags.json.items.map((d: { dagId: string }) => d.dagId), ["dag_a"]);
    const runs = await c.get("/api/v1/runs?limit=500");
    assert.ok(runs.json.items.length > 0 && runs.json.items.every((r: { dagId: string }) => r.dagId === "dag_a"));
    assert.deepEqual((await c.get("/api/v1/runs?dagId=dag_b")).json.items, []);
    const tis = await c.get("/api/v1/task-instances?limit=500");
    assert.ok(tis.json.items.length > 0 && tis.json.items.every((t: { dagId: string }) => t.dagId === "dag_a"));
    assert.deepEqual((await c.get("/api/v1/task-instances?dagId=dag_b")).json.items, []);
    const dash = (await c.get("/api/v1/dashboard")).json;
    assert.ok([...dash.failed, ...dash.running, ...dash.queued, ...dash.late].every((r: { dagId: string }) => r.dagId === "dag_a"), "the dashboard shows only A's runs");
    assert.deepEqual((await c.get("/api/v1/backfills?dagId=dag_b")).json.items, []);
    const asset = await c.get("/api/v1/assets/asset.a");
    assert.deepEqual(asset.json.producers.map((p: { dagId: string }) => p.dagId), ["dag_a"]);
    const lineage = await c.get("/api/v1/lineage");
    assert.ok(lineage.json.nodes.some((n: { id: string }) => n.id === "dag:dag_a"));
    const status = await c.get("/api/v1/status");
    assert.deepEqual(status.json.workers, []);
    const log = await c.get(`/api/v1/attempts/${ids.A.attemptId}/logs/download`);
    assert.match(log.text, /secret of dag_a/);
  });

  test("an operator grant by tag acts on A (trigger, clear, mark, pause, backfill) and not on B; her token too; the global viewer with an owner grant likewise", async () => {
    for (const name of ["ana_op", "ana_op_token", "vic"]) {
      const c = who[name]!;
      const a = ids.A;
      const b = ids.B;
      const trig = await c.post(`/api/v1/dags/${a.dagId}/runs`, {});
      assert.equal(trig.status, 201, `${name} trigger A: ${trig.text}`);
      await finished(trig.json.runId);
      assert.equal((await c.post(`/api/v1/runs/${trig.json.runId}/tasks/c/mark`, { state: "failed" })).status, 200, `${name} mark A`);
      assert.equal((await c.post(`/api/v1/runs/${trig.json.runId}/tasks/c/clear`, {})).status, 200, `${name} clear A`);
      assert.equal((await c.call("PATCH", `/api/v1/dags/${a.dagId}`, { paused: false })).status, 200, `${name} pause A`);
      assert.equal((await c.post("/api/v1/backfills", { dagId: a.dagId, from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), dryRun: true })).status, 200, `${name} plan backfill A`);
      // B: hidden from the tag-granted user (404), visible but not actionable for the global viewer (403)
      const onB = name === "vic" ? 403 : 404;
      assert.equal((await c.post(`/api/v1/dags/${b.dagId}/runs`, {})).status, onB, `${name} trigger B`);
      assert.equal((await c.post(`/api/v1/runs/${b.runId}/tasks/c/clear`, {})).status, onB, `${name} clear B`);
      assert.equal((await c.post(`/api/v1/runs/${b.runId}/cancel`)).status, onB, `${name} cancel B`);
      assert.equal((await c.call("PATCH", `/api/v1/dags/${b.dagId}`, { paused: true })).status, onB, `${name} pause B`);
      assert.equal((await c.post(`/api/v1/backfills/${b.backfillId}/cancel`)).status, onB, `${name} cancel backfill B`);
      // admin things stay the admin's
      assert.equal((await c.get("/api/v1/users")).status, 403);
      assert.equal((await c.post("/api/v1/grants", { user: name === "vic" ? "vic" : "ana_op", role: "admin", selector: "dag:*" })).status, 403);
    }
    assert.equal((await admin.get(`/api/v1/dags/${ids.B.dagId}`)).json.paused, false, "B was not paused");
    // the dead-letter queue: B's entry is not found for the tag-granted user, forbidden for the global viewer; A's is discarded
    const bulk = await who["vic"]!.post("/api/v1/dlq/discard", { ids: [ids.B.deadLetterId] });
    assert.equal(bulk.status, 200, bulk.text);
    assert.deepEqual(bulk.json.results.map((r: { ok: boolean; error?: { code: string } }) => r.error?.code), ["FORBIDDEN"]);
    assert.equal((await who["ana_op"]!.post(`/api/v1/dlq/${ids.B.deadLetterId}/discard`)).status, 404);
    const mixed = await who["ana_op"]!.post("/api/v1/dlq/discard", { ids: [ids.A.deadLetterId, ids.B.deadLetterId] });
    assert.equal(mixed.status, 200, mixed.text);
    assert.deepEqual(mixed.json.results.map((r: { ok: boolean; error?: { code: string } }) => [r.ok, r.error?.code ?? null]), [
      [true, null],
      [false, "NOT_FOUND"],
    ]);
    assert.equal(leaksB(mixed.text.split(String(ids.B.deadLetterId)).join("<sent>")).length, 0);
    assert.equal((await admin.get(`/api/v1/dlq/${ids.B.deadLetterId}`)).json.state, "open", "B's entry is untouched");
  });

  test("a token granted on its own cannot outrank its owner; revoking a grant takes effect on the next request", async () => {
    // vic (global viewer) makes a viewer token; an admin grants the token operator on everything: capped by vic's operator on A only
    const vic = who["vic"]!;
    const t = await vic.post("/api/v1/tokens", { name: "vic-ci", role: "viewer" });
    assert.equal(t.status, 201);
    await grant({ token: t.json.id, role: "operator", selector: "dag:*" });
    const tc = new Client(dep.url);
    tc.bearer = t.json.token;
    assert.equal((await tc.post(`/api/v1/dags/dag_b/runs`, {})).status, 403, "vic has no operator on B: neither has her token");
    const r = await tc.post(`/api/v1/dags/dag_a/runs`, {});
    assert.equal(r.status, 201, r.text);
    await finished(r.json.runId);
    // revoke ana_viewer's grant: she sees nothing at once
    const g = (await admin.get("/api/v1/grants?user=ana_viewer")).json.items[0];
    assert.equal((await admin.call("DELETE", `/api/v1/grants/${g.id}`)).status, 200);
    // with no grant left she may read no DAG at all: every per-DAG route refuses her before looking at one
    const none = await who["ana_viewer"]!.get("/api/v1/dags");
    assert.equal(none.status, 403);
    assert.match(none.json.message, /viewer role \(on some DAG\)/);
    assert.equal((await who["ana_viewer"]!.get(`/api/v1/dags/dag_a`)).status, 403);
    assert.equal((await who["ana_viewer"]!.get(`/api/v1/auth/me`)).status, 200, "self-service needs no role");
    await grant({ user: "ana_viewer", role: "viewer", selector: "dag:dag_a" });
  });

  test("event tokens: orders.* sends orders.new, not billing.x, and reads nothing; SLUICE_EVENT_TOKEN and operators still send; viewers do not", async () => {
    const send = (bearer: string | null, name: string, c?: Client) => {
      const cl = c ?? new Client(dep.url);
      if (bearer !== null) cl.bearer = bearer;
      return cl.post(`/api/v1/events/${name}`, { n: 1 });
    };
    const ok = await send(eventToken, "orders.new");
    assert.equal(ok.status, 201, ok.text);
    assert.ok(ok.json.runs.some((r: { dagId: string }) => r.dagId === "dag_a"));
    const denied = await send(eventToken, "billing.x");
    assert.equal(denied.status, 403);
    assert.match(denied.json.message, /orders\.\*/);
    // the event token reads nothing: every other route is 403
    const et = new Client(dep.url);
    et.bearer = eventToken;
    for (const r of dep.http.routes) {
      if (r.access === "public") continue;
      const { url, body } = REQUESTS[keyOf(r)]!(ids.A, "et");
      const res = await et.call(r.method.toUpperCase(), `/api/v1${url}`, body);
      assert.equal(res.status, 403, `event token ${r.method} ${url}: ${res.status}`);
    }
    assert.equal((await send(EVENT_TOKEN, "billing.x")).status, 201, "SLUICE_EVENT_TOKEN is events:*");
    assert.equal((await send(null, "orders.new", admin)).status, 201, "an operator's session sends (with its CSRF token)");
    const v = await send(null, "orders.new", who["vic"]);
    assert.equal(v.status, 403, "a viewer does not send events, whatever its grants");
    const anon = await send(null, "orders.new");
    assert.equal(anon.status, 401);
    assert.match(anon.json.message, /SLUICE_EVENT_TOKEN/);
    // a scoped token is made by an operator only, and has no role
    assert.equal((await who["vic"]!.post("/api/v1/tokens", { name: "x", scope: "events:*" })).status, 403);
    assert.equal((await admin.post("/api/v1/tokens", { name: "x", scope: "orders.*" })).status, 400);
    assert.equal((await admin.post("/api/v1/tokens", { name: "x", scope: "events:*", role: "admin" })).status, 400);
  });

  test("grants: bad input names the field; a selector that matches no DAG is a warning", async () => {
    const before = snapshot();
    const cases: [unknown, number, RegExp, string][] = [
      [{ user: "vic", role: "viewer", selector: "dags:x" }, 400, /selector: "dags:x" is not a selector/, "selector"],
      [{ user: "vic", role: "viewer", selector: "tag:fin*" }, 400, /no wildcards/, "selector"],
      [{ user: "vic", role: "root", selector: "dag:x" }, 400, /role: must be one of viewer, operator, admin/, "role"],
      [{ user: "vic", role: "none", selector: "dag:x" }, 400, /role/, "role"],
      [{ user: "nobody", role: "viewer", selector: "dag:x" }, 404, /user: no user "nobody"/, "user"],
      [{ token: "sluice_nope", role: "viewer", selector: "dag:x" }, 404, /token: no API token/, "token"],
      [{ role: "viewer", selector: "dag:x" }, 400, /exactly one/, "user"],
      [{ user: "vic", token: "t", role: "viewer", selector: "dag:x" }, 400, /exactly one/, "token"],
      [{ user: "vic", role: "operator", selector: "owner:ana" }, 409, /already has/, "selector"],
    ];
    for (const [body, status, message, field] of cases) {
      const r = await admin.post("/api/v1/grants", body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      assert.match(r.json.message, message);
      assert.equal(r.json.fields?.[0]?.path, field, JSON.stringify(body));
    }
    assert.deepEqual(snapshot(), before, "nothing written");
    const warn = await admin.post("/api/v1/grants", { user: "vic", role: "viewer", selector: "dag:nothing_*" });
    assert.equal(warn.status, 201);
    assert.match(warn.json.warnings[0], /matches no registered DAG/);
    assert.equal((await admin.post("/api/v1/grants", { user: "vic", role: "viewer", selector: "tag:finance" })).json.warnings.length, 0);
    assert.equal((await admin.call("DELETE", "/api/v1/grants/abc")).status, 400);
    assert.equal((await admin.call("DELETE", "/api/v1/grants/999999")).status, 404);
  });

}

for (const d of dialects(7)) describe(`per-DAG access on ${d.name}`, { skip: d.skip }, () => suite(d));
