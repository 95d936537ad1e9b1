/**
 * The contract between the API and its OpenAPI document: every operation the document lists is called
 * against a real deployment holding real data (runs that succeeded, failed and missed a deadline, a mapped
 * task, an asset, a backfill, dead letters, users, tokens, grants, connections, variables), and every JSON
 * answer is validated (ajv, JSON Schema 2020-12) against the schema the document gives for its status. A
 * route added without a call here, or a view that grows a field its schema does not name, fails the test.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, type Deployment, type Reply } from "./harness.js";
import { JS_MODEL, SIGNATURE } from "../serving/fixtures.js";

const sb = sandbox("sluice-api-contract-");
sb.write(
  "dags.ts",
  `import { dag } from "sluice";
import { z } from "zod";
export const chain = dag("chain", { params: z.object({ n: z.number().int().min(1).max(10).describe("how many rows"), label: z.string().default("x") }), doc: "# Chain\\n\\nThree steps." }, (d) => {
  const a = d.task("a", async (_i, ctx) => {
    ctx.track.params({ n: ctx.params.n, label: ctx.params.label });
    for (let step = 0; step < 3; step++) ctx.track.metric("loss", 1 / (step + 1), { step });
    ctx.track.tag("stage", "contract");
    await ctx.track.artifact("note.txt", Buffer.from("tracked"));
    return ctx.params.n;
  });
  const b = d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
  d.task("c", { inputs: { b }, produces: ["warehouse.chain"] }, async ({ b }) => b + 1);
});
export const leaf = dag("leaf", { schedule: "@daily", startDate: new Date("2026-01-01T00:00:00Z"), catchup: false, deadLetter: "park" }, (d) => {
  const ok = d.task("ok", async (_i, ctx) => { ctx.log.info("fine"); return 1; });
  d.task("boom", { after: [ok], retries: 0 }, async () => { throw new Error("boom"); });
});
export const mapped = dag("mapped", { deadline: { from: "queued", within: "1ms" } }, (d) => {
  const items = d.task("items", async () => [1, 2, 3]);
  const work = d.map("work", { over: { i: items }, retries: 0 }, async ({ i }) => { if (i === 2) throw new Error("two"); return i; });
  d.task("sum", { inputs: { work } }, async ({ work }) => work.length);
});
export const ml = dag("ml", (d) => {
  const m = d.task("train", async (_i, ctx) => ctx.models.register("spam", { artifact: Buffer.from("w"), flavor: { module: "./spam.ts" }, signature: z.object({ text: z.string() }), metrics: { accuracy: 0.9 } }));
  d.promote("gate", { model: "spam", candidate: m, alias: "champion", compare: { accuracy: { notWorseBy: 0.01 } }, approval: true });
});
`,
);

sb.write("spam.ts", "export function load() { return { predict: (rows: unknown[]) => rows.map(() => 0) }; }\n");

let dep: Deployment;
let api: Client;
let doc: { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>; components: { schemas: Record<string, unknown> } };
const ajv = new Ajv2020({ strict: false, allErrors: true });
const called = new Set<string>();

before(async () => {
  dep = await deploy(sb);
  api = new Client(dep.url);
  assert.equal((await api.login("admin", ADMIN_PASSWORD)).status, 200);
  doc = (await api.get("/api/v1/openapi.json")).json;
  ajv.addSchema({ $id: "sluice", components: doc.components });
});

after(async () => {
  await dep?.stop();
  sb.cleanup();
});

/** The document's operation for a request path (concrete ids matched against `{param}` templates). */
function operationOf(method: string, path: string): { key: string; op: (typeof doc.paths)[string][string] } {
  const bare = path.split("?")[0]!.replace(/^\/api\/v1/, "");
  for (const [template, ops] of Object.entries(doc.paths)) {
    const re = new RegExp(`^${template.replace(/^\/api\/v1/, "").replace(/\{[A-Za-z]+\}/g, "[^/]+")}$`);
    if (re.test(bare) && ops[method.toLowerCase()]) {
      // a literal segment wins over a parameter (/dlq/retry over /dlq/{id})
      const literal = Object.keys(doc.paths).find((t) => t.replace(/^\/api\/v1/, "") === bare && doc.paths[t]![method.toLowerCase()]);
      const chosen = literal ?? template;
      return { key: `${method.toUpperCase()} ${chosen}`, op: doc.paths[chosen]![method.toLowerCase()]! };
    }
  }
  throw new Error(`${method} ${path}: not in the OpenAPI document`);
}

/** Call, expect a success, and check the body against the document's schema for the status. */
async function check(method: string, path: string, body?: unknown, client = api): Promise<Reply> {
  const r = await client.call(method, `/api/v1${path}`, body);
  const { key, op } = operationOf(method, path);
  called.add(key);
  assert.ok(r.status >= 200 && r.status < 300, `${key} (${path}): ${r.status} ${r.text.slice(0, 500)}`);
  const content = op.responses[String(r.status)]?.content;
  assert.ok(content, `${key}: status ${r.status} is not documented`);
  const json = content["application/json"];
  if (!json) return r; // text and event streams: documented by content type
  const schema = json.schema as Record<string, unknown>;
  assert.ok(Object.keys(schema).length > 0, `${key}: the document gives its response no schema`);
  const id = `${key}#${r.status}`.replace(/[^A-Za-z0-9]/g, "_");
  const validate = ajv.getSchema(id) ?? ajv.compile({ ...schema, $id: id });
  assert.ok(validate(r.json), `${key} (${path}) does not match its schema:\n${ajv.errorsText(validate.errors, { separator: "\n" })}\n${JSON.stringify(r.json).slice(0, 1500)}`);
  return r;
}

async function finished(runId: string) {
  await waitFor(async () => ["success", "failed"].includes((await api.get(`/api/v1/runs/${runId}`)).json?.state), 60_000, `run ${runId} to finish`);
  return (await api.get(`/api/v1/runs/${runId}`)).json;
}

test("every operation of the OpenAPI document answers what its schema says", { timeout: 180_000 }, async () => {
  await waitFor(async () => (await api.get("/api/v1/dags")).json?.items?.length === 4, 30_000, "the DAGs to register");

  // system and the document itself
  await check("GET", "/health");
  await check("GET", "/status");
  await check("GET", "/openapi.json");

  // runs: one that succeeds (with an asset event), one that fails (dead letter parked), a mapped one that misses its deadline
  const ok = (await check("POST", "/dags/chain/runs", { params: { n: 2 } })).json;
  const failed = (await check("POST", "/dags/leaf/runs", {})).json;
  const mappedRun = (await check("POST", "/dags/mapped/runs", {})).json;
  for (const r of [ok, failed, mappedRun]) await finished(r.runId);
  assert.equal((await api.get(`/api/v1/runs/${failed.runId}`)).json.state, "success", "a parked failure leaves the run a success");

  // DAGs
  await check("GET", "/dags");
  await check("GET", "/dags/chain");
  await check("PATCH", "/dags/leaf", { paused: true });
  await check("PATCH", "/dags/leaf", { paused: false });
  await check("GET", "/dags/mapped/structure");
  await check("GET", "/dags/chain/versions");
  await check("GET", "/dags/chain/code");
  await check("GET", "/dags/mapped/grid");
  sb.write("broken.ts", `import { dag } from "sluice";\nexport default dag("brk", (d) => { d.task("t", async () => 1 ;\n`);
  await dep.scheduler.rescan();
  await waitFor(async () => (await api.get("/api/v1/import-errors")).json?.items?.length === 1, 30_000, "the import error");
  await check("GET", "/import-errors");

  // runs and task instances, across DAGs and in one
  await check("GET", "/runs");
  await check("GET", "/runs?state=success&dagId=chain&runType=manual&triggeredBy=admin&from=0&to=2099-01-01T00:00:00Z");
  await check("GET", "/task-instances");
  await check("GET", "/task-instances?state=failed&dagId=mapped&taskId=work");
  const dash = (await check("GET", "/dashboard")).json;
  assert.ok(dash.late.some((r: { runId: string }) => r.runId === mappedRun.runId), "the run that missed its deadline is late");
  assert.ok(dash.failed.some((r: { runId: string }) => r.runId === mappedRun.runId), "the failed run is on the dashboard");
  await check("GET", "/dags/chain/runs");
  await check("GET", `/runs/${mappedRun.runId}`);
  await check("GET", `/runs/${mappedRun.runId}/tasks`);
  await check("GET", `/runs/${mappedRun.runId}/attempts`);
  const attempts = (await check("GET", `/runs/${mappedRun.runId}/tasks/work/attempts?mapIndex=1`)).json;
  await check("GET", `/runs/${ok.runId}/tasks/c/inputs`);
  const lastA = (await api.get(`/api/v1/runs/${ok.runId}/tasks/c/attempts`)).json.items[0].attemptId;
  await check("GET", `/attempts/${lastA}`);
  await check("GET", `/attempts/${lastA}/output`);
  const failedAttempt = attempts.items[0].attemptId;
  await check("GET", `/attempts/${failedAttempt}/logs`);
  await check("GET", `/attempts/${failedAttempt}/logs/download`);
  await check("GET", `/attempts/${failedAttempt}/logs/stream`);
  await check("POST", `/runs/${mappedRun.runId}/tasks/work/clear`, { mapIndex: 1, downstream: true, dryRun: true });
  await check("POST", `/runs/${mappedRun.runId}/tasks/work/mark`, { state: "success", mapIndex: 1, dryRun: true });
  await check("POST", `/runs/${mappedRun.runId}/tasks/work/mark`, { state: "success", mapIndex: 1 });
  await check("POST", `/runs/${mappedRun.runId}/tasks/work/clear`, { mapIndex: 1, downstream: true });
  await finished(mappedRun.runId);
  // notes: set, then read back through the run and its task instances (non-null notes in both schemas)
  await check("PUT", `/runs/${mappedRun.runId}/note`, { note: "re-ran item 1 after the **fix**" });
  await check("PUT", `/runs/${mappedRun.runId}/tasks/work/note`, { note: "flaky input", mapIndex: 1 });
  assert.equal((await check("GET", `/runs/${mappedRun.runId}`)).json.note.note, "re-ran item 1 after the **fix**");
  const noted = (await check("GET", `/runs/${mappedRun.runId}/tasks`)).json.items.filter((t: { note: unknown }) => t.note !== null);
  assert.deepEqual(noted.map((t: { taskId: string; mapIndex: number; note: { note: string } }) => [t.taskId, t.mapIndex, t.note.note]), [["work", 1, "flaky input"]]);

  // what `sluice dev`'s type check stored, and what the chain's task tracked
  await dep.s.store.tx((tx) => tx.dags.replaceTypeErrors([{ file: "dags.ts", line: 3, column: 7, code: 2322, message: "Type 'string' is not assignable to type 'number'." }], Date.now()));
  await check("GET", "/type-errors");
  await check("GET", "/experiments");
  await check("GET", "/experiments/chain?limit=1");
  await check("GET", `/compare?runs=${ok.runId}`);
  await check("GET", `/runs/${ok.runId}/tracking`);
  await check("GET", `/runs/${ok.runId}/metrics?task=a&names=loss`);
  await check("GET", `/runs/${ok.runId}/metrics?task=a&names=loss&maxPoints=10`);

  // model serving through the API: a registered JS model predicts; a bad row is a 400 naming it; the log has the row
  sb.write("models/scale.ts", JS_MODEL);
  const bytes = Buffer.from(JSON.stringify({ factor: 10 }));
  const model = await dep.s.store.models.register({
    name: "scaler",
    artifactRef: await dep.s.engine.artifacts.put(bytes),
    artifactSize: bytes.length,
    flavor: { kind: "js", module: "models/scale.ts", export: "load" },
    framework: "js",
    signature: SIGNATURE,
    metrics: {},
    params: {},
    description: null,
    dagId: "chain",
    dagVersion: "v",
    runId: ok.runId,
    taskId: "a",
    mapIndex: -1,
    attemptId: 1,
    inputEvents: [],
  });
  await dep.s.store.models.moveAlias({ name: "scaler", alias: "champion", version: model.version, actor: "admin", reason: null, kind: "promote" });
  const predicted = await check("POST", "/models/scaler/aliases/champion/predict", { inputs: [{ x: 1 }] });
  assert.deepEqual(predicted.json, { model: "scaler", version: model.version, predictions: [{ y: 10, by: model.version }] });
  const badRow = await api.call("POST", "/api/v1/models/scaler/aliases/champion/predict", { inputs: [{ x: "one" }] });
  assert.equal(badRow.status, 400);
  assert.equal(badRow.json.fields[0].path, "inputs[0].x");
  await waitFor(async () => (await api.get("/api/v1/models/scaler/inference-log")).json?.rows?.length === 1, 10_000, "the inference log row");
  await check("GET", "/models/scaler/inference-log?limit=10");

  // a run to cancel: queued behind a paused DAG cannot start
  await api.call("PATCH", "/api/v1/dags/chain", { paused: true });
  const queued = (await check("POST", "/dags/chain/runs", { params: { n: 1 } })).json;
  await check("POST", `/runs/${queued.runId}/cancel`);
  await api.call("PATCH", "/api/v1/dags/chain", { paused: false });

  // assets
  await check("GET", "/assets");
  await check("GET", "/assets/warehouse.chain");
  await check("GET", "/lineage");

  // backfills
  const from = Date.parse("2026-03-01T00:00:00Z");
  const to = Date.parse("2026-03-03T00:00:00Z");
  await check("POST", "/backfills", { dagId: "leaf", from, to, dryRun: true });
  const bf = (await check("POST", "/backfills", { dagId: "leaf", from, to, maxActive: 1 })).json;
  await check("GET", "/backfills");
  await check("GET", `/backfills/${bf.id}`);
  await check("POST", `/backfills/${bf.id}/cancel`);

  // dead letters: the parked failures of leaf's runs
  await waitFor(async () => (await api.get("/api/v1/dlq?state=open")).json?.items?.length >= 1, 60_000, "a dead letter");
  const open = (await check("GET", "/dlq?state=open")).json.items as { id: number }[];
  await check("GET", `/dlq/${open[0]!.id}`);
  await check("POST", `/dlq/${open[0]!.id}/discard`);
  await check("POST", "/dlq/discard", { ids: [open[0]!.id] }); // already resolved: its outcome says so
  await check("POST", "/dlq/retry", { ids: [open[0]!.id] });
  const another = (await check("POST", "/dags/leaf/runs", {})).json;
  await finished(another.runId);
  await waitFor(async () => (await api.get(`/api/v1/dlq?state=open&runId=${another.runId}`)).json?.items?.length === 1, 60_000, "the second dead letter");
  const second = (await api.get(`/api/v1/dlq?state=open&runId=${another.runId}`)).json.items[0];
  await check("POST", `/dlq/${second.id}/retry`);

  // people and access
  await check("GET", "/auth/me");
  await check("POST", "/users", { username: "ann", password: "ann-password-123", role: "viewer" });
  await check("GET", "/users");
  await check("PATCH", "/users/ann", { role: "operator" });
  const ann = new Client(dep.url);
  await check("POST", "/auth/login", { username: "ann", password: "ann-password-123" }, ann);
  assert.equal((await ann.login("ann", "ann-password-123")).status, 200); // the client keeps this session
  ann.csrf = (await check("POST", "/auth/password", { current: "ann-password-123", password: "ann-password-456" }, ann)).json.csrfToken;
  await check("POST", "/auth/logout", undefined, ann);
  const token = (await check("POST", "/tokens", { name: "ci", role: "viewer" })).json;
  await check("GET", "/tokens");
  const grant = (await check("POST", "/grants", { user: "ann", role: "operator", selector: "dag:chain" })).json;
  await check("GET", "/grants");
  await check("DELETE", `/grants/${grant.id}`);
  await check("DELETE", `/tokens/${token.id}`);
  await check("DELETE", "/users/ann");
  await check("GET", "/audit");
  await check("GET", "/audit?since=24h&action=runs.trigger");

  // connections and variables
  await check("PUT", "/connections/warehouse", { uri: "postgres://u:secret@127.0.0.1:5432/test" });
  await check("GET", "/connections");
  await check("GET", "/connections/warehouse");
  await check("POST", "/connections/warehouse/test");
  await check("DELETE", "/connections/warehouse");
  await check("PUT", "/variables/plain", { value: { rows: 3 } });
  await check("PUT", "/variables/hidden", { value: "s3cret", isSecret: true });
  await check("GET", "/variables");
  await check("GET", "/variables/plain");
  await check("GET", "/variables/hidden");
  await check("DELETE", "/variables/plain");

  // the model registry: a run registers version 1 and its gate asks for an approval; deciding it moves the alias
  const mlRun = (await check("POST", "/dags/ml/runs", {})).json;
  await waitFor(async () => (await api.get("/api/v1/approvals")).json?.items?.length === 1, 60_000, "the gate's approval");
  const approval = (await check("GET", "/approvals")).json.items[0];
  await check("GET", "/approvals?state=all&model=spam");
  await check("POST", `/approvals/${approval.id}`, { decision: "approve", comment: "ok" });
  assert.equal((await finished(mlRun.runId)).state, "success");
  await check("GET", "/models");
  await check("GET", "/models/spam");
  await check("GET", "/models/spam/versions/1");
  await check("POST", "/dags/ml/runs", {});
  await waitFor(async () => (await api.get("/api/v1/models/spam")).json?.latestVersion === 2, 60_000, "version 2");
  await check("POST", "/models/spam/promote", { alias: "champion", version: 2, reason: "by hand" });
  await check("POST", "/models/spam/rollback", { alias: "champion" });

  // every operation of the route table was called (the events endpoint is documented by hand, not generated)
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  const missed = documented.filter((k) => !called.has(k) && k !== "POST /api/v1/events/{name}");
  assert.deepEqual(missed, [], "operations the contract test does not call");
});

test("a response that breaks its schema fails the check (the check can fail)", () => {
  const { op } = operationOf("GET", "/runs");
  const validate = ajv.compile({ ...(op.responses["200"]!.content!["application/json"]!.schema as object), $id: "broken_runs" });
  assert.equal(validate({ items: [{ runId: 1 }], nextCursor: null }), false);
  assert.equal(validate({ items: [], nextCursor: null, extra: true }), false, "an undocumented field is refused");
  assert.equal(validate({ items: [], nextCursor: null }), true);
});
