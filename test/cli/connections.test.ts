/**
 * `sluice connections` and `sluice variables` through the real binary: secrets from stdin and files only,
 * `test` connecting for real (PostgreSQL, HTTP, SQLite), tasks of every executor reading a connection
 * (in process, child process over IPC, shell and Python through their declared SLUICE_CONN_/SLUICE_VAR_),
 * an unknown id failing the attempt with the task, the id and the backends searched; bad keys refused.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { newKey } from "../../src/secrets/keyring.js";
import { PG_URL, pgSkip } from "../dialects.js";
import { BIN, sandbox, type Sandbox } from "../helpers.js";

const hasPython = spawnSync("python3", ["-c", "import os"]).status === 0;
const PASSWORD = "Pw-8812-conn-secret";
const KEY = newKey();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sluice <args>` without blocking this process (the HTTP server under test lives here), stdin optional. */
function run(sb: Sandbox, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: sb.dir, env: { ...sb.env, SLUICE_SECRET_KEY: KEY, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

const json = (r: Result) => {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
};

const sb = sandbox("sluice-conn-cli-");
after(() => sb.cleanup());

describe("sluice connections and variables", () => {
  let server: ReturnType<typeof createServer>;
  let port = 0;
  let lastAuth = "";
  before(async () => {
    server = createServer((req, res) => {
      lastAuth = req.headers.authorization ?? "";
      res.statusCode = req.url === "/health" ? 200 : 503;
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  test("add from stdin and files, list/show never print secrets, delete; a URI with a password in argv is refused", async () => {
    let r = await run(sb, ["connections", "add", "wh", "--type", "postgres", "--host", "db.internal", "--port", "5432", "--login", "etl", "--schema", "warehouse", "--password-stdin"], { input: `${PASSWORD}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /connection wh added \(postgres, password encrypted\)/);
    const uriFile = join(sb.dir, "uri.txt");
    writeFileSync(uriFile, `http://api:${PASSWORD}@127.0.0.1:${port}/health?timeout=3\n`);
    r = await run(sb, ["connections", "add", "api", "--uri-file", uriFile, "--description", "the API"]);
    assert.equal(r.code, 0, r.stderr);

    r = await run(sb, ["connections", "list", "--json"]);
    const list = json(r).connections;
    assert.deepEqual(
      list.map((c: any) => [c.id, c.type, c.host, c.passwordSet, c.extraSet]),
      [
        ["api", "http", "127.0.0.1", true, true],
        ["wh", "postgres", "db.internal", true, false],
      ],
    );
    r = await run(sb, ["connections", "show", "wh"]);
    assert.match(r.stdout, /password\s+\(set\)/);
    for (const out of [JSON.stringify(list), r.stdout]) assert.ok(!out.includes(PASSWORD));

    r = await run(sb, ["connections", "add", "wh", "--type", "http"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CONFLICT.*already exists/);
    r = await run(sb, ["connections", "add", "x", "--uri", `postgres://u:${PASSWORD}@h/d`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--uri holds a password/);
    r = await run(sb, ["connections", "add", "x", "--uri-file", "-"], { input: "postgres://u:p@h:70000/d" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /INVALID_CONNECTION.*the URI on standard input: connection URI: port: "70000" is not a port number/);
    r = await run(sb, ["connections", "add", "x", "--host", "h"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give --type/);
    r = await run(sb, ["connections", "add", "tmp", "--uri", "http://h"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(sb, ["connections", "delete", "tmp"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(sb, ["connections", "delete", "tmp"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CONNECTION_NOT_FOUND.*"tmp"/);

    // --replace keeps a password it is not given
    r = await run(sb, ["connections", "add", "wh", "--replace", "--type", "postgres", "--host", "db2.internal", "--login", "etl", "--schema", "warehouse"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(await run(sb, ["connections", "show", "wh", "--json"])).passwordSet, true);
  });

  test("connections test: PostgreSQL, HTTP (with basic auth) and SQLite for real; other types say there is no test", { skip: pgSkip() }, async () => {
    const pg = new URL(PG_URL);
    let r = await run(sb, ["connections", "add", "pg", "--uri-file", "-"], { input: `postgres://${pg.username}@${pg.hostname}:${pg.port || 5432}/${pg.pathname.slice(1)}` });
    assert.equal(r.code, 0, r.stderr);
    r = await run(sb, ["connections", "test", "pg", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(json(r).ok, true);
    assert.match(json(r).message, /connected: PostgreSQL/);

    r = await run(sb, ["connections", "test", "api"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /answered: HTTP 200/);
    assert.equal(lastAuth, `Basic ${Buffer.from(`api:${PASSWORD}`).toString("base64")}`);

    await run(sb, ["connections", "add", "down", "--uri", `http://127.0.0.1:${port}/nope`]);
    r = await run(sb, ["connections", "test", "down"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /failed: HTTP 503/);

    const dbFile = join(sb.dir, "state.db");
    new Database(dbFile).close();
    await run(sb, ["connections", "add", "lite", "--uri", `sqlite://${encodeURIComponent(dbFile)}`]);
    r = await run(sb, ["connections", "test", "lite"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /opened .*state\.db/);
    await run(sb, ["connections", "add", "gone", "--uri", "sqlite:///nowhere/missing.db"]);
    assert.equal((await run(sb, ["connections", "test", "gone"])).code, 1);

    await run(sb, ["connections", "add", "s3", "--uri", "aws://?region=eu-west-1"]);
    r = await run(sb, ["connections", "test", "s3"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /there is no test for connections of type "aws"/);
    // a wrong password: the message never repeats it
    r = await run(sb, ["connections", "test", "wh"]);
    assert.equal(r.code, 1);
    assert.ok(!r.stdout.includes(PASSWORD));
  });

  test("variables: JSON from the argument, a file or stdin; secrets only from a file or stdin and never printed; not JSON is a clear error", async () => {
    let r = await run(sb, ["variables", "set", "threshold", "42", "--description", "rows"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(sb, ["variables", "set", "api_token", '"tok"']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /secret: its value must come from --value-file/);
    r = await run(sb, ["variables", "set", "api_token"], { input: '{"token":"Tk-99812-secret"}\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /secret, encrypted/);
    const f = join(sb.dir, "v.json");
    writeFileSync(f, '["a", "b"]');
    assert.equal((await run(sb, ["variables", "set", "list", "--value-file", f])).code, 0);
    assert.equal((await run(sb, ["variables", "set", "name", "--string"], { input: "plain text\n" })).code, 0);
    r = await run(sb, ["variables", "set", "bad", "not json"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the value is not JSON.*--string/);

    r = await run(sb, ["variables", "get", "threshold"]);
    assert.equal(r.stdout.trim(), "42");
    r = await run(sb, ["variables", "get", "name", "--json"]);
    assert.equal(json(r).value, "plain text");
    r = await run(sb, ["variables", "get", "api_token"]);
    assert.match(r.stdout, /is secret: its value is set and never shown/);
    r = await run(sb, ["variables", "list"]);
    assert.ok(!r.stdout.includes("Tk-99812"));
    assert.match(r.stdout, /api_token\s+\*\*\* \(secret\)/);
    assert.equal((await run(sb, ["variables", "delete", "list"])).code, 0);
    r = await run(sb, ["variables", "get", "list"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /VARIABLE_NOT_FOUND/);
  });

  test("tasks of every executor read a connection and a variable; an unknown id fails the attempt naming task, id and backends", async () => {
    // tasks return digests of what they read: the values themselves are masked (***) in outputs
    sb.write(
      "uses_conn.ts",
      `
import { createHash } from "node:crypto";
import { dag } from "sluice";
const h = (s: unknown) => createHash("sha256").update(typeof s === "string" ? s : JSON.stringify(s)).digest("hex");
export default dag("uses_conn", (d) => {
  d.task("inproc", async (_i, ctx) => {
    const c = await ctx.connection("wh");
    return { password: h(c.password), host: c.host, threshold: await ctx.variable("threshold") };
  });
  d.task("proc", { isolation: "process" }, async (_i, ctx) => {
    const c = await ctx.connection("wh");
    return { password: h(c.password), uri: h(c.uri), token: h(await ctx.variable("api_token")), dflt: await ctx.variable("nope", "fallback") };
  });
  d.shell("sh", { command: 'echo "uri=$(printf %s "$SLUICE_CONN_WH" | sha256sum | cut -c1-64) var=$SLUICE_VAR_THRESHOLD api=\${SLUICE_CONN_API:-undeclared}"', shell: true, connections: ["wh"], variables: ["threshold"] });
  ${hasPython ? `d.python("py", { script: "conn.py", connections: ["wh"], variables: ["api_token"] });` : ""}
  d.task("proc_missing", { isolation: "process" }, async (_i, ctx) => ctx.connection("nope"));
  d.shell("sh_missing", { command: "true", connections: ["nope"] });
});
`,
    );
    sb.write(
      "conn.py",
      `import hashlib, json, os
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
with open(os.environ["SLUICE_OUTPUT"], "w") as f:
    json.dump({"uri": h(os.environ["SLUICE_CONN_WH"]), "var": h(json.dumps(json.loads(os.environ["SLUICE_VAR_API_TOKEN"]), separators=(",", ":"))), "api": os.environ.get("SLUICE_CONN_API")}, f)
`,
    );
    let r = await run(sb, ["run", "uses_conn", "--json"]);
    const out = json(r);
    const states = Object.fromEntries(out.tasks.map((t: any) => [t.taskId, t.state]));
    assert.deepEqual(states, { inproc: "success", proc: "success", sh: "success", ...(hasPython ? { py: "success" } : {}), proc_missing: "failed", sh_missing: "failed" }, r.stderr);
    const output = async (task: string) => json(await run(sb, ["output", out.runId, task, "--json"])).output;
    const h = (v: unknown) => createHash("sha256").update(typeof v === "string" ? v : JSON.stringify(v)).digest("hex");
    const uri = `postgres://etl:${PASSWORD}@db2.internal/warehouse`;
    assert.deepEqual(await output("inproc"), { password: h(PASSWORD), host: "db2.internal", threshold: 42 });
    assert.deepEqual(await output("proc"), { password: h(PASSWORD), uri: h(uri), token: h({ token: "Tk-99812-secret" }), dflt: "fallback" });
    assert.equal(await output("sh"), `uri=${h(uri)} var=42 api=undeclared`);
    if (hasPython) assert.deepEqual(await output("py"), { uri: h(uri), var: h({ token: "Tk-99812-secret" }), api: null });

    r = await run(sb, ["runs", "show", out.runId, "--json"]);
    const detail = json(r);
    const err = (task: string) => {
      const t = detail.tasks.find((x: any) => x.taskId === task);
      return JSON.stringify(t);
    };
    for (const task of ["proc_missing", "sh_missing"]) {
      assert.match(err(task), new RegExp(`CONNECTION_NOT_FOUND`), err(task));
      assert.match(err(task), new RegExp(`task \\\\"${task}\\\\" of DAG \\\\"uses_conn\\\\": connection \\\\"nope\\\\" not found; searched: environment \\(SLUICE_CONN_NOPE\\), metadata store`), err(task));
    }

    // a DAG that declares a bad id is refused when loaded, naming the task and the option
    sb.write("bad_decl.ts", `import { dag } from "sluice";\nexport default dag("bad_decl", (d) => { d.shell("s", { command: "true", connections: ["../x"] }); });\n`);
    r = await run(sb, ["run", "bad_decl"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /task "s".*connections: "\.\.\/x" is not a valid connection id/);
  });

  test("keys: a wrong key fails closed; a key file readable by others or of the wrong length is refused", async () => {
    let r = await run(sb, ["connections", "test", "wh"], { env: { SLUICE_SECRET_KEY: newKey() } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SECRET_KEY.*connection:wh:password was encrypted with key [0-9a-f]+, which is not among the keys/);
    assert.ok(!r.stderr.includes("sluice:v1:") && !r.stdout.includes(PASSWORD));

    const loose = join(sb.dir, "loose.key");
    writeFileSync(loose, `${KEY}\n`);
    chmodSync(loose, 0o644);
    r = await run(sb, ["connections", "add", "k3", "--type", "http", "--password-stdin"], { input: "pw-123456\n", env: { SLUICE_SECRET_KEY: "", SLUICE_SECRET_KEY_FILE: loose } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SECRET_KEY.*can be read by other users \(mode 644\): chmod 600/);
    const short = join(sb.dir, "short.key");
    writeFileSync(short, "c2hvcnQ=\n", { mode: 0o600 });
    r = await run(sb, ["connections", "add", "k3", "--type", "http", "--password-stdin"], { input: "pw-123456\n", env: { SLUICE_SECRET_KEY: "", SLUICE_SECRET_KEY_FILE: short } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SECRET_KEY.*key 1 is not 32 bytes/);
    assert.equal(json(await run(sb, ["connections", "list", "--json"])).connections.some((c: any) => c.id === "k3"), false, "nothing half-written");
  });

  test("secrets rotate-key re-encrypts every row; the old key can then be dropped", async () => {
    const next = newKey();
    let r = await run(sb, ["secrets", "rotate-key", "--json"], { env: { SLUICE_SECRET_KEY: `${next},${KEY}` } });
    assert.equal(r.code, 0, r.stderr);
    const rep = json(r);
    assert.ok(rep.connections.rotated >= 2 && rep.variables.rotated >= 1, r.stdout);
    r = await run(sb, ["secrets", "rotate-key"], { env: { SLUICE_SECRET_KEY: `${next},${KEY}` } });
    assert.match(r.stdout, /re-encrypted 0 secret rows/);
    r = await run(sb, ["run", "uses_conn", "--json"], { env: { SLUICE_SECRET_KEY: next } });
    assert.equal(json(r).tasks.find((t: any) => t.taskId === "proc").state, "success");
    r = await run(sb, ["connections", "test", "api"], { env: { SLUICE_SECRET_KEY: KEY } });
    assert.equal(r.code, 2, "the old key alone no longer reads them");
    assert.match(r.stderr, /SECRET_KEY/);
  });
});
