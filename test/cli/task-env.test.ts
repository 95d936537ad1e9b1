/**
 * Task processes never see Sluice's own secrets. Every SLUICE_* variable that can hold text holds a canary
 * (plus made-up SLUICE_* names that future features will use for keys and connections); a shell task, a
 * /bin/sh script, a Python script and a process-isolated function each print and return their whole
 * environment. No canary may appear in any log or output, while what a task is meant to get does: PATH,
 * the DAG's and task's `env`, and what SLUICE_TASK_ENV_ALLOW names.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig, taskEnvironment } from "../../src/config.js";
import { isSluiceError } from "../../src/errors.js";
import { cli, cliJson, sandbox } from "../helpers.js";

const sb = sandbox("sluice-task-env-");
after(() => sb.cleanup());

const CANARY = "c4n4ry-7f3e9d";
const hasPython = spawnSync("python3", ["-c", "import os"]).status === 0;

sb.write(
  "envleak.ts",
  `
import { dag } from "sluice";

export default dag("envleak", { defaults: { env: { FROM_DAG: "dag-default", OVERRIDDEN: "dag" } } }, (d) => {
  d.shell("shell_env", { command: "env" });
  d.shell("sh_env", { command: "env; echo \\"last=$SLUICE_TASK_ID\\"", shell: true, env: { OVERRIDDEN: "task" } });
  ${hasPython ? `d.python("py_env", { script: "env.py" });` : ""}
  d.task("proc_env", { isolation: "process" }, async (_i, ctx) => {
    ctx.log.info("%s", JSON.stringify(process.env));
    return { ...process.env };
  });
});
`,
);
sb.write(
  "env.py",
  `import json, os
for k, v in sorted(os.environ.items()):
    print(f"{k}={v}")
with open(os.environ["SLUICE_OUTPUT"], "w") as f:
    json.dump(dict(os.environ), f)
`,
);

/** Every file under `dir`, recursively, as text. */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name), "latin1"))
    .join("\n");
}

describe("the environment of task processes", () => {
  test("no executor's task sees or logs a SLUICE_* secret; the task's and the allowed variables reach it", () => {
    const dbDir = join(sb.dir, `db-${CANARY}`);
    mkdirSync(dbDir, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      SLUICE_DATABASE_URL: `sqlite:${join(dbDir, "sluice.db")}`,
      SLUICE_EVENT_TOKEN: `${CANARY}-event-token`,
      SLUICE_ADMIN_PASSWORD: `${CANARY}-admin-password`,
      SLUICE_SECRET_KEY: `${CANARY}-secret-key`,
      SLUICE_CONN_WAREHOUSE: `postgres://etl:${CANARY}@db/warehouse`,
      SLUICE_VAR_API_KEY: `${CANARY}-var`,
      SLUICE_SOMETHING_NEW: `${CANARY}-future`,
      SLUICE_TASK_ENV_ALLOW: "ALLOWED_*,EXACT_ONE",
      ALLOWED_REGION: "eu-west-1",
      EXACT_ONE: "yes",
      NOT_ALLOWED_TOKEN: `${CANARY}-not-allowed`,
    };
    const r = cliJson<{ runId: string; state: string; tasks: { taskId: string; state: string }[] }>(sb, ["run", "envleak"], env);
    assert.equal(r.json.state, "success", r.stderr);
    const taskIds = r.json.tasks.map((t) => t.taskId).sort();
    assert.deepEqual(taskIds, ["proc_env", "sh_env", "shell_env", ...(hasPython ? ["py_env"] : [])].sort());

    for (const taskId of taskIds) {
      const log = cli(sb, ["logs", r.json.runId, taskId], env);
      assert.equal(log.code, 0, log.stderr);
      const output = cli(sb, ["output", r.json.runId, taskId], env);
      assert.equal(output.code, 0, output.stderr);
      const seen = `${log.stdout}\n${output.stdout}`;
      assert.ok(!seen.includes(CANARY), `${taskId} saw a secret:\n${seen.split("\n").filter((l) => l.includes(CANARY)).join("\n")}`);
      // what the task is meant to get
      assert.match(seen, /PATH=|"PATH"/, `${taskId} has no PATH`);
      assert.match(seen, /ALLOWED_REGION.{1,4}eu-west-1/, `${taskId} lacks the allowed ALLOWED_REGION`);
      assert.match(seen, /EXACT_ONE.{1,4}yes/, `${taskId} lacks the allowed EXACT_ONE`);
      assert.match(seen, /FROM_DAG.{1,4}dag-default/, `${taskId} lacks the DAG's default env`);
      assert.match(seen, new RegExp(`SLUICE_TASK_ID.{1,4}${taskId}`), `${taskId} lacks its context variables`);
      assert.match(seen, new RegExp(`OVERRIDDEN.{1,4}${taskId === "sh_env" ? "task" : "dag"}`), `${taskId}: the task's env overrides the DAG's`);
    }
    // nothing any task wrote reached the store or the logs on disk either
    assert.ok(!allText(sb.home).includes(CANARY), "a canary is in a file under SLUICE_HOME");
    const db = readFileSync(join(dbDir, "sluice.db"), "latin1");
    assert.ok(statSync(join(dbDir, "sluice.db")).size > 0);
    assert.ok(!db.includes(CANARY), "a canary is in the database file");
  });

  test("the clean environment keeps the base list and the allowed patterns, never SLUICE_*", () => {
    const env = { PATH: "/bin", HOME: "/root", LC_ALL: "C", AWS_SECRET_ACCESS_KEY: "x", SLUICE_HOME: "/h", DB_HOST: "h", DB_PASSWORD: "p" };
    assert.deepEqual(taskEnvironment(env), { PATH: "/bin", HOME: "/root", LC_ALL: "C" });
    assert.deepEqual(taskEnvironment(env, ["DB_*"]), { PATH: "/bin", HOME: "/root", LC_ALL: "C", DB_HOST: "h", DB_PASSWORD: "p" });
    // even "everything" does not pass Sluice's own variables
    assert.equal(taskEnvironment(env, ["*"])["SLUICE_HOME"], undefined);
    assert.equal(taskEnvironment(env, ["*"])["AWS_SECRET_ACCESS_KEY"], "x");
  });

  test("SLUICE_TASK_ENV_ALLOW naming a SLUICE_* variable or a malformed pattern is a configuration error", () => {
    for (const [value, message] of [
      ["SLUICE_DATABASE_URL", /SLUICE_TASK_ENV_ALLOW: "SLUICE_DATABASE_URL" is one of Sluice's own variables/],
      ["SLUICE_*", /"SLUICE_\*" is one of Sluice's own variables/],
      ["A-B", /"A-B" is not a variable name or a PREFIX_\* pattern/],
    ] as const) {
      assert.throws(
        () => loadConfig({}, { SLUICE_TASK_ENV_ALLOW: value }),
        (e: unknown) => isSluiceError(e) && e.code === "CONFIG" && message.test(e.message),
      );
    }
    const r = cli(sb, ["dags", "list"], { SLUICE_TASK_ENV_ALLOW: "SLUICE_ADMIN_PASSWORD" });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SLUICE_TASK_ENV_ALLOW/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "a bare stack trace");
  });

  test("a DAG whose env is not a map of strings is rejected, naming the task", () => {
    sb.write("badenv.ts", `import { dag } from "sluice";\nexport default dag("badenv", (d) => { d.shell("s", { command: "true", env: { N: 1 as any } }); });\n`);
    const r = cli(sb, ["dags", "list"]);
    assert.match(r.stdout + r.stderr, /DAG "badenv", task "s": env must map variable names to strings/);
  });
});
