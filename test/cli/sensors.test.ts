/**
 * Sensors with the real CLI, real files and real processes: a waiting sensor survives `kill -9` of the
 * `sluice run` that drove it (its state is in the store), `sluice runs resume` goes on poking and the
 * sensor succeeds once the file appears — still within its first attempt. The recorded history keeps the
 * invariants of ARCHITECTURE.md (test/invariants.ts: attempts ≤ retries + 1; nothing live in a finished run).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-cli-sensors-");
after(() => sb.cleanup());
const dbFile = join(sb.home, "sluice.db");

function readDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

interface TiRow {
  task_id: string;
  state: string;
  try_number: number;
  poke_count: number;
  ready_at: number | null;
}

function sensorRow(runId: string, taskId: string): TiRow | undefined {
  return readDb((db) => db.prepare("select task_id, state, try_number, poke_count, ready_at from task_instances where run_id = ? and task_id = ?").get(runId, taskId) as TiRow | undefined);
}

function attempts(runId: string): { task_id: string; try_number: number; state: string; error_code: string | null; ended_at: number | null; pid: number }[] {
  return readDb((db) => db.prepare("select task_id, try_number, state, error_code, ended_at, pid from attempts where run_id = ? order by attempt_id").all(runId) as never);
}

function latestRunId(dagId: string): string {
  if (!existsSync(dbFile)) return "";
  try {
    return readDb((db) => (db.prepare("select run_id from runs where dag_id = ? order by created_at desc limit 1").get(dagId) as { run_id: string } | undefined)?.run_id ?? "");
  } catch {
    return "";
  }
}

function killAndWait(p: ReturnType<typeof cliSpawn>): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once("exit", () => resolve());
    p.kill("SIGKILL");
  });
}

function exited(p: ReturnType<typeof cliSpawn>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  p.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  p.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => p.once("close", (code) => resolve({ code, stdout, stderr })));
}

test("kill -9 while a sensor waits: `runs resume` goes on poking, and the sensor succeeds when the file appears, in its first attempt", async () => {
  sb.write(
    "sense.ts",
    `import { dag, fileExists } from "sluice";
export default dag("sense", (d) => {
  const flag = d.sensor("wait_flag", { poke: fileExists("flags/ready-*.txt"), pokeInterval: "1s", timeout: "10m" });
  d.task("after", { inputs: { flag } }, async ({ flag }) => flag.length);
});
`,
  );
  const first = cliSpawn(sb, ["run", "sense"]);
  let runId = "";
  try {
    await waitFor(() => (runId = latestRunId("sense")) !== "", 60_000, "the run to be created");
    // kill between pokes (not during one): the sensor waits in the store, no worker holds it
    await waitFor(
      () => {
        const t = sensorRow(runId, "wait_flag");
        return t?.state === "up_for_reschedule" && t.poke_count >= 2 && t.ready_at! - Date.now() > 400;
      },
      60_000,
      "the sensor to wait after two pokes",
    );
    await killAndWait(first);
  } finally {
    await killAndWait(first);
  }
  const before = sensorRow(runId, "wait_flag")!;
  assert.equal(before.state, "up_for_reschedule");
  assert.deepEqual(
    attempts(runId).map((a) => [a.task_id, a.try_number, a.state]),
    [["wait_flag", 1, "up_for_reschedule"]],
    "the waiting attempt survives the kill; nothing was running",
  );
  await checkInvariants(dbFile, { mayRun: [runId], killed: true });

  // runs show tells that it waits, and when it pokes next
  const shown = cliJson<{ state: string; tasks: { taskId: string; state: string; pokes: number; nextPokeAt: string | null }[] }>(sb, ["runs", "show", runId]);
  assert.equal(shown.json.state, "running");
  const waiting = shown.json.tasks.find((t) => t.taskId === "wait_flag")!;
  assert.equal(waiting.state, "up_for_reschedule");
  assert.ok(waiting.pokes >= 2);
  assert.equal(waiting.nextPokeAt, new Date(before.ready_at!).toISOString());
  assert.match(cli(sb, ["runs", "show", runId]).stdout, /wait_flag\s+up_for_reschedule\s+1\s+.*waiting: \d+ pokes, next at /);

  // resume: the new process goes on poking (at least once more unmet), then the file appears
  const resume = cliSpawn(sb, ["runs", "resume", runId, "--json"]);
  const result = exited(resume);
  try {
    await waitFor(() => sensorRow(runId, "wait_flag")!.poke_count > before.poke_count, 60_000, "the resumed process to poke");
    mkdirSync(join(sb.dags, "flags"), { recursive: true });
    writeFileSync(join(sb.dags, "flags", "ready-1.txt"), "go");
    const r = await result;
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { state: string; tasks: { taskId: string; state: string; attempts: number }[] };
    assert.equal(summary.state, "success");
    assert.deepEqual(
      summary.tasks.map((t) => [t.taskId, t.state, t.attempts]),
      [
        ["wait_flag", "success", 1],
        ["after", "success", 1],
      ],
    );
  } finally {
    await killAndWait(resume);
  }
  const history = attempts(runId);
  assert.deepEqual(
    history.map((a) => [a.task_id, a.try_number, a.state, a.error_code]),
    [
      ["wait_flag", 1, "success", null],
      ["after", 1, "success", null],
    ],
    "no WORKER_LOST, no second attempt: pokes are not tries",
  );
  assert.notEqual(history[0]!.pid, first.pid, "the attempt's last poke ran in the resuming process");
  assert.equal(cli(sb, ["output", runId, "after"]).stdout.trim(), "1");
  await checkInvariants(dbFile);
});

test("sluice run: a sensor that times out fails the run (exit 1) with TIMEOUT; progress shows it waiting once", async () => {
  sb.write(
    "late.ts",
    `import { dag } from "sluice";
export default dag("late", (d) => {
  d.sensor("never", { poke: async () => false, pokeInterval: "200ms", timeout: "1s" });
});
`,
  );
  const r = cli(sb, ["run", "late"]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.match(/▶ never/g)?.length, 1, r.stderr);
  assert.equal(r.stderr.match(/… never: waiting \(sensor/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /✗ never: sensor "never" timed out: its condition was not met within 1\.00s \(\d+ pokes\)/);
  const runId = latestRunId("late");
  assert.deepEqual(
    attempts(runId).map((a) => [a.try_number, a.state, a.error_code]),
    [[1, "failed", "TIMEOUT"]],
  );
  await checkInvariants(dbFile);
});
