/**
 * Lists at scale through the REST API: a DAG with 10,000 runs (inserted in one batch, not 10,000 calls)
 * pages in bounded pages whose cursors walk every run exactly once, newest first; a 10,000-task DAG's
 * structure and grid have the right shape. Performance is measured by `npm run bench` (grid-10000).
 */
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sandbox } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, type Deployment } from "./harness.js";

const sb = sandbox("sluice-api-scale-");
sb.write(
  "many.ts",
  `import { dag } from "sluice";
export default dag("many", (d) => { d.task("only", async () => 1); });
`,
);
// layers of 100 tasks, each depending on two tasks of the layer before (as bench load-10000)
sb.write(
  "big.ts",
  `import { dag } from "sluice";
export default dag("big", (b) => {
  let prev: any[] = [];
  for (let l = 0; l < 100; l++) {
    const layer: any[] = [];
    for (let i = 0; i < 100; i++) layer.push(b.task(\`l\${l}_t\${i}\`, { after: prev.length ? [prev[i], prev[(i + 1) % 100]] : [] }, async () => i));
    prev = layer;
  }
});
`,
);

let dep: Deployment;
let api: Client;
const RUNS = 10_000;

before(async () => {
  dep = await deploy(sb, { worker: false });
  api = new Client(dep.url);
  assert.equal((await api.login("admin", ADMIN_PASSWORD)).status, 200);
  // 10,000 finished runs of "many" in one transaction; every third shares its creation time (ties)
  const version = (await api.get("/api/v1/dags/many")).json.version;
  const db = new Database(join(sb.home, "sluice.db"), { timeout: 30_000 });
  try {
    const insert = db.prepare(
      `insert into runs (run_id, dag_id, dag_version, run_key, run_type, state, logical_date, params, unfinished, created_at, started_at, ended_at)
       values (?, 'many', ?, ?, 'manual', ?, ?, '{}', 0, ?, ?, ?)`,
    );
    db.transaction(() => {
      for (let i = 0; i < RUNS; i++) {
        const t = Date.UTC(2025, 0, 1) + Math.floor(i / 3) * 1000;
        insert.run(`r${String(i).padStart(5, "0")}`, version, `key:${i}`, i % 7 === 0 ? "failed" : "success", t, t, t, t + 10);
      }
    })();
  } finally {
    db.close();
  }
});

after(async () => {
  await dep?.stop();
  sb.cleanup();
});

test("10,000 runs: pages are bounded, cursors walk every run once, newest first", async () => {
  const first = (await api.get("/api/v1/dags/many/runs")).json;
  assert.equal(first.items.length, 50, "default limit");
  assert.equal(typeof first.nextCursor, "string");
  const seen: { runId: string; createdAt: number }[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await api.get(`/api/v1/runs?dagId=many&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.items.length <= 500);
    seen.push(...r.json.items);
    cursor = r.json.nextCursor;
    pages++;
  } while (cursor && pages < 100);
  assert.equal(pages, RUNS / 500);
  assert.equal(new Set(seen.map((r) => r.runId)).size, RUNS);
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!;
    const b = seen[i]!;
    assert.ok(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.runId > b.runId), `order at ${i}`);
  }
  // filters page too
  const failed = (await api.get("/api/v1/dags/many/runs?state=failed&limit=500")).json;
  assert.equal(failed.items.length, 500);
  assert.ok(failed.items.every((r: { state: string }) => r.state === "failed"));
  // the DAG list shows the newest 10 runs only
  const dags = (await api.get("/api/v1/dags?q=many")).json;
  assert.equal(dags.items.length, 1);
  assert.equal(dags.items[0].lastRuns.length, 10);
  assert.equal(dags.items[0].lastRuns[0].runId, seen[0]!.runId);
});

test("a 10,000-task DAG: structure and grid have the right shape", async () => {
  const structure = (await api.get("/api/v1/dags/big/structure")).json;
  assert.equal(structure.tasks.length, 10_000);
  assert.deepEqual(structure.tasks[150].upstream, ["l0_t50", "l0_t51"]);
  const runs: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await api.post("/api/v1/dags/big/runs", {});
    assert.equal(r.status, 201, r.text);
    runs.push(r.json.runId);
  }
  const grid = (await api.get("/api/v1/dags/big/grid")).json;
  assert.equal(grid.tasks.length, 10_000);
  assert.deepEqual(grid.tasks.slice(0, 2), ["l0_t0", "l0_t1"]);
  assert.deepEqual(grid.runs.map((r: { runId: string }) => r.runId), [...runs].reverse());
  for (const id of runs) {
    const s: string = grid.states[id];
    assert.equal(s.length, 10_000);
    // no worker here: the first layer is scheduled, everything else waits
    assert.equal(s.slice(0, 100), "q".repeat(100));
    assert.equal(s.slice(100), "n".repeat(9_900));
  }
  // one run per page: the cursor leads to the other run
  const p1 = (await api.get("/api/v1/dags/big/grid?limit=1")).json;
  assert.equal(p1.runs.length, 1);
  const p2 = (await api.get(`/api/v1/dags/big/grid?limit=1&cursor=${encodeURIComponent(p1.nextCursor)}`)).json;
  assert.equal(p2.runs[0].runId, runs[0]);
  assert.equal(p2.nextCursor, null);
  assert.equal((await api.get("/api/v1/dags/big/grid?limit=101")).status, 400);
});
