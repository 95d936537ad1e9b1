import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cacheEntryUsable, cacheExpiresAt, cacheKey, keyParams, type CacheKeyParts } from "../../src/core/cache.js";

const enc = (s: string) => new TextEncoder().encode(s);
const base: CacheKeyParts = {
  dagId: "d",
  taskId: "t",
  spec: { expiresMs: null, version: null, params: null, customKey: false },
  code: "async () => 1",
  inputs: enc('{"x":1}'),
  params: { lr: 0.1, tag: "a" },
  custom: null,
};
const key = (p: Partial<CacheKeyParts>) => cacheKey({ ...base, ...p });

describe("cacheKey", () => {
  test("a SHA-256 hex digest, the same for the same parts", () => {
    assert.match(key({}), /^[0-9a-f]{64}$/);
    assert.equal(key({}), key({}));
  });

  const changes: [string, Partial<CacheKeyParts>][] = [
    ["another DAG", { dagId: "e" }],
    ["another task", { taskId: "u" }],
    ["other code", { code: "async () => 2" }],
    ["other inputs", { inputs: enc('{"x":2}') }],
    ["another param value", { params: { lr: 0.2, tag: "a" } }],
    ["a new param", { params: { lr: 0.1, tag: "a", extra: 1 } }],
    ["a cacheVersion", { spec: { ...base.spec, version: "2" } }],
    ["a custom key", { custom: "k" }],
  ];
  for (const [what, change] of changes) {
    test(`changes with ${what}`, () => assert.notEqual(key(change), key({})));
  }

  test("param order does not matter", () => {
    assert.equal(key({ params: { tag: "a", lr: 0.1 } }), key({}));
  });

  test("cacheParams: only the named params count (a missing one as null)", () => {
    const spec = { ...base.spec, params: ["lr"] };
    assert.equal(key({ spec, params: { lr: 0.1, tag: "b" } }), key({ spec }));
    assert.notEqual(key({ spec, params: { lr: 0.3, tag: "a" } }), key({ spec }));
    const none = { ...base.spec, params: [] };
    assert.equal(key({ spec: none, params: { lr: 9 } }), key({ spec: none }));
  });

  test("parts are length-prefixed: moving text between dag and task gives another key", () => {
    assert.notEqual(key({ dagId: "ab", taskId: "c" }), key({ dagId: "a", taskId: "bc" }));
  });

  test("a custom key replaces code, inputs and params, but stays scoped by DAG, task and version", () => {
    const custom = "dataset-v7";
    assert.equal(key({ custom, code: "other", inputs: enc("[]"), params: {} }), key({ custom }));
    assert.notEqual(key({ custom, taskId: "u" }), key({ custom }));
    assert.notEqual(key({ custom, spec: { ...base.spec, version: "2" } }), key({ custom }));
    assert.notEqual(key({ custom: "" }), key({}), "an empty custom key is not the default key");
  });
});

describe("keyParams", () => {
  const cases: [Record<string, unknown>, string[] | null, Record<string, unknown>][] = [
    [{ a: 1, b: 2 }, null, { a: 1, b: 2 }],
    [{ a: 1, b: 2 }, ["a"], { a: 1 }],
    [{ a: 1 }, ["a", "z"], { a: 1, z: null }],
    [{ a: 1 }, [], {}],
  ];
  for (const [params, names, want] of cases) {
    test(`${JSON.stringify(params)} with ${JSON.stringify(names)}`, () => assert.deepEqual(keyParams(params, names), want));
  }
});

describe("cacheEntryUsable and cacheExpiresAt", () => {
  const now = 1_000_000;
  const cases: [string, { sourceState: string; expiresAt: number | null }, boolean][] = [
    ["a success that never expires", { sourceState: "success", expiresAt: null }, true],
    ["a success not yet expired", { sourceState: "success", expiresAt: now + 1 }, true],
    ["expired exactly now", { sourceState: "success", expiresAt: now }, false],
    ["expired before", { sourceState: "success", expiresAt: now - 1 }, false],
    ["a failed source", { sourceState: "failed", expiresAt: null }, false],
    ["a running source (not settled yet)", { sourceState: "running", expiresAt: null }, false],
  ];
  for (const [what, entry, want] of cases) test(what, () => assert.equal(cacheEntryUsable(entry, now), want));

  test("expiry is now + cacheExpires, or never", () => {
    assert.equal(cacheExpiresAt({ ...base.spec, expiresMs: 7 * 86_400_000 }, now), now + 7 * 86_400_000);
    assert.equal(cacheExpiresAt(base.spec, now), null);
  });
});
