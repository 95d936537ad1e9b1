#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner (TypeScript through tsx). Arguments narrow the
// set: `npm test -- cli` runs only files whose path contains "cli".
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const filters = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === "fixtures" ? [] : walk(join(dir, e.name))) : e.name.endsWith(".test.ts") ? [join(dir, e.name)] : [],
  );
}

const files = walk(join(root, "test"))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
// PostgreSQL tests skipped for want of a server append a line each here (test/dialects.ts): one notice at
// the end instead of one per file
const skipDir = mkdtempSync(join(tmpdir(), "sluice-pg-skips-"));
const skipLog = join(skipDir, "skipped");
// a test that hangs (a timer that never fires) fails after 10 minutes instead of holding CI for an hour
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=600000", "--test-reporter=spec", ...files], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, SLUICE_PG_SKIP_LOG: skipLog },
});
if (existsSync(skipLog)) {
  const lines = readFileSync(skipLog, "utf8").split("\n").filter(Boolean);
  const where = lines[0].replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  console.log(`PostgreSQL not reachable at ${where}: skipping ${lines.length} PostgreSQL tests; set SLUICE_REQUIRE_PG=1 to fail instead`);
}
rmSync(skipDir, { recursive: true, force: true });
process.exit(r.status ?? 1);
