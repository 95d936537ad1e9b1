/**
 * The REST API of connections and variables against a real server: no response ever holds a secret value
 * (a password, an extra, a secret variable), viewers and operators cannot write (403), viewers cannot
 * read, malformed bodies are 400s naming the field, and a PUT that leaves the password out keeps it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sandbox } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, storeSnapshot, type Deployment } from "../server/harness.js";

const sb = sandbox("sluice-api-secrets-");
sb.write("noop.ts", `import { dag } from "sluice";\nexport default dag("noop", (d) => { d.task("t", async () => 1); });\n`);

const PASSWORD = "Api-pw-55120-secret";
const EXTRA_SECRET = "extra-key-88231";
const VAR_SECRET = "var-secret-71623";

let dep: Deployment;
let admin: Client;
let operator: Client;
let viewer: Client;
const seen: string[] = [];

async function call(c: Client, method: string, path: string, body?: unknown) {
  const r = await c.call(method, path, body);
  seen.push(r.text);
  return r;
}

before(async () => {
  dep = await deploy(sb, { worker: false });
  admin = new Client(dep.url);
  assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200);
  for (const [name, role] of [["viewer1", "viewer"], ["operator1", "operator"]] as const) {
    assert.equal((await admin.post("/api/v1/users", { username: name, password: `${name}-password`, role })).status, 201);
  }
  viewer = new Client(dep.url);
  await viewer.login("viewer1", "viewer1-password");
  operator = new Client(dep.url);
  await operator.login("operator1", "operator1-password");
});

after(async () => {
  await dep?.stop();
  sb.cleanup();
});

test("admins write; responses show passwordSet / isSecret, never the value; a PUT without the password keeps it", async () => {
  let r = await call(admin, "PUT", "/api/v1/connections/warehouse", { uri: `postgres://etl:${PASSWORD}@db:5432/wh?sslmode=require&api_key=${EXTRA_SECRET}`, description: "the warehouse" });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(
    { ...r.json, createdAt: 0, updatedAt: 0 },
    { id: "warehouse", type: "postgres", description: "the warehouse", host: "db", port: 5432, login: "etl", schema: "wh", passwordSet: true, extraSet: true, createdAt: 0, updatedAt: 0 },
  );
  r = await call(admin, "PUT", "/api/v1/connections/api", { type: "https", host: "api.example.com", password: PASSWORD, extra: { token: EXTRA_SECRET } });
  assert.equal(r.status, 200, r.text);

  r = await call(operator, "GET", "/api/v1/connections");
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.items.map((c: any) => [c.id, c.passwordSet]), [["api", true], ["warehouse", true]]);
  r = await call(operator, "GET", "/api/v1/connections/warehouse");
  assert.equal(r.json.passwordSet, true);
  assert.equal(r.json.password, undefined);

  // the edit form sends the fields back without the password: it stays
  r = await call(admin, "PUT", "/api/v1/connections/warehouse", { type: "postgres", host: "db2", port: 5432, login: "etl", schema: "wh", description: "moved" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.passwordSet, true);
  assert.equal(r.json.extraSet, true, "an extra not sent is kept too");
  r = await call(admin, "PUT", "/api/v1/connections/warehouse", { type: "postgres", host: "db2", extra: null });
  assert.equal(r.json.extraSet, false, "null clears it");
  assert.equal(r.json.passwordSet, true);
});

test("variables: a secret one is listed without its value", async () => {
  let r = await call(admin, "PUT", "/api/v1/variables/db_password", { value: VAR_SECRET });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.isSecret, true, "a sensitive key is secret by default");
  assert.equal(r.json.value, undefined);
  r = await call(admin, "PUT", "/api/v1/variables/threshold", { value: { rows: 10 }, description: "min rows" });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.value, { rows: 10 });
  r = await call(admin, "PUT", "/api/v1/variables/hidden", { value: "x-hidden-5521", isSecret: true });
  assert.equal(r.json.isSecret, true);
  r = await call(operator, "GET", "/api/v1/variables");
  assert.deepEqual(r.json.items.map((v: any) => [v.key, v.isSecret, v.value]), [["db_password", true, undefined], ["hidden", true, undefined], ["threshold", false, { rows: 10 }]]);
  r = await call(operator, "GET", "/api/v1/variables/db_password");
  assert.equal(r.status, 200);
  assert.equal(r.json.value, undefined);
});

test("viewers read nothing and nobody but admins writes (403), and the store is unchanged by them", async () => {
  const before = storeSnapshot(sb.home);
  for (const [c, method, path, body, status] of [
    [viewer, "GET", "/api/v1/connections", undefined, 403],
    [viewer, "GET", "/api/v1/connections/warehouse", undefined, 403],
    [viewer, "GET", "/api/v1/variables", undefined, 403],
    [viewer, "PUT", "/api/v1/connections/x", { uri: "http://h" }, 403],
    [viewer, "POST", "/api/v1/connections/warehouse/test", undefined, 403],
    [operator, "PUT", "/api/v1/connections/x", { uri: "http://h" }, 403],
    [operator, "PUT", "/api/v1/connections/warehouse", { type: "postgres", password: "stolen" }, 403],
    [operator, "DELETE", "/api/v1/connections/warehouse", undefined, 403],
    [operator, "PUT", "/api/v1/variables/threshold", { value: 1 }, 403],
    [operator, "DELETE", "/api/v1/variables/threshold", undefined, 403],
  ] as const) {
    const r = await call(c, method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    assert.equal(r.json.code, "FORBIDDEN");
  }
  assert.deepEqual(storeSnapshot(sb.home), before);
});

test("malformed bodies are 400s naming the field; a bad URI names its part; nothing is written", async () => {
  const before = storeSnapshot(sb.home);
  for (const [path, body, field, re] of [
    ["/api/v1/connections/x", { type: "postgres", port: "5432x" }, "port", /body field "port"/],
    ["/api/v1/connections/x", { type: "postgres", port: 70000 }, "port", /body field "port"/],
    ["/api/v1/connections/x", { host: "h" }, "type", /body field "type": required/],
    ["/api/v1/connections/x", { uri: "postgres://u:p@h:5x/d" }, "uri", /body field "uri": connection URI: port: "5x" is not a port number/],
    ["/api/v1/connections/x", { uri: "http://h", host: "h2" }, "host", /give either "uri" or the fields/],
    ["/api/v1/connections/x", { type: "postgres", extra: [1] }, "extra", /body field "extra"/],
    ["/api/v1/connections/x", { type: "postgres", pasword: "typo" }, "pasword", /unknown field "pasword"/],
    ["/api/v1/connections/-bad", { type: "http" }, "id", /connection id "-bad" is invalid/],
    ["/api/v1/variables/v", { description: "no value" }, "value", /body field "value": required/],
    ["/api/v1/variables/v", { value: 1, isSecret: "yes" }, "isSecret", /body field "isSecret"/],
  ] as const) {
    const r = await call(admin, "PUT", path, body);
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.fields?.[0]?.path, field, r.text);
    assert.match(r.json.message, re);
  }
  const r = await call(admin, "PUT", "/api/v1/variables/v", "{not json");
  assert.equal(r.status, 400);
  assert.deepEqual(storeSnapshot(sb.home), before);
});

test("test and delete; unknown ids are 404s; no response ever held a secret value", async () => {
  let r = await call(operator, "POST", "/api/v1/connections/api/test");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, false, "api.example.com is not reachable from here, or answers without auth");
  r = await call(operator, "POST", "/api/v1/connections/nope/test");
  assert.equal(r.status, 404);
  assert.match(r.json.message, /connection "nope" not found; searched: environment \(SLUICE_CONN_NOPE\), metadata store/);
  r = await call(admin, "DELETE", "/api/v1/connections/api");
  assert.equal(r.status, 200);
  r = await call(admin, "DELETE", "/api/v1/connections/api");
  assert.equal(r.status, 404);
  r = await call(admin, "DELETE", "/api/v1/variables/hidden");
  assert.equal(r.status, 200);
  r = await call(admin, "GET", "/api/v1/variables/hidden");
  assert.equal(r.status, 404);
  const spec = (await admin.get("/api/v1/openapi.json")).json;
  assert.ok(spec.paths["/api/v1/connections/{id}"].put && spec.paths["/api/v1/variables/{key}"].delete && spec.paths["/api/v1/connections/{id}/test"].post);

  const all = seen.join("\n");
  for (const secret of [PASSWORD, EXTRA_SECRET, VAR_SECRET, "x-hidden-5521", "sluice:v1:"]) assert.ok(!all.includes(secret), `a response held ${secret}`);
});
