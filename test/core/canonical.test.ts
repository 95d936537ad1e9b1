/**
 * The canonical encoding the cache key hashes inputs with: equal values give equal bytes whatever V8 did
 * with them, different values different bytes.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { deserialize, serialize } from "node:v8";
import { canonicalBytes } from "../../src/core/canonical.js";

const same = (a: unknown, b: unknown) => assert.deepEqual(canonicalBytes(a), canonicalBytes(b));

test("equal values encode alike where V8's structured clone does not", () => {
  // an array V8 keeps as doubles, holding an integral value, against the same array decoded
  const held = [0.5, 1.5];
  held[0] = 1;
  const decoded = deserialize(serialize(held)) as number[];
  assert.deepEqual(held, decoded);
  assert.notDeepEqual(serialize(held), serialize(decoded), "V8 writes them differently (why the cache does not hash its bytes)");
  same(held, decoded);

  // objects of one shape decoded before and after another object widened a field to a double
  const bytes = serialize([{ l2: 0, rate: 0.1 }]);
  const before = deserialize(bytes) as unknown;
  deserialize(serialize([{ l2: 0.01, rate: 0.1 }]));
  same(before, deserialize(bytes));
});

test("key order, -0 and NaN's bits are not part of the value", () => {
  same({ a: 1, b: [2, { c: 3, d: 4 }] }, { b: [2, { d: 4, c: 3 }], a: 1 });
  same(-0, 0);
  same(Number.NaN, 0 / 0);
});

test("different values encode differently", () => {
  const values: unknown[] = [
    undefined,
    null,
    true,
    false,
    0,
    1,
    "1",
    "",
    1n,
    [],
    {},
    [1, 2],
    [2, 1],
    [undefined],
    // eslint-disable-next-line no-sparse-arrays
    [, 1],
    { a: 1 },
    { a: "1" },
    { b: 1 },
    new Date(0),
    new Date(1),
    /a/g,
    /a/,
    new Map([
      [1, 2],
      [3, 4],
    ]),
    new Map([
      [3, 4],
      [1, 2],
    ]),
    new Set([1]),
    new Uint8Array([1, 2]),
    new Int8Array([1, 2]),
    new Uint8Array([1, 2, 3]),
    new Error("x"),
    new TypeError("x"),
    ["ab", "c"],
    ["a", "bc"],
  ];
  const seen = new Map<string, unknown>();
  for (const v of values) {
    const hex = canonicalBytes(v).toString("hex");
    assert.ok(!seen.has(hex), `${String(v)} encodes like ${String(seen.get(hex))}`);
    seen.set(hex, v);
  }
});

test("shared references and cycles are written as back-references; functions are refused", () => {
  const shared = { x: 1 };
  same([shared, shared], [shared, shared]);
  assert.notDeepEqual(canonicalBytes([shared, shared]), canonicalBytes([{ x: 1 }, { x: 2 }]));
  const cycle: Record<string, unknown> = { a: 1 };
  cycle["self"] = cycle;
  assert.ok(canonicalBytes(cycle).length > 0);
  assert.throws(() => canonicalBytes({ f: () => 1 }), /a function has no canonical encoding/);
});
