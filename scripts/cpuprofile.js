#!/usr/bin/env node
// Summarise a V8 .cpuprofile (`node --cpu-prof dist/bench/main.js chain-1000`): self time by function, and
// — within the settles (from the first sample in engine/settle.js to the last) — by part of the system,
// divided by `--per N` (the handoffs of a chain-N). The sampler counts wall time: on a busy machine the
// microseconds are inflated, the shares less so. Usage: node scripts/cpuprofile.js FILE [--top 30] [--per 1000]
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const file = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
if (!file) {
  process.stderr.write("usage: node scripts/cpuprofile.js FILE.cpuprofile [--top 30] [--per 1000]\n");
  process.exit(2);
}
const top = option("--top", 30);
const per = option("--per", 1);

const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
let clock = profile.startTime;
const at = profile.timeDeltas.map((d) => (clock += d));
const short = (url) => url.replace(/^.*\/(dist|node_modules)\//, "$1/");
const inSettle = (id) => {
  for (let x = id; x !== undefined; x = parent.get(x)) if (nodes.get(x).callFrame.url.includes("engine/settle.js")) return true;
  return false;
};

/** The part of the system a frame's self time belongs to. */
function part({ url, functionName: f }) {
  if (f === "(garbage collector)") return "garbage collection";
  if (f === "(program)" || f === "(idle)") return "(program), (idle)";
  if ((url.endsWith("/store/sqlite.js") && f === "run") || url.includes("sqlite-driver.js") || url.includes("better-sqlite3")) return "SQLite statements (native)";
  if (url.includes("node_modules/kysely")) return "Kysely";
  for (const [dir, name] of [["/engine/", "engine"], ["/store/", "store"], ["/worker/", "worker"], ["/executors/", "worker"], ["/logs/", "logs and outputs"], ["/artifacts/", "logs and outputs"]]) {
    if (url.includes(`/dist${dir}`) || url.includes(`/src${dir}`)) return `${name} JavaScript`;
  }
  if (url.includes("/dist/") || url.includes("/src/")) return "other Sluice JavaScript";
  return "Node internals (promises, timers, natives)";
}

const self = new Map();
const parts = new Map();
let total = 0;
let first = Infinity;
let last = 0;
for (let i = 0; i < profile.samples.length; i++) {
  if (inSettle(profile.samples[i])) {
    first = Math.min(first, at[i]);
    last = Math.max(last, at[i]);
  }
}
for (let i = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i] ?? 0;
  const cf = nodes.get(profile.samples[i]).callFrame;
  const key = `${cf.functionName || "(anonymous)"} ${short(cf.url)}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + us);
  total += us;
  if (at[i] >= first && at[i] <= last) parts.set(part(cf), (parts.get(part(cf)) ?? 0) + us);
}
const ms = (us) => `${(us / 1000).toFixed(1).padStart(9)} ms`;
console.log(`self time by function (of ${(total / 1000).toFixed(0)} ms):`);
for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
const window = [...parts.values()].reduce((a, b) => a + b, 0);
if (window > 0) {
  console.log(`\nwithin the settles (${((last - first) / 1000).toFixed(0)} ms), by part, per ${per}:`);
  for (const [k, us] of [...parts].sort((a, b) => b[1] - a[1])) console.log(`${(us / per).toFixed(1).padStart(9)} µs ${((100 * us) / window).toFixed(1).padStart(5)} %  ${k}`);
}
