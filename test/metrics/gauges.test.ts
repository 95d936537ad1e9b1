/**
 * The deployment gauges' statements (store/gauges.ts) read through partial indexes of active work, never
 * by scanning the history — on both dialects. SQLite: EXPLAIN QUERY PLAN names the index of each table's
 * scan. PostgreSQL: with sequential scans priced out (`enable_seqscan = off`; on tables this small the
 * planner would rightly scan), every scan is an index scan, and of the expected partial index. On an idle
 * store the default queue and pool still have a series at 0 (an autoscaler's query must not come back empty).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { sql } from "kysely";
import { gaugeStatements, readGauges } from "../../dist/store/gauges.js";
import { Store } from "../../dist/store/store.js";
import { dialects } from "../dialects.js";
import { storeDb } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-gauges-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The index each statement's driving scan must use. */
const EXPECTED = { ready: "task_instances_ready", running: "attempts_live", activeRuns: "runs_", processes: "workers_live" } as const;

for (const d of dialects(1)) {
  test(`${d.name}: the gauges' statements use the partial indexes of active work; idle: the default series at 0`, { skip: d.skip }, async () => {
    const db = await d.fresh(dir);
    const store = await Store.open({ url: db.url });
    try {
      const handle = storeDb(store);
      const statements = gaugeStatements(store.now());
      for (const [name, stmt] of Object.entries(statements) as [keyof typeof EXPECTED, (typeof statements)[keyof typeof EXPECTED]][]) {
        const c = stmt.compile(handle);
        let plan: string;
        if (store.dialect === "sqlite") {
          const rows = (await handle.executeQuery<{ detail: string }>({ ...c, sql: `explain query plan ${c.sql}` })).rows;
          plan = rows.map((r) => r.detail).join("\n");
          assert.doesNotMatch(plan, /^SCAN \w+$/m, `${name}: no table scan without an index\n${plan}`);
        } else {
          plan = await handle.connection().execute(async (conn) => {
            await sql`set enable_seqscan = off`.execute(conn);
            const rows = (await conn.executeQuery<{ "QUERY PLAN": string }>({ ...c, sql: `explain ${c.sql}` })).rows;
            await sql`reset enable_seqscan`.execute(conn);
            return rows.map((r) => r["QUERY PLAN"]).join("\n");
          });
          assert.doesNotMatch(plan, /Seq Scan/, `${name}: no sequential scan\n${plan}`);
        }
        assert.ok(plan.includes(EXPECTED[name]), `${name}: reads through ${EXPECTED[name]}\n${plan}`);
      }
      const idle = await readGauges(store);
      assert.deepEqual(idle.ready, [{ queue: "default", pool: "default_pool", count: 0 }]);
      assert.deepEqual(idle.running, [{ queue: "default", pool: "default_pool", count: 0 }]);
      assert.deepEqual(idle.activeRuns, []);
      assert.deepEqual(idle.processes, []);
    } finally {
      await store.close();
      await db.cleanup();
    }
  });
}
