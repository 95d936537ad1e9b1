import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mapCoordinates, mapItem, mapLength, mappableList, unmappableReason } from "../../src/core/mapping.js";

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

describe("zip and kwargs", () => {
  test("zip: as many instances as the shortest list; instance i gets element i of each", () => {
    const lists = [
      ["file", ["a", "b", "c"]],
      ["size", [10, 20]],
    ] as const;
    assert.equal(mapLength([3, 2], "zip"), 2);
    assert.equal(mapLength([3, 0], "zip"), 0);
    assert.deepEqual([0, 1].map((i) => mapItem(lists, i, "zip")), [
      { file: "a", size: 10 },
      { file: "b", size: 20 },
    ]);
  });

  test("kwargs: one instance per object of the one list, its keys the arguments (a copy)", () => {
    const args = [{ lr: 0.1 }, { lr: 0.5, depth: 3 }];
    assert.equal(mapLength([2], "kwargs"), 2);
    const item = mapItem([["overKwargs", args]], 1, "kwargs");
    assert.deepEqual(item, { lr: 0.5, depth: 3 });
    assert.notEqual(item, args[1]);
  });
});

describe("mappableList and unmappableReason", () => {
  const table: [string, unknown, unknown[] | null][] = [
    ["a list", [1, 2], [1, 2]],
    ["an empty list", [], []],
    ["an object: its [key, value] entries in order", { b: 1, a: 2 }, [["b", 1], ["a", 2]]],
    ["a string", "abc", null],
    ["null", null, null],
    ["undefined", undefined, null],
    ["a number", 3, null],
    ["a boolean", true, null],
    ["a Date (not a plain object)", new Date(0), null],
  ];
  for (const [what, value, list] of table) {
    test(`${what} -> ${JSON.stringify(list)}`, () => {
      assert.deepEqual(mappableList(value), list);
      assert.equal(unmappableReason(value, "product", false) === null, list !== null);
      assert.equal(unmappableReason(value, "zip", false) === null, list !== null);
    });
  }

  test("the reasons name the kind of value, never its content", () => {
    assert.equal(unmappableReason("secret-token", "product", false), "a string, not a list or an object");
    assert.equal(unmappableReason(null, "product", false), "null, not a list or an object");
    assert.equal(unmappableReason(undefined, "product", false), "nothing (undefined), not a list or an object");
    assert.equal(unmappableReason(new Date(0), "zip", false), "an object of class Date, not a list or an object");
  });

  test("kwargs needs a list of plain objects; a mapped producer gives one object per instance", () => {
    assert.equal(unmappableReason([{ a: 1 }, { b: 2 }], "kwargs", false), null);
    assert.equal(unmappableReason({ a: 1 }, "kwargs", false), "an object of class Object, not a list of objects of arguments");
    assert.equal(unmappableReason([{ a: 1 }, [1]], "kwargs", false), "a list whose element 1 is a list, not an object of arguments");
    assert.equal(unmappableReason({ a: 1 }, "kwargs", true), null);
    assert.equal(unmappableReason(5, "kwargs", true), "a number, not an object of arguments");
    assert.equal(unmappableReason(5, "product", true), null, "any element of a mapped producer's results can be mapped over");
  });
});
