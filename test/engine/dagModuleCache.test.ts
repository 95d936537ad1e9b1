/**
 * The compiled-module cache of DAG files (executors/dagModuleCache.ts, decision 0022 "DAG loading"):
 * separate `sluice` processes share it through the home; an edited DAG file or helper is compiled again,
 * a damaged entry is rebuilt, never trusted; the sweep removes what no DAG file needs.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isModuleCacheEntryFresh, moduleCacheTools, parseModuleCacheEntry, type ModuleCacheEntry } from "../../src/core/moduleCache.js";
import { dagModuleCacheDir } from "../../src/executors/dagModuleCache.js";
import { cli, cliJson, ROOT, sandbox } from "../helpers.js";

const H = (c: string) => c.repeat(64);

describe("moduleCache policy", () => {
  const tools = moduleCacheTools({ sluice: "1.0.0", esbuild: "0.28.2", node: "v20.20.2" });
  const entry: ModuleCacheEntry = { file: "/d/a.ts", tools, inputs: [["/d/a.ts", H("a")], ["/d/helper.ts", H("b")]], codeHash: H("c"), needsTypeScript: false };
  const current = (over: Record<string, string | null> = {}) => new Map<string, string | null>([["/d/a.ts", H("a")], ["/d/helper.ts", H("b")], ...Object.entries(over)]);

  const cases: [string, boolean, () => boolean][] = [
    ["every input as compiled", true, () => isModuleCacheEntryFresh(entry, "/d/a.ts", tools, current())],
    ["the DAG file edited", false, () => isModuleCacheEntryFresh(entry, "/d/a.ts", tools, current({ "/d/a.ts": H("d") }))],
    ["a helper edited", false, () => isModuleCacheEntryFresh(entry, "/d/a.ts", tools, current({ "/d/helper.ts": H("d") }))],
    ["a helper gone", false, () => isModuleCacheEntryFresh(entry, "/d/a.ts", tools, current({ "/d/helper.ts": null }))],
    ["another file's entry", false, () => isModuleCacheEntryFresh(entry, "/d/b.ts", tools, current())],
    ["another Sluice", false, () => isModuleCacheEntryFresh(entry, "/d/a.ts", moduleCacheTools({ sluice: "1.0.1", esbuild: "0.28.2", node: "v20.20.2" }), current())],
    ["another esbuild", false, () => isModuleCacheEntryFresh(entry, "/d/a.ts", moduleCacheTools({ sluice: "1.0.0", esbuild: "0.29.0", node: "v20.20.2" }), current())],
    ["inputs not led by the file", false, () => isModuleCacheEntryFresh({ ...entry, inputs: [["/d/helper.ts", H("b")]] }, "/d/a.ts", tools, current())],
  ];
  for (const [name, expected, check] of cases) test(`fresh? ${name}: ${expected}`, () => assert.equal(check(), expected));

  test("an entry is parsed back; torn, foreign or malformed text is no entry", () => {
    assert.deepEqual(parseModuleCacheEntry(JSON.stringify(entry)), entry);
    const text = JSON.stringify(entry);
    for (const bad of [text.slice(0, text.length / 2), "", "null", "[]", JSON.stringify({ ...entry, codeHash: "x" }), JSON.stringify({ ...entry, inputs: [] }), JSON.stringify({ ...entry, inputs: [["/d/a.ts", 1]] }), JSON.stringify({ ...entry, needsTypeScript: "no" })]) {
      assert.equal(parseModuleCacheEntry(bad), null, bad.slice(0, 60));
    }
  });
});

describe("the cache across processes", () => {
  const sb = sandbox();
  after(() => sb.cleanup());
  const cache = dagModuleCacheDir(sb.home);
  const list = () => {
    const r = cliJson<{ dags: { dagId: string; description: string | null; taskCount: number }[]; importErrors: unknown[] }>(sb, ["dags", "list"]);
    assert.equal(r.code, 0, r.stderr);
    return r.json.dags;
  };
  const entries = () => readdirSync(cache).filter((f) => f.endsWith(".json"));
  const modules = () => readdirSync(cache).filter((f) => f.endsWith(".mjs"));

  test("a second process sees an edited helper and an edited DAG file; an unchanged one is not compiled again", () => {
    sb.write("helper.ts", `export const what = "helper v1";\n`);
    sb.write("etl.ts", `import { dag } from "sluice";\nimport { what } from "./helper.ts";\nexport default dag("etl", { description: what }, (d) => { d.task("a", async () => what); });\n`);
    sb.write("other.ts", `import { dag } from "sluice";\nexport default dag("other", (d) => { d.task("x", async () => 1); });\n`);
    assert.deepEqual(list().map((d) => [d.dagId, d.description]), [["etl", "helper v1"], ["other", null]]);
    assert.equal(entries().length, 2, "one entry per DAG file");
    const [otherModule] = modules().filter((m) => readFileSync(join(cache, m), "utf8").includes('"other"'));
    assert.ok(otherModule);
    const otherWritten = statSync(join(cache, otherModule)).mtimeMs;

    sb.write("helper.ts", `export const what = "helper v2";\n`);
    assert.deepEqual(list().map((d) => [d.dagId, d.description]), [["etl", "helper v2"], ["other", null]], "the helper's edit reached a new process");
    sb.write("etl.ts", `import { dag } from "sluice";\nimport { what } from "./helper.ts";\nexport default dag("etl", { description: what + "!" }, (d) => { d.task("a", async () => what); d.task("b", async () => 2); });\n`);
    const [etl] = list();
    assert.deepEqual([etl!.description, etl!.taskCount], ["helper v2!", 2], "the DAG file's edit reached a new process");
    assert.equal(statSync(join(cache, otherModule)).mtimeMs, otherWritten, "the unchanged file's module was not written again");
    assert.equal(entries().length, 2);
  });

  test("a damaged module or entry is rebuilt, never imported", () => {
    for (const m of modules()) writeFileSync(join(cache, m), `throw new Error("a damaged cache module was imported");\n`);
    assert.deepEqual(list().map((d) => d.dagId), ["etl", "other"]);
    const named = entries().map((e) => `${parseModuleCacheEntry(readFileSync(join(cache, e), "utf8"))!.codeHash}.mjs`);
    for (const m of named) assert.doesNotMatch(readFileSync(join(cache, m), "utf8"), /damaged/, `${m} was compiled again`);
    for (const e of entries()) writeFileSync(join(cache, e), readFileSync(join(cache, e), "utf8").slice(0, 40));
    assert.deepEqual(list().map((d) => d.dagId), ["etl", "other"]);
    for (const e of entries()) assert.ok(parseModuleCacheEntry(readFileSync(join(cache, e), "utf8")), `${e} was written again`);
  });

  test("a DAG file that does not compile still reports its own error, naming the file and line", () => {
    sb.write("broken.ts", `import { dag } from "sluice";\nexport default dag("broken", (d) => {\n  d.task("a", async () => 1;\n});\n`);
    sb.write("throws.ts", `import { dag } from "sluice";\nconst x: number = 1;\nif (x) throw new Error("no warehouse configured");\nexport default dag("throws", (d) => { d.task("a", async () => 1); });\n`);
    const r = cli(sb, ["dags", "list"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /import error: broken\.ts:3: syntax error: /);
    assert.match(r.stderr, /import error: throws\.ts:3: no warehouse configured/);
    rmSync(join(sb.dags, "broken.ts"));
    rmSync(join(sb.dags, "throws.ts"));
  });

  test("the sweep removes entries of deleted DAG files and modules no entry names, once a day", async () => {
    // the CLI's build (dist/): the sweep also drops entries of another build, such as this test's own (src/)
    const { sweepModuleCache } = (await import(join(ROOT, "dist", "executors", "dagModuleCache.js"))) as typeof import("../../src/executors/dagModuleCache.js");
    unlinkSync(join(sb.dags, "other.ts"));
    const stray = join(cache, `${H("e")}.mjs`);
    writeFileSync(stray, "export {};\n");
    const old = (Date.now() - 2 * 3600_000) / 1000;
    utimesSync(stray, old, old);
    const fresh = join(cache, `${H("f")}.mjs`); // as if another process were about to name it
    writeFileSync(fresh, "export {};\n");
    rmSync(join(cache, ".swept"), { force: true });
    await sweepModuleCache(cache);
    assert.equal(entries().length, 1, "the deleted file's entry is gone");
    assert.ok(!existsSync(stray), "an old module no entry names is gone");
    assert.ok(existsSync(fresh), "a young one is left alone");
    await sweepModuleCache(cache, Date.now() + 3 * 3600_000);
    assert.ok(existsSync(fresh), "not swept again within a day");
    await sweepModuleCache(cache, Date.now() + 25 * 3600_000);
    const etl = parseModuleCacheEntry(readFileSync(join(cache, entries()[0]!), "utf8"))!;
    assert.deepEqual(modules(), [`${etl.codeHash}.mjs`], "a day later: only the module an entry names");
    assert.deepEqual(list().map((d) => d.dagId), ["etl"]);
  });
});
