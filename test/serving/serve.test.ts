/**
 * `sluice models serve` end to end, on SQLite and PostgreSQL: the real binary in a child process, real HTTP,
 * versions registered in the real registry (a JS model module, and a Python one where python3 exists), and
 * the alias moved back and forth while clients send a steady stream of concurrent requests. Proves: zero
 * failed requests; each answer names a version that held the alias during the request (or the one the
 * alias had just left, until the server had seen the move — the move is seen within the poll interval, and
 * the test waits for it before the next move); the version named is the one whose code predicted; an
 * invalid body is a 400 naming the field; the inference log holds the latest rows, bounded by --log-limit.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config.js";
import type { ModelFlavor } from "../../src/core/models.js";
import { Sluice } from "../../src/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";
import { hasPython, JS_MODEL, PY_MODEL, SIGNATURE } from "./fixtures.js";

let sb: Sandbox;
before(() => {
  sb = sandbox("sluice-serve-");
  sb.write("models/scale.ts", JS_MODEL);
  sb.write("models/scale.py", PY_MODEL);
});
after(() => sb.cleanup());

const LOG_LIMIT = 40;

async function register(s: Sluice, factor: number, flavor: ModelFlavor, name = "scaler"): Promise<number> {
  const bytes = Buffer.from(JSON.stringify({ factor }));
  const artifactRef = await s.engine.artifacts.put(bytes);
  const v = await s.store.models.register({
    name,
    artifactRef,
    artifactSize: bytes.length,
    flavor,
    framework: flavor.kind,
    signature: SIGNATURE,
    metrics: { accuracy: factor / 1000 },
    params: { factor },
    description: null,
    dagId: "train",
    dagVersion: "v1",
    runId: `run-${factor}`,
    taskId: "register",
    mapIndex: -1,
    attemptId: factor,
    inputEvents: [],
  });
  return v.version;
}

function startServer(env: NodeJS.ProcessEnv, args: string[], ref = "scaler@champion") {
  const proc = cliSpawn(sb, ["models", "serve", ref, "--port", "0", ...args], env);
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += String(d)));
  proc.stderr.on("data", (d) => (err += String(d)));
  return {
    proc,
    out: () => out,
    err: () => err,
    url: async () => {
      await waitFor(() => /Serving model .* at http/.test(out) || proc.exitCode !== null, 60_000, "the server to start");
      const url = /at (http:\/\/\S+)/.exec(out)?.[1];
      assert.ok(url, `no URL in:\n${out}\n${err}`);
      return url;
    },
    stop: async () => {
      if (proc.exitCode !== null) return proc.exitCode;
      const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
      proc.kill("SIGTERM");
      return exited;
    },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/predict`, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

for (const d of dialects(1)) {
  describe(`sluice models serve on ${d.name}`, { skip: d.skip }, () => {
    const url = suiteDatabase(d, sb.dir);

    it("serves name@alias, swaps versions as the alias moves under concurrent load without a failed request, validates, logs", async () => {
      const env = { SLUICE_DATABASE_URL: url(), SLUICE_HOME: `${sb.home}-${d.name}` };
      const s = await Sluice.open(loadConfig({ home: env.SLUICE_HOME, dags: sb.dags, databaseUrl: url() }), { loadDags: false });
      const server = { current: null as ReturnType<typeof startServer> | null };
      try {
        const v1 = await register(s, 10, { kind: "js", module: "models/scale.ts", export: "load" });
        const v2 = await register(s, 100, hasPython ? { kind: "python", script: "models/scale.py" } : { kind: "js", module: "models/scale.ts", export: "load" });
        const factor = (v: number) => (v === v1 ? 10 : 100);
        await s.store.models.moveAlias({ name: "scaler", alias: "champion", version: v1, actor: "test", reason: null, kind: "promote" });

        const srv = startServer(env, ["--poll", "100", "--log-limit", String(LOG_LIMIT), "--sample-rate", "1"]);
        server.current = srv;
        const base = await srv.url();

        // metadata and health name the version
        const meta = (await (await fetch(`${base}/metadata`)).json()) as Record<string, unknown>;
        assert.equal(meta["name"], "scaler");
        assert.equal(meta["alias"], "champion");
        assert.equal(meta["version"], v1);
        assert.deepEqual(meta["signature"], SIGNATURE);
        assert.deepEqual(meta["metrics"], { accuracy: 0.01 });
        assert.equal(meta["framework"], "js");
        assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: "ok", model: "scaler", alias: "champion", version: v1 });

        // an invalid body: 400 naming the row and the field; nothing else is answered
        const bad = await post(base, { inputs: [{ x: 1 }, { x: "two" }] });
        assert.equal(bad.status, 400);
        assert.equal(bad.json.code, "INVALID_INPUT");
        assert.equal(bad.json.fields[0].path, "inputs[1].x");
        assert.match(bad.json.message, /inputs\[1\]\.x: must be number/);
        const missing = await post(base, { rows: [] });
        assert.equal(missing.status, 400);
        assert.match(missing.json.message, /unknown field "rows"/);
        const notJson = await post(base, "{");
        assert.equal(notJson.status, 400);
        assert.equal(notJson.json.code, "INVALID_PAYLOAD");
        // one row without an array
        assert.deepEqual((await post(base, { inputs: { x: 2 } })).json, { model: "scaler", version: v1, predictions: [{ y: 20, by: v1 }] });

        // epochs: even = settled (the server serves the holder), odd = moved in the store, not yet seen by the server
        const allowed: number[][] = [[v1]];
        let epoch = 0;
        let stop = false;
        let failed = 0;
        let answered = 0;
        const problems: string[] = [];
        const client = async (k: number) => {
          for (let i = 0; !stop; i++) {
            const from = epoch;
            const x = k * 100_000 + i;
            let r: { status: number; json: any };
            try {
              r = await post(base, { inputs: [{ x }, { x: x + 0.5, label: "a" }] });
            } catch (e) {
              failed++;
              problems.push(`request failed: ${(e as Error).message}`);
              continue;
            }
            const to = epoch;
            if (r.status !== 200) {
              failed++;
              problems.push(`${r.status} ${JSON.stringify(r.json)}`);
              continue;
            }
            answered++;
            const v = r.json.version as number;
            const ok = allowed.slice(from, to + 1).some((a) => a.includes(v));
            if (!ok) problems.push(`version ${v} answered a request made in epochs ${from}..${to} (${JSON.stringify(allowed.slice(from, to + 1))})`);
            // the version named is the one whose code and artifact predicted
            assert.deepEqual(r.json.predictions, [
              { y: x * factor(v), by: v },
              { y: (x + 0.5) * factor(v), by: v },
            ]);
          }
        };
        const clients = Array.from({ length: 6 }, (_, k) => client(k));
        let holder = v1;
        for (let m = 0; m < 6; m++) {
          await new Promise((r) => setTimeout(r, 150));
          const next = holder === v1 ? v2 : v1;
          allowed.push([holder, next]);
          epoch++;
          if (m % 2 === 0) await s.store.models.moveAlias({ name: "scaler", alias: "champion", version: next, actor: "test", reason: "promote", kind: "promote" });
          else assert.equal((await s.store.models.rollback({ name: "scaler", alias: "champion", actor: "test", reason: "roll back" })).toVersion, next);
          holder = next;
          await waitFor(async () => ((await (await fetch(`${base}/health`)).json()) as { version: number }).version === next, 30_000, `the server to serve version ${next}`);
          allowed.push([next]);
          epoch++;
        }
        await new Promise((r) => setTimeout(r, 150));
        stop = true;
        await Promise.all(clients);
        assert.deepEqual(problems, []);
        assert.equal(failed, 0);
        assert.ok(answered > 30, `only ${answered} answers`);
        // the server logged each swap
        await waitFor(() => (srv.out().match(/now serving version/g) ?? []).length === 6, 10_000, "six swap lines");

        // SIGTERM: a clean stop that flushes the inference log
        assert.equal(await srv.stop(), 0);
        const rows = await s.store.inferenceLog.recent("scaler", { limit: 1000 });
        // bounded: the newest LOG_LIMIT rows of the 2 * answered + 1 served (sample rate 1)
        assert.equal(await s.store.inferenceLog.count("scaler"), LOG_LIMIT);
        assert.equal(rows.length, LOG_LIMIT);
        for (const row of rows) {
          assert.equal(row.alias, "champion");
          const p = row.prediction as { y: number; by: number };
          assert.equal(p.by, row.version);
          assert.equal(p.y, (row.input as { x: number }).x * factor(row.version));
        }
      } finally {
        await server.current?.stop();
        await s.close();
      }
    });

    it("PostgreSQL: an alias move is heard at commit (LISTEN/NOTIFY), not at the next poll", { skip: d.name !== "postgres" }, async () => {
      const env = { SLUICE_DATABASE_URL: url(), SLUICE_HOME: `${sb.home}-${d.name}` };
      const s = await Sluice.open(loadConfig({ home: env.SLUICE_HOME, dags: sb.dags, databaseUrl: url() }), { loadDags: false });
      const js: ModelFlavor = { kind: "js", module: "models/scale.ts", export: "load" };
      const first = await register(s, 10, js, "notified");
      const other = await register(s, 100, js, "notified");
      await s.store.models.moveAlias({ name: "notified", alias: "champion", version: first, actor: "test", reason: null, kind: "promote" });
      // a poll this long never fires during the test: only the notification can make the server swap
      const srv = startServer(env, ["--poll", "3600000", "--sample-rate", "0"], "notified@champion");
      try {
        const base = await srv.url();
        assert.equal(((await (await fetch(`${base}/health`)).json()) as { version: number }).version, first);
        await s.store.models.moveAlias({ name: "notified", alias: "champion", version: other, actor: "test", reason: null, kind: "promote" });
        await waitFor(async () => ((await (await fetch(`${base}/health`)).json()) as { version: number }).version === other, 20_000, `the server to swap to version ${other} on the notification`);
      } finally {
        await srv.stop();
        await s.close();
      }
    });

    it("an alias that does not exist: a clear error and a non-zero exit", async () => {
      const env = { SLUICE_DATABASE_URL: url(), SLUICE_HOME: `${sb.home}-${d.name}` };
      const srv = startServer(env, [], "scaler@nosuch");
      const code = await new Promise<number | null>((r) => srv.proc.once("exit", (c) => r(c)));
      assert.equal(code, 2);
      assert.match(srv.err(), /error \[NOT_FOUND\]: model "scaler" has no alias "nosuch"/);
    });
  });
}
