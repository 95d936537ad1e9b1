/**
 * Full disks and floods of output (issue 11): a log store that cannot write fails the attempt with
 * DISK_FULL and the process goes on; a database on a full disk ends `sluice run` with a clear DISK_FULL
 * (exit 2), the run resumable, while `sluice dev` (as a worker or scheduler) stays up, says so once,
 * and writes again by itself once space is freed; SLUICE_MAX_LOG_BYTES truncates a chatty attempt's log after a marker; a
 * line of many megabytes is written in pieces, never held whole. The full disk is a small tmpfs mounted by
 * the test, which needs root: without it those tests are skipped, saying so.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { LineSplitter, MAX_LINE_CHARS } from "../../src/executors/lines.js";
import { cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

function tryMount(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const sb = sandbox("sluice-disk-");
const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync("umount", [m], { stdio: "ignore" });
  sb.cleanup();
});

sb.write(
  "flood.ts",
  `import { dag } from "sluice";
export default dag("flood", (d) => {
  const chatty = d.task("chatty", async (_i, ctx) => { for (let i = 0; i < 20000; i++) ctx.log.info("x".repeat(500) + i); return 1; });
  d.task("after", { inputs: { chatty } }, async ({ chatty }) => chatty + 1);
});
`,
);
sb.write(
  "longline.ts",
  `import { dag } from "sluice";
export default dag("longline", (d) => {
  d.shell("one_line", { command: "sh", args: ["-c", "head -c 5000000 /dev/zero | tr '\\\\0' y; echo; echo done"] });
});
`,
);

// its first task waits for a file the test writes once the database's disk is full
const GATE_FILE = join(sb.dir, "gate-open");
sb.write(
  "gate.ts",
  `import { dag } from "sluice";
import { existsSync } from "node:fs";
export default dag("gate", (d) => {
  const wait = d.task("wait", async () => { while (!existsSync(${JSON.stringify(GATE_FILE)})) await new Promise((r) => setTimeout(r, 50)); return 1; });
  d.task("after", { inputs: { wait } }, async ({ wait }) => wait + 1);
});
`,
);

const logsOf = (home: string, dagId: string): string[] => {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  walk(join(home, "logs", dagId));
  return out;
};

describe("a full disk", () => {
  const root = process.getuid?.() === 0;
  const logsDisk = join(sb.dir, "full-logs");
  const dbDisk = join(sb.dir, "full-db");
  const can = root && tryMount(logsDisk, "1m") && tryMount(dbDisk, "3m");
  if (can) mounts.push(logsDisk, dbDisk);
  else process.stdout.write("# skipped: mounting a tmpfs needs root (the full-disk tests)\n");

  test("logs on a full disk: the attempt fails with DISK_FULL, downstream is upstream_failed, the command ends normally", { skip: !can }, () => {
    const env = { SLUICE_HOME: logsDisk, SLUICE_DATABASE_URL: `sqlite:${join(sb.dir, "elsewhere.db")}` };
    const r = cliJson<{ state: string; tasks: { taskId: string; state: string }[]; runId: string }>(sb, ["run", "flood"], env);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /ENOSPC[\s\S]*at /, "no raw stack");
    assert.deepEqual(Object.fromEntries(r.json.tasks.map((t) => [t.taskId, t.state])), { chatty: "failed", after: "upstream_failed" });
    const show = cliJson<{ tasks: { taskId: string; attempts: { errorCode: string; errorMessage: string }[] }[] }>(sb, ["runs", "show", r.json.runId], env);
    const attempt = show.json.tasks.find((t) => t.taskId === "chatty")!.attempts[0]!;
    assert.equal(attempt.errorCode, "DISK_FULL");
    assert.match(attempt.errorMessage, /disk holding the task logs is full/);
    // and the process side says so: sluice status (the API's /health reads the same)
    const status = cliJson<{ disk: { state: string; home: string } }>(sb, ["status"], env);
    assert.equal(status.json.disk.state, "full");
    assert.match(cli(sb, ["status"], env).stdout, /^DISK FULL: .*full-logs has \d+ MiB free/m);
    // and the next run, with space again, works in the same store
    const ok = cli(sb, ["run", "longline"], { ...env, SLUICE_HOME: join(sb.dir, "roomy") });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("the database on a full disk: sluice run exits 2 with DISK_FULL, no stack; the run is still there to resume", { skip: !can }, () => {
    const env = { SLUICE_HOME: dbDisk };
    const r = cli(sb, ["run", "flood"], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /error \[DISK_FULL\]: the disk is full/);
    assert.doesNotMatch(r.stderr, /this is a bug|^\s+at /m);
  });
});

describe("a full disk under a long-running process", () => {
  const root = process.getuid?.() === 0;
  const disk = join(sb.dir, "full-db-dev");
  const can = root && tryMount(disk, "3m");
  if (can) mounts.push(disk);
  else process.stdout.write("# skipped: mounting a tmpfs needs root (the database on a full disk under sluice dev)\n");

  test("the database on a full disk: sluice dev stays up, health and status say disk full, one line; space freed, the run completes, its history whole", { skip: !can, timeout: 120_000 }, async () => {
    const env = { SLUICE_HOME: join(sb.dir, "dev-home"), SLUICE_DATABASE_URL: `sqlite:${join(disk, "sluice.db")}`, SLUICE_ADMIN_PASSWORD: "disk-admin-password" };
    const proc = cliSpawn(sb, ["dev", "--port", "0"], env);
    let output = "";
    proc.stdout.on("data", (b: Buffer) => (output += b.toString()));
    proc.stderr.on("data", (b: Buffer) => (output += b.toString()));
    const exited = new Promise((r) => proc.once("exit", r));
    try {
      await waitFor(() => /api:\s+http:\/\/[\d.:]+/.test(output) || proc.exitCode !== null, 60_000, `sluice dev to start:\n${output}`);
      const url = /api:\s+(http:\/\/[\d.:]+)/.exec(output)![1]!;
      const trigger = cliJson<{ runId: string }>(sb, ["trigger", "gate"], env);
      assert.equal(trigger.code, 0, trigger.stderr);
      const runId = trigger.json.runId;
      await waitFor(() => output.includes("▶ gate.wait"), 30_000, "the first task to start");

      // fill the database's disk, then let the task end: recording its end needs space
      const filler = join(disk, "filler");
      spawnSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k"], { stdio: "ignore" }); // ends at ENOSPC
      writeFileSync(GATE_FILE, "");
      await waitFor(() => /error \[DISK_FULL\]: the disk of the database/.test(output), 30_000, `the disk-full line:\n${output}`);
      await new Promise((r) => setTimeout(r, 3000)); // several retries (250 ms, 500 ms, 1 s, …)
      assert.equal(proc.exitCode, null, `sluice dev exited:\n${output}`);
      assert.equal(output.match(/DISK_FULL/g)?.length, 1, `one line, not one per retry:\n${output}`);
      assert.doesNotMatch(output, /the worker stopped|^\s+at /m);
      const health = (await (await fetch(`${url}/api/v1/health`)).json()) as { status: string; db: string; disk: string };
      assert.deepEqual(health, { status: "degraded", db: "ok", disk: "full" });
      assert.match(cli(sb, ["status"], env).stdout, /^DISK FULL: .*full-db-dev \(the database\) has 0 MiB free/m);
      const during = cliJson<{ state: string }>(sb, ["runs", "show", runId], env);
      assert.equal(during.json.state, "running", "nothing of the failed writes recorded");

      rmSync(filler);
      await waitFor(() => output.includes(`run ${runId} of gate: success`), 30_000, `the run to complete:\n${output}`);
      assert.match(output, /the database's disk has space again: writes resume/);
      const show = cliJson<{ state: string; tasks: { taskId: string; state: string; attempts: { state: string; tryNumber: number }[] }[] }>(sb, ["runs", "show", runId], env);
      assert.equal(show.json.state, "success");
      // one attempt each, ended once: no lost attempt, no half-written transition
      assert.deepEqual(
        show.json.tasks.map((t) => [t.taskId, t.state, t.attempts.map((a) => a.state)]),
        [["wait", "success", ["success"]], ["after", "success", ["success"]]],
      );
      const healthy = (await (await fetch(`${url}/api/v1/health`)).json()) as { disk: string };
      assert.notEqual(healthy.disk, "full");
    } finally {
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
  });
});

describe("floods of output", () => {
  test("SLUICE_MAX_LOG_BYTES: past it, one marker line and nothing more of the task; the attempt still succeeds", () => {
    const home = join(sb.dir, "capped");
    const r = cliJson<{ state: string }>(sb, ["run", "flood"], { SLUICE_HOME: home, SLUICE_MAX_LOG_BYTES: "100000" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    const [file] = logsOf(home, "flood").filter((f) => f.includes("chatty"));
    assert.ok(statSync(file!).size < 100_000 + 2000, `log of ${statSync(file!).size} bytes`);
    const text = readFileSync(file!, "utf8");
    assert.match(text, /log truncated: the task wrote more than 100000 bytes \(SLUICE_MAX_LOG_BYTES\)/);
    assert.doesNotMatch(text, /x{500}19999/, "the last lines were dropped");
  });

  test("a 5 MB line of a shell task is written in pieces of at most 1 MB; the lines after it follow", () => {
    const home = join(sb.dir, "long");
    const r = cliJson<{ state: string }>(sb, ["run", "longline"], { SLUICE_HOME: home });
    assert.equal(r.code, 0, r.stderr);
    const [file] = logsOf(home, "longline");
    const lines = readFileSync(file!, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string });
    const ys = lines.filter((l) => l.level === "stdout" && l.msg.startsWith("y"));
    assert.equal(ys.map((l) => l.msg.length).reduce((a, b) => a + b, 0), 5_000_000);
    assert.ok(ys.every((l) => l.msg.length <= MAX_LINE_CHARS));
    assert.equal(ys.length, Math.ceil(5_000_000 / MAX_LINE_CHARS));
    assert.ok(lines.some((l) => l.level === "stdout" && l.msg === "done"));
  });

  test("LineSplitter: whole lines across chunks, pieces past the cap, UTF-8 split between chunks kept whole", () => {
    const got: string[] = [];
    const s = new LineSplitter((l) => got.push(l));
    const text = `héllo wörld\n${"z".repeat(MAX_LINE_CHARS + 10)}\nlast`;
    const bytes = Buffer.from(text, "utf8");
    for (let i = 0; i < bytes.length; i += 7) s.push(bytes.subarray(i, i + 7)); // splits "é" and "ö" too
    s.end();
    assert.deepEqual(
      got.map((l) => (/^(z)\1+$/.test(l) ? `z×${l.length}` : l)),
      ["héllo wörld", `z×${MAX_LINE_CHARS}`, "z×10", "last"],
    );
  });
});
