/**
 * The read side of the CLI (`runs list|show`, `dags show`, `output`, `db migrate`, `--version`, `--help`)
 * and `runs cancel` of a run that is going in another process.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { dialects } from "../dialects.js";
import { ROOT, cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s{4}at /m, `stderr has a stack trace:\n${stderr}`);
}

interface RunRow {
  runId: string;
  dagId: string;
  state: string;
  runType: string;
  logicalDate: string;
  startedAt: string | null;
  endedAt: string | null;
}

describe("reading runs, DAGs and outputs", () => {
  const sb = sandbox("sluice-read-");
  after(() => sb.cleanup());
  /** Run ids in creation order. */
  const created: { runId: string; dagId: string; state: string }[] = [];

  before(() => {
    sb.write(
      "alpha.ts",
      `import { dag } from "sluice";
import { z } from "zod";
export default dag("alpha", { description: "the first DAG", tags: ["demo"], params: z.object({ fail: z.boolean().default(false) }) }, (d) => {
  const load = d.task("load", async () => ({ rows: [1, 2, 3], when: new Date("2026-02-03T04:05:06Z"), bytes: Buffer.from("hello") }));
  const check = d.task("check", { inputs: { load }, retries: 1, retryDelay: "10ms" }, async ({ load }, ctx) => {
    if (ctx.params.fail) throw new Error("check failed: " + load.rows.length + " rows\\nsecond line of the message");
    return load.rows.length;
  });
  const squares = d.map("square", { over: { n: [1, 2, 3] } }, async ({ n }) => n * n);
  d.task("report", { inputs: { check, squares }, description: "sums it up" }, async ({ check, squares }) => ({ check, squares }));
  d.task("notify", { after: [check], triggerRule: "all_done" }, async () => "sent");
});
`,
    );
    sb.write(
      "beta.ts",
      `import { dag } from "sluice";
export default dag("beta", (d) => { d.task("only", async () => "beta!"); });
`,
    );
    const plan: [string, string[], number][] = [
      ["alpha", [], 0],
      ["beta", [], 0],
      ["alpha", ["--param", "fail=true"], 1],
      ["beta", [], 0],
      ["alpha", [], 0],
    ];
    for (const [dagId, args, code] of plan) {
      const r = cliJson<{ runId: string; state: string }>(sb, ["run", dagId, ...args]);
      assert.equal(r.code, code, r.stderr);
      created.push({ runId: r.json.runId, dagId, state: r.json.state });
    }
  });

  test("runs list: newest first, JSON fields as documented, and a table", () => {
    const r = cliJson<{ runs: RunRow[]; limit: number; offset: number }>(sb, ["runs", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.json.runs.map((x) => [x.runId, x.dagId, x.state]),
      [...created].reverse().map((x) => [x.runId, x.dagId, x.state]),
    );
    assert.equal(r.json.limit, 25);
    assert.equal(r.json.offset, 0);
    for (const x of r.json.runs) {
      assert.equal(x.runType, "manual");
      assert.ok(!Number.isNaN(Date.parse(x.logicalDate)));
      assert.ok(Date.parse(x.endedAt!) >= Date.parse(x.startedAt!));
    }
    const text = cli(sb, ["runs", "list"]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split("\n");
    assert.match(lines[0]!, /^RUN\s+DAG\s+STATE\s+STARTED\s+DURATION$/);
    assert.equal(lines.length, created.length + 1);
    assert.match(lines[1]!, new RegExp(`^${created.at(-1)!.runId}\\s+alpha\\s+success\\s+\\d{4}-`));
    // eslint-disable-next-line no-control-regex -- ESC starts a colour code
    assert.doesNotMatch(text.stdout, /\x1b\[/, "no colour codes when NO_COLOR is set / not a TTY");
  });

  test("runs list filters by --dag and --state", () => {
    const alpha = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--dag", "alpha"]);
    assert.deepEqual(
      alpha.json.runs.map((x) => x.runId),
      created.filter((x) => x.dagId === "alpha").map((x) => x.runId).reverse(),
    );
    const failed = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--state", "failed"]);
    assert.deepEqual(
      failed.json.runs.map((x) => [x.dagId, x.state]),
      [["alpha", "failed"]],
    );
    const both = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--dag", "beta", "--state", "success"]);
    assert.equal(both.json.runs.length, 2);
    assert.ok(both.json.runs.every((x) => x.dagId === "beta" && x.state === "success"));
    const none = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--dag", "no_such_dag"]);
    assert.equal(none.code, 0);
    assert.deepEqual(none.json.runs, []);
    const running = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--state", "running"]);
    assert.deepEqual(running.json.runs, []);
  });

  test("runs list pages with --limit and --offset without gaps or repeats", () => {
    const all = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list"]).json.runs.map((x) => x.runId);
    const pages: string[][] = [];
    for (let offset = 0; offset < all.length + 2; offset += 2) {
      const p = cliJson<{ runs: RunRow[]; limit: number; offset: number }>(sb, ["runs", "list", "--limit", "2", "--offset", String(offset)]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(p.json.limit, 2);
      assert.equal(p.json.offset, offset);
      pages.push(p.json.runs.map((x) => x.runId));
    }
    assert.deepEqual(
      pages.map((p) => p.length),
      [2, 2, 1, 0],
    );
    assert.deepEqual(pages.flat(), all);
    const filtered = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--dag", "alpha", "--limit", "1", "--offset", "1"]);
    assert.deepEqual(
      filtered.json.runs.map((x) => x.runId),
      [created[2]!.runId],
    );
  });

  test("runs show --json: the run, its params, every task instance and attempt", () => {
    const failedRun = created[2]!.runId;
    const r = cliJson<any>(sb, ["runs", "show", failedRun]);
    assert.equal(r.code, 0, r.stderr);
    const d = r.json;
    assert.equal(d.runId, failedRun);
    assert.equal(d.dagId, "alpha");
    assert.equal(d.state, "failed");
    assert.deepEqual(d.params, { fail: true });
    assert.match(d.dagVersion, /^[0-9a-f]{16}$/);
    assert.equal(d.runType, "manual");
    for (const k of ["createdAt", "startedAt", "endedAt", "logicalDate"]) assert.ok(!Number.isNaN(Date.parse(d[k])), k);
    const rows = new Map<string, [string, number]>(d.tasks.map((t: any) => [`${t.taskId}[${t.mapIndex}]`, [t.state, t.attempts.length]]));
    assert.deepEqual(
      Object.fromEntries(rows),
      {
        "load[-1]": ["success", 1],
        "check[-1]": ["failed", 2],
        "square[0]": ["success", 1],
        "square[1]": ["success", 1],
        "square[2]": ["success", 1],
        "report[-1]": ["upstream_failed", 0],
        "notify[-1]": ["success", 1],
      },
    );
    // in the spec's topological order, map indexes in order
    const keys = [...rows.keys()];
    assert.ok(keys.indexOf("load[-1]") < keys.indexOf("check[-1]") && keys.indexOf("check[-1]") < keys.indexOf("report[-1]"), keys.join(" "));
    assert.ok(keys.indexOf("square[0]") < keys.indexOf("square[1]") && keys.indexOf("square[1]") < keys.indexOf("square[2]"), keys.join(" "));
    const check = d.tasks.find((t: any) => t.taskId === "check");
    assert.equal(check.tryNumber, 2);
    for (const [i, a] of check.attempts.entries()) {
      assert.equal(a.attempt, i + 1);
      assert.equal(a.state, "failed");
      assert.equal(a.errorCode, "TASK_FAILED");
      assert.match(a.errorMessage, /^check failed: 3 rows\nsecond line/);
      assert.match(a.errorStack, /alpha\.ts/);
      assert.equal(typeof a.pid, "number");
      assert.equal(typeof a.workerId, "string");
      assert.ok(Date.parse(a.endedAt) >= Date.parse(a.startedAt));
    }
    const load = d.tasks.find((t: any) => t.taskId === "load");
    assert.ok(load.attempts[0].outputSize > 0);
    assert.ok(load.durationMs >= 0);

  });

  test("runs show (text): header, params, one row per instance, the last error on one line", () => {
    const failedRun = created[2]!.runId;
    const r = cli(sb, ["runs", "show", failedRun]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], `run ${failedRun} of alpha: failed`);
    assert.match(lines[1]!, /manual, logical date \d{4}-\d\d-\d\dT.*Z, params \{"fail":true\}/);
    assert.match(r.stdout, /^TASK\s+STATE\s+ATTEMPTS\s+DURATION\s+ERROR$/m);
    assert.match(r.stdout, /^check\s+failed\s+2\s+\S+\s+TASK_FAILED: check failed: 3 rows$/m);
    assert.match(r.stdout, /^square\[2\]\s+success\s+1/m);
    assert.match(r.stdout, /^report\s+upstream_failed\s+0\s*$/m);
    assert.doesNotMatch(r.stdout, /second line/, "only the first line of a message in the table");
  });

  test("output: a task's value as JSON (binary by size), a mapped task's as a list", () => {
    const ok = created[0]!.runId;
    const load = cli(sb, ["output", ok, "load"]);
    assert.equal(load.code, 0, load.stderr);
    assert.deepEqual(JSON.parse(load.stdout), { rows: [1, 2, 3], when: "2026-02-03T04:05:06.000Z", bytes: "<Buffer 5 bytes>" });
    const j = cliJson<{ runId: string; taskId: string; output: unknown }>(sb, ["output", ok, "report"]);
    assert.deepEqual(j.json, { runId: ok, taskId: "report", output: { check: 3, squares: [1, 4, 9] } });
    assert.deepEqual(JSON.parse(cli(sb, ["output", ok, "square"]).stdout), [1, 4, 9]);
    // a task without a value (it failed, or never ran) shows null
    assert.equal(JSON.parse(cli(sb, ["output", created[2]!.runId, "check"]).stdout), null);
    assert.equal(JSON.parse(cli(sb, ["output", created[2]!.runId, "report"]).stdout), null);
  });

  test("dags show --json: tasks with their options, and the edges", () => {
    const r = cliJson<any>(sb, ["dags", "show", "alpha"]);
    assert.equal(r.code, 0, r.stderr);
    const d = r.json;
    assert.equal(d.dagId, "alpha");
    assert.equal(d.file, "alpha.ts");
    assert.equal(d.description, "the first DAG");
    assert.deepEqual(d.tags, ["demo"]);
    assert.match(d.version, /^[0-9a-f]{16}$/);
    assert.ok(d.paramsJsonSchema && typeof d.paramsJsonSchema === "object", "zod params give a JSON Schema");
    const ids: string[] = d.tasks.map((t: any) => t.id);
    assert.deepEqual([...ids].sort(), ["check", "load", "notify", "report", "square"]);
    assert.ok(ids.indexOf("load") < ids.indexOf("check") && ids.indexOf("check") < ids.indexOf("report"), "tasks in topological order");
    const byId = new Map(d.tasks.map((t: any) => [t.id, t]));
    const check = byId.get("check") as any;
    assert.equal(check.retry.retries, 1);
    assert.equal(check.retry.retryDelayMs, 10);
    assert.deepEqual(check.inputs, { load: "load" });
    assert.equal((byId.get("notify") as any).triggerRule, "all_done");
    assert.equal((byId.get("report") as any).description, "sums it up");
    assert.ok((byId.get("square") as any).map);
    const edges = (d.edges as { from: string; to: string }[]).map((e) => `${e.from}->${e.to}`).sort();
    assert.deepEqual(edges, ["check->notify", "check->report", "load->check", "square->report"]);

    const text = cli(sb, ["dags", "show", "alpha"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^DAG alpha\s+\(alpha\.ts, version [0-9a-f]{16}\)$/m);
    assert.match(text.stdout, /^TASK\s+KIND\s+TRIGGER RULE\s+RETRIES\s+UPSTREAM$/m);
    assert.match(text.stdout, /^square\[\*\]\s+task\s+all_success\s+0\s*$/m);
    assert.match(text.stdout, /^report\s+task\s+all_success\s+0\s+check, square$/m);

    const list = cliJson<{ dags: { dagId: string; file: string; taskCount: number; description: string | null; tags: string[] }[]; importErrors: unknown[] }>(sb, ["dags", "list"]);
    assert.equal(list.code, 0);
    assert.deepEqual(list.json.importErrors, []);
    assert.deepEqual(
      list.json.dags.map((x) => [x.dagId, x.file, x.taskCount, x.description]),
      [
        ["alpha", "alpha.ts", 5, "the first DAG"],
        ["beta", "beta.ts", 1, null],
      ],
    );
  });

  test("db migrate is idempotent and changes nothing the second time", () => {
    const home = join(sb.dir, "fresh-home");
    const first = cli(sb, ["db", "migrate"], { SLUICE_HOME: home });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^database .*fresh-home\/sluice\.db is up to date/);
    const db = join(home, "sluice.db");
    assert.ok(existsSync(db));
    const snapshot = () => {
      const c = new Database(db, { readonly: true });
      try {
        return {
          migrations: c.prepare("select name from sluice_migrations order by name").all(),
          schema: c.prepare("select type, name, sql from sqlite_master order by name").all(),
        };
      } finally {
        c.close();
      }
    };
    const s1 = snapshot();
    assert.ok(s1.migrations.length >= 1);
    for (let i = 0; i < 2; i++) {
      const again = cli(sb, ["db", "migrate"], { SLUICE_HOME: home });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /is up to date\n$/);
      assert.doesNotMatch(again.stdout, /applied/);
    }
    assert.deepEqual(snapshot(), s1);
    // the migrated database is usable, and the existing one is untouched by migrate
    const before = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list"]).json.runs.length;
    assert.equal(cli(sb, ["db", "migrate"]).code, 0);
    assert.equal(cliJson<{ runs: RunRow[] }>(sb, ["runs", "list"]).json.runs.length, before);
  });

  test("--version prints the package version", () => {
    const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    for (const flag of ["--version", "-V"]) {
      const r = cli(sb, [flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout.trim(), version);
    }
  });

  test("--help of every command and subcommand exits 0 with its usage", () => {
    const commandsIn = (help: string): string[] => {
      const section = help.split(/^Commands:$/m)[1];
      if (!section) return [];
      return section
        .split("\n")
        .map((l) => /^ {2}(\S+)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined && c !== "help");
    };
    const root = cli(sb, ["--help"]);
    assert.equal(root.code, 0);
    assert.match(root.stdout, /^Usage: sluice/);
    const seen: string[] = [];
    const visit = (path: string[]): void => {
      const r = cli(sb, [...path, "--help"]);
      assert.equal(r.code, 0, `${path.join(" ")} --help: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: sluice ${path.join(" ")}`), path.join(" "));
      assertNoStack(r.stderr);
      seen.push(path.join(" "));
      for (const sub of commandsIn(r.stdout)) visit([...path, sub]);
    };
    for (const c of commandsIn(root.stdout)) visit([c]);
    for (const expected of ["run", "dags list", "dags show", "runs list", "runs show", "runs cancel", "runs resume", "logs", "output", "db migrate"]) {
      assert.ok(seen.includes(expected), `no help for "${expected}" (saw: ${seen.join(", ")})`);
    }
    // `help <command>` works too
    const viaHelp = cli(sb, ["help", "run"]);
    assert.equal(viaHelp.code, 0);
    assert.match(viaHelp.stdout, /Usage: sluice run \[options\] <dagId>/);
    assert.match(viaHelp.stdout, /--param/);
  });
});

// On both stores: on PostgreSQL the cancel reaches the running process through its heartbeat (fenced).
for (const d of dialects(1)) describe(`runs cancel on ${d.name}`, { skip: d.skip }, () => {
  const sb = sandbox("sluice-cancel-");
  let db: { url: string; cleanup(): Promise<void> } | null = null;
  before(async () => {
    if (d.name === "sqlite") return; // the sandbox's own file
    db = await d.fresh(sb.dir);
    sb.env["SLUICE_DATABASE_URL"] = db.url;
  });
  after(async () => {
    await db?.cleanup();
    sb.cleanup();
  });

  test("cancelling a run going in another process aborts its running task through the heartbeat and skips the rest", async () => {
    const marker = join(sb.dir, "cancel.marker");
    sb.write(
      "long.ts",
      `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
const mark = (line: string) => appendFileSync(${JSON.stringify(marker)}, line + "\\n");
export default dag("long", (d) => {
  const first = d.task("first", async () => 1);
  const long = d.task("long", { inputs: { first }, retries: 3, retryDelay: "10ms" }, async (_i, ctx) => {
    mark("long started " + ctx.attempt);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, 120_000);
      ctx.signal.addEventListener("abort", () => { clearTimeout(t); mark("long aborted: " + String((ctx.signal.reason as Error)?.message ?? ctx.signal.reason)); reject(ctx.signal.reason); }, { once: true });
    });
    return 2;
  });
  const next = d.task("next", { inputs: { long } }, async () => 3);
  d.task("last", { after: [next] }, async () => 4);
});
`,
    );
    const env = { SLUICE_LEASE_MS: "3000" };
    const runner = cliSpawn(sb, ["run", "long", "--json"], env);
    let out = "";
    let err = "";
    runner.stdout.on("data", (c: Buffer) => (out += c.toString()));
    runner.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number>((resolve) => runner.on("close", (code) => resolve(code ?? -1)));
    try {
      await waitFor(() => existsSync(marker) && readFileSync(marker, "utf8").includes("long started 1"), 60_000, "the long task to start");
      const runId = cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--dag", "long"]).json.runs[0]!.runId;
      assert.equal(cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--state", "running"]).json.runs[0]?.runId, runId);

      const cancelledAt = Date.now();
      const c = cliJson<{ runId: string; state: string; stateReason: string }>(sb, ["runs", "cancel", runId], env);
      assert.equal(c.code, 0, c.stderr);
      assert.deepEqual(c.json, { runId, state: "failed", stateReason: "cancelled by user" });

      const code = await exited;
      const tookMs = Date.now() - cancelledAt;
      assert.equal(code, 1, `run exited ${code}\n${out}\n${err}`);
      assert.ok(tookMs < 100_000, `the running process took ${tookMs} ms to notice the cancel`);
      const summary = JSON.parse(out) as { state: string; stateReason: string; tasks: { taskId: string; state: string; attempts: number }[] };
      assert.equal(summary.state, "failed");
      assert.equal(summary.stateReason, "cancelled by user");
      assert.deepEqual(
        summary.tasks.map((t) => [t.taskId, t.state, t.attempts]),
        [
          ["first", "success", 1],
          ["long", "failed", 1],
          ["next", "skipped", 0],
          ["last", "skipped", 0],
        ],
      );
      // the task itself was told to stop (its signal fired in the running process), and was not retried
      const marks = readFileSync(marker, "utf8");
      assert.match(marks, /long aborted: /);
      assert.doesNotMatch(marks, /long started 2/);

      const show = cliJson<any>(sb, ["runs", "show", runId]);
      assert.equal(show.json.state, "failed");
      assert.equal(show.json.stateReason, "cancelled by user");
      const long = show.json.tasks.find((t: any) => t.taskId === "long");
      assert.equal(long.attempts.length, 1);
      assert.equal(long.attempts[0].state, "failed");
      assert.equal(long.attempts[0].errorCode, "CANCELLED");
      assert.equal(long.attempts[0].errorMessage, "cancelled by user");
      assert.ok(show.json.endedAt);
      assert.deepEqual(
        cliJson<{ runs: RunRow[] }>(sb, ["runs", "list", "--state", "failed"]).json.runs.map((x) => x.runId),
        [runId],
      );

      // cancelling again is refused: the run has finished
      const again = cli(sb, ["runs", "cancel", runId]);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /RUN_FINISHED/);
      assertNoStack(again.stderr);
      const text = cli(sb, ["runs", "show", runId]);
      assert.match(text.stdout, new RegExp(`^run ${runId} of long: failed \\(cancelled by user\\)$`, "m"));
      assert.match(text.stdout, /^long\s+failed\s+1\s+\S+\s+CANCELLED: cancelled by user$/m);
    } finally {
      runner.kill("SIGKILL");
    }
  });
});
