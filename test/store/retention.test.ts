/**
 * `sluice db clean` on SQLite and on PostgreSQL: real runs (engine, ManualClock), then exactly what is
 * left — rows, log folders, artifacts — after a dry run and after a clean in batches of one run.
 * Plus the CLI's answers to bad input and its JSON.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { ManualClock } from "../../src/core/clock.js";
import { dag } from "../../src/dsl/dag.js";
import { Sluice } from "../../src/sluice.js";
import { cleanFinishedRuns } from "../../src/engine/retention.js";
import { readWholeLog } from "../../src/logs/logStore.js";
import { dialects } from "../dialects.js";
import { cli, cliJson, sandbox, storeDb } from "../helpers.js";

const sb = sandbox("sluice-retention-");
after(() => sb.cleanup());

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const SHARED = "s".repeat(200);

const hist = dag("hist", (d) => {
  d.task("unique", async (_i, ctx) => {
    ctx.log.info("a line, so the attempt has a log file");
    return `${"u".repeat(200)}${ctx.runId}`; // an artifact of its own
  });
  d.task("shared", async () => SHARED); // the same artifact for every run
  d.task("write", { produces: ["lake.t"] }, async (_i, ctx) => ctx.assetMetadata("lake.t", { rows: 1 }));
  // tracked (a metric and a file of its own) and cached: the recent run reuses the old run's attempt
  d.task("trained", { cache: true }, async (_i, ctx) => {
    ctx.track.metric("loss", 0.5);
    await ctx.track.artifact("model.txt", Buffer.from(`model of ${ctx.runId}`));
    return 1;
  });
  // cached with an expiry: its entry expires before the clean
  d.task("fresh", { cache: true, cacheExpires: "1d" }, async () => 2);
});
const boom = dag("boom", (d) => {
  d.task("fails", async (_i, ctx) => {
    ctx.log.info("about to fail");
    throw new Error("no");
  });
});

let homes = 0;

for (const d of dialects(1)) {
  describe(`db clean on ${d.name}`, { skip: d.skip }, () => {
    test("deletes finished runs older than the cutoff with their rows, logs and unreferenced artifacts; keeps the rest", async () => {
      const db = await d.fresh(sb.dir);
      const home = join(sb.dir, `home-${++homes}`);
      const clock = new ManualClock(T0);
      // outputs over 16 bytes go to the artifact store
      const s = await Sluice.open(loadConfig({ home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_INLINE_OUTPUT_LIMIT: "16", SLUICE_DB_POOL_SIZE: "4" }), { clock, dags: [hist, boom], loadDags: false });
      try {
        const oldHist = await s.run("hist");
        const oldBoom = await s.run("boom");
        assert.equal(oldHist.state, "success");
        assert.equal(oldBoom.state, "failed");
        // an old run that is still going: never touched, however old
        await s.store.tx((tx) =>
          tx.runs.insert(
            { runId: "old_running", dagId: "hist", dagVersion: hist.version, runKey: "k:old_running", runType: "manual", state: "running", logicalDate: T0, dataIntervalStart: null, dataIntervalEnd: null, params: {}, unfinished: 1, createdAt: T0, startedAt: T0, timeoutAt: null },
            [{ taskId: "unique", mapIndex: -1, state: "scheduled", nUpstream: 0, readyAt: null, priority: 0, queue: "default" }],
          ),
        );
        const events = await storeDb(s.store).selectFrom("asset_events").select("event_id").execute();
        assert.equal(events.length, 1);
        // the old run consumed that event (as an asset-triggered run would have)
        await storeDb(s.store).insertInto("run_asset_events").values({ run_id: oldBoom.runId, event_id: events[0]!.event_id }).execute();

        clock.advance(31 * DAY);
        const recent = await s.run("hist");
        assert.equal(recent.state, "success");

        const refsOf = async (runId: string) =>
          (await s.store.attempts.list(runId)).filter((a) => a.outputRef).map((a) => [a.taskId, a.outputRef!] as const);
        const oldRefs = new Map(await refsOf(oldHist.runId));
        const recentRefs = new Map(await refsOf(recent.runId));
        assert.equal(oldRefs.get("shared"), recentRefs.get("shared"));
        // on PostgreSQL in the database (every host reads it), on SQLite in files
        assert.equal(s.engine.artifacts.location, d.name === "postgres" ? "the database (table artifacts)" : s.config.artifactsDir);
        const has = (ref: string) => s.engine.artifacts.has(ref);
        // logs: files on SQLite (a folder per run), rows of attempt_logs on PostgreSQL
        const files = d.name === "sqlite";
        const hasLogs = async (dagId: string, runId: string, taskId: string): Promise<boolean> => {
          if (files) return existsSync(join(s.config.logsDir, dagId, runId));
          const [a] = await s.store.attempts.list(runId, taskId, -1);
          return a !== undefined && (await readWholeLog(s.engine.logs, { attemptId: a.attemptId, dagId, runId, taskId, mapIndex: -1, tryNumber: a.tryNumber })).length > 0;
        };
        const logRows = async () => (await storeDb(s.store).selectFrom("attempt_logs").select("attempt_id").execute()).length;
        assert.ok(await has(oldRefs.get("unique")!));
        assert.ok(await hasLogs("hist", oldHist.runId, "unique"));
        if (!files) assert.equal(await logRows(), 4, "one chunk per attempt that logged: unique × 2 runs, fails, the recent cache hit");

        // code bundles (store/dagCode.ts): held by the old run, by the recent run, by hist's current version, by nothing
        await s.store.tx(async (tx) => {
          for (const h of ["h_old", "h_recent", "h_current", "h_orphan"]) await tx.dagCode.put(h, `export const code = "${h}";`, tx.now());
          await tx.dags.upsert({ dagId: "hist", file: "hist.ts", version: hist.version, schedule: null, defaultParams: {}, paramsError: null, now: tx.now() });
        });
        await storeDb(s.store).updateTable("runs").set({ code_hash: "h_old" }).where("run_id", "=", oldHist.runId).execute();
        await storeDb(s.store).updateTable("runs").set({ code_hash: "h_recent" }).where("run_id", "=", recent.runId).execute();
        await storeDb(s.store).updateTable("dag_versions").set({ code_hash: "h_current" }).where("dag_id", "=", "hist").execute();

        const opts = { cutoff: clock.now() - 30 * DAY, logsDir: s.config.logsDir, artifacts: s.engine.artifacts, batchSize: 1, artifactGraceMs: -5000 }; // (a grace into the future: everything is old enough)
        const cacheRows = () => storeDb(s.store).selectFrom("task_cache").select(["task_id", "attempt_id"]).orderBy("task_id").execute();
        const trainedOld = (await s.store.attempts.list(oldHist.runId, "trained", -1))[0]!;
        const trainedRecent = (await s.store.attempts.list(recent.runId, "trained", -1))[0]!;
        assert.equal(trainedRecent.cachedFrom, trainedOld.attemptId, "the recent run reused the old run's attempt");
        const freshRecent = (await s.store.attempts.list(recent.runId, "fresh", -1))[0]!;
        assert.equal(freshRecent.cachedFrom, null, "the old entry had expired: the recent run computed it");
        assert.deepEqual((await cacheRows()).map((c) => [c.task_id, Number(c.attempt_id)]), [["fresh", freshRecent.attemptId], ["trained", trainedOld.attemptId]]);
        const trackedRefs = async (runId: string) => (await storeDb(s.store).selectFrom("tracked_artifacts").select("ref").where("run_id", "=", runId).execute()).map((r) => r.ref);
        const [oldModel] = await trackedRefs(oldHist.runId);
        assert.ok(oldModel && (await has(oldModel)));

        // notes go with their run (store/notes.ts)
        await s.store.tx(async (tx) => {
          await tx.notes.setRun(oldHist.runId, "old", "me", T0);
          await tx.notes.setTask(oldHist.runId, "unique", -1, "old too", "me", T0);
          await tx.notes.setRun(recent.runId, "recent", "me", T0);
        });
        const dry = await cleanFinishedRuns(s.store, { ...opts, dryRun: true });
        assert.deepEqual(
          { runs: dry.runs, taskInstances: dry.taskInstances, attempts: dry.attempts, runAssetEvents: dry.runAssetEvents, trackedRuns: dry.trackedRuns, logDirs: dry.logDirs, artifacts: dry.artifacts },
          { runs: 2, taskInstances: 6, attempts: 6, runAssetEvents: 1, trackedRuns: 1, logDirs: files ? 2 : 0, artifacts: 2 },
        );
        assert.ok(await s.store.runs.get(oldHist.runId), "a dry run deletes nothing");

        const done = await cleanFinishedRuns(s.store, opts);
        assert.deepEqual(
          { runs: done.runs, taskInstances: done.taskInstances, attempts: done.attempts, runAssetEvents: done.runAssetEvents, trackedRuns: done.trackedRuns, logDirs: done.logDirs, artifacts: done.artifacts, batches: done.batches },
          { runs: 2, taskInstances: 6, attempts: 6, runAssetEvents: 1, trackedRuns: 1, logDirs: files ? 2 : 0, artifacts: 2, batches: 2 },
        );
        assert.equal(await s.store.notes.ofRun(oldHist.runId), null);
        assert.deepEqual(await s.store.notes.ofTasks(oldHist.runId), []);
        assert.equal((await s.store.notes.ofRun(recent.runId))?.note, "recent");
        // the entry that pointed at the deleted attempt went with it; the recent entry stays until it expires
        assert.deepEqual((await cacheRows()).map((c) => [c.task_id, Number(c.attempt_id)]), [["fresh", freshRecent.attemptId]]);
        assert.equal(done.cacheEntries, 1, "the deleted attempt's entry (the old run's `fresh` entry was replaced by the recent run's)");
        // the old run's tracking went (experiments list only runs that exist); its file, held by nothing else, too
        assert.deepEqual(await trackedRefs(oldHist.runId), []);
        assert.ok(!(await has(oldModel)));
        assert.deepEqual(await storeDb(s.store).selectFrom("tracked_runs").select("run_id").execute(), [], "the recent run tracked nothing: its `trained` was a cache hit");
        assert.equal(done.codeBundles, 2);
        const bundles = await storeDb(s.store).selectFrom("dag_code").select("hash").orderBy("hash").execute();
        assert.deepEqual(bundles.map((b) => b.hash), ["h_current", "h_recent"], "the bundles of the deleted run and of nothing went");

        // exactly what remains
        const runs = (await s.store.runs.list({ limit: 100 })).map((r) => r.runId).sort();
        assert.deepEqual(runs, [recent.runId, "old_running"].sort());
        const tis = await storeDb(s.store).selectFrom("task_instances").select(["run_id", "task_id"]).orderBy("run_id").orderBy("task_id").execute();
        assert.deepEqual(
          tis.map((t) => `${t.run_id}/${t.task_id}`).sort(),
          [...["fresh", "shared", "trained", "unique", "write"].map((t) => `${recent.runId}/${t}`), "old_running/unique"].sort(),
        );
        const attempts = await storeDb(s.store).selectFrom("attempts").select("run_id").execute();
        assert.deepEqual([...new Set(attempts.map((a) => a.run_id))], [recent.runId]);
        assert.equal(attempts.length, 5);
        assert.equal((await storeDb(s.store).selectFrom("run_asset_events").selectAll().execute()).length, 0);
        // asset history is kept: the event of the deleted producer run, and the asset still points at it
        const kept = await storeDb(s.store).selectFrom("asset_events").select(["event_id", "run_id"]).orderBy("event_id").execute();
        assert.equal(kept.length, 2);
        assert.equal(kept[0]!.run_id, oldHist.runId);
        const asset = await storeDb(s.store).selectFrom("assets").select("last_event_id").where("name", "=", "lake.t").executeTakeFirstOrThrow();
        assert.equal(Number(asset.last_event_id), Number(kept[1]!.event_id));
        // files: the old runs' logs and the artifact only they held are gone; the shared one stays
        assert.ok(!(await hasLogs("hist", oldHist.runId, "unique")));
        assert.ok(!(await hasLogs("boom", oldBoom.runId, "fails")));
        assert.ok(await hasLogs("hist", recent.runId, "unique"));
        if (!files) assert.equal(await logRows(), 2, "only the recent run's chunks are left");
        assert.ok(!(await has(oldRefs.get("unique")!)));
        assert.ok(await has(recentRefs.get("shared")!));
        assert.ok(await has(recentRefs.get("unique")!));
        assert.deepEqual(await s.engine.loadOutputs(recent.runId, "shared"), [SHARED]);

        // nothing left to do: a second clean is a no-op
        const again = await cleanFinishedRuns(s.store, opts);
        assert.equal(again.runs, 0);
        assert.equal(again.batches, 0);
        assert.equal(again.cacheEntries, 0);
        // once the recent `fresh` entry has expired, a clean removes it (a lookup would refuse it anyway)
        clock.advance(DAY + 1);
        const later = await cleanFinishedRuns(s.store, { ...opts, cutoff: T0 });
        assert.equal(later.runs, 0);
        assert.equal(later.cacheEntries, 1);
        assert.deepEqual(await cacheRows(), []);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });
  });
}

test("sluice db clean: bad --older-than exits 2 with a clear message; --json on an empty database", () => {
  for (const bad of ["banana", "30", "-1d", "0d"]) {
    const r = cli(sb, ["db", "clean", "--older-than", bad]);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--older-than must be/);
  }
  const missing = cli(sb, ["db", "clean"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--older-than/);
  const r = cliJson(sb, ["db", "clean", "--older-than", "30d", "--dry-run", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.dryRun, true);
  assert.equal(r.json.runs, 0);
  const real = cli(sb, ["db", "clean", "--older-than", "30d"]);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /deleted 0 run\(s\) that ended before/);
});
