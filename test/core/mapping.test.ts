import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mapCoordinates, mapItem, mapLength } from "../../src/core/mapping.js";

describe("mapLength", () => {
  test("is the size of the cross product", () => {
    assert.equal(mapLength([4]), 4);
    assert.equal(mapLength([2, 3]), 6);
    assert.equal(mapLength([2, 3, 5]), 30);
  });
  test("an empty list gives no instances; no lists at all give none either", () => {
    assert.equal(mapLength([3, 0, 2]), 0);
    assert.equal(mapLength([]), 0);
  });
});

describe("mapCoordinates", () => {
  test("is row-major: the last list varies fastest", () => {
    const lengths = [2, 3];
    const all = Array.from({ length: mapLength(lengths) }, (_, i) => mapCoordinates(lengths, i));
    assert.deepEqual(all, [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
  });

  test("visits every combination exactly once for three lists", () => {
    const lengths = [2, 3, 4];
    const seen = new Set<string>();
    for (let i = 0; i < mapLength(lengths); i++) {
      const c = mapCoordinates(lengths, i);
      c.forEach((x, k) => assert.ok(x >= 0 && x < lengths[k]!, `index ${i}: ${c.join(",")}`));
      // row-major means the index is recovered as a mixed-radix number
      assert.equal(c[0]! * 12 + c[1]! * 4 + c[2]!, i);
      seen.add(c.join(","));
    }
    assert.equal(seen.size, 24);
  });

  test("a single list maps index to position", () => {
    assert.deepEqual([0, 1, 2].map((i) => mapCoordinates([3], i)), [[0], [1], [2]]);
  });
});

describe("mapItem", () => {
  test("gives one element of each named list, in cross-product order", () => {
    const lists = [
      ["model", ["lr", "rf"]],
      ["fold", [1, 2, 3]],
    ] as const;
    const items = Array.from({ length: 6 }, (_, i) => mapItem(lists, i));
    assert.deepEqual(items, [
      { model: "lr", fold: 1 },
      { model: "lr", fold: 2 },
      { model: "lr", fold: 3 },
      { model: "rf", fold: 1 },
      { model: "rf", fold: 2 },
      { model: "rf", fold: 3 },
    ]);
  });

  test("the declared order of the keys decides the order, not their names", () => {
    const items = Array.from({ length: 4 }, (_, i) =>
      mapItem(
        [
          ["z", ["z0", "z1"]],
          ["a", ["a0", "a1"]],
        ],
        i,
      ),
    );
    assert.deepEqual(
      items.map((x) => `${String(x["z"])}/${String(x["a"])}`),
      ["z0/a0", "z0/a1", "z1/a0", "z1/a1"],
    );
  });

  test("elements are passed through as they are (objects, null)", () => {
    const obj = { path: "a.csv" };
    assert.equal(mapItem([["f", [obj]]], 0)["f"], obj);
    assert.deepEqual(mapItem([["x", [null, 0]]], 0), { x: null });
  });
});
