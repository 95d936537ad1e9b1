/**
 * The UI's API types (ui/src/api.gen.ts) are generated from the OpenAPI document the route table makes: the
 * committed file must be what the routes generate now (npm run gen:api), or the UI compiles against a stale
 * API. Runs the generator's --check against the built routes (dist/), and proves the check can fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const generated = fileURLToPath(new URL("../../ui/src/api.gen.ts", import.meta.url));
const check = () => spawnSync(process.execPath, ["scripts/gen-api.js", "--check"], { cwd: root, encoding: "utf8" });

test("the committed ui/src/api.gen.ts is what the API's routes generate", () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
});

test("a stale generated file fails the check", () => {
  const before = readFileSync(generated, "utf8");
  try {
    writeFileSync(generated, before.replace('"/api/v1/dashboard"', '"/api/v1/dashboard-old"'));
    const r = check();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /out of date/);
  } finally {
    writeFileSync(generated, before);
  }
});
