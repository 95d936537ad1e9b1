import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { nextPokeDelayMs, pokeOutcome } from "../../src/core/sensors.js";
import { dag } from "../../src/dsl/dag.js";
import { fileExists, httpOk, sqlRow } from "../../src/dsl/sensors.js";
import { isSluiceError } from "../../src/errors.js";

describe("pokeOutcome", () => {
  test("true and { done: true, value } are done; false and { done: false } poke again", () => {
    assert.deepEqual(pokeOutcome("s", true), { done: true, value: true });
    assert.deepEqual(pokeOutcome("s", false), { done: false });
    assert.deepEqual(pokeOutcome("s", { done: false, value: 1 }), { done: false });
    assert.deepEqual(pokeOutcome("s", { done: true, value: [1, 2] }), { done: true, value: [1, 2] });
    assert.deepEqual(pokeOutcome("s", { done: true, value: undefined }), { done: true, value: undefined });
    assert.deepEqual(pokeOutcome("s", { done: true }), { done: true, value: true });
  });

  test("anything else is an error that says what to return", () => {
    for (const v of [undefined, null, 1, "yes", { ok: true }]) {
      assert.throws(
        () => pokeOutcome("wait_file", v),
        (e: unknown) => isSluiceError(e) && e.code === "TASK_FAILED" && /sensor "wait_file".*return true when the condition is met/.test(e.message),
      );
    }
  });
});

describe("nextPokeDelayMs", () => {
  const fixed = { pokeIntervalMs: 30_000, exponentialBackoff: false, maxWaitMs: null };
  test("fixed: the poke interval, whatever the poke number", () => {
    for (const n of [1, 2, 10]) assert.equal(nextPokeDelayMs(fixed, n, 0.7), 30_000);
  });

  test("exponential (Airflow's): [i/2, i), [i, 2i), [2i, 4i), … with the random spread", () => {
    const exp = { ...fixed, exponentialBackoff: true };
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => nextPokeDelayMs(exp, n, 0)),
      [15_000, 30_000, 60_000, 120_000],
    );
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => nextPokeDelayMs(exp, n, 0.5)),
      [22_500, 45_000, 90_000, 180_000],
    );
    assert.ok(nextPokeDelayMs(exp, 2, 0.9999999) < 60_000);
  });

  test("maxWait caps the exponential wait; huge poke counts stay finite", () => {
    const exp = { pokeIntervalMs: 60_000, exponentialBackoff: true, maxWaitMs: 300_000 };
    assert.equal(nextPokeDelayMs(exp, 5, 0), 300_000);
    assert.equal(nextPokeDelayMs({ ...exp, maxWaitMs: null }, 10_000, 0.5), Math.floor(60_000 * 2 ** 40 * 1.5));
  });
});

describe("d.sensor and the ready-made pokes", () => {
  test("the spec records the policy with Airflow's defaults; a ready-made poke's label is its command", () => {
    const d = dag("s", (d) => {
      d.sensor("files", { poke: fileExists("in/*.csv") });
      d.sensor("custom", { poke: async () => true, pokeInterval: "5s", timeout: "1h", softFail: true, exponentialBackoff: true, maxWait: "1m", pokeTimeout: "10s", retries: 2 });
    });
    const [files, custom] = d.spec.tasks;
    assert.equal(files!.kind, "sensor");
    assert.deepEqual(files!.sensor, { pokeIntervalMs: 60_000, timeoutMs: 7 * 86_400_000, softFail: false, exponentialBackoff: false, maxWaitMs: null });
    assert.equal(files!.command, 'fileExists("in/*.csv")');
    assert.equal(files!.timeoutMs, null);
    assert.deepEqual(custom!.sensor, { pokeIntervalMs: 5000, timeoutMs: 3_600_000, softFail: true, exponentialBackoff: true, maxWaitMs: 60_000 });
    assert.equal(custom!.command, null);
    assert.equal(custom!.timeoutMs, 10_000, "pokeTimeout is each poke's time limit");
    assert.equal(custom!.retry.retries, 2);
  });

  test("a sensor's timeout is not the DAG default's per-attempt timeout, which limits each poke", () => {
    const d = dag("s", { defaults: { timeout: "2m" } }, (d) => {
      d.sensor("w", { poke: async () => true, timeout: "3h" });
    });
    assert.equal(d.spec.tasks[0]!.timeoutMs, 120_000);
    assert.equal(d.spec.tasks[0]!.sensor!.timeoutMs, 3 * 3_600_000);
  });

  test("what a ready-made poke checks is part of the DAG version; other tasks' specs do not change", () => {
    const v = (pattern: string) => dag("s", (d) => void d.sensor("w", { poke: fileExists(pattern) })).version;
    assert.notEqual(v("a/*.csv"), v("b/*.csv"));
    const plain = dag("p", (d) => void d.task("t", async () => 1));
    assert.equal("sensor" in plain.spec.tasks[0]!, false);
  });

  test("mistakes are reported at definition time, naming the task or the poke", () => {
    const bad = (build: () => unknown, re: RegExp) =>
      assert.throws(build, (e: unknown) => isSluiceError(e) && e.code === "INVALID_DAG" && re.test(e.message), String(re));
    bad(() => dag("s", (d) => void d.sensor("w", { poke: async () => true, pokeInterval: 0 })), /task "w": pokeInterval must be longer than 0/);
    bad(() => dag("s", (d) => void d.sensor("w", { poke: async () => true, timeout: "soon" })), /task "w": timeout: "soon" is not a duration/);
    bad(() => dag("s", (d) => void d.sensor("w", {} as never)), /task "w": the task body must be a function/);
    bad(() => httpOk("localhost:8080"), /httpOk: "localhost:8080" is not an http\(s\) URL/);
    bad(() => httpOk("not a url"), /not a URL/);
    bad(() => sqlRow({ database: "postgres://db/x", query: "select 1" }), /give PostgreSQL as a connection, not a URL/);
    bad(() => sqlRow({ database: "mysql://db/x", query: "select 1" }), /use "sqlite:<file>"/);
    bad(() => sqlRow({ database: "sqlite:x.db", query: " " }), /give a "query"/);
    bad(() => fileExists(""), /give a path or a glob/);
  });
});
