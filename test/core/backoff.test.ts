import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canRetry, retryDelayMs, type RetryPolicy } from "../../src/core/backoff.js";

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retries: 3,
  retryDelayMs: 1000,
  backoff: "fixed",
  maxRetryDelayMs: null,
  jitter: 0,
  ...p,
});

describe("retryDelayMs", () => {
  test("fixed backoff waits the same delay after every try", () => {
    assert.deepEqual([1, 2, 3, 10].map((n) => retryDelayMs(policy(), n, 0.5)), [1000, 1000, 1000, 1000]);
  });

  test("exponential backoff doubles after every failed try, starting at the base delay", () => {
    const p = policy({ backoff: "exponential" });
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(p, n, 0)), [1000, 2000, 4000, 8000, 16000]);
  });

  test("maxRetryDelay caps the delay (fixed and exponential)", () => {
    const p = policy({ backoff: "exponential", maxRetryDelayMs: 5000 });
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelayMs(p, n, 0)), [1000, 2000, 4000, 5000, 5000]);
    assert.equal(retryDelayMs(policy({ retryDelayMs: 9000, maxRetryDelayMs: 3000 }), 1, 0), 3000);
  });

  test("a huge try number stays finite and obeys the cap", () => {
    const p = policy({ backoff: "exponential" });
    const d = retryDelayMs(p, 10_000, 0);
    assert.ok(Number.isFinite(d) && d > 0, String(d));
    assert.equal(retryDelayMs({ ...p, maxRetryDelayMs: 60_000 }, 10_000, 0), 60_000);
  });

  test("a try number below 1 is treated as the first try", () => {
    const p = policy({ backoff: "exponential" });
    assert.equal(retryDelayMs(p, 0, 0), 1000);
    assert.equal(retryDelayMs(p, -3, 0), 1000);
  });

  test("jitter takes a random fraction (at most `jitter`) off the delay", () => {
    const p = policy({ jitter: 0.5 });
    assert.equal(retryDelayMs(p, 1, 0), 1000);
    assert.equal(retryDelayMs(p, 1, 0.5), 750);
    assert.equal(retryDelayMs(p, 1, 0.999999), 500);
    // out-of-range randoms are clamped, never giving a negative or a longer delay
    assert.equal(retryDelayMs(p, 1, 7), 500);
    assert.equal(retryDelayMs(p, 1, -1), 1000);
  });

  test("jitter applies after the cap, so the cap is never exceeded", () => {
    const p = policy({ backoff: "exponential", maxRetryDelayMs: 4000, jitter: 0.25 });
    for (let n = 1; n <= 8; n++)
      for (const r of [0, 0.3, 0.9]) {
        const d = retryDelayMs(p, n, r);
        assert.ok(d <= 4000 && d >= 0, `try ${n}, random ${r}: ${d}`);
      }
    assert.equal(retryDelayMs(p, 8, 1), 3000);
  });

  test("the result is a whole number of milliseconds", () => {
    assert.equal(retryDelayMs(policy({ retryDelayMs: 1001, jitter: 0.5 }), 1, 0.5), 751);
    assert.equal(retryDelayMs(policy({ retryDelayMs: 0 }), 1, 0), 0);
  });
});

describe("canRetry", () => {
  test("retries N allows N attempts after the first", () => {
    assert.deepEqual([1, 2, 3, 4].map((t) => canRetry({ retries: 3 }, t)), [true, true, true, false]);
  });
  test("retries 0 never retries", () => {
    assert.equal(canRetry({ retries: 0 }, 1), false);
  });
});
