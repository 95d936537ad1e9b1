#!/usr/bin/env node
// The cost of one SQLite transaction shaped like a handoff (3 reads issued together, 9 updates, COMMIT)
// through Store.tx / Tx.send, in µs: 40 trials of 100 transactions; the fastest trial is what the machine
// does when this process is not waiting for a core, steadier than a median on a shared machine.
// Usage: node scripts/tx-bench.js [ROOT]  (ROOT: a checkout with a built dist/, default this one: A/B builds)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url)));
const { Store } = await import(pathToFileURL(join(root, "dist/store/store.js")).href);
const home = mkdtempSync(join(tmpdir(), "sluice-tx-bench-"));
const store = await Store.open({ url: join(home, "bench.sqlite") });
await store.tx((tx) => tx.send("create table kv (k integer primary key, v integer)", []));
await store.tx(async (tx) => {
  for (let i = 0; i < 100; i++) await tx.send("insert into kv (k, v) values (?, 0)", [i]);
});
async function trial(n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await store.tx(async (tx) => {
      await Promise.all([tx.send("select v from kv where k = ?", [i % 100]), tx.send("select v from kv where k = ?", [(i + 1) % 100]), tx.send("select count(*) from kv where k < ?", [3])]);
      for (let j = 0; j < 9; j++) await tx.send("update kv set v = v + 1 where k = ?", [(i + j) % 100]);
    });
  }
  return ((performance.now() - t0) / n) * 1000;
}
const times = [];
for (let t = 0; t < 40; t++) times.push(await trial(100));
times.sort((a, b) => a - b);
await store.close();
rmSync(home, { recursive: true, force: true });
console.log(JSON.stringify({ root, fastestUsPerTx: Math.round(times[0] * 10) / 10, p25UsPerTx: Math.round(times[10] * 10) / 10, medianUsPerTx: Math.round(times[20] * 10) / 10 }));
