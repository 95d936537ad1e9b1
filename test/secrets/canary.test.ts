/**
 * The canary test of issue 12 (docs/decisions/0016-secrets.md): 100 distinct random secrets reach tasks
 * through every channel a task gets secrets from — sensitive-named `env` values (DAG defaults) and secret
 * params — and tasks on every executor (in process, `isolation: "process"`, shell, Python, plus a sensor)
 * print them, log them with ctx.log, return them, attach them to asset events and throw them, each in plain,
 * base64 (standard and URL-safe) and URL-encoded form. Then a plaintext search of everything Sluice wrote —
 * the whole SQLite file (with -wal and -shm) or a pg_dump of the test's PostgreSQL schema, every file under
 * the home (log files, artifacts) — finds none of the 400 needles, while `***` is where they were: in each
 * task's log, in each output (inline and artifact), in the asset event's metadata, in each error message, and
 * downstream in the input of the next task.
 *
 * Adding a channel (connections and variables, once branch `conn` is merged) takes a few lines: an entry in
 * CHANNELS (its share of the 100; `share.<channel>` is then its secrets), planting them before the run
 * (beside `s.run(...)`: the app-layer operation or `sluice connections add` / `variables set`), one line in
 * the DAG's `everyForm` (`ctx.connection(id)` / `ctx.variable(key)`) and the declarations
 * (`connections: [...]`) with a loop over $SLUICE_CONN_* / $SLUICE_VAR_* in canary.sh and canary.py, like
 * their loops over $CANARY_SECRET_*. The searches need no change: they look for every secret of `all`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Sluice, loadConfig } from "sluice/runtime";
import { cliActor } from "../../dist/app/actor.js";
import { addConnection, setVariable } from "../../dist/app/secrets.js";
import { readWholeLog } from "../../src/logs/logStore.js";
import { newKey } from "../../src/secrets/keyring.js";
import { dialects, PG_URL } from "../dialects.js";
import { sandbox } from "../helpers.js";

const COUNT = 100;
const hasPython = spawnSync("python3", ["-c", "import base64, urllib.parse"]).status === 0;

/**
 * Secrets of 24 to 40 characters: letters and digits with `/+=&?:@` and spaces, so that each encoding
 * differs from the plain text; ASCII only, so that a one-byte string in V8's serialisation of an output
 * holds the same bytes as the UTF-8 searched for; an index, so that no secret contains another.
 */
function secret(i: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=&?:@ ";
  const bytes = randomBytes(40);
  const len = 16 + (bytes[0]! % 17);
  let body = "";
  for (let k = 1; k <= len; k++) body += alphabet[bytes[k]! % alphabet.length];
  return `cn${String(i).padStart(3, "0")}x${body}`;
}

/** The four forms a task writes each secret in (what Masker masks). */
function forms(s: string): string[] {
  return [s, Buffer.from(s).toString("base64"), Buffer.from(s).toString("base64url"), encodeURIComponent(s)];
}

/**
 * The channels secrets reach tasks through, and each one's share of the COUNT secrets. `env`: values of the
 * DAG defaults' `env` under sensitive names (every task gets them; process tasks in their environment, and
 * the in-process ones know them from the DAG file, as code that set them would). `param`: secret params,
 * given at trigger time.
 */
const CHANNELS = { env: 25, param: 25, conn: 25, var: 25 } as const;

const all = Array.from({ length: COUNT }, (_, i) => secret(i));
assert.equal(new Set(all).size, COUNT, "the secrets are distinct");
/** Each channel's secrets: consecutive slices of `all`. */
const share: Record<keyof typeof CHANNELS, string[]> = (() => {
  let at = 0;
  return Object.fromEntries(Object.entries(CHANNELS).map(([k, n]) => [k, all.slice(at, (at += n))])) as Record<keyof typeof CHANNELS, string[]>;
})();
assert.equal(Object.values(share).flat().length, COUNT, "every secret goes through a channel");
const envSecrets = Object.fromEntries(share.env.map((s, i) => [`CANARY_SECRET_${i}`, s]));
const paramSecrets = Object.fromEntries(share.param.map((s, i) => [`p${i}`, s]));
/** Connections (the secret is each one's password) and secret variables, planted in the store before the run. */
const connSecrets = Object.fromEntries(share.conn.map((s, i) => [`c${i}`, s]));
const varSecrets = Object.fromEntries(share.var.map((s, i) => [`v${i}`, s]));

const DAG = `
import { dag } from "sluice";
import { z } from "zod";

const ENV = ${JSON.stringify(envSecrets)};
const PARAMS = z.object({ ${Object.keys(paramSecrets).map((k) => `${k}: z.string()`).join(", ")} });
const forms = (s: string) => [s, Buffer.from(s).toString("base64"), Buffer.from(s).toString("base64url"), encodeURIComponent(s)];
const fromEnv = (env: Record<string, string | undefined>) => Object.keys(ENV).map((k) => env[k] ?? "(missing " + k + ")");
const CONNS = ${JSON.stringify(Object.keys(connSecrets))};
const VARS = ${JSON.stringify(Object.keys(varSecrets))};
// connections and variables, read through ctx (lazily, through the worker's backends)
const fromStore = async (ctx: any) => [
  ...(await Promise.all(CONNS.map(async (id: string) => (await ctx.connection(id)).password as string))),
  ...(await Promise.all(VARS.map(async (k: string) => (await ctx.variable(k)) as string))),
];
// every secret a TypeScript task can reach, channel by channel (a new channel adds its line here)
const everyForm = async (ctx: any, env: Record<string, string | undefined>, params: Record<string, string>) =>
  [...fromEnv(env), ...Object.values(params), ...(await fromStore(ctx))].flatMap(forms);
const shout = (ctx: any, all: string[]) => {
  console.log(all.join(" "));
  console.error(all.join(" | "));
  for (const f of all) ctx.log.info("form %s", f);
  ctx.log.warn(JSON.stringify({ all }));
};

export default dag("canary", { params: PARAMS, secretParams: ${JSON.stringify(Object.keys(paramSecrets))}, defaults: { env: ENV } }, (d) => {
  // in process: shares the worker's process.env, so it knows the env secrets the way its code set them
  const inproc = d.task("inproc_ok", { produces: ["canary://inproc"] }, async (_i, ctx) => {
    const all = await everyForm(ctx, ENV, ctx.params);
    shout(ctx, all);
    ctx.assetMetadata("canary://inproc", { all, first: all[0] });
    return { all, joined: all.join(","), map: new Map([[all[0], all[1]]]), set: new Set(all.slice(0, 4)), bytes: Buffer.from(all[0]!) };
  });
  d.task("inproc_fail", async (_i, ctx) => {
    const all = await everyForm(ctx, ENV, ctx.params);
    shout(ctx, all);
    throw new Error("leaking " + all.join(" "));
  });
  const proc = d.task("proc_ok", { isolation: "process", produces: ["canary://proc"] }, async (_i, ctx) => {
    const all = await everyForm(ctx, process.env, ctx.params);
    shout(ctx, all);
    ctx.assetMetadata("canary://proc", { all });
    return all;
  });
  d.task("proc_fail", { isolation: "process" }, async (_i, ctx) => {
    const all = await everyForm(ctx, process.env, ctx.params);
    shout(ctx, all);
    throw new Error("leaking " + all.join(" "));
  });
  // the shell script prints its environment and its arguments (the params, in every form)
  const shell = d.shell("shell_ok", { command: "/bin/sh", connections: CONNS, variables: VARS, args: (_i, ctx) => ["canary.sh", "ok", ...Object.values(ctx.params as Record<string, string>).flatMap(forms)] });
  d.shell("shell_fail", { command: "/bin/sh", connections: CONNS, variables: VARS, args: (_i, ctx) => ["canary.sh", "fail", ...Object.values(ctx.params as Record<string, string>).flatMap(forms)] });
  ${hasPython ? `const py = d.python("py_ok", { script: "canary.py", args: ["ok"], connections: CONNS, variables: VARS });
  d.python("py_fail", { script: "canary.py", args: ["fail"], connections: CONNS, variables: VARS });` : "const py = shell;"}
  // a sensor's poke: its log and its output (small: stored inline)
  const sensor = d.sensor("sensor_ok", { poke: async (_i, ctx) => {
    const all = forms(Object.values(ctx.params)[0] as string);
    for (const f of all) ctx.log.info("poke %s", f);
    return { done: true, value: all };
  } });
  // downstream of every returning task: what it receives
  d.task("downstream", { inputs: { inproc, proc, shell, py, sensor } }, async (inputs) => {
    const text = JSON.stringify(inputs, (_k, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v));
    return { masked: text.split("***").length - 1, length: text.length };
  });
});
`;

const SHELL = `# prints every secret it can reach, in every form: its environment (the env secrets) and its arguments
set -f # no globbing: the secrets hold "?"
mode="$1"; shift
env
for v in $(env | grep '^CANARY_SECRET_' | cut -d= -f2- | tr ' ' '~'); do
  v=$(printf %s "$v" | tr '~' ' ')
  printf 'b64 %s\\n' "$(printf %s "$v" | base64 -w0)"
  printf 'b64url %s\\n' "$(printf %s "$v" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
done
for v in $(env | grep '^SLUICE_VAR_' | cut -d= -f2- | tr ' ' '~'); do
  v=$(printf %s "$v" | tr '~' ' ' | sed 's/^"//; s/"$//')
  printf 'var %s b64 %s\\n' "$v" "$(printf %s "$v" | base64 -w0)"
done
for a in "$@"; do echo "arg $a"; echo "err $a" >&2; done
if [ "$mode" = fail ]; then echo "failing with $*" >&2; exit 3; fi
echo "$*"
`;

const PYTHON = `import base64, json, os, sys, urllib.parse
ctx = json.loads(os.environ["SLUICE_CONTEXT"])
values = [v for k, v in sorted(os.environ.items()) if k.startswith("CANARY_SECRET_")] + list(ctx["params"].values())
values += [urllib.parse.unquote(urllib.parse.urlsplit(v).password or "") for k, v in sorted(os.environ.items()) if k.startswith("SLUICE_CONN_")]
values += [json.loads(v) for k, v in sorted(os.environ.items()) if k.startswith("SLUICE_VAR_")]
forms = [f for v in values for f in (v, base64.b64encode(v.encode()).decode(), base64.urlsafe_b64encode(v.encode()).decode().rstrip("="), urllib.parse.quote(v, safe=""))]
for f in forms:
    print("py", f)
    print("py-err", f, file=sys.stderr)
if sys.argv[1] == "fail":
    raise RuntimeError("leaking " + " ".join(forms))
with open(os.environ["SLUICE_OUTPUT"], "w") as out:
    json.dump({"forms": forms}, out)
`;

/** Every file under `dir`, recursively (what a person with the disk could read). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

const NEEDLES = all.flatMap(forms);
assert.equal(NEEDLES.length, COUNT * 4);

/** The needles found in `text` (what leaked), by secret index. */
function leaks(text: string): string[] {
  return NEEDLES.filter((n) => text.includes(n));
}

const RETURNING = ["inproc_ok", "proc_ok", "shell_ok", ...(hasPython ? ["py_ok"] : []), "sensor_ok"];
const FAILING = ["inproc_fail", "proc_fail", "shell_fail", ...(hasPython ? ["py_fail"] : [])];

for (const d of dialects(1)) {
  describe(`the canary, on ${d.name}`, { skip: d.skip }, () => {
    const sb = sandbox(`sluice-canary-${d.name}-`);
    after(() => sb.cleanup());
    sb.write("canary.ts", DAG);
    sb.write("canary.sh", SHELL);
    sb.write("canary.py", PYTHON);

    test(`${COUNT} secrets (${CHANNELS.env} env, ${CHANNELS.param} secret params, ${CHANNELS.conn} connection passwords, ${CHANNELS.var} secret variables) × 4 forms on every executor: none reaches the store, a log file or an artifact; *** does`, async () => {
      const db = await d.fresh(sb.dir);
      try {
        // small outputs stay inline, the large ones go to the artifact store (files on SQLite, the database on PostgreSQL)
        const config = loadConfig(
          { home: sb.home, dags: sb.dags, databaseUrl: db.url },
          { SLUICE_SECRET_KEY: newKey(), SLUICE_INLINE_OUTPUT_LIMIT: "2000", SLUICE_DB_POOL_SIZE: "4" },
        );
        const s = await Sluice.open(config);
        let runId = "";
        try {
          assert.deepEqual(s.bag.errors, []);
          for (const [id, password] of Object.entries(connSecrets)) await addConnection(s, cliActor(), { id, fields: { type: "http", host: "canary.invalid", login: "u", password } });
          for (const [key, value] of Object.entries(varSecrets)) await setVariable(s, cliActor(), { key, value, isSecret: true });
          const summary = await s.run("canary", { params: paramSecrets });
          runId = summary.runId;
          const tis = await s.store.taskInstances.list(runId);
          const state = Object.fromEntries(tis.map((t) => [t.taskId, t.state]));
          for (const t of [...RETURNING, "downstream"]) assert.equal(state[t], "success", `${t}: ${JSON.stringify(state)}`);
          for (const t of FAILING) assert.equal(state[t], "failed", `${t}: ${JSON.stringify(state)}`);

          // *** is where the secrets were: logs, outputs, errors, asset metadata, downstream
          const attempts = await s.store.attempts.list(runId);
          for (const a of attempts) {
            const lines = await readWholeLog(s.engine.logs, { attemptId: a.attemptId, dagId: "canary", runId, taskId: a.taskId, mapIndex: a.mapIndex, tryNumber: a.tryNumber });
            const text = lines.map((l) => l.msg).join("\n");
            if (a.taskId !== "downstream") assert.ok((text.match(/\*\*\*/g) ?? []).length >= 4, `${a.taskId}'s log shows ***:\n${text.slice(0, 500)}`);
            assert.deepEqual(leaks(text), [], `${a.taskId}'s log`);
            assert.deepEqual(leaks(`${a.errorMessage ?? ""}\n${a.errorStack ?? ""}`), [], `${a.taskId}'s error`);
            if (a.taskId === "inproc_fail" || a.taskId === "proc_fail") assert.match(a.errorMessage ?? "", /^leaking \*\*\*/, a.taskId);
          }
          for (const t of RETURNING) {
            const [out] = await s.engine.loadOutputs(runId, t);
            const text = JSON.stringify(out, (_k, v: unknown) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : Buffer.isBuffer(v) ? v.toString("utf8") : v));
            assert.deepEqual(leaks(text), [], `${t}'s output`);
            assert.match(text, /\*\*\*/, `${t}'s output shows ***`);
          }
          const inprocOut = (await s.engine.loadOutputs(runId, "inproc_ok"))[0] as { map: Map<string, string>; set: Set<string>; bytes: Buffer };
          assert.deepEqual([...inprocOut.map], [["***", "***"]]);
          assert.deepEqual([...inprocOut.set], ["***"]);
          assert.equal(inprocOut.bytes.toString("utf8"), "***");
          const big = attempts.filter((a) => a.outputRef !== null).map((a) => a.taskId);
          assert.ok(big.includes("inproc_ok") && big.includes("proc_ok"), `the large outputs went to the artifact store: ${big.join(", ")}`);
          assert.ok(attempts.some((a) => a.taskId === "sensor_ok" && a.outputRef === null && a.outputSize !== null), "the sensor's output is inline");
          const [down] = (await s.engine.loadOutputs(runId, "downstream")) as [{ masked: number }];
          assert.ok(down.masked >= COUNT * 4, `downstream received *** (${down.masked} of them)`);
          for (const asset of ["canary://inproc", "canary://proc"]) {
            const events = await s.store.assets.listEvents(asset, { limit: 5 });
            assert.equal(events.length, 1, asset);
            const text = JSON.stringify(events[0]!.metadata);
            assert.deepEqual(leaks(text), [], `${asset}'s metadata`);
            assert.match(text, /\*\*\*/, `${asset}'s metadata shows ***`);
          }
          // the run's params are stored encrypted and read back as { $secret }
          const run = (await s.store.runs.get(runId))!;
          for (const k of Object.keys(paramSecrets)) assert.match((run.params[k] as { $secret: string }).$secret, /^sluice:v1:/, k);

          // everything Sluice wrote, searched as plain text
          if (d.name === "sqlite") {
            const file = db.url.replace(/^sqlite:/, "");
            const dbFiles = [file, `${file}-wal`, `${file}-shm`].filter(existsSync);
            assert.ok(dbFiles.length >= 1);
            for (const f of dbFiles) assert.deepEqual(leaks(readFileSync(f, "latin1")), [], f);
          }
        } finally {
          await s.close();
        }
        const homeFiles = filesUnder(sb.home);
        const logFiles = homeFiles.filter((f) => f.endsWith(".log"));
        const artifactFiles = homeFiles.filter((f) => f.includes(`${join(sb.home, "artifacts")}`));
        if (d.name === "sqlite") {
          assert.ok(logFiles.length >= RETURNING.length + FAILING.length, `log files: ${logFiles.length}`);
          assert.ok(artifactFiles.length >= 2, `artifact files: ${artifactFiles.length}`);
        }
        for (const f of homeFiles) assert.deepEqual(leaks(readFileSync(f, "latin1")), [], f);
        if (d.name === "sqlite") {
          const file = db.url.replace(/^sqlite:/, "");
          for (const f of [file, `${file}-wal`, `${file}-shm`].filter(existsSync)) assert.deepEqual(leaks(readFileSync(f, "latin1")), [], `${f} (closed)`);
        } else {
          const schema = new URL(db.url).searchParams.get("schema")!;
          const dump = spawnSync("pg_dump", ["--schema", schema, "--no-owner", PG_URL.replace(/\?.*$/, "")], { encoding: "latin1", maxBuffer: 1 << 30 });
          assert.equal(dump.status, 0, dump.stderr);
          assert.match(dump.stdout, /COPY .*attempt_logs/, "the dump holds the log table");
          assert.match(dump.stdout, /\*\*\*/, "the dump shows *** where the secrets were");
          assert.deepEqual(leaks(dump.stdout), [], "pg_dump");
        }
        console.log(`canary on ${d.name}: ${COUNT} secrets, ${NEEDLES.length} needles, ${RETURNING.length + FAILING.length + 1} tasks, ${homeFiles.length} files under the home searched: none found`);
      } finally {
        await db.cleanup();
      }
    });
  });
}
