/**
 * User mistakes through the real CLI: broken DAG files, wrong arguments, a locked, too new or corrupt
 * database. Each must give a message that names what is wrong, the right exit code (2 for the user's
 * mistakes), write nothing, and never print a bare stack trace.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type CliResult } from "../helpers.js";

function assertNoStack(r: { stderr: string; stdout?: string }): void {
  for (const text of [r.stderr, r.stdout ?? ""]) {
    assert.doesNotMatch(text, /^\s{4}at /m, `output has a stack trace:\n${text}`);
    assert.doesNotMatch(text, /this is a bug in Sluice/, `a user mistake was reported as a bug:\n${text}`);
  }
}

/** Exit 2, a message matching every pattern, and no stack trace. */
function assertUsageError(r: CliResult, ...patterns: RegExp[]): void {
  assert.equal(r.code, 2, `expected exit 2, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  for (const p of patterns) assert.match(r.stderr, p);
  assertNoStack(r);
}

interface ImportErrorJson {
  file: string;
  line: number | null;
  message: string;
}
interface DagsListJson {
  dags: { dagId: string; file: string; taskCount: number }[];
  importErrors: ImportErrorJson[];
}

describe("broken DAG files", () => {
  const sb = sandbox("sluice-bad-dags-");
  after(() => sb.cleanup());

  before(() => {
    sb.write(
      "good.ts",
      `import { dag } from "sluice";
export default dag("good", (d) => {
  const a = d.task("a", async () => 1);
  d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
});
`,
    );
    sb.write(
      "nested/also_good.ts",
      `import { dag } from "sluice";
export default dag("also_good", (d) => { d.task("only", async () => "ok"); });
`,
    );
    // line 3 declares the DAG; the edge on line 7 closes the cycle extract -> clean -> load -> extract
    sb.write(
      "cycle.ts",
      `import { dag } from "sluice";

export default dag("cyclic", (d) => {
  const extract = d.task("extract", async () => 1);
  const clean = d.task("clean", { inputs: { extract } }, async () => 2);
  const load = d.task("load", { after: [clean] }, async () => 3);
  d.edge(load, extract);
  d.task("bystander", async () => 4);
});
`,
    );
    sb.write(
      "dup.ts",
      `import { dag } from "sluice";
export default dag("dup", (d) => {
  d.task("same", async () => 1);
  d.task("same", async () => 2);
});
`,
    );
    sb.write(
      "foreign.ts",
      `import { dag } from "sluice";
import { theirs } from "./lib/other.js";
export default dag("foreign", (d) => {
  d.task("mine", { after: [theirs] }, async () => 2);
});
`,
    );
    // a helper module (no DAG of its own) exporting a task handle of another DAG
    sb.write(
      "lib/other.ts",
      `import { dag, type TaskRef } from "sluice";
export let theirs!: TaskRef<number>;
export const otherDag = dag("other", (d) => { theirs = d.task("theirs", async () => 1); });
`,
    );
    sb.write(
      "throws.ts",
      `import { dag } from "sluice";
const apiKey = process.env["NO_SUCH_KEY_FOR_SLUICE_TEST"];
if (!apiKey) throw new Error("config missing: set NO_SUCH_KEY_FOR_SLUICE_TEST");
export default dag("throws", (d) => { d.task("a", async () => apiKey); });
`,
    );
    sb.write(
      "syntax.ts",
      `import { dag } from "sluice";
export default dag("syntax", (d) => {
  d.task("a", async () => { return 1 +; });
});
`,
    );
    sb.write(
      "baddur.ts",
      `import { dag } from "sluice";
export default dag("baddur", (d) => {
  d.task("slowpoke", { retries: 1, retryDelay: "soonish" }, async () => 1);
});
`,
    );
    // files load in path order: this one comes after good.ts
    sb.write(
      "zz_again.ts",
      `import { dag } from "sluice";
export default dag("good", (d) => { d.task("imposter", async () => 1); });
`,
    );
  });

  function importErrors(): { code: number; json: DagsListJson; stderr: string } {
    const r = cliJson<DagsListJson>(sb, ["dags", "list"]);
    assertNoStack({ stderr: r.stderr });
    return r;
  }

  function errorFor(json: DagsListJson, file: string): ImportErrorJson {
    const e = json.importErrors.find((x) => x.file === file);
    assert.ok(e, `no import error for ${file}: ${JSON.stringify(json.importErrors, null, 2)}`);
    return e;
  }

  test("the good DAG files still load, and dags list exits 1 because others failed", () => {
    const r = importErrors();
    assert.equal(r.code, 1);
    assert.deepEqual(
      r.json.dags.map((d) => [d.dagId, d.file, d.taskCount]),
      [
        ["also_good", join("nested", "also_good.ts"), 1],
        ["good", "good.ts", 2],
        ["other", join("lib", "other.ts"), 1],
      ],
    );
    assert.deepEqual(r.json.importErrors.map((e) => e.file).sort(), ["baddur.ts", "cycle.ts", "dup.ts", "foreign.ts", "syntax.ts", "throws.ts", "zz_again.ts"]);
    // a run of a good DAG is not affected by the broken files
    const run = cliJson<{ state: string }>(sb, ["run", "good"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.json.state, "success");
    // the text form lists each import error on stderr as file:line: message
    const text = cli(sb, ["dags", "list"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^good\s+2\s+manual\s+good\.ts/m);
    assert.match(text.stderr, /import error: cycle\.ts:3: .*cycle/);
    assertNoStack(text);
  });

  test("a cycle names the file, the line and the tasks on the cycle (not the bystander)", () => {
    const e = errorFor(importErrors().json, "cycle.ts");
    assert.equal(e.line, 3);
    assert.match(e.message, /DAG "cyclic" has a cycle/);
    const cycle = /cycle: (.*)$/.exec(e.message)![1]!.split(" -> ");
    assert.equal(cycle[0], cycle[cycle.length - 1], `a cycle ends where it starts: ${e.message}`);
    assert.deepEqual([...new Set(cycle)].sort(), ["clean", "extract", "load"]);
    assert.doesNotMatch(e.message, /bystander/);
  });

  test("duplicate task ids name the DAG, the task and the line of the second declaration", () => {
    const e = errorFor(importErrors().json, "dup.ts");
    assert.equal(e.line, 4);
    assert.match(e.message, /DAG "dup": task id "same" is used twice/);
  });

  test("a dependency on a task of another DAG names both DAGs and the task", () => {
    const e = errorFor(importErrors().json, "foreign.ts");
    assert.equal(e.line, 4);
    assert.match(e.message, /task "mine"/);
    assert.match(e.message, /task "theirs" of DAG "other"/);
    assert.match(e.message, /only depend on tasks of its own DAG/);
  });

  test("a DAG file that throws at import: file, line and the error's message", () => {
    const e = errorFor(importErrors().json, "throws.ts");
    assert.equal(e.line, 3);
    assert.equal(e.message, "config missing: set NO_SUCH_KEY_FOR_SLUICE_TEST");
  });

  test("a DAG file with a syntax error: file, line and what the parser says", () => {
    const e = errorFor(importErrors().json, "syntax.ts");
    assert.equal(e.line, 3);
    assert.match(e.message, /syntax error/i);
    assert.doesNotMatch(e.message, /^\s+at /m);
  });

  test("an invalid option value names the task and the field; a DAG id defined twice names the first file", () => {
    const json = importErrors().json;
    const dur = errorFor(json, "baddur.ts");
    assert.match(dur.message, /task "slowpoke"/);
    assert.match(dur.message, /retryDelay/);
    assert.match(dur.message, /"soonish" is not a duration/);
    assert.equal(dur.line, 3);
    const again = errorFor(json, "zz_again.ts");
    assert.match(again.message, /DAG id "good" is already defined in good\.ts/);
  });

  test("running a DAG that failed to import, or an unknown DAG, exits 2 listing known DAGs and the import errors", () => {
    const r = cli(sb, ["run", "cyclic"]);
    assertUsageError(r, /DAG_NOT_FOUND/, /no DAG with id "cyclic"/, /known DAGs: also_good, good, other/, /cycle\.ts:3: DAG "cyclic" has a cycle/);
    const u = cli(sb, ["run", "no_such_dag", "--json"]);
    assertUsageError(u, /known DAGs: also_good, good, other/);
    const j = JSON.parse(u.stdout) as { error: { code: string; details: { dagId: string } } };
    assert.equal(j.error.code, "DAG_NOT_FOUND");
    assert.equal(j.error.details.dagId, "no_such_dag");
    assertUsageError(cli(sb, ["dags", "show", "nope"]), /no DAG with id "nope"/);
    // pausing: the rule of the API (app/dags) — not registered and not in the folder: not found, nothing written
    assertUsageError(cli(sb, ["dags", "pause", "nope"]), /DAG_NOT_FOUND/, /no DAG with id "nope": no scheduler has registered it, and the DAGs in .* are: also_good, good, other/);
    // no run was created by any of these
    const runs = cliJson<{ runs: { dagId: string }[] }>(sb, ["runs", "list"]);
    assert.deepEqual(
      runs.json.runs.map((x) => x.dagId),
      ["good"],
    );
  });

  test("a DAGs folder that does not exist is named", () => {
    const r = cli(sb, ["--dags", join(sb.dir, "nowhere"), "run", "good"]);
    assertUsageError(r, /nowhere/, /no DAGs were found there/);
  });
});

describe("a DAG file that hangs at import", () => {
  const sb = sandbox("sluice-hanging-dag-");
  after(() => sb.cleanup());
  before(() => {
    sb.write("good.ts", `import { dag } from "sluice";\nexport default dag("good", (d) => { d.task("t", async () => 1); });\n`);
    sb.write("spins.ts", `import { dag } from "sluice";\nwhile (true) {}\nexport default dag("spins", (d) => { d.task("t", async () => 1); });\n`);
  });

  for (const args of [["dags", "list"], ["run", "good"], ["trigger", "good"]]) {
    test(`\`sluice ${args.join(" ")}\` stops within the import timeout with an error naming the file, and writes nothing`, () => {
      const t0 = Date.now();
      const r = cli(sb, args, { SLUICE_DAG_IMPORT_TIMEOUT_MS: "1500" });
      assert.notEqual(r.code, 0, `it must fail, not hang or succeed\n${r.stdout}\n${r.stderr}`);
      assert.ok(Date.now() - t0 < 60_000, "it stopped on its own, long before the test's own timeout");
      assert.match(r.stderr, /DAG_IMPORT_TIMEOUT/);
      assert.match(r.stderr, /spins\.ts: importing the file took longer than 1\.5 s/);
      assertNoStack(r);
      const file = join(sb.home, "sluice.db");
      if (existsSync(file)) {
        const db = new Database(file, { readonly: true });
        try {
          assert.deepEqual(db.prepare("select count(*) as n from runs").get(), { n: 0 }, "no run was created");
        } finally {
          db.close();
        }
      }
    });
  }
});

describe("bad arguments", () => {
  const sb = sandbox("sluice-bad-args-");
  after(() => sb.cleanup());
  let runId = "";

  before(() => {
    sb.write(
      "simple.ts",
      `import { dag } from "sluice";
import { z } from "zod";
export default dag("simple", { params: z.object({ n: z.number().default(1) }) }, (d) => {
  d.task("only", async (_i, ctx) => ctx.params.n);
  d.map("each", { over: { x: [1, 2] } }, async ({ x }) => x);
});
`,
    );
    const r = cliJson<{ runId: string }>(sb, ["run", "simple"]);
    assert.equal(r.code, 0, r.stderr);
    runId = r.json.runId;
  });

  function runCount(): number {
    const r = cliJson<{ runs: unknown[] }>(sb, ["runs", "list"]);
    assert.equal(r.code, 0, r.stderr);
    return r.json.runs.length;
  }

  test("run with a badly formed --param exits 2 and creates no run", () => {
    for (const p of ["novalue", "=5", ""]) {
      assertUsageError(cli(sb, ["run", "simple", "--param", p]), /USAGE/, /expected key=value/);
    }
    assertUsageError(cli(sb, ["run", "simple", "--param"]), /argument missing|--param/);
    assertUsageError(cli(sb, ["run", "simple", "--param", "n=notanumber"]), /INVALID_PARAM/, /param "n"/);
    assert.equal(runCount(), 1);
  });

  test("other bad option values of run exit 2 naming the option", () => {
    assertUsageError(cli(sb, ["run", "simple", "--concurrency", "zero"]), /--concurrency/);
    assertUsageError(cli(sb, ["run", "simple", "--logical-date", "yesterday"]), /--logical-date "yesterday" is not a date/);
    assertUsageError(cli(sb, ["runs", "list"], { SLUICE_CONCURRENCY: "lots" }), /SLUICE_CONCURRENCY/);
    assert.equal(runCount(), 1);
  });

  test("logs with an unknown run, task, attempt or map index", () => {
    assertUsageError(cli(sb, ["logs", "20990101T000000-nope0", "only"]), /RUN_NOT_FOUND/, /no run with id "20990101T000000-nope0"/);
    assertUsageError(cli(sb, ["logs", runId, "nope"]), /TASK_NOT_FOUND/, /has no task "nope"/);
    assertUsageError(cli(sb, ["logs", runId, "only", "--attempt", "2"]), /ATTEMPT_NOT_FOUND/, /no attempt 2; it has 1/);
    assertUsageError(cli(sb, ["logs", runId, "only", "--attempt", "first"]), /--attempt must be a whole number/);
    assertUsageError(cli(sb, ["logs", runId, "each"]), /task "each" is mapped: pass --map-index 0\.\.1/);
    assertUsageError(cli(sb, ["logs", runId, "each", "--map-index", "5"]), /"each"/, /map index 5/);
    assertUsageError(cli(sb, ["logs", runId, "only", "--map-index", "0"]), /"only"/, /not mapped/);
    assert.equal(cli(sb, ["logs", runId, "each", "--map-index", "1"]).code, 0);
  });

  test("output and runs show/cancel/resume with an unknown run or task", () => {
    assertUsageError(cli(sb, ["output", "20990101T000000-nope0", "only"]), /RUN_NOT_FOUND/, /no run with id/);
    assertUsageError(cli(sb, ["output", runId, "nope"]), /TASK_NOT_FOUND/, /has no task "nope"/);
    assertUsageError(cli(sb, ["runs", "show", "nope"]), /RUN_NOT_FOUND/);
    assertUsageError(cli(sb, ["runs", "cancel", "nope"]), /RUN_NOT_FOUND/);
    assertUsageError(cli(sb, ["runs", "resume", "nope"]), /RUN_NOT_FOUND/);
    assertUsageError(cli(sb, ["runs", "cancel", runId]), /RUN_FINISHED/, /already finished \(success\)/);
  });

  test("--limit, --offset and --state must be valid", () => {
    assertUsageError(cli(sb, ["runs", "list", "--limit", "abc"]), /--limit must be a whole number/, /"abc"/);
    assertUsageError(cli(sb, ["runs", "list", "--limit", "0"]), /--limit/);
    assertUsageError(cli(sb, ["runs", "list", "--limit", "2.5"]), /--limit/);
    assertUsageError(cli(sb, ["runs", "list", "--offset", "-1"]), /--offset/);
    assertUsageError(cli(sb, ["runs", "list", "--state", "exploded"]), /--state must be one of queued, running, success, failed/);
    const j = cli(sb, ["runs", "list", "--limit", "abc", "--json"]);
    assert.equal(j.code, 2);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, "USAGE");
  });

  test("unknown commands and options exit 2 with a usage hint and no stack trace", () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["rn", "simple"], /unknown command 'rn'[\s\S]*Did you mean run\?/],
      [["run", "simple", "--bogus"], /unknown option '--bogus'/],
      [["runs", "list", "--bogus"], /unknown option '--bogus'/],
      [["runs", "explode"], /unknown command 'explode'|too many arguments/],
      [["run"], /missing required argument 'dagId'/],
      [["runs", "show"], /missing required argument 'runId'/],
      [["logs", runId], /missing required argument 'taskId'/],
    ];
    for (const [args, re] of cases) {
      const r = cli(sb, args);
      assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.match(r.stderr, /--help/, `${args.join(" ")}: no usage hint:\n${r.stderr}`);
      assert.equal(r.stdout, "", `${args.join(" ")} printed to stdout`);
      assertNoStack(r);
    }
    assert.equal(runCount(), 1);
  });
});

describe("database problems", () => {
  const sb = sandbox("sluice-bad-db-");
  after(() => sb.cleanup());

  before(() => {
    sb.write(
      "tiny.ts",
      `import { dag } from "sluice";
export default dag("tiny", (d) => { d.task("t", async () => 1); });
`,
    );
  });

  function home(name: string): { env: NodeJS.ProcessEnv; db: string; dir: string } {
    const dir = join(sb.dir, name);
    mkdirSync(dir, { recursive: true });
    return { env: { SLUICE_HOME: dir }, db: join(dir, "sluice.db"), dir };
  }

  function counts(db: string): Record<string, number> {
    const c = new Database(db, { readonly: true });
    try {
      return Object.fromEntries(
        ["runs", "task_instances", "attempts", "dag_versions"].map((t) => [t, (c.prepare(`select count(*) as n from ${t}`).get() as { n: number }).n]),
      );
    } finally {
      c.close();
    }
  }

  test("a locked database: exit 2, a message saying so, nothing written", () => {
    const h = home("locked");
    assert.equal(cli(sb, ["run", "tiny"], h.env).code, 0); // create the database, with one run
    const before = counts(h.db);
    const holder = new Database(h.db);
    try {
      holder.exec("BEGIN EXCLUSIVE");
      const started = Date.now();
      const r = cli(sb, ["run", "tiny"], { ...h.env, SLUICE_DB_BUSY_TIMEOUT_MS: "200" });
      assertUsageError(r, /DB_LOCKED/, /database is locked/, /SLUICE_DB_BUSY_TIMEOUT_MS/);
      assert.ok(Date.now() - started < 30_000, "it gave up after the busy timeout");
      const j = cli(sb, ["run", "tiny", "--json"], { ...h.env, SLUICE_DB_BUSY_TIMEOUT_MS: "200" });
      assert.equal(j.code, 2);
      assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, "DB_LOCKED");
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    assert.deepEqual(counts(h.db), before, "nothing was written while the database was locked");
    // and once the lock is gone, it works again
    assert.equal(cli(sb, ["run", "tiny"], h.env).code, 0);
    assert.equal(counts(h.db)["runs"], before["runs"]! + 1);
  });

  test("a database locked past the busy timeout in the middle of a run: exit 2 (DB_LOCKED), not a hang; the run resumes", async () => {
    const h = home("locked-mid-run");
    const started = join(sb.dir, "mid-started");
    const go = join(sb.dir, "mid-go");
    sb.write(
      "midrun.ts",
      `import { dag } from "sluice";
import { existsSync, writeFileSync } from "node:fs";
export default dag("midrun", (d) => {
  const wait = d.task("wait", { retries: 1, retryDelay: "10ms" }, async () => {
    writeFileSync(${JSON.stringify(started)}, "");
    while (!existsSync(${JSON.stringify(go)})) await new Promise((r) => setTimeout(r, 50));
    return "went";
  });
  d.task("after", { inputs: { wait } }, async ({ wait }) => wait + "!");
});
`,
    );
    const proc = cliSpawn(sb, ["run", "midrun"], { ...h.env, SLUICE_DB_BUSY_TIMEOUT_MS: "200" });
    let stderr = "";
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number>((resolve) => proc.on("close", (code) => resolve(code ?? -1)));
    let holder: Database.Database | null = null;
    try {
      await waitFor(() => existsSync(started), 60_000, "the task to start");
      holder = new Database(h.db);
      holder.exec("BEGIN EXCLUSIVE");
      writeFileSync(go, ""); // the task ends now, and its end cannot be written
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("still running after 60 s"), 60_000).unref());
      const code = await Promise.race([exited, timeout]);
      assert.equal(code, 2, `sluice run: ${code}\n${stderr}`);
      assert.match(stderr, /DB_LOCKED/);
      assert.match(stderr, /database is locked/);
      assertNoStack({ stderr });
    } finally {
      holder?.exec("ROLLBACK");
      holder?.close();
      proc.kill("SIGKILL");
    }
    const runId = cliJson<{ runs: { runId: string; state: string }[] }>(sb, ["runs", "list"], h.env).json.runs[0]!;
    assert.equal(runId.state, "running", "the run is left resumable");
    const r = cliJson<{ state: string; tasks: { taskId: string; attempts: number }[] }>(sb, ["runs", "resume", runId.runId], h.env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    assert.deepEqual(
      r.json.tasks.map((t) => [t.taskId, t.attempts]),
      [
        ["wait", 2],
        ["after", 1],
      ],
    );
  });

  test("a database from a newer Sluice is refused (DB_TOO_NEW), naming the database", () => {
    const h = home("newer");
    assert.equal(cli(sb, ["db", "migrate"], h.env).code, 0);
    const c = new Database(h.db);
    c.prepare("insert into sluice_migrations (name, timestamp) values (?, ?)").run("9999_from_the_future", new Date().toISOString());
    c.close();
    const before = counts(h.db);
    for (const args of [["run", "tiny"], ["runs", "list"], ["db", "migrate"]]) {
      const r = cli(sb, args, h.env);
      assertUsageError(r, /DB_TOO_NEW/, new RegExp(h.db.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), /newer version of Sluice/, /9999_from_the_future/);
    }
    assert.deepEqual(counts(h.db), before);
  });

  test("a corrupt database file gives a clear message and is left untouched", () => {
    const h = home("corrupt");
    const junk = randomBytes(64 * 1024);
    writeFileSync(h.db, junk);
    for (const args of [["run", "tiny"], ["runs", "list"], ["db", "migrate"]]) {
      const r = cli(sb, args, h.env);
      assertUsageError(r, /DB_CORRUPT/, /corrupt or not a SQLite database/, /sluice\.db/);
    }
    assert.ok(readFileSync(h.db).equals(junk), "the corrupt file must not be overwritten");

    // a file with a valid SQLite header and garbage after it
    const h2 = home("corrupt-header");
    writeFileSync(h2.db, Buffer.concat([Buffer.from("SQLite format 3\0"), randomBytes(16 * 1024)]));
    assertUsageError(cli(sb, ["runs", "list"], h2.env), /DB_CORRUPT|database/i);
  });
});
