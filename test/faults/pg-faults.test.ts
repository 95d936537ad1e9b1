/**
 * Faults with real processes on real PostgreSQL (a fresh schema per test): `sluice scheduler` and
 * `sluice worker` processes sharing one database, a worker killed with SIGKILL mid-task, several
 * schedulers at once, and every connection of the test's processes terminated by the server
 * (pg_terminate_backend on the schema's application_name — the shared server is never restarted).
 * Each test checks the recorded history against the invariants of ARCHITECTURE.md (test/invariants.ts),
 * with the most attempts each task may have stated here as well as read from the DAG's spec.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { decodeOutput, encodeOutput } from "../../src/artifacts/serialize.js";
import { freshSchema, pgSkip, querySchema, type PgSchema } from "../dialects.js";
import { cli, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

interface Attempt {
  attempt_id: number;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  state: string;
  pid: number;
  error_code: string | null;
}

const query = querySchema;

interface Cluster {
  sb: Sandbox;
  schema: PgSchema;
  env: NodeJS.ProcessEnv;
  procs: ChildProcess[];
  start(role: "scheduler" | "worker", args?: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  stop(): Promise<void>;
}

async function cluster(prefix: string): Promise<Cluster> {
  const sb = sandbox(prefix);
  const schema = await freshSchema();
  const env: NodeJS.ProcessEnv = {
    SLUICE_DATABASE_URL: schema.url,
    SLUICE_LEASE_MS: "2000",
    SLUICE_HEARTBEAT_MS: "300",
    SLUICE_DB_POOL_SIZE: "3",
    SLUICE_PORT: "0",
  };
  // migrate once up front: the processes then start on a ready schema
  const m = cli(sb, ["db", "migrate"], env);
  assert.equal(m.code, 0, m.stderr);
  const procs: ChildProcess[] = [];
  return {
    sb,
    schema,
    env,
    procs,
    start(role, args = [], extraEnv = {}) {
      const p = cliSpawn(sb, [role, ...(role === "worker" ? ["--concurrency", "4", "--quiet"] : []), ...args], { ...env, ...extraEnv });
      let out = "";
      p.stdout?.on("data", (d) => (out += d));
      p.stderr?.on("data", (d) => (out += d));
      p.on("exit", (code, signal) => {
        if (code && code !== 0 && signal === null) process.stderr.write(`sluice ${role} exited ${code}:\n${out}\n`);
      });
      procs.push(p);
      return p;
    },
    async stop() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once("exit", r)))));
      await schema.drop();
      sb.cleanup();
    },
  };
}

describe("faults with real processes on PostgreSQL", { skip: pgSkip(4) }, () => {
  test("a worker killed with SIGKILL mid-task: the task gets a new attempt on the other worker within lease + sweep", async () => {
    const c = await cluster("sluice-pgkill-");
    after(() => c.stop());
    const release = join(c.sb.dir, "release");
    c.sb.write(
      "hold.ts",
      `import { dag } from "sluice";
import { existsSync } from "node:fs";
export default dag("hold", (d) => {
  const a = d.task("hold", { retries: 1 }, async (_i, ctx) => {
    while (!existsSync(${JSON.stringify(release)})) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await new Promise((r) => setTimeout(r, 50));
    }
    return process.pid;
  });
  d.task("after", { inputs: { a } }, async ({ a }) => a);
});
`,
    );
    c.start("scheduler");
    const w1 = c.start("worker");
    const w2 = c.start("worker");
    const t = cli(c.sb, ["trigger", "hold"], c.env);
    assert.equal(t.code, 0, t.stderr);
    let first: Attempt | undefined;
    await waitFor(async () => {
      first = (await query<Attempt>(c.schema, "select * from attempts where task_id = 'hold' and state = 'running'"))[0];
      return first !== undefined;
    }, 60_000, "a worker to start the task");
    const victim = [w1, w2].find((w) => w.pid === Number(first!.pid));
    assert.ok(victim, `the attempt runs in one of the workers (pid ${first!.pid})`);
    const survivor = victim === w1 ? w2 : w1;
    victim.kill("SIGKILL");
    await waitFor(async () => {
      const rows = await query<Attempt>(c.schema, "select * from attempts where task_id = 'hold' and try_number = 2 and state = 'running'");
      return rows.length === 1 && Number(rows[0]!.pid) === survivor.pid;
    }, 60_000, "a second attempt on the surviving worker");
    const lost = (await query<Attempt>(c.schema, "select * from attempts where attempt_id = $1", [first!.attempt_id]))[0]!;
    assert.equal(lost.state, "failed");
    assert.equal(lost.error_code, "WORKER_LOST");
    writeFileSync(release, "go");
    await waitFor(async () => (await query<{ state: string }>(c.schema, "select state from runs"))[0]?.state === "success", 60_000, "the run to succeed");
    await checkInvariants(c.schema.url, { killed: true, maxAttempts: ({ taskId }) => (taskId === "hold" ? 2 : 1) });
  });

  test("two hosts: an output above the inline limit, written by a worker on one host, is read by a task on another; its log by a third", async () => {
    const c = await cluster("sluice-pghosts-");
    after(() => c.stop());
    c.sb.write(
      "hosts.ts",
      `import { dag } from "sluice";
export default dag("hosts", (d) => {
  const big = d.task("big", { queue: "a" }, async (_i, ctx) => {
    ctx.log.info("written on host a");
    return "x".repeat(50_000);
  });
  d.task("use", { queue: "b", inputs: { big } }, async ({ big }) => big.length);
});
`,
    );
    // each worker has a SLUICE_HOME of its own, as on two machines; outputs over 1 KB leave the attempt row
    const host = (name: string) => ({ SLUICE_HOME: join(c.sb.dir, name), SLUICE_INLINE_OUTPUT_LIMIT: "1024" });
    const a = c.start("worker", ["--queues", "a"], host("host-a"));
    const b = c.start("worker", ["--queues", "b"], host("host-b"));
    const t = cli(c.sb, ["trigger", "hosts"], c.env);
    assert.equal(t.code, 0, t.stderr);
    await waitFor(async () => ["success", "failed"].includes((await query<{ state: string }>(c.schema, "select state from runs"))[0]?.state ?? ""), 60_000, "the run to end");
    const rows = await query<Attempt & { output_ref: string | null; output_inline: Buffer | null }>(c.schema, "select * from attempts order by attempt_id");
    assert.deepEqual(rows.map((r) => [r.task_id, r.state, Number(r.pid)]), [["big", "success", a.pid], ["use", "success", b.pid]]);
    const ref = rows[0]!.output_ref;
    assert.match(ref ?? "", /^[0-9a-f]{64}$/, "the big output is stored by reference");
    const stored = await query<{ ref: string; size: number }>(c.schema, "select ref, size from artifacts");
    assert.deepEqual(stored.map((r) => [r.ref, Number(r.size)]), [[ref, encodeOutput("x".repeat(50_000), "big").length]]);
    assert.ok(!existsSync(join(c.sb.dir, "host-a", "artifacts")), "nothing on the writing host's disk");
    assert.equal(decodeOutput(rows[1]!.output_inline!), 50_000, "the reader got the 50,000 characters");
    // its log, read on a third host (another SLUICE_HOME): from the database
    const runId = rows[0]!.run_id;
    const logs = cli(c.sb, ["logs", runId, "big", "--json"], { ...c.env, SLUICE_HOME: join(c.sb.dir, "host-c") });
    assert.equal(logs.code, 0, logs.stderr);
    assert.deepEqual(JSON.parse(logs.stdout).lines.map((l: { msg: string }) => l.msg), ["attempt 1 of 1 started (in process)", "written on host a", "attempt 1 of 1 succeeded"]);
    assert.ok(!existsSync(join(c.sb.dir, "host-a", "logs")), "no log file on the writing host");
    await checkInvariants(c.schema.url, { maxAttempts: () => 1 });
  });

  test("three schedulers at once: one run per (DAG, logical date); two workers finish them all", async () => {
    const c = await cluster("sluice-pgha-");
    after(() => c.stop());
    // 48 hourly intervals due at once, with catchup: every scheduler tries to create every one of them
    const start = new Date(Date.now() - 48 * 3600_000);
    start.setUTCMinutes(0, 0, 0);
    c.sb.write(
      "hourly.ts",
      `import { dag } from "sluice";
export default dag("hourly", { schedule: "@hourly", startDate: ${JSON.stringify(start.toISOString())}, catchup: true, maxActiveRuns: 100 }, (d) => {
  const a = d.task("a", async () => 1);
  const b = d.map("b", { over: { i: a } }, async () => 2);
  d.task("c", { after: [b], retries: 2 }, async () => 3);
});
`,
    );
    c.start("scheduler");
    c.start("scheduler");
    c.start("scheduler");
    c.start("worker");
    c.start("worker");
    await waitFor(async () => {
      const rows = await query<{ n: number; done: number }>(c.schema, "select count(*)::int as n, count(*) filter (where state in ('success', 'failed'))::int as done from runs");
      return rows[0]!.n >= 48 && rows[0]!.n === rows[0]!.done;
    }, 120_000, "48 runs to finish");
    const dup = await query<{ logical_date: number; n: number }>(c.schema, "select logical_date, count(*)::int as n from runs group by dag_id, logical_date having count(*) > 1");
    assert.deepEqual(dup, [], "no logical date has two runs");
    await checkInvariants(c.schema.url, { maxAttempts: ({ taskId }) => (taskId === "c" ? 3 : 1) });
  });

  test("every connection terminated by the server mid-load: all processes reconnect; no run is lost or stuck", async () => {
    const c = await cluster("sluice-pgconn-");
    after(() => c.stop());
    const gate = join(c.sb.dir, "gate");
    c.sb.write(
      "steady.ts",
      `import { dag } from "sluice";
import { existsSync } from "node:fs";
export default dag("steady", (d) => {
  const xs = d.task("xs", async () => Array.from({ length: 20 }, (_, i) => i));
  const sq = d.map("sq", { over: { x: xs }, retries: 2 }, async ({ x }) => {
    // hold the first wave until the connections have been cut
    while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 20));
    return x * x;
  });
  d.task("sum", { inputs: { sq } }, async ({ sq }) => sq.reduce((a, b) => a + b, 0));
});
`,
    );
    c.start("scheduler");
    c.start("worker");
    c.start("worker");
    for (let i = 0; i < 5; i++) {
      const t = cli(c.sb, ["trigger", "steady"], c.env);
      assert.equal(t.code, 0, t.stderr);
    }
    await waitFor(async () => (await query<{ n: number }>(c.schema, "select count(*)::int as n from attempts where task_id = 'sq' and state = 'running'"))[0]!.n >= 4, 60_000, "map tasks running");
    const killed = await c.schema.terminateBackends();
    assert.ok(killed >= 3, `connections terminated: ${killed}`);
    writeFileSync(gate, "go");
    // and once more while the runs are finishing
    await waitFor(async () => (await query<{ n: number }>(c.schema, "select count(*)::int as n from attempts where task_id = 'sq' and state = 'success'"))[0]!.n >= 10, 60_000, "some map tasks done");
    await c.schema.terminateBackends();
    await waitFor(async () => {
      const rows = await query<{ n: number; done: number }>(c.schema, "select count(*)::int as n, count(*) filter (where state in ('success', 'failed'))::int as done from runs");
      return rows[0]!.n === 5 && rows[0]!.done === 5;
    }, 120_000, "every run to finish");
    const states = await query<{ state: string }>(c.schema, "select state from runs");
    assert.deepEqual(states.map((s) => s.state), ["success", "success", "success", "success", "success"]);
    assert.ok(c.procs.every((p) => p.exitCode === null), "every process is still up");
    assert.ok(!existsSync(join(c.sb.dir, "nope")));
    await checkInvariants(c.schema.url, { maxAttempts: ({ taskId }) => (taskId === "sq" ? 3 : 1) });
  });
});
