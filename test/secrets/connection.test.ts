/** Connection URIs: Airflow's form parsed and formatted back; a URI that does not parse names its wrong part. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isSluiceError } from "../../src/errors.js";
import { connectionFromJson, connectionFromText, envName, formatConnectionUri, parseConnectionUri, toConnection } from "../../src/secrets/connection.js";

const CASES: [string, Record<string, unknown>][] = [
  [
    "postgres://etl:s3cr%40t%2Fpw@db.example.com:5432/warehouse",
    { type: "postgres", login: "etl", password: "s3cr@t/pw", host: "db.example.com", port: 5432, schema: "warehouse", extra: null },
  ],
  ["postgresql://db.example.com/analytics", { type: "postgresql", login: null, password: null, host: "db.example.com", port: null, schema: "analytics" }],
  ["http://api.example.com:8080", { type: "http", host: "api.example.com", port: 8080, schema: null }],
  ["https://user:pa%3Ass@api.example.com/v1/base?timeout=30", { type: "https", login: "user", password: "pa:ss", schema: "v1/base", extra: { timeout: "30" } }],
  ["sqlite:///var/lib/state.db", { type: "sqlite", host: null, schema: "var/lib/state.db" }],
  ["sqlite://%2Ftmp%2Fstate.db", { type: "sqlite", host: "/tmp/state.db", schema: null }],
  ["mysql://[::1]:3306/db", { type: "mysql", host: "[::1]", port: 3306, schema: "db" }],
  ["google-cloud-platform://?project=p1&scope=a&scope=b", { type: "google_cloud_platform", host: null, extra: { project: "p1", scope: ["a", "b"] } }],
  ["aws://?__extra__=%7B%22region%22%3A%22eu-west-1%22%2C%22retries%22%3A3%7D", { type: "aws", extra: { region: "eu-west-1", retries: 3 } }],
  ["redis://:only-password@cache:6379", { type: "redis", login: null, password: "only-password", host: "cache", port: 6379 }],
  ["Postgres://u@h", { type: "postgres", login: "u", password: null, host: "h" }],
];

test("URIs parse into their fields (percent-decoded, query → extra)", () => {
  for (const [uri, expected] of CASES) {
    const f = parseConnectionUri(uri);
    for (const [k, v] of Object.entries(expected)) assert.deepEqual((f as unknown as Record<string, unknown>)[k], v, `${uri}: ${k}`);
  }
});

test("formatting and parsing again gives the same fields", () => {
  for (const [uri] of CASES) {
    const f = parseConnectionUri(uri);
    assert.deepEqual(parseConnectionUri(formatConnectionUri(f)), f, uri);
  }
  const odd = { type: "postgres", login: "a b@c", password: "p%w:d/?#&=", host: "h", port: 1, schema: "d b", extra: { "k y": "v&w" } };
  assert.deepEqual(parseConnectionUri(formatConnectionUri(odd)), { ...odd });
});

const ERRORS: [string, string, RegExp][] = [
  ["", "uri", /empty/],
  ["warehouse", "type", /must start with <type>:\/\//],
  ["1pg://h", "type", /must start with a letter/],
  ["postgres://u:p@h:99999/d", "port", /"99999" is not a port number/],
  ["postgres://u:p@h:54x2/d", "port", /not a port number/],
  ["postgres://u:p%zz@h/d", "password", /percent-encoding/],
  ["postgres://u%G1:p@h/d", "login", /percent-encoding/],
  ["postgres://u:p@h/d%", "schema", /percent-encoding/],
  ["postgres://u:p@h/d#frag", "fragment", /"#" is not allowed/],
  ["postgres://u:p@[::1/d", "host", /IPv6/],
  ["postgres://u:p@a:b:5432/d", "host", /holds a ":"/],
  ["postgres://u:p@h/d?=x", "query", /has no name/],
  ["aws://?__extra__=notjson", 'query parameter "__extra__"', /not JSON/],
  ["postgres://u:p w@h/d", "uri", /whitespace/],
];

test("a URI that does not parse says which part is wrong, and never repeats the password", () => {
  for (const [uri, part, re] of ERRORS) {
    assert.throws(
      () => parseConnectionUri(uri),
      (e: unknown) => {
        assert.ok(isSluiceError(e, "INVALID_CONNECTION"), `${uri}: ${String(e)}`);
        assert.match(e.message, new RegExp(`^connection URI: ${part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `), uri);
        assert.match(e.message, re, uri);
        assert.ok(!e.message.includes("p%zz") && !e.message.includes("p w"), "the password is not quoted");
        return true;
      },
    );
  }
});

test("JSON documents (Airflow's names or Sluice's) and the env name of an id", () => {
  const f = connectionFromJson({ conn_type: "postgres", host: "h", port: "5432", login: "l", password: "p", schema: "s", extra: '{"sslmode":"require"}' }, "x");
  assert.deepEqual(f, { type: "postgres", description: null, host: "h", port: 5432, login: "l", password: "p", schema: "s", extra: { sslmode: "require" } });
  assert.throws(() => connectionFromJson({ host: "h" }, "file f"), /file f: "type" \(or "conn_type"\) is required/);
  assert.throws(() => connectionFromJson({ type: "x", port: 0 }, "f"), /"port" must be a port number/);
  assert.throws(() => connectionFromText("{nope", "environment variable SLUICE_CONN_X"), /SLUICE_CONN_X: not JSON/);
  assert.throws(() => connectionFromText("pg://h:x", "file /s/connections/x"), /file \/s\/connections\/x: connection URI: port/);
  assert.equal(envName("connection", "my-db.prod"), "SLUICE_CONN_MY_DB_PROD");
  assert.equal(envName("variable", "api.key"), "SLUICE_VAR_API_KEY");
  const c = toConnection("wh", { type: "postgres", host: "h", password: "pw" });
  assert.equal(c.uri, "postgres://:pw@h");
  assert.deepEqual(c.extra, {});
});

test("shell and Python tasks declare connections and variables: sorted in the spec, checked, refused on function tasks", async () => {
  const { dag } = await import("../../src/dsl/dag.js");
  const d = dag("decl", (b) => {
    b.shell("s", { command: "true", connections: ["wh", "api", "wh"], variables: ["k"] });
    b.python("p", { script: "x.py", variables: ["a.b"] });
    b.task("t", async () => 1);
  });
  const byId = new Map(d.spec.tasks.map((t) => [t.id, t]));
  assert.deepEqual(byId.get("s")!.connections, ["api", "wh"]);
  assert.deepEqual(byId.get("s")!.variables, ["k"]);
  assert.deepEqual(byId.get("p")!.variables, ["a.b"]);
  assert.equal("connections" in byId.get("t")!, false, "absent when none: other versions unchanged");
  const bad = (build: () => unknown, re: RegExp) => assert.throws(build, (e: unknown) => isSluiceError(e, "INVALID_DAG") && re.test((e as Error).message));
  bad(() => dag("x", (b) => void b.shell("s", { command: "true", connections: "wh" as never })), /task "s": connections must be a list of connection ids/);
  bad(() => dag("x", (b) => void b.shell("s", { command: "true", variables: ["a/b"] })), /task "s": variables: "a\/b" is not a valid variable key/);
  bad(() => dag("x", (b) => void b.task("t", { connections: ["wh"] } as never, async () => 1)), /task "t": connections is for shell and Python tasks.*ctx\.connection\(id\)/);
});
