/**
 * Caching across runs (issue 15, item 1) through the engine, on a real SQLite file and a real PostgreSQL
 * schema: a re-run reuses a cached task's output (its body is not called, its attempt records cached_from,
 * downstream gets the same value); a param the task reads, or its code, invalidates it; entries expire by
 * the injected clock; a mapped grid that grows runs only its new instances; noCache forces a refresh; a
 * throwing cacheKey runs uncached and says why; load-time mistakes name DAG, task and field. Also the CLI
 * (a second version of a DAG file, --no-cache, "(cached)" in runs show) and the API (cachedFrom, noCache).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../dist/config.js";
import { readWholeLog } from "../../dist/logs/logStore.js";
import { newKey } from "../../dist/secrets/keyring.js";
import { ManualClock, Sluice } from "sluice/runtime";
import { dialects, suiteDatabase } from "../dialects.js";
import { cli, cliJson, sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy } from "../server/harness.js";

const sb = sandbox("sluice-cache-");
after(() => sb.cleanup());

type Calls = Record<string, number>;
const g = globalThis as unknown as { cacheCalls: Calls; cacheSeen: unknown[] };
const calls = (): Calls => ({ ...g.cacheCalls });
/** How many times each body ran since `before`. */
const ranSince = (before: Calls): Calls => {
  const out: Calls = {};
  for (const [k, v] of Object.entries(g.cacheCalls)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
};

const PRELUDE = `import { dag } from "sluice";
import { z } from "zod";
const g = globalThis;
g.cacheCalls ??= {};
g.cacheSeen ??= [];
const ran = (k) => { g.cacheCalls[k] = (g.cacheCalls[k] ?? 0) + 1; };
`;

sb.write(
  "cache.ts",
  `${PRELUDE}
export const basic = dag("basic", { params: z.object({ lr: z.number().default(0.1) }) }, (d) => {
  const load = d.task("load", { cache: true }, async (_i, ctx) => { ran("load"); return { rows: [1, 2, 3], lr: ctx.params.lr, n: g.cacheCalls.load }; });
  const fixed = d.task("fixed", { cache: true, cacheParams: [] }, async () => { ran("fixed"); return 7; });
  const train = d.task("train", { cache: true, inputs: { load } }, async ({ load }) => { ran("train"); return load.rows.length * load.lr; });
  d.task("report", { inputs: { load, fixed, train } }, async (i) => { ran("report"); g.cacheSeen.push(i); });
});
export const defaulted = dag("defaulted", { defaults: { cache: true } }, (d) => {
  const pick = d.branch("pick", {}, async () => "leaf");
  d.task("leaf", { after: [pick] }, async () => { ran("leaf"); return 1; });
});
export const external = dag("external", (d) => {
  d.shell("sh", { command: "sh", args: ["-c", ${JSON.stringify(`echo sh >> '${join(sb.dir, "external.log")}'`)}], cache: true });
  d.python("py", { script: "cached.py", cache: true });
});
export const secret = dag("secret", { params: z.object({ token: z.string(), n: z.number().default(1) }), secretParams: ["token"] }, (d) => {
  d.task("call", { cache: true }, async (_i, ctx) => { ran("call"); return ctx.params.n; });
});
export const expiring = dag("expiring", (d) => {
  d.task("fetch", { cache: true, cacheExpires: "7d" }, async () => { ran("fetch"); return "fresh"; });
});
export const grid = dag("grid", { params: z.object({ xs: z.array(z.number()) }) }, (d) => {
  const xs = d.task("xs", async (_i, ctx) => ctx.params.xs);
  d.map("square", { over: { x: xs }, cache: true, cacheParams: [] }, async ({ x }) => { ran("square:" + x); return x * x; });
});
export const keyed = dag("keyed", { params: z.object({ dataset: z.string().default("v1") }) }, (d) => {
  d.task("custom", { cache: true, cacheKey: (_i, ctx) => ctx.params.dataset }, async () => { ran("custom"); return 1; });
  d.task("broken", { cache: true, cacheKey: () => { throw new Error("no dataset version"); } }, async () => { ran("broken"); return 2; });
});
`,
);
const stepLog = join(sb.dir, "step.log");
const externalLog = join(sb.dir, "external.log");
const pyScript = (v: string) => `with open(${JSON.stringify(externalLog)}, "a") as f:\n    f.write("py ${v}\\n")\n`;
sb.write("cached.py", pyScript("v1"));
const codeFile = (v: string) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("code", (d) => {
  d.task("step", { cache: true }, async () => { appendFileSync(${JSON.stringify(stepLog)}, "${v}\\n"); return "${v}"; });
});
`;
sb.write("code.ts", codeFile("v1"));
sb.write("bad_sensor.ts", `import { dag } from "sluice";\nexport default dag("bad_sensor", (d) => { d.sensor("wait", { poke: async () => true, cache: true } as never); });\n`);
sb.write("bad_key.ts", `import { dag } from "sluice";\nexport default dag("bad_key", (d) => { d.task("t", { cacheKey: () => "k" } as never, async () => 1); });\n`);
sb.write("bad_expires.ts", `import { dag } from "sluice";\nexport default dag("bad_expires", (d) => { d.task("t", { cache: true, cacheExpires: "soon" } as never, async () => 1); });\n`);

for (const d of dialects(9)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = (clock?: ManualClock) => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, {}), clock ? { clock } : {});

    test("a re-run hits: bodies not called, cached_from set, downstream gets the same output; a read param re-runs its task and downstream", async () => {
      const s = await open();
      try {
        let c = calls();
        const first = await s.run("basic");
        assert.equal(first.state, "success");
        assert.deepEqual(ranSince(c), { load: 1, fixed: 1, train: 1, report: 1 });
        c = calls();
        const second = await s.run("basic");
        assert.equal(second.state, "success");
        assert.deepEqual(ranSince(c), { report: 1 }, "only the uncached task ran");
        const seen = g.cacheSeen.slice(-2);
        assert.deepEqual(seen[1], seen[0], "downstream got the same outputs");
        const a1 = await s.store.attempts.list(first.runId);
        const a2 = await s.store.attempts.list(second.runId);
        const byTask = (as: typeof a1, t: string) => as.find((a) => a.taskId === t)!;
        assert.equal(byTask(a2, "load").cachedFrom, byTask(a1, "load").attemptId);
        assert.equal(byTask(a2, "train").cachedFrom, byTask(a1, "train").attemptId);
        assert.equal(byTask(a2, "report").cachedFrom, null);
        assert.equal(byTask(a1, "load").cachedFrom, null);
        const lines = await readWholeLog(s.engine.logs, { ...byTask(a2, "load"), dagId: "basic" });
        const log = lines.map((l) => l.msg).join("\n");
        assert.match(log, new RegExp(`cache hit: reused attempt ${byTask(a1, "load").attemptId} \\(run ${first.runId}\\)`));

        // lr is read by load (all params are in its key): load and train (its input changed) run again;
        // fixed (cacheParams: []) stays cached
        c = calls();
        assert.equal((await s.run("basic", { params: { lr: 0.5 } })).state, "success");
        assert.deepEqual(ranSince(c), { load: 1, train: 1, report: 1 });

        // noCache: everything runs, and the refreshed entries are what the next run reuses
        c = calls();
        const forced = await s.run("basic", { noCache: true });
        assert.deepEqual(ranSince(c), { load: 1, fixed: 1, train: 1, report: 1 });
        c = calls();
        const after = await s.run("basic");
        assert.deepEqual(ranSince(c), { report: 1 });
        const fa = await s.store.attempts.list(forced.runId);
        const la = await s.store.attempts.list(after.runId);
        assert.equal(byTask(la, "load").cachedFrom, byTask(fa, "load").attemptId, "the refreshed entry");
      } finally {
        await s.close();
      }
    });

    test("shell and Python tasks: the command is the key's code, and a Python script's content too", async () => {
      rmSync(externalLog, { force: true });
      const lines = () => readFileSync(externalLog, "utf8").trim().split("\n");
      const s = await open();
      try {
        await s.run("external");
        const second = await s.run("external");
        assert.equal(second.state, "success");
        assert.deepEqual(lines().sort(), ["py v1", "sh"]);
        sb.write("cached.py", pyScript("v2"));
        await s.run("external");
        assert.deepEqual(lines().sort(), ["py v1", "py v2", "sh"], "the edited script ran; the shell task hit");
      } finally {
        sb.write("cached.py", pyScript("v1"));
        await s.close();
      }
    });

    test("a secret param counts by presence: a new token (a new ciphertext every run) still hits; another plain param does not", async () => {
      const s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_SECRET_KEY: newKey() }));
      try {
        const c = calls();
        assert.equal((await s.run("secret", { params: { token: "t-1" } })).state, "success");
        assert.equal((await s.run("secret", { params: { token: "t-2" } })).state, "success");
        assert.deepEqual(ranSince(c), { call: 1 });
        await s.run("secret", { params: { token: "t-2", n: 2 } });
        assert.deepEqual(ranSince(c), { call: 2 });
      } finally {
        await s.close();
      }
    });

    test("an entry expires by the clock", async () => {
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const s = await open(clock);
      try {
        let c = calls();
        await s.run("expiring");
        await s.run("expiring");
        assert.deepEqual(ranSince(c), { fetch: 1 });
        clock.advance(6 * 86_400_000);
        c = calls();
        await s.run("expiring");
        assert.deepEqual(ranSince(c), {}, "6 days: still reused");
        clock.advance(86_400_000 + 1);
        c = calls();
        await s.run("expiring");
        assert.deepEqual(ranSince(c), { fetch: 1 }, "past 7 days: runs again");
      } finally {
        await s.close();
      }
    });

    test("a mapped grid [1,2] then [1,2,3] runs only the new instance", async () => {
      const s = await open();
      try {
        let c = calls();
        assert.equal((await s.run("grid", { params: { xs: [1, 2] } })).state, "success");
        assert.deepEqual(ranSince(c), { "square:1": 1, "square:2": 1 });
        c = calls();
        const run = await s.run("grid", { params: { xs: [1, 2, 3] } });
        assert.equal(run.state, "success");
        assert.deepEqual(ranSince(c), { "square:3": 1 });
        const outs = await s.store.attempts.outputs(run.runId, "square");
        assert.equal(outs.length, 3);
      } finally {
        await s.close();
      }
    });

    test("cacheKey replaces the default key; one that throws runs uncached and the log says why", async () => {
      const s = await open();
      try {
        let c = calls();
        await s.run("keyed");
        const second = await s.run("keyed");
        assert.deepEqual(ranSince(c), { custom: 1, broken: 2 });
        c = calls();
        await s.run("keyed", { params: { dataset: "v2" } });
        assert.deepEqual(ranSince(c), { custom: 1, broken: 1 });
        const [broken] = await s.store.attempts.list(second.runId, "broken");
        assert.equal(broken!.state, "success");
        const log = (await readWholeLog(s.engine.logs, { ...broken!, dagId: "keyed" })).map((l) => l.msg).join("\n");
        assert.match(log, /cacheKey threw \(no dataset version\); running uncached/);
      } finally {
        await s.close();
      }
    });

    test("the CLI: changing a task's code (a second version of its file) re-runs it; --no-cache forces a refresh; runs show marks cached tasks", async () => {
      // each `sluice` is a new process that imports the DAG file afresh; the body counts its calls in a file
      const env = { SLUICE_DATABASE_URL: dbUrl() };
      const ran = () => (existsSync(stepLog) ? readFileSync(stepLog, "utf8").trim().split("\n").filter(Boolean) : []);
      rmSync(stepLog, { force: true });
      const run = (...extra: string[]) => {
        const r = cliJson(sb, ["run", "code", ...extra], env);
        assert.equal(r.code, 0, r.stderr);
        return r.json as { runId: string };
      };
      run();
      const second = run();
      assert.deepEqual(ran(), ["v1"], "the second run hit");
      const show = cli(sb, ["runs", "show", second.runId], env);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /step\s+success \(cached\)/);
      run("--no-cache");
      assert.deepEqual(ran(), ["v1", "v1"], "--no-cache ran it");
      try {
        sb.write("code.ts", codeFile("v2"));
        run();
        run();
        assert.deepEqual(ran(), ["v1", "v1", "v2"], "the new code ran once, then hit");
      } finally {
        sb.write("code.ts", codeFile("v1"));
      }
    });

    test("load-time errors name the DAG, the task and the field", async () => {
      const s = await open();
      try {
        const messages = s.bag.errors.map((e) => `${e.file}: ${e.message}`).join("\n");
        assert.match(messages, /bad_sensor[^\n]*wait[^\n]*cannot be cached/);
        assert.match(messages, /bad_key[^\n]*"t"[^\n]*cacheKey needs cache: true/);
        assert.match(messages, /bad_expires[^\n]*"t"[^\n]*cacheExpires/);
        assert.ok(!messages.includes("defaulted"), "a branch under defaults: { cache: true } is simply not cached");
        const c = calls();
        await s.run("defaulted");
        await s.run("defaulted");
        assert.deepEqual(ranSince(c), { leaf: 1 }, "its other tasks are");
      } finally {
        await s.close();
      }
    });
  });
}

test("the API: attempts show cachedFrom; noCache in the trigger body forces a refresh (SQLite)", async () => {
  const dep = await deploy(sb);
  try {
    const api = new Client(dep.url);
    assert.equal((await api.login("admin", ADMIN_PASSWORD)).status, 200);
    const trigger = async (body: Record<string, unknown>): Promise<string> => {
      const r = await api.post("/api/v1/dags/expiring/runs", body);
      assert.equal(r.status, 201, r.text);
      const id = r.json.runId as string;
      await waitFor(async () => (await api.get(`/api/v1/runs/${id}`)).json?.state === "success", 30_000, `run ${id}`);
      return id;
    };
    const attempts = async (runId: string) => (await api.get(`/api/v1/runs/${runId}/tasks/fetch/attempts`)).json.items as { attemptId: number; cachedFrom: number | null }[];
    const first = await trigger({});
    const second = await trigger({});
    const [a1] = await attempts(first);
    const [a2] = await attempts(second);
    assert.equal(a2!.cachedFrom, a1!.attemptId);
    const forced = await trigger({ noCache: true });
    assert.equal((await attempts(forced))[0]!.cachedFrom, null, "noCache ran it");
    assert.equal((await api.post("/api/v1/dags/expiring/runs", { noCache: "yes" })).status, 400, "noCache is a boolean");
  } finally {
    await dep.stop();
  }
});
