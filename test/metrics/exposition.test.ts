/** The test's exposition parser (exposition.ts) is strict: each kind of malformed text is refused. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseExposition, sumOf } from "./exposition.js";

const ok = `# HELP a_total Things.
# TYPE a_total counter
a_total{dag="x",state="success"} 3
a_total{dag="y\\"z",state="failed"} 1
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="+Inf"} 2
h_seconds_sum 0.5
h_seconds_count 2
# TYPE g gauge
g Nan
`;

test("well-formed text parses, escaped label values included", () => {
  const f = parseExposition(ok);
  assert.equal(f.get("a_total")!.type, "counter");
  assert.equal(sumOf(f, "a_total"), 4);
  assert.equal(sumOf(f, "a_total", { dag: 'y"z' }), 1);
  assert.equal(sumOf(f, "h_seconds_count"), 2);
});

test("malformed text is refused", () => {
  const bad: [string, RegExp][] = [
    ["x 1\n", /without its family's TYPE/],
    ["# TYPE x counter\nx -1\n", /counter x is -1/],
    ["# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n", /duplicate series/],
    ["# TYPE x gauge\nx{a=1} 1\n", /not quoted/],
    ["# TYPE x gauge\nx one\n", /bad value/],
    ["# TYPE x gauge\nx 1", /end with a newline/],
    ["# TYPE x gauge\n# TYPE y gauge\nx 1\n", /outside its family's block/],
    ["# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", /buckets decrease/],
    ["# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n", /!= _count/],
    ["# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /no \+Inf bucket/],
  ];
  for (const [text, why] of bad) assert.throws(() => parseExposition(text), why, text);
});
