/**
 * GET /metrics as Prometheus scrapes it, from real processes: `sluice dev` on SQLite and on PostgreSQL runs
 * a fan-out while the test scrapes; the counters must add up to what the store says (mid-run: between the
 * store's counts read before and after the scrape; at the end: equal), and the text must parse strictly
 * (test/metrics/exposition.ts). Without credentials /metrics is a 401, with an API token of a viewer a 200
 * (the UI's fallback no longer answers it), with a token scoped to events a 403; `sluice worker
 * --metrics-port` serves its own process's metrics, `sluice scheduler --metrics-port` the deployment's
 * gauges too, without a token when SLUICE_METRICS_PUBLIC=1; a store that cannot be read fails no scrape.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../dist/config.js";
import { startMetricsServer } from "../../dist/server/metrics.js";
import { Sluice } from "../../dist/sluice.js";
import { Store } from "../../dist/store/store.js";
import { dialects } from "../dialects.js";
import { cli, cliJson, storeDb, waitFor } from "../helpers.js";
import { Procs, type Proc } from "../worker/procs.js";
import { parseExposition, sumOf, type Family } from "./exposition.js";

const procs = new Procs();
after(() => procs.cleanup());

const TASKS = 40;
const fanDag = `import { dag } from "sluice";
export default dag("fan", (d) => {
  const start = d.task("start", async () => 1);
  const all = [];
  for (let i = 0; i < ${TASKS}; i++) all.push(d.task("t" + i, { after: [start] }, async () => { await new Promise((r) => setTimeout(r, 150)); return i; }));
  d.task("join", { after: all }, async () => "done");
});
`;

/** The address a process printed for `label` (api:, metrics:). */
async function addressOf(p: Proc, label: "api" | "metrics"): Promise<string> {
  const re = label === "api" ? /api:\s+(http:\/\/\S+)/ : /metrics:\s+(http:\/\/\S+)\/metrics/;
  await waitFor(() => re.test(p.out()), 60_000, `the ${label} address\n${p.out()}`);
  return re.exec(p.out())![1]!;
}

async function scrape(base: string, token?: string): Promise<{ status: number; type: string | null; text: string; families: Map<string, Family> | null }> {
  const res = await fetch(`${base}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), text, families: res.status === 200 ? parseExposition(text) : null };
}

/** What the store says of DAG `dagId`: task instances by state, attempts, runs by state. */
async function storeCounts(store: Store, dagId: string) {
  const db = storeDb(store);
  const tis = await db
    .selectFrom("task_instances as ti")
    .innerJoin("runs as r", "r.run_id", "ti.run_id")
    .select(["ti.state", (eb) => eb.fn.countAll<number>().as("n")])
    .where("r.dag_id", "=", dagId)
    .groupBy("ti.state")
    .execute();
  const attempts = await db.selectFrom("attempts as a").innerJoin("runs as r", "r.run_id", "a.run_id").select((eb) => eb.fn.countAll<number>().as("n")).where("r.dag_id", "=", dagId).executeTakeFirstOrThrow();
  const runs = await db.selectFrom("runs").select(["state", (eb) => eb.fn.countAll<number>().as("n")]).where("dag_id", "=", dagId).groupBy("state").execute();
  const ti = Object.fromEntries(tis.map((r) => [r.state, Number(r.n)])) as Record<string, number>;
  return { ti: (s: string) => ti[s] ?? 0, attempts: Number(attempts.n), runs: Object.fromEntries(runs.map((r) => [r.state, Number(r.n)])) as Record<string, number> };
}

for (const d of dialects(1)) {
  test(`${d.name}: /metrics during a fan-out adds up to the store; the text parses; 401 without a token, 200 with one`, { skip: d.skip, timeout: 180_000 }, async () => {
    const sb = procs.sandbox(() => fanDag);
    const db = await d.fresh(sb.dir);
    const env = { SLUICE_DATABASE_URL: db.url, SLUICE_ADMIN_PASSWORD: "admin-password-for-tests", SLUICE_CONCURRENCY: "4" };
    const dev = procs.start(sb, ["dev", "--port", "0", "--quiet"], env);
    // the test reads the store sluice dev created and migrated
    await waitFor(() => /Trigger a run/.test(dev.out()), 60_000, `sluice dev to start\n${dev.out()}`);
    const store = await Store.open({ url: db.url, migrate: false });
    try {
      const base = await addressOf(dev, "api");

      // credentials: none, a wrong token, an API token
      const none = await scrape(base);
      assert.equal(none.status, 401, none.text);
      assert.equal(JSON.parse(none.text).code, "UNAUTHORIZED");
      assert.match(JSON.parse(none.text).message, /SLUICE_METRICS_PUBLIC/);
      assert.equal((await scrape(base, "not-a-token")).status, 401);
      const created = cliJson<{ token: string }>(sb, ["tokens", "create", "prometheus", "--user", "admin"], env);
      assert.equal(created.code, 0, created.stderr);
      const token = created.json.token;
      const events = cliJson<{ token: string }>(sb, ["tokens", "create", "sender", "--user", "admin", "--scope", "events:*"], env);
      const scoped = await scrape(base, events.json.token);
      assert.equal(scoped.status, 403, "a token scoped to events reads nothing");
      const viewer = cliJson<{ token: string }>(sb, ["tokens", "create", "viewer", "--user", "admin", "--role", "viewer"], env);
      assert.equal((await scrape(base, viewer.json.token)).status, 200, "the viewer role is enough");
      const idle = await scrape(base, token);
      assert.equal(idle.status, 200, idle.text);
      assert.equal(idle.type, "text/plain; version=0.0.4; charset=utf-8", "Prometheus text, not the UI's page");
      const fam = idle.families!;
      for (const name of ["sluice_runs_finished_total", "sluice_task_instances_finished_total", "sluice_claims_total", "sluice_lease_losses_total", "sluice_callbacks_total", "sluice_notifications_total", "sluice_deadline_misses_total"]) {
        assert.equal(fam.get(name)?.type, "counter", name);
      }
      for (const name of ["sluice_task_duration_seconds", "sluice_task_queue_wait_seconds", "sluice_scheduler_loop_seconds", "sluice_db_transaction_seconds"]) assert.equal(fam.get(name)?.type, "histogram", name);
      for (const name of ["sluice_ready_task_instances", "sluice_running_attempts", "sluice_active_runs", "sluice_live_processes", "sluice_worker_running_attempts", "sluice_worker_slots"]) assert.equal(fam.get(name)?.type, "gauge", name);
      assert.ok(fam.has("process_cpu_user_seconds_total") && fam.has("nodejs_eventloop_lag_seconds"), "the runtime's own metrics");
      assert.equal(sumOf(fam, "sluice_ready_task_instances", { queue: "default", pool: "default_pool" }), 0, "the default series exists at 0 when idle");
      assert.equal(sumOf(fam, "sluice_live_processes", { role: "worker" }), 1);
      assert.equal(sumOf(fam, "sluice_worker_slots"), 4);

      // mid-run: the process's counters lie between the store's counts read before and after the scrape
      assert.equal(cli(sb, ["trigger", "fan"], env).code, 0);
      await waitFor(async () => (await storeCounts(store, "fan")).ti("success") >= 6, 60_000, `six task instances done\n${dev.out()}`);
      const before = await storeCounts(store, "fan");
      const mid = (await scrape(base, token)).families!;
      const afterScrape = await storeCounts(store, "fan");
      const done = sumOf(mid, "sluice_task_instances_finished_total", { dag: "fan", state: "success" });
      assert.ok(before.ti("success") <= done && done <= afterScrape.ti("success"), `finished counter ${done} between the store's ${before.ti("success")} and ${afterScrape.ti("success")}`);
      const claimed = sumOf(mid, "sluice_attempts_claimed_total", { queue: "default" });
      assert.ok(before.attempts <= claimed && claimed <= afterScrape.attempts, `claimed ${claimed} between ${before.attempts} and ${afterScrape.attempts}`);
      const ready = sumOf(mid, "sluice_ready_task_instances");
      assert.ok(ready > 0 && ready <= TASKS, `ready ${ready}: work is waiting for the 4 slots`);
      assert.ok(sumOf(mid, "sluice_running_attempts") <= 4 && sumOf(mid, "sluice_worker_running_attempts") <= 4, "no more running than slots");
      assert.equal(sumOf(mid, "sluice_active_runs", { dag: "fan", state: "running" }), 1);
      assert.ok(ready + sumOf(mid, "sluice_running_attempts") + afterScrape.ti("success") >= TASKS + 1, "ready, running and done cover the started fan-out");

      // the end: equal
      await waitFor(async () => (await storeCounts(store, "fan")).runs["success"] === 1, 120_000, `the run to succeed\n${dev.out()}`);
      const end = await storeCounts(store, "fan");
      const fin = (await scrape(base, token)).families!;
      assert.equal(end.ti("success"), TASKS + 2);
      assert.equal(sumOf(fin, "sluice_task_instances_finished_total", { dag: "fan", state: "success" }), end.ti("success"));
      assert.equal(sumOf(fin, "sluice_task_instances_finished_total", { dag: "fan" }), end.ti("success"), "no other final state");
      assert.equal(sumOf(fin, "sluice_runs_finished_total", { dag: "fan", state: "success" }), 1);
      assert.equal(sumOf(fin, "sluice_attempts_claimed_total"), end.attempts);
      assert.equal(sumOf(fin, "sluice_task_duration_seconds_count", { dag: "fan", state: "success" }), end.attempts);
      assert.ok(sumOf(fin, "sluice_task_duration_seconds_sum", { dag: "fan" }) >= TASKS * 0.15 * 0.9, "the tasks' sleeps are in their durations");
      assert.equal(sumOf(fin, "sluice_task_queue_wait_seconds_count"), end.attempts);
      assert.ok(sumOf(fin, "sluice_claims_total", { result: "claimed" }) >= 1);
      assert.ok(sumOf(fin, "sluice_db_transaction_seconds_count", { outcome: "commit" }) > 0);
      assert.ok(sumOf(fin, "sluice_scheduler_loop_seconds_count") > 0);
      assert.equal(sumOf(fin, "sluice_ready_task_instances"), 0);
      assert.equal(sumOf(fin, "sluice_running_attempts"), 0);
      assert.equal(sumOf(fin, "sluice_worker_running_attempts"), 0);
      assert.equal(sumOf(fin, "sluice_active_runs", { dag: "fan" }), 0);
      assert.equal(sumOf(fin, "sluice_lease_losses_total"), 0);
      assert.ok(![...fin.values()].some((f) => f.samples.some((s) => "run_id" in s.labels || "run" in s.labels)), "no run ids in labels");

      dev.proc.kill("SIGTERM");
      assert.equal(await dev.exited, 0, dev.out());
    } finally {
      await store.close();
      await db.cleanup();
    }
  });
}

test("sluice worker --metrics-port serves its own process's metrics (SLUICE_METRICS_PUBLIC=1: no token); they add up to the store", { timeout: 120_000 }, async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("small", (d) => {
  const a = d.task("a", async () => 1);
  d.task("b", { after: [a] }, async () => 2);
  d.task("c", { after: [a] }, async () => 3);
});
`);
  const env = { SLUICE_METRICS_PUBLIC: "1" };
  const w = procs.start(sb, ["worker", "--metrics-port", "0"], env);
  const base = await addressOf(w, "metrics");
  const idle = await scrape(base);
  assert.equal(idle.status, 200, idle.text);
  assert.ok(!idle.families!.has("sluice_ready_task_instances"), "a worker reads no deployment gauges from the store");
  assert.equal(sumOf(idle.families!, "sluice_worker_slots"), 32);
  assert.equal((await fetch(`${base}/`)).status, 404, "/metrics is the only route");

  assert.equal(cli(sb, ["trigger", "small"]).code, 0);
  const store = await Store.open({ url: `sqlite:${sb.home}/sluice.db`, migrate: false });
  try {
    await waitFor(async () => (await storeCounts(store, "small")).runs["success"] === 1, 60_000, `the run to succeed\n${w.out()}`);
    const end = await storeCounts(store, "small");
    const fam = (await scrape(base)).families!;
    assert.equal(sumOf(fam, "sluice_attempts_claimed_total", { queue: "default" }), 3);
    assert.equal(sumOf(fam, "sluice_attempts_claimed_total"), end.attempts);
    assert.equal(sumOf(fam, "sluice_task_instances_finished_total", { dag: "small", state: "success" }), end.ti("success"));
    assert.equal(sumOf(fam, "sluice_runs_finished_total", { dag: "small", state: "success" }), 1);
    assert.equal(sumOf(fam, "sluice_task_duration_seconds_count", { dag: "small" }), 3);
  } finally {
    await store.close();
  }
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0, w.out());
});

test("sluice scheduler --metrics-port (no API without SLUICE_EVENT_TOKEN) serves its loop's metrics and the deployment gauges", { timeout: 120_000 }, async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("idle", (d) => {
  d.task("a", async () => 1);
});
`);
  const s = procs.start(sb, ["scheduler", "--metrics-port", "0"], { SLUICE_METRICS_PUBLIC: "1" });
  const base = await addressOf(s, "metrics");
  assert.match(s.out(), /HTTP API off/);
  await waitFor(async () => sumOf((await scrape(base)).families!, "sluice_scheduler_loop_seconds_count") > 0, 30_000, `a scheduler loop\n${s.out()}`);
  const fam = (await scrape(base)).families!;
  assert.equal(sumOf(fam, "sluice_store_up"), 1);
  assert.equal(sumOf(fam, "sluice_live_processes", { role: "scheduler" }), 1);
  assert.equal(sumOf(fam, "sluice_ready_task_instances", { queue: "default", pool: "default_pool" }), 0);
  assert.equal(sumOf(fam, "sluice_worker_slots"), 0, "no worker in this process");
  s.proc.kill("SIGTERM");
  assert.equal(await s.exited, 0, s.out());
});

test("a bad --metrics-port is a usage error before anything starts", () => {
  const sb = procs.sandbox(() => `export {};\n`);
  const r = cli(sb, ["worker", "--metrics-port", "http"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--metrics-port must be a port number/);
});

test("a store that cannot be read does not fail the scrape: sluice_store_up 0, the process's own metrics still served", async () => {
  const home = mkdtempSync(join(tmpdir(), "sluice-metrics-"));
  const s = await Sluice.open(loadConfig({ home, dags: home }, { SLUICE_METRICS_PUBLIC: "1" }), { loadDags: false });
  const server = await startMetricsServer(s, { port: 0, host: "127.0.0.1", deployment: true });
  try {
    const up = (await scrape(server.url)).families!;
    assert.equal(sumOf(up, "sluice_store_up"), 1);
    assert.ok(up.has("sluice_ready_task_instances"));
    await s.close(); // the database connection is gone
    const down = await scrape(server.url);
    assert.equal(down.status, 200, down.text);
    assert.equal(sumOf(down.families!, "sluice_store_up"), 0);
    assert.equal(down.families!.get("sluice_ready_task_instances")?.samples.length ?? 0, 0, "no stale gauges");
    assert.ok(down.families!.has("sluice_db_transaction_seconds"));
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
});
