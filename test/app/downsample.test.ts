/** Downsampling a metric series for a chart (app/experiments.ts `downsample`, GET /runs/:id/metrics?maxPoints). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { downsample } from "../../dist/app/experiments.js";

const series = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ step: i, value: f(i), at: 1000 + i }));

test("a short series is returned whole; a long one is cut to at most maxPoints in step order", () => {
  const short = series(50, (i) => i);
  assert.deepEqual(downsample(short, 100), short);
  const long = series(10_000, (i) => Math.sin(i / 100));
  const d = downsample(long, 1000);
  assert.ok(d.length <= 1000 && d.length >= 900, `${d.length} points`);
  for (let i = 1; i < d.length; i++) assert.ok(d[i]!.step > d[i - 1]!.step, `steps in order at ${i}`);
  assert.equal(d[0]!.step, 0);
  assert.equal(d.at(-1)!.step, 9999);
});

test("a single spike and a single dip survive downsampling (each bucket keeps its lowest and highest value)", () => {
  const long = series(10_000, (i) => (i === 4321 ? 99 : i === 7777 ? -99 : 0.5));
  const d = downsample(long, 200);
  assert.ok(d.some((p) => p.step === 4321 && p.value === 99), "the spike is kept");
  assert.ok(d.some((p) => p.step === 7777 && p.value === -99), "the dip is kept");
  assert.equal(Math.max(...d.map((p) => p.value)), 99);
  assert.equal(Math.min(...d.map((p) => p.value)), -99);
});
