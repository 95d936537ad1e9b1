import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatDuration, parseDuration } from "../../src/core/duration.js";
import { SluiceError } from "../../src/errors.js";

describe("parseDuration", () => {
  const good: [string | number, number][] = [
    [0, 0],
    [1500, 1500],
    [0.5, 0.5],
    ["500ms", 500],
    ["30s", 30_000],
    ["1.5s", 1500],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["1h30m", 5_400_000],
    ["1d2h3m4s5ms", 86_400_000 + 7_200_000 + 180_000 + 4000 + 5],
    ["0s", 0],
    ["10 s", 10_000],
    ["  45s  ", 45_000],
  ];
  for (const [input, ms] of good) {
    test(`${JSON.stringify(input)} is ${ms} ms`, () => assert.equal(parseDuration(input), ms));
  }

  const badStrings = ["", "   ", "5", "5x", "m5", "1h30", "abc", "-5s", "5 minutes", "5M", "1h 30m", "1e3ms", "s"];
  for (const input of badStrings) {
    test(`${JSON.stringify(input)} is rejected with a message naming the field and the value`, () => {
      assert.throws(
        () => parseDuration(input, `DAG "d", task "t": timeout`),
        (e: unknown) => {
          assert.ok(e instanceof SluiceError);
          assert.equal(e.code, "INVALID_DAG");
          assert.ok(e.message.startsWith(`DAG "d", task "t": timeout: "${input}" is not a duration`), e.message);
          assert.match(e.message, /use e\.g\. "500ms", "30s", "5m", "1h30m"/);
          return true;
        },
      );
    });
  }

  for (const input of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`${input} ms is rejected`, () => {
      assert.throws(
        () => parseDuration(input, "runTimeout"),
        (e: unknown) => e instanceof SluiceError && e.code === "INVALID_DAG" && e.message === `runTimeout: ${input} is not a non-negative number of milliseconds`,
      );
    });
  }

  test("the field defaults to \"duration\" in messages", () => {
    assert.throws(() => parseDuration("soon"), { message: /^duration: "soon" is not a duration/ });
  });
});

describe("formatDuration", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [12.4, "12ms"],
    [999, "999ms"],
    [1000, "1.00s"],
    [1500, "1.50s"],
    [12_345, "12.3s"],
    [59_900, "59.9s"],
    [65_000, "1m5s"],
    [3_600_000, "1h0m0s"],
    [3_723_000, "1h2m3s"],
  ];
  for (const [ms, text] of cases) test(`${ms} ms is "${text}"`, () => assert.equal(formatDuration(ms), text));

  test("what it formats parses back (to the shown precision)", () => {
    for (const ms of [0, 250, 1500, 12_300, 65_000, 3_723_000, 90_061_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
  });
});
