/**
 * The PgBouncer mode (issue 11 item 8, docs/deploy.md): `sluice worker` processes reach PostgreSQL through
 * a real PgBouncer in transaction pooling mode (`?pgbouncer=true`), migrate a fresh schema all at once,
 * and run several fan-outs to the end — no "prepared statement does not exist", no table looked up in the
 * wrong schema, no failed attempt. Two workers LISTEN over a direct URL (SLUICE_DATABASE_DIRECT_URL), two
 * only poll. The server itself (pg_stat_activity) never sees more than PgBouncer's pool plus those two
 * LISTEN connections, however many clients queue at PgBouncer.
 *
 * PgBouncer refuses to run as root: as root it is started with `-u nobody`. Without a pgbouncer binary the
 * test is skipped with one line, unless CI=true (.ci/run installs it), where that is an error.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { after, test } from "node:test";
import pg from "pg";
import { SluiceError } from "../../src/errors.js";
import { listenTarget, parsePostgresUrl, poolerSession } from "../../src/store/postgres.js";
import { toStoreError } from "../../src/store/retry.js";
import { PG_URL, canConnect, freshSchema, pgSkip } from "../dialects.js";
import { cli, cliSpawn, sandbox, waitFor } from "../helpers.js";

function findPgbouncer(): string | null {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  for (const d of dirs) if (d && existsSync(join(d, "pgbouncer"))) return join(d, "pgbouncer");
  return null;
}

const PGBOUNCER = findPgbouncer();
if (!PGBOUNCER && process.env["CI"] === "true") throw new Error("pgbouncer is missing: .ci/run installs the pgbouncer package");
const bouncerSkip: string | false = PGBOUNCER ? false : "pgbouncer not installed (apt-get install pgbouncer); skipping the PgBouncer test";
if (bouncerSkip) console.log(bouncerSkip);

/** PgBouncer's server connections for the one database/user pair (default_pool_size). */
const POOL = 5;
const WORKERS = 4;
/** Workers given SLUICE_DATABASE_DIRECT_URL: each holds one LISTEN connection to PostgreSQL itself. */
const LISTENING = 2;
const RUNS = 3;

const sb = sandbox("sluice-pgbouncer-");
const procs: ChildProcess[] = [];
const stopAll = async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once("exit", r)))));
};
after(async () => {
  await stopAll();
  sb.cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start PgBouncer in front of PG_URL's server and database; resolves once it accepts connections. */
async function startPgbouncer(): Promise<{ port: number; output: () => string }> {
  const target = new URL(PG_URL);
  const db = decodeURIComponent(target.pathname.slice(1)) || "postgres";
  const user = decodeURIComponent(target.username) || "postgres";
  const port = await freePort();
  const dir = join(sb.dir, "pgbouncer");
  // read by PgBouncer after it has dropped root for nobody
  chmodSync(sb.dir, 0o755);
  mkdirSync(dir, { mode: 0o755 });
  writeFileSync(join(dir, "users.txt"), `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    `[databases]
${db} = host=${target.hostname} port=${target.port || 5432} dbname=${db}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "users.txt")}
pool_mode = transaction
default_pool_size = ${POOL}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
`,
    { mode: 0o644 },
  );
  const root = process.getuid?.() === 0;
  const p = spawn(PGBOUNCER!, [...(root ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "pipe", "pipe"] });
  procs.push(p);
  let out = "";
  p.stdout.on("data", (d: Buffer) => (out += d.toString()));
  p.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(
    async () => {
      if (p.exitCode !== null) throw new Error(`pgbouncer exited ${p.exitCode}:\n${out}`);
      return canConnect(`postgres://${user}@127.0.0.1:${port}/${db}`);
    },
    15_000,
    "pgbouncer to accept connections",
  );
  return { port, output: () => out };
}

test("pgbouncer=true: no startup options, the schema and planner settings per transaction, LISTEN only over a direct URL", () => {
  const direct = parsePostgresUrl("postgres://u@db:5432/d?schema=s1");
  assert.equal(direct.pooled, false);
  assert.match(String(direct.config.options), /search_path=s1/);
  assert.equal(poolerSession(direct), null);
  assert.equal(listenTarget(direct, null), direct, "a direct store listens on its own URL");

  const pooled = parsePostgresUrl("postgres://u@bouncer:6432/d?schema=s1&pgbouncer=true");
  assert.equal(pooled.pooled, true);
  assert.equal(pooled.config.options, undefined, "PgBouncer refuses the options startup parameter");
  assert.doesNotMatch(String(pooled.config.connectionString), /pgbouncer|schema/);
  assert.match(poolerSession(pooled)!, /^select set_config\('search_path', 's1', true\), set_config\('enable_seqscan', 'off', true\)/);
  assert.equal(listenTarget(pooled, null), null, "no direct URL: poll");
  const listen = listenTarget(pooled, "postgres://u@db:5432/d?application_name=l")!;
  assert.equal(listen.schema, "s1", "the channel is the pooled URL's schema's");
  assert.equal(listen.config.application_name, "l");
  assert.throws(() => listenTarget(pooled, "postgres://u@bouncer:6432/d?pgbouncer=true"), (e: unknown) => e instanceof SluiceError && e.code === "CONFIG");
  assert.throws(() => parsePostgresUrl("postgres://u@db/d?pgbouncer=yes"), (e: unknown) => e instanceof SluiceError && e.code === "CONFIG");

  // what PgBouncer answers a client that keeps session state names the fix
  for (const m of ["unsupported startup parameter: options", 'prepared statement "sluice_3" does not exist']) {
    const e = toStoreError(new Error(m), "postgres://u@bouncer:6432/d");
    assert.equal(e.code, "CONFIG");
    assert.match(e.message, /pgbouncer=true/);
  }
});

test(`${WORKERS} workers through PgBouncer (transaction pooling, ${POOL} server connections) run ${RUNS} fan-outs`, { skip: bouncerSkip || pgSkip(1), timeout: 300_000 }, async () => {
  const schema = await freshSchema();
  after(async () => {
    await stopAll();
    await schema.drop();
  });
  const bouncer = await startPgbouncer();
  const pooled = new URL(schema.url);
  pooled.port = String(bouncer.port);
  pooled.searchParams.set("pgbouncer", "true");
  // the direct URL names itself apart, to count the LISTEN connections on the server
  const direct = new URL(PG_URL);
  direct.searchParams.set("application_name", `sluice_${schema.schema}_listen`);
  sb.write(
    "fan.ts",
    `import { dag } from "sluice";
export default dag("fan", (d) => {
  const parts = d.map("part", { over: { i: Array.from({ length: 40 }, (_, i) => i) } }, async ({ i }) => { await new Promise((r) => setTimeout(r, 5)); return i; });
  const total = d.task("sum", { inputs: { parts } }, async ({ parts }) => parts.reduce((a, b) => a + b, 0));
  d.task("check", { inputs: { total } }, async ({ total }) => { if (total !== 780) throw new Error("sum " + total); return total; });
});
`,
  );
  const env = { SLUICE_DATABASE_URL: pooled.toString(), SLUICE_DB_POOL_SIZE: "3", SLUICE_LEASE_MS: "5000" };

  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const held = async () => {
    const r = await admin.query<{ app: string; n: string }>(
      "select application_name as app, count(*) as n from pg_stat_activity where application_name in ($1, $2) group by 1",
      [`sluice_${schema.schema}`, `sluice_${schema.schema}_listen`],
    );
    const n = (app: string) => Number(r.rows.find((x) => x.app === app)?.n ?? 0);
    return { pooled: n(`sluice_${schema.schema}`), listen: n(`sluice_${schema.schema}_listen`) };
  };
  let most = { pooled: 0, listen: 0, total: 0 };
  const sampling = setInterval(
    () =>
      void held().then(
        (h) => (most = { pooled: Math.max(most.pooled, h.pooled), listen: Math.max(most.listen, h.listen), total: Math.max(most.total, h.pooled + h.listen) }),
        () => undefined,
      ),
    50,
  );
  const errors: string[] = [];
  try {
    // no `db migrate` first: every worker migrates the new schema on open, at once, through PgBouncer
    for (let i = 0; i < WORKERS; i++) {
      const p = cliSpawn(sb, ["worker", "--quiet"], i < LISTENING ? { ...env, SLUICE_DATABASE_DIRECT_URL: direct.toString() } : env);
      let err = "";
      p.stdout?.resume();
      p.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      p.once("exit", (code, signal) => {
        if (signal !== "SIGKILL") errors.push(`worker ${i} exited ${code ?? signal}: ${err}`);
      });
      procs.push(p);
    }
    await waitFor(
      async () => {
        if (errors.length) throw new Error(errors.join("\n"));
        const t = await admin.query<{ t: string | null }>("select to_regclass($1) as t", [`"${schema.schema}".workers`]);
        if (!t.rows[0]?.t) return false;
        return Number((await admin.query(`select count(*) as n from "${schema.schema}".workers where state = 'running'`)).rows[0].n) >= WORKERS;
      },
      120_000,
      "every worker to register",
    );
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = cli(sb, ["trigger", "fan", "--json"], env);
      assert.equal(t.code, 0, t.stderr);
      runIds.push((JSON.parse(t.stdout) as { runId: string }).runId);
    }
    await waitFor(
      async () => {
        if (errors.length) throw new Error(errors.join("\n"));
        const r = await admin.query<{ state: string }>(`select state from "${schema.schema}".runs where run_id = any($1)`, [runIds]);
        const bad = r.rows.find((x) => x.state !== "success" && x.state !== "running" && x.state !== "queued");
        if (bad) throw new Error(`a run ended ${bad.state}`);
        return r.rows.length === RUNS && r.rows.every((x) => x.state === "success");
      },
      180_000,
      `the ${RUNS} fan-outs to finish`,
    );
    const attempts = await admin.query<{ state: string; n: string }>(`select state, count(*) as n from "${schema.schema}".attempts group by 1`);
    assert.deepEqual(
      attempts.rows.map((r) => [r.state, Number(r.n)]),
      [["success", RUNS * 42]],
      "every attempt succeeded, once",
    );
    const ran = await admin.query<{ n: string }>(`select count(distinct worker_id) as n from "${schema.schema}".attempts`);
    process.stdout.write(
      `# ${WORKERS} workers through PgBouncer: at most ${most.pooled} pooled + ${most.listen} LISTEN server connections (pool ${POOL}, ${LISTENING} listening); ${ran.rows[0]!.n} workers ran tasks\n`,
    );
  } finally {
    clearInterval(sampling);
    await admin.end();
  }
  assert.equal(errors.length, 0, errors.join("\n"));
  assert.ok(most.pooled > 0, "the sampling saw PgBouncer's server connections");
  assert.ok(most.pooled <= POOL, `${most.pooled} server connections through PgBouncer, more than its pool of ${POOL}`);
  assert.ok(most.listen >= 1, "the listening workers' LISTEN connections went straight to PostgreSQL");
  assert.ok(most.listen <= LISTENING, `${most.listen} LISTEN connections, more than the ${LISTENING} listening workers`);
  assert.ok(most.total <= POOL + LISTENING, `${most.total} server connections in all, over ${POOL} + ${LISTENING}`);
  assert.doesNotMatch(bouncer.output(), /prepared statement|does not exist|unsupported startup parameter/i);
});
