/**
 * Poison rows (issue 11): rows the code cannot interpret — params that are not JSON or not an object, a
 * DAG version the database does not have, unknown state strings, task instances and attempts of runs that
 * do not exist, an attempt left `running` by a worker nobody knows — planted with SQL under a live store,
 * on both dialects. The rule: such a row fails its own work with CORRUPT_ROW naming the row and the reason
 * (or is shown as broken by readers), and everything else keeps flowing; the worker still stops on request.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { sql } from "kysely";
import { loadConfig } from "../../dist/config.js";
import { runView } from "../../dist/server/views.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox, storeDb, waitFor } from "../helpers.js";
import { startHttp } from "../../dist/server/http.js";
import { ADMIN_PASSWORD, Client } from "../server/harness.js";

const sb = sandbox("sluice-poison-");
after(() => sb.cleanup());
sb.write(
  "poison.ts",
  `import { dag } from "sluice";
export default dag("victim", (d) => {
  const a = d.task("first", async (_i, ctx) => Object.keys(ctx.params).length);
  d.task("second", { inputs: { a } }, async ({ a }) => a + 1);
});
`,
);

for (const d of dialects(1)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);

    test("each poison row fails only its own work (CORRUPT_ROW, named), lists show it as broken, good runs flow, the worker stops", async () => {
      const config = loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4", SLUICE_LEASE_MS: "2000", SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD });
      // the runs are created by another process (here: another Sluice, with caches of its own), as `sluice trigger` does
      const creator = await Sluice.open(config);
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await creator.engine.createRun("victim", { params: {} })).runId);
      await creator.close();
      const [badJson, notObject, lostVersion, weirdState, weirdTi, orphan] = ids as [string, string, string, string, string, string];
      const s = await Sluice.open(config);
      const raw = storeDb(s.store);
      const worker = s.newWorker();
      try {
        const create = async () => (await s.engine.createRun("victim", { params: {} })).runId;
        await sql`update runs set params = ${"{not json"} where run_id = ${badJson}`.execute(raw);
        await sql`update runs set params = ${"[1, 2]"} where run_id = ${notObject}`.execute(raw);
        await sql`update runs set dag_version = ${"0000dead0000beef"} where run_id = ${lostVersion}`.execute(raw);
        await sql`update runs set state = ${"exploded"} where run_id = ${weirdState}`.execute(raw);
        await sql`update task_instances set state = ${"bogus"} where run_id = ${weirdTi} and task_id = 'first'`.execute(raw);
        // an attempt left running by a worker that never registered, its lease long gone
        await sql`update task_instances set state = 'running', try_number = 1 where run_id = ${orphan} and task_id = 'first'`.execute(raw);
        await sql`insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
                  values (${orphan}, 'first', -1, 1, 0, 'running', 'w-nobody', 'elsewhere', 999999, 1, 1, 1)`.execute(raw);
        // rows that point at nothing
        await sql`insert into task_instances (run_id, task_id, map_index, state, try_number, try_base, n_upstream, n_success, n_failed, n_upstream_failed, n_skipped, ready_at, priority, queue, poke_count)
                  values ('no-such-run', 'first', -1, 'scheduled', 0, 0, 0, 0, 0, 0, 0, 1, 1, 'default', 0)`.execute(raw);

        // readers: every run is listed, the broken ones say why
        const listed = await s.store.runs.list({ dagId: "victim", limit: 100 });
        assert.equal(listed.length, 6);
        const views = listed.map(runView);
        assert.match(String(views.find((v) => v["runId"] === badJson)!["corrupt"]), /params is not valid JSON/);
        assert.match(String(views.find((v) => v["runId"] === notObject)!["corrupt"]), /params is not a JSON object/);
        assert.match(String(views.find((v) => v["runId"] === weirdState)!["corrupt"]), /unknown state "exploded"/);
        const tis = await s.store.taskInstances.list(weirdTi);
        assert.match(String(tis.find((t) => t.taskId === "first")!.corrupt), /unknown state "bogus"/);
        // and over HTTP: the list answers 200 for everyone, the run's own page too
        const http = await startHttp(s, { eventToken: null, ui: false });
        try {
          const admin = new Client(http.url);
          assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200);
          const list = await admin.get("/api/v1/runs?dagId=victim");
          assert.equal(list.status, 200, list.text);
          assert.equal(list.json.items.length, 6);
          const one = await admin.get(`/api/v1/runs/${badJson}`);
          assert.equal(one.status, 200, one.text);
          assert.match(one.json.corrupt, /params is not valid JSON/);
          const ti = await admin.get(`/api/v1/runs/${weirdTi}`);
          assert.equal(ti.status, 200, ti.text);
        } finally {
          await http.close();
        }

        await worker.start();
        await s.engine.recoverLostAttempts(); // what the sweep of every scheduler and worker does
        const good = await create();
        const state = async (runId: string) => (await s.store.runs.get(runId))!.state;
        await waitFor(async () => (await state(good)) === "success", 60_000, "a good run created after the poison to succeed");
        for (const [runId, why] of [
          [badJson, /params is not valid JSON/],
          [notObject, /params is not a JSON object/],
          [lostVersion, /DAG version 0000dead0000beef of "victim", which is not in the database/],
        ] as const) {
          await waitFor(async () => (await state(runId)) === "failed", 60_000, `run ${runId} (${String(why)}) to fail: ${JSON.stringify(await s.store.attempts.list(runId, "first", -1))}`);
          const attempts = await s.store.attempts.list(runId, "first", -1);
          assert.equal(attempts.length, 1, "no retry of a row that cannot be read");
          assert.equal(attempts[0]!.errorCode, "CORRUPT_ROW");
          assert.match(attempts[0]!.errorMessage ?? "", why);
          assert.match(attempts[0]!.errorMessage ?? "", new RegExp(runId));
        }
        // the orphan attempt is recovered like any lost one: its lease is over, it ends as WORKER_LOST
        await waitFor(async () => (await state(orphan)) === "failed", 60_000, `the orphan attempt's run to end: ${JSON.stringify(await s.store.attempts.list(orphan, "first", -1))}`);
        const [lost] = await s.store.attempts.list(orphan, "first", -1);
        assert.deepEqual([lost!.state, lost!.errorCode], ["failed", "WORKER_LOST"]);
        assert.equal(await state(weirdState), "exploded", "a run in an unknown state is left alone, not guessed at");
      } finally {
        await worker.stop(); // returns: the poison did not wedge it
        await s.close();
      }
    });
  });
}
