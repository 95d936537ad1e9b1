/**
 * The PostgreSQL connection budget (issue 11, docs/deploy.md): 20 `sluice worker` processes at a pool of 2
 * run a fan-out to the end, and at no sampled moment do they hold more than the budget stated for them —
 * 20 × (2 + LISTEN + heartbeat thread) = 80 — counted by the server itself (pg_stat_activity, by the
 * schema's application name).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, test } from "node:test";
import pg from "pg";
import { PG_URL, freshSchema, pgSkip } from "../dialects.js";
import { cli, cliSpawn, sandbox, waitFor } from "../helpers.js";

const WORKERS = 20;
const POOL = 2;
const BUDGET = WORKERS * (POOL + 2);

const sb = sandbox("sluice-pgbudget-");
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  sb.cleanup();
});

test(`${WORKERS} workers at a pool of ${POOL} never hold more than ${BUDGET} connections`, { skip: pgSkip(1), timeout: 300_000 }, async () => {
  const schema = await freshSchema();
  // the workers go first: dropping a schema they still use would deadlock with them
  after(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once("exit", r)))));
    await schema.drop();
  });
  sb.write(
    "wide.ts",
    `import { dag } from "sluice";
export default dag("wide", (d) => {
  const parts = d.map("part", { over: { i: Array.from({ length: 200 }, (_, i) => i) } }, async ({ i }) => { await new Promise((r) => setTimeout(r, 20)); return i; });
  d.task("sum", { inputs: { parts } }, async ({ parts }) => parts.reduce((a, b) => a + b, 0));
});
`,
  );
  const env = { SLUICE_DATABASE_URL: schema.url, SLUICE_DB_POOL_SIZE: String(POOL), SLUICE_LEASE_MS: "5000" };
  assert.equal(cli(sb, ["db", "migrate"], env).code, 0);
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const held = async () =>
    Number((await admin.query<{ n: string }>("select count(*) as n from pg_stat_activity where application_name = $1", [`sluice_${schema.schema}`])).rows[0]!.n);
  for (let i = 0; i < WORKERS; i++) {
    const p = cliSpawn(sb, ["worker", "--quiet"], env);
    p.stdout?.resume();
    p.stderr?.resume();
    procs.push(p);
  }
  let most = 0;
  const sampling = setInterval(() => void held().then((n) => (most = Math.max(most, n)), () => undefined), 100);
  try {
    await waitFor(async () => (await admin.query(`select count(*) as n from "${schema.schema}".workers where state = 'running'`)).rows[0].n >= WORKERS, 120_000, "every worker to register");
    const t = cli(sb, ["trigger", "wide", "--json"], env);
    assert.equal(t.code, 0, t.stderr);
    const runId = (JSON.parse(t.stdout) as { runId: string }).runId;
    await waitFor(async () => (await admin.query(`select state from "${schema.schema}".runs where run_id = $1`, [runId])).rows[0]?.state === "success", 180_000, "the fan-out to finish");
    const claimedBy = await admin.query<{ n: string }>(`select count(distinct worker_id) as n from "${schema.schema}".attempts`);
    process.stdout.write(`# ${WORKERS} workers: at most ${most} connections held (budget ${BUDGET}); ${claimedBy.rows[0]!.n} workers ran tasks\n`);
  } finally {
    clearInterval(sampling);
    await admin.end();
  }
  assert.ok(most > 0, "the sampling saw the workers' connections");
  assert.ok(most <= BUDGET, `${most} connections held, more than the budget of ${BUDGET}`);
});
