/**
 * The real binary: `sluice dev --port 0` creates the first admin once (printing a generated password that
 * logs in), prints the URL it serves on; `sluice users` and `sluice tokens` manage users and tokens.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { spawnSync } from "node:child_process";
import { BIN, cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-api-cli-");
after(() => sb.cleanup());

async function startDev(): Promise<{ url: string; out: () => string; stop: () => Promise<void> }> {
  const proc = cliSpawn(sb, ["dev", "--port", "0"]);
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += String(d)));
  proc.stderr.on("data", (d) => (err += String(d)));
  await waitFor(() => /web UI:\s+http/.test(out) || proc.exitCode !== null, 60_000, `the URL in:\n${out}\n${err}`);
  const url = /web UI:\s+(http:\/\/\S+?)\/?\s/.exec(out)?.[1];
  assert.ok(url, `no URL in:\n${out}\n${err}`);
  return {
    url,
    out: () => out,
    stop: async () => {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

test("first start creates admin with a password printed once; users and tokens CLI", async () => {
  const dev = await startDev();
  let password: string;
  try {
    password = /first admin: user "admin", password (\S+)/.exec(dev.out())?.[1] ?? "";
    assert.ok(password.length >= 16, dev.out());
    const login = await fetch(`${dev.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password }) });
    assert.equal(login.status, 200);
    assert.equal((await fetch(`${dev.url}/api/v1/dags`)).status, 401);
  } finally {
    await dev.stop();
  }
  const again = await startDev();
  try {
    assert.doesNotMatch(again.out(), /first admin/);
    assert.ok(!again.out().includes(password));
  } finally {
    await again.stop();
  }

  const withStdin = (args: string[], input: string) => spawnSync(process.execPath, [BIN, ...args], { cwd: sb.dir, env: sb.env, input, encoding: "utf8" });
  const created = withStdin(["users", "create", "ops", "--role", "operator", "--password-stdin"], "ops-password-1\n");
  assert.equal(created.status, 0, created.stderr);
  assert.ok(!created.stdout.includes("ops-password-1"));
  const dup = withStdin(["users", "create", "ops", "--role", "operator", "--password-stdin"], "ops-password-1\n");
  assert.equal(dup.status, 2);
  assert.match(dup.stderr, /already exists/);
  const users = cliJson(sb, ["users", "list"]).json as { username: string; role: string }[];
  assert.deepEqual(users.map((u) => [u.username, u.role]), [["admin", "admin"], ["ops", "operator"]]);
  const bad = withStdin(["users", "create", "bad", "--role", "root", "--password-stdin"], "password-123\n");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /role/);

  const token = cliJson(sb, ["tokens", "create", "deploy", "--user", "ops"]).json as { id: string; token: string; role: string };
  assert.equal(token.role, "operator");
  assert.match(token.token, /^sluice_/);
  const listed = cli(sb, ["tokens", "list"]);
  assert.match(listed.stdout, new RegExp(token.id));
  assert.ok(!listed.stdout.includes(token.token));
  const dev2 = await startDev();
  try {
    const me = await fetch(`${dev2.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token.token}` } });
    assert.equal(((await me.json()) as { user: { username: string } }).user.username, "ops");
    assert.equal(cli(sb, ["tokens", "revoke", token.id]).code, 0);
    assert.equal((await fetch(`${dev2.url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token.token}` } })).status, 401);
    const setPw = withStdin(["users", "set-password", "ops", "--password-stdin"], "ops-password-2\n");
    assert.equal(setPw.status, 0, setPw.stderr);
    const ok = await fetch(`${dev2.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "ops", password: "ops-password-2" }) });
    assert.equal(ok.status, 200);
    assert.equal(cli(sb, ["users", "delete", "ops"]).code, 0);
    assert.equal(cli(sb, ["users", "delete", "admin"]).code, 2, "the last admin stays");
  } finally {
    await dev2.stop();
  }
});
