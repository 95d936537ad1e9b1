/**
 * Where the attempt's masker is applied (docs/decisions/0016-secrets.md), executor by executor and sink by
 * sink: on both dialects and both log stores (files, the database's attempt_logs), a task of each executor
 * that prints, logs and throws a secret param and a sensitive-named env value leaves `***` in its log and
 * its error, never the value; a value under a harmless name is not a secret and stays readable. Then the
 * pieces on their own: the log's redaction, masking of what tasks return (Maps, Sets, Buffers, cycles),
 * secret params' encryption (fail closed on a missing or wrong key, a ciphertext moved to another run or
 * param) and how people see them (API views, the DAG's schema and defaults, the DSL's checks).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { z } from "zod";
import { dag } from "../../src/dsl/dag.js";
import { isSluiceError } from "../../src/errors.js";
import { AttemptLog, parseLogLines } from "../../src/logs/attemptLog.js";
import { readWholeLog } from "../../src/logs/logStore.js";
import { Keyring, newKey } from "../../src/secrets/keyring.js";
import { Masker } from "../../src/secrets/mask.js";
import { decryptSecretParams, encryptSecretParams, redactSecretParams } from "../../src/secrets/params.js";
import { dagDetail, runView } from "../../src/server/views.js";
import { Sluice, loadConfig } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { cliJson, sandbox } from "../helpers.js";

const hasPython = spawnSync("python3", ["-c", "import os"]).status === 0;
const TOKEN = "tok-9Zq/+ x&y=secret-param";
const DB_PASSWORD = "pw-Lk83-env-secret";
const REGION = "region-eu-west-not-secret";

const sb = sandbox("sluice-masking-");
after(() => sb.cleanup());
sb.write(
  "masking.ts",
  `import { dag } from "sluice";
import { z } from "zod";
const both = (p: { token: string }) => [p.token, process.env["DB_PASSWORD"] ?? ${JSON.stringify(DB_PASSWORD)}, process.env["REGION"] ?? ${JSON.stringify(REGION)}];
export default dag("masking", {
  params: z.object({ token: z.string() }),
  secretParams: ["token"],
  defaults: { env: { DB_PASSWORD: ${JSON.stringify(DB_PASSWORD)}, REGION: ${JSON.stringify(REGION)} } },
}, (d) => {
  d.task("inproc", async (_i, ctx) => {
    const v = both(ctx.params);
    ctx.log.info("logged %s", v.join(" "));
    ctx.log.info("b64 " + Buffer.from(ctx.params.token).toString("base64"));
    throw new Error("thrown " + v.join(" "));
  });
  d.task("proc", { isolation: "process" }, async (_i, ctx) => {
    const v = both(ctx.params);
    console.log("printed " + v.join(" "));
    console.error("stderr " + encodeURIComponent(ctx.params.token));
    ctx.log.warn("logged %s", v.join(" "));
    throw new Error("thrown " + v.join(" "));
  });
  d.shell("shell", { command: "/bin/sh", args: (_i, ctx) => ["-c", 'echo "printed $1 $DB_PASSWORD $REGION"; echo "stderr $1" >&2; exit 4', "sh", ctx.params.token] });
  ${hasPython ? `d.python("py", { script: "masking.py" });` : ""}
});
`,
);
sb.write(
  "masking.py",
  `import json, os, sys
token = json.loads(os.environ["SLUICE_CONTEXT"])["params"]["token"]
print("printed", token, os.environ["DB_PASSWORD"], os.environ["REGION"])
raise ValueError("thrown " + token)
`,
);
const EXECUTORS = ["inproc", "proc", "shell", ...(hasPython ? ["py"] : [])];

for (const d of dialects(2)) {
  for (const logs of ["files", "database"] as const) {
    describe(`on ${d.name}, logs in ${logs}`, { skip: d.skip }, () => {
      test(`every executor's printed, logged and thrown secrets are *** in the log and the error; a harmless env value is not`, async () => {
        const db = await d.fresh(sb.dir);
        const home = join(sb.dir, `home-${d.name}-${logs}`);
        const s = await Sluice.open(loadConfig({ home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_LOGS: logs, SLUICE_DB_POOL_SIZE: "4", SLUICE_SECRET_KEY: newKey() }));
        try {
          const summary = await s.run("masking", { params: { token: TOKEN } });
          const attempts = await s.store.attempts.list(summary.runId);
          assert.deepEqual(attempts.map((a) => a.taskId).sort(), [...EXECUTORS].sort());
          for (const a of attempts) {
            assert.equal(a.state, "failed", a.taskId);
            const lines = await readWholeLog(s.engine.logs, { ...a, dagId: "masking" });
            const text = lines.map((l) => l.msg).join("\n");
            const error = `${a.errorMessage}\n${a.errorStack ?? ""}`;
            for (const secret of [TOKEN, DB_PASSWORD, Buffer.from(TOKEN).toString("base64"), encodeURIComponent(TOKEN)]) {
              assert.ok(!text.includes(secret), `${a.taskId}'s log holds ${secret}:\n${text}`);
              assert.ok(!error.includes(secret), `${a.taskId}'s error holds ${secret}: ${error}`);
            }
            assert.match(text, /printed \*\*\* \*\*\* region-eu-west-not-secret|logged \*\*\* \*\*\* region-eu-west-not-secret/, `${a.taskId}'s log:\n${text}`);
            if (a.taskId === "inproc" || a.taskId === "proc") assert.match(a.errorMessage ?? "", /^thrown \*\*\* \*\*\* region-eu-west-not-secret$/, a.taskId);
            if (a.taskId === "py") assert.match(text, /ValueError: thrown \*\*\*/, "the traceback on stderr");
            if (a.taskId === "shell" || a.taskId === "proc") assert.match(text, /stderr \*\*\*/, `${a.taskId}'s stderr`);
          }
          // the API's run: the param as ***, stored as a ciphertext
          const run = (await s.store.runs.get(summary.runId))!;
          assert.deepEqual(runView(run)["params"], { token: "***" });
          assert.match(JSON.stringify(run.params), /"\$secret":"sluice:v1:/);
          if (logs === "files") assert.ok(!readFileSync(join(home, "logs", "masking", summary.runId, "proc", "attempt-1.log"), "utf8").includes(TOKEN));
        } finally {
          await s.close();
          await db.cleanup();
        }
      });
    });
  }
}

describe("secret params: stored encrypted, decrypted for the task only, fail closed", () => {
  test("a run created without SLUICE_SECRET_KEY generates <home>/secret.key (mode 0600); another key fails the attempt with SECRET_KEY, the value in no message", async () => {
    const home = join(sb.dir, "home-keys");
    const dbUrl = `sqlite:${join(sb.dir, "keys.sqlite")}`;
    const s = await Sluice.open(loadConfig({ home, dags: sb.dags, databaseUrl: dbUrl }, {}));
    let runId: string;
    try {
      const created = await s.engine.createRun("masking", { params: { token: TOKEN } });
      runId = created.runId;
      assert.equal(statSync(join(home, "secret.key")).mode & 0o777, 0o600);
      const keyring = Keyring.load({ keys: null, file: join(home, "secret.key"), generated: true }, { create: false })!;
      const stored = created.params["token"] as { $secret: string };
      assert.equal(keyring.decrypt(stored.$secret, `param:${runId}:token`), JSON.stringify(TOKEN));
    } finally {
      await s.close();
    }
    // the CLI shows the param as *** (and reads no key to do so)
    const shown = cliJson(sb, ["runs", "show", runId, "--json"], { SLUICE_HOME: home, SLUICE_DATABASE_URL: dbUrl });
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(shown.json.params, { token: "***" });
    // the same run driven by a process with another key: every attempt fails closed
    const other = await Sluice.open(loadConfig({ home, dags: sb.dags, databaseUrl: dbUrl }, { SLUICE_SECRET_KEY: newKey() }));
    try {
      await other.drive(runId);
      const attempts = await other.store.attempts.list(runId);
      assert.equal(attempts.length, EXECUTORS.length);
      for (const a of attempts) {
        assert.equal(a.errorCode, "SECRET_KEY", `${a.taskId}: ${a.errorMessage}`);
        assert.match(a.errorMessage ?? "", /param:.*:token was encrypted with key \w+, which is not among the keys of SLUICE_SECRET_KEY/);
        assert.ok(!`${a.errorMessage}${a.errorStack}`.includes(TOKEN));
      }
    } finally {
      await other.close();
    }
  });

  test("decrypting needs the right key, run and param; no key at all is SECRET_KEY, not the ciphertext", () => {
    const k = Keyring.of(newKey());
    const stored = encryptSecretParams({ token: TOKEN, n: 3, nested: { a: "inner-secret-value" }, plain: "shown" }, ["token", "nested"], "run-1", k);
    assert.equal(stored["plain"], "shown");
    assert.equal(stored["n"], 3);
    assert.ok(!JSON.stringify(stored).includes(TOKEN) && !JSON.stringify(stored).includes("inner-secret-value"));
    // encrypting again (a run found by its key) keeps the ciphertext
    assert.deepEqual(encryptSecretParams(stored, ["token", "nested"], "run-1", k), stored);
    const m = new Masker();
    assert.deepEqual(decryptSecretParams(stored, "run-1", () => k, m), { token: TOKEN, n: 3, nested: { a: "inner-secret-value" }, plain: "shown" });
    assert.equal(m.mask(`${TOKEN} inner-secret-value shown`), "*** *** shown");
    const fails = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => isSluiceError(e, "SECRET_KEY") && re.test(e.message));
    // another run's ciphertext, another param's, another key, no key
    fails(() => decryptSecretParams(stored, "run-2", () => k, new Masker()), /does not decrypt/);
    fails(() => decryptSecretParams({ nested: stored["token"] }, "run-1", () => k, new Masker()), /does not decrypt/);
    fails(() => decryptSecretParams(stored, "run-1", () => Keyring.of(newKey()), new Masker()), /is not among the keys/);
    fails(() => decryptSecretParams(stored, "run-1", () => null, new Masker()), /has secret params \(token, nested\) but no secret key is configured/);
  });

  test("people see ***: run params, and the DAG's defaults (from a schema library without JSON Schema)", () => {
    assert.deepEqual(redactSecretParams({ token: { $secret: "sluice:v1:x:y" }, n: 1 }), { token: "***", n: 1 });
    const spec = dag("secret_views", { params: z.object({ token: z.string(), n: z.number().default(1) }), secretParams: ["token"] }, (d) => void d.task("t", async () => 1)).spec;
    const detail = dagDetail({}, { defaultParams: { token: "default-token-value", n: 1 }, paramsError: null } as any, spec);
    assert.ok(!JSON.stringify(detail).includes("default-token-value"), JSON.stringify(detail));
    assert.deepEqual(detail["defaults"], { token: "***", n: 1 });
    assert.deepEqual(detail["secretParams"], ["token"]);
  });

  test("secretParams must name params of the DAG's schema", () => {
    const bad = (opts: any, re: RegExp) =>
      assert.throws(() => dag("bad_secret", opts, (d: any) => void d.task("t", async () => 1)), (e: unknown) => isSluiceError(e, "INVALID_DAG") && re.test(e.message));
    bad({ params: z.object({ a: z.string() }), secretParams: ["b"] }, /DAG "bad_secret": secretParams names "b", which is not a param; its params are: a/);
    bad({ secretParams: ["a"] }, /DAG "bad_secret": secretParams names "a", but the DAG has no params schema/);
    bad({ params: z.object({ a: z.string() }), secretParams: "a" }, /secretParams must be a list of param names/);
    bad({ params: z.object({ a: z.string().default("in-code") }), secretParams: ["a"] }, /DAG "bad_secret": secretParams: "a" has a default in the params schema; a secret param's value is given when the run is triggered/);
    const ok = dag("ok_secret", { params: z.object({ b: z.string(), a: z.string() }), secretParams: ["b", "a", "b"] }, (d) => void d.task("t", async () => 1));
    assert.deepEqual(ok.spec.secretParams, ["a", "b"]);
    // a DAG without secret params has the spec (and so the version) it had
    assert.ok(!("secretParams" in dag("none", (d) => void d.task("t", async () => 1)).spec));
  });
});

describe("the masking itself", () => {
  test("a child process's line longer than a pipe chunk is masked whole (a chunk boundary inside the secret does not split it)", async () => {
    const bigSb = sandbox("sluice-bigline-");
    try {
      // a 64 KiB pipe buffer: the secret straddles the first chunk boundary
      bigSb.write(
        "bigline.ts",
        `import { dag } from "sluice";
export default dag("bigline", { defaults: { env: { API_TOKEN: ${JSON.stringify(DB_PASSWORD)} } } }, (d) => {
  d.task("big", { isolation: "process" }, async () => { process.stdout.write("x".repeat(65536 - 8) + process.env["API_TOKEN"] + "y".repeat(100000) + "\\nend\\n"); return 1; });
});
`,
      );
      const s = await Sluice.open(loadConfig({ home: bigSb.home, dags: bigSb.dags, databaseUrl: `sqlite:${join(bigSb.dir, "big.sqlite")}` }, {}));
      try {
        const summary = await s.run("bigline");
        assert.equal(summary.state, "success");
        const [a] = await s.store.attempts.list(summary.runId);
        const lines = (await readWholeLog(s.engine.logs, { ...a!, dagId: "bigline" })).filter((l) => l.level === "stdout");
        assert.deepEqual(lines.map((l) => l.msg.length), [65536 - 8 + 3 + 100000, 3], "whole lines");
        assert.ok(lines[0]!.msg.includes("x***y"));
        assert.ok(!lines.some((l) => l.msg.includes(DB_PASSWORD.slice(0, 8)) || l.msg.includes(DB_PASSWORD.slice(-8))), "no half of the secret");
      } finally {
        await s.close();
      }
    } finally {
      bigSb.cleanup();
    }
  });

  test("the attempt log masks every line, Sluice's own held-back notes too, before the sink sees it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-masklog-"));
    try {
      const m = new Masker();
      m.add("held-note-secret");
      const path = join(dir, "a.log");
      const log = new AttemptLog(path, () => 1, (t) => m.mask(t));
      log.note("started with held-note-secret");
      m.add("later-secret-value");
      log.logger().info("%s and %o", "later-secret-value", { k: "held-note-secret" });
      log.write("stdout", Buffer.from("later-secret-value").toString("base64url"));
      await log.close();
      const text = readFileSync(path, "utf8");
      assert.deepEqual(parseLogLines(text).map((l) => l.msg), ["started with ***", "*** and { k: '***' }", "***"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("returned values are masked through Maps, Sets, Buffers, Uint8Arrays, Errors and cycles; other values are kept", () => {
    const m = new Masker();
    m.add("returned-secret");
    const cyclic: Record<string, unknown> = { s: "x returned-secret" };
    cyclic["self"] = cyclic;
    const date = new Date(0);
    const out = m.maskJson({
      map: new Map([["returned-secret", ["returned-secret"]]]),
      set: new Set(["returned-secret", "other"]),
      buf: Buffer.from("pre returned-secret post"),
      u8: new Uint8Array(Buffer.from("returned-secret")),
      binary: Buffer.from([0, 1, 2, 255]),
      err: new Error("returned-secret"),
      cyclic,
      date,
      n: 5,
    });
    assert.deepEqual([...out.map], [["***", ["***"]]]);
    assert.deepEqual([...out.set], ["***", "other"]);
    assert.equal(out.buf.toString(), "pre *** post");
    assert.ok(Buffer.isBuffer(out.buf));
    assert.equal(Buffer.from(out.u8).toString(), "***");
    assert.ok(out.u8 instanceof Uint8Array && !Buffer.isBuffer(out.u8));
    assert.deepEqual([...out.binary], [0, 1, 2, 255]);
    assert.equal(out.err.message, "***");
    assert.equal(out.cyclic["s"], "x ***");
    assert.equal(out.cyclic["self"], out.cyclic);
    assert.equal(out.date, date);
    assert.equal(out.n, 5);
  });
});
