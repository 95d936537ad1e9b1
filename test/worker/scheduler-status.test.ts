/**
 * `sluice status` keeps listing running schedulers (`sluice dev`, `sluice scheduler`): their sweeps look
 * for dead workers on this host by pid, and once found their own row — its pid theirs, its id not one of
 * their workers' — and marked themselves dead, so that SCHEDULERS (0) showed a few seconds after start.
 * A planted worker row whose process is gone proves that a sweep ran; the schedulers must outlive it. And
 * a scheduler row marked dead by anything comes back with its next heartbeat.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cliJson, waitFor } from "../helpers.js";
import { Procs, query } from "./procs.js";

const procs = new Procs();
after(() => procs.cleanup());

for (const role of ["dev", "scheduler"] as const) {
  test(`sluice ${role}: its scheduler row stays running through its sweeps, heartbeats, and sluice status lists it`, async () => {
    const sb = procs.sandbox(() => `import { dag } from "sluice";\nexport default dag("noop", (d) => { d.task("t", () => 1); });\n`);
    // a short lease: a sweep every second, a heartbeat every 333 ms
    const env = { SLUICE_LEASE_MS: "1000" };
    const p = procs.start(sb, [role, "--port", "0"], env);
    await waitFor(() => p.out().includes("Trigger a run"), 60_000, `sluice ${role} to start\n${p.out()}`);
    const mine = () => query<{ worker_id: string; state: string; heartbeat_at: number }>(sb, "select worker_id, state, heartbeat_at from workers where role = 'scheduler'");
    const [first] = mine();
    assert.equal(first?.state, "running");
    // a worker of this host whose process is gone: the next sweep marks it dead
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    const db = new Database(join(sb.home, "sluice.db"));
    db.prepare("insert into workers (worker_id, role, hostname, pid, queues, concurrency, started_at, heartbeat_at, state) values ('w-gone', 'worker', ?, ?, 'default', 1, 0, 0, 'running')").run(hostname(), gone);
    db.close();
    await waitFor(() => query<{ state: string }>(sb, "select state from workers where worker_id = 'w-gone'")[0]?.state === "dead", 60_000, `a sweep to bury w-gone\n${p.out()}`);
    // a heartbeat after that sweep, so the row is read after the sweep had its chance to spoil it
    const sweptAt = Math.max(...mine().map((r) => r.heartbeat_at));
    await waitFor(() => mine().some((r) => r.heartbeat_at > sweptAt), 60_000, `the scheduler to heartbeat\n${p.out()}`);
    assert.deepEqual(mine().map((r) => [r.worker_id, r.state]), [[first!.worker_id, "running"]]);
    // a row marked dead by mistake (whatever marked it) is running again with the next heartbeat
    const db2 = new Database(join(sb.home, "sluice.db"));
    db2.prepare("update workers set state = 'dead' where worker_id = ?").run(first!.worker_id);
    db2.close();
    await waitFor(() => mine()[0]?.state === "running", 60_000, `the heartbeat to revive the row\n${p.out()}`);
    const { code, json } = cliJson(sb, ["status"], env);
    assert.equal(code, 0);
    assert.deepEqual(json.schedulers.map((s: any) => [s.id, s.pid, s.state]), [[first!.worker_id, p.proc.pid, "running"]]);
    p.proc.kill("SIGTERM");
    assert.equal(await p.exited, 0, p.out());
    assert.deepEqual(mine().map((r) => r.state), ["stopped"]);
  });
}
