/**
 * The real binary: `sluice users create --role none`, `sluice grants add|list|delete`, `sluice tokens
 * create --scope`, against the store of a running `sluice dev`, and what the API then lets each token do.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, test } from "node:test";
import { BIN, cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-cli-grants-");
after(() => sb.cleanup());
for (const [id, tag] of [
  ["etl_orders", "finance"],
  ["ml_train", "ml"],
] as const) {
  sb.write(`${id}.ts`, `import { dag } from "sluice";\nexport default dag("${id}", { tags: ["${tag}"], events: ["orders.new"] }, (d) => { d.task("a", async () => 1); });\n`);
}

const withStdin = (args: string[], input: string) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: sb.dir, env: sb.env, input, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

test("grants through the CLI: add (warning for a selector that matches nothing), list, delete; bad input exits 2 naming the field; scoped event tokens", async () => {
  const proc = cliSpawn(sb, ["dev", "--port", "0"]);
  let out = "";
  proc.stdout.on("data", (d) => (out += String(d)));
  proc.stderr.on("data", (d) => (out += String(d)));
  try {
    await waitFor(() => /web UI:\s+http/.test(out) || proc.exitCode !== null, 60_000, `the URL in:\n${out}`);
    const url = /web UI:\s+(http:\/\/\S+?)\/?\s/.exec(out)![1]!;
    assert.equal(withStdin(["users", "create", "ana", "--role", "none", "--password-stdin"], "ana-password-1\n").code, 0);
    assert.equal(withStdin(["users", "create", "feeder", "--role", "operator", "--password-stdin"], "feeder-password-1\n").code, 0);
    // the scheduler of `sluice dev` registers the DAGs: wait for them (a grant on them warns of nothing)
    let added: { code: number; json: any; stderr: string } | undefined;
    await waitFor(() => {
      added = cliJson(sb, ["grants", "add", "--user", "ana", "--role", "viewer", "--dags", "tag:finance"]);
      if (added.code === 0 && added.json.warnings.length) cli(sb, ["grants", "delete", String(added.json.id)]);
      return added.code === 0 && added.json.warnings.length === 0;
    }, 60_000, "the DAGs to be registered");
    assert.deepEqual({ user: added!.json.user, role: added!.json.role, selector: added!.json.selector }, { user: "ana", role: "viewer", selector: "tag:finance" });

    const nothing = cli(sb, ["grants", "add", "--user", "ana", "--role", "operator", "--dags", "dag:nothing_*"]);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stderr, /^warning: selector dag:nothing_\* matches no registered DAG/m);
    const list = cliJson(sb, ["grants", "list", "--user", "ana"]);
    assert.deepEqual(list.json.map((g: { selector: string }) => g.selector), ["tag:finance", "dag:nothing_*"]);
    const text = cli(sb, ["grants", "list"]);
    assert.match(text.stdout, /user:ana\s+viewer\s+tag:finance/);
    const del = cli(sb, ["grants", "delete", String(list.json[1].id)]);
    assert.equal(del.code, 0);
    assert.match(del.stdout, /deleted grant \d+ \(user ana: operator on dag:nothing_\*\)/);

    for (const [args, message] of [
      [["grants", "add", "--user", "ana", "--role", "viewer", "--dags", "etl_*"], /selector: "etl_\*" is not a selector/],
      [["grants", "add", "--user", "ana", "--role", "boss", "--dags", "dag:x"], /role: must be one of viewer, operator, admin/],
      [["grants", "add", "--user", "nobody", "--role", "viewer", "--dags", "dag:x"], /user: no user "nobody"/],
      [["grants", "add", "--role", "viewer", "--dags", "dag:x"], /exactly one principal/],
      [["grants", "delete", "abc"], /positive integer/],
      [["grants", "delete", "99999"], /no grant with id 99999/],
      [["tokens", "create", "feed", "--user", "feeder", "--scope", "orders.*"], /scope: "orders.\*" is not a scope/],
      [["tokens", "create", "feed", "--user", "ana", "--scope", "events:*"], /scope: sending events needs the operator role; ana is none/],
    ] as [string[], RegExp][]) {
      const r = cli(sb, args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.stderr, message, args.join(" "));
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    assert.equal(cliJson(sb, ["grants", "list"]).json.length, 1, "nothing half-written");

    // ana's token: viewer through her grant, on etl_orders only
    const tok = cliJson(sb, ["tokens", "create", "ana-cli", "--user", "ana"]);
    assert.equal(tok.code, 0, tok.stderr);
    assert.equal(tok.json.role, "viewer");
    const get = (path: string, token: string) => fetch(`${url}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
    const dags = (await (await get("/dags", tok.json.token)).json()) as { items: { dagId: string }[] };
    assert.deepEqual(dags.items.map((d) => d.dagId), ["etl_orders"]);
    assert.equal((await get("/dags/ml_train", tok.json.token)).status, 404);

    // an event token from the CLI sends matching events only and reads nothing
    const et = cliJson(sb, ["tokens", "create", "feed", "--user", "feeder", "--scope", "events:orders.*"]);
    assert.equal(et.code, 0, et.stderr);
    assert.equal(et.json.scope, "events:orders.*");
    const send = (name: string) => fetch(`${url}/api/v1/events/${name}`, { method: "POST", headers: { Authorization: `Bearer ${et.json.token}`, "Content-Type": "application/json" }, body: "{}" });
    assert.equal((await send("orders.new")).status, 201);
    assert.equal((await send("billing.x")).status, 403);
    assert.equal((await get("/dags", et.json.token)).status, 403);
    assert.match(cli(sb, ["tokens", "list"]).stdout, /feed\s+feeder\s+none\s+events:orders\.\*/);
  } finally {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }
});
