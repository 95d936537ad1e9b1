/**
 * Retention (`sluice db clean`): the SQL that deletes finished runs and what hangs off them. The loop
 * that calls it batch by batch, and removes log files and artifacts, is engine/retention.ts.
 *
 * What goes with a run: its task instances, attempts (and so its inline outputs, references to
 * artifacts and log lines in the database), `run_asset_events` (which asset events the run consumed), what
 * it tracked (`tracked_*`: an experiment lists only runs that still exist, as MLflow drops a deleted run's
 * metrics) and the cache entries that point at its attempts (`task_cache`: a later lookup would miss anyway,
 * the join finds no attempt; deleting them keeps the table bounded). What stays:
 * - `asset_events`: they are the asset's own history. `assets.last_event_id` and every consumer's cursor
 *   (`asset_consumption`) point into them, so deleting the events of an old producer run would change what
 *   a consumer DAG sees as "new" or "latest". Each event keeps its producer's dag/run/task ids as plain
 *   values: lineage still names the run, which `runs show` then reports as gone.
 * - `event_runs` keeps the run id an external event created (null there means "not created yet").
 * - `backfill_runs` keeps the run id too, so a backfill never mistakes a cleaned interval for a pending one.
 *   Runs of a backfill that is still running are not touched at all.
 */
import { sql, type Kysely, type RawBuilder } from "kysely";
import type { Database } from "./schema.js";
import type { AuditHook } from "./audit.js";
import type { Store } from "./store.js";
import { handleOf } from "./aggregates.js";


/**
 * Finished runs ended before `cutoff` that no running backfill still drives. `r` names the runs table:
 * an alias in selects, the table itself in the delete (SQLite's RETURNING does not take an alias).
 */
function doomed(cutoff: number, r = "r"): RawBuilder<boolean> {
  const t = sql.raw(r);
  return sql<boolean>`${t}.state in ('success', 'failed') and ${t}.ended_at < ${cutoff}
    and (${t}.backfill_id is null
         or not exists (select 1 from backfills b where b.backfill_id = ${t}.backfill_id and b.state = 'running'))`;
}

export interface DeletedRun {
  runId: string;
  dagId: string;
}

export interface RetentionBatch {
  runs: DeletedRun[];
  taskInstances: number;
  attempts: number;
  runAssetEvents: number;
  /** Cache entries that pointed at the deleted attempts. */
  cacheEntries: number;
  /** Runs whose tracked params, metrics, tags and artifacts went. */
  trackedRuns: number;
  /** Artifact references the deleted attempts held or tracked (some may still be held by other rows). */
  outputRefs: string[];
}

export interface RetentionCounts {
  runs: number;
  taskInstances: number;
  attempts: number;
  runAssetEvents: number;
  trackedRuns: number;
  /** Artifacts referenced only by the runs that would go. */
  artifacts: number;
  /** The runs that would go (for their log folders), oldest first. */
  runList: DeletedRun[];
}

/**
 * Delete up to `limit` runs (oldest end first) with their rows, in one short transaction. The candidates
 * are picked outside it; inside, the runs are locked (PostgreSQL: the same order as every transition) and
 * the conditions checked again, so a run cleared back to life in between is left alone.
 */
export async function deleteFinishedRunBatch(store: Store, cutoff: number, limit: number, audit?: AuditHook): Promise<RetentionBatch> {
  const picked = await sql<{ run_id: string }>`
    select r.run_id from runs r where ${doomed(cutoff)} order by r.ended_at, r.run_id limit ${limit}`.execute(handleOf(store));
  const ids = picked.rows.map((r) => r.run_id);
  if (ids.length === 0) return { runs: [], taskInstances: 0, attempts: 0, runAssetEvents: 0, cacheEntries: 0, trackedRuns: 0, outputRefs: [] };
  return store.tx(async (tx) => {
    await tx.lockRuns(ids);
    const db = handleOf(tx);
    const gone = await db
      .deleteFrom("runs")
      .where("run_id", "in", ids)
      .where(doomed(cutoff, "runs"))
      .returning(["run_id", "dag_id"])
      .execute();
    const runIds = gone.map((r) => r.run_id);
    if (runIds.length === 0) return { runs: [], taskInstances: 0, attempts: 0, runAssetEvents: 0, cacheEntries: 0, trackedRuns: 0, outputRefs: [] };
    const refs = await db
      .selectFrom("attempts")
      .select("output_ref")
      .distinct()
      .where("run_id", "in", runIds)
      .where("output_ref", "is not", null)
      .execute();
    const tracked = await db.selectFrom("tracked_artifacts").select("ref").distinct().where("run_id", "in", runIds).execute();
    const trackedRuns = await db.deleteFrom("tracked_runs").where("run_id", "in", runIds).executeTakeFirst();
    for (const t of ["tracked_params", "tracked_metrics", "tracked_metric_summaries", "tracked_tags", "tracked_artifacts"] as const) {
      await db.deleteFrom(t).where("run_id", "in", runIds).execute();
    }
    // by attempt id (migration 0033's index): the entries a later lookup could never use again
    const cache = await db
      .deleteFrom("task_cache")
      .where("attempt_id", "in", db.selectFrom("attempts").select("attempt_id").where("run_id", "in", runIds))
      .executeTakeFirst();
    await tx.attemptLogs.deleteOfRuns(runIds);
    const attempts = await db.deleteFrom("attempts").where("run_id", "in", runIds).executeTakeFirst();
    const tis = await db.deleteFrom("task_instances").where("run_id", "in", runIds).executeTakeFirst();
    const rae = await db.deleteFrom("run_asset_events").where("run_id", "in", runIds).executeTakeFirst();
    await tx.deadLetters.deleteOfRuns(runIds);
    await tx.pastWaits.deleteOfRuns(runIds);
    await tx.notes.deleteOfRuns(runIds);
    // a person's clean (app/retention): one entry per batch, in the batch's transaction
    await audit?.(tx, {
      target: "runs",
      before: null,
      after: { cutoff: new Date(cutoff).toISOString(), runs: runIds.length, taskInstances: Number(tis.numDeletedRows), attempts: Number(attempts.numDeletedRows) },
    });
    return {
      runs: gone.map((r) => ({ runId: r.run_id, dagId: r.dag_id })),
      taskInstances: Number(tis.numDeletedRows),
      attempts: Number(attempts.numDeletedRows),
      runAssetEvents: Number(rae.numDeletedRows),
      cacheEntries: Number(cache.numDeletedRows),
      trackedRuns: Number(trackedRuns.numDeletedRows),
      outputRefs: [...refs.map((r) => r.output_ref!), ...tracked.map((t) => t.ref)],
    };
  });
}

/** @internal Constructed by the Store (`store.retention`) and by each transaction (`tx.retention`). */
export class RetentionQueries {
  constructor(private readonly db: Kysely<Database>) {}

  /** Of these artifact references, the ones some attempt or tracked artifact still holds. */
  async referencedOutputRefs(refs: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    for (let i = 0; i < refs.length; i += 500) {
      const chunk = refs.slice(i, i + 500);
      const rows = await this.db.selectFrom("attempts").select("output_ref").distinct().where("output_ref", "in", chunk).execute();
      for (const r of rows) if (r.output_ref) held.add(r.output_ref);
      const tracked = await this.db.selectFrom("tracked_artifacts").select("ref").distinct().where("ref", "in", chunk).execute();
      for (const r of tracked) held.add(r.ref);
    }
    return held;
  }

  /** Delete cache entries that expired before `now` (a lookup would refuse them); returns how many went. */
  async deleteExpiredCacheEntries(now: number): Promise<number> {
    const r = await this.db.deleteFrom("task_cache").where("expires_at", "is not", null).where("expires_at", "<", now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** What `deleteFinishedRunBatch` would delete, all batches together (`--dry-run`). Reads only. */
  async countFinishedRuns(cutoff: number): Promise<RetentionCounts> {
    const runs = await sql<{ run_id: string; dag_id: string }>`
      select r.run_id, r.dag_id from runs r where ${doomed(cutoff)} order by r.ended_at, r.run_id`.execute(this.db);
    const inDoomed = sql`(select r.run_id from runs r where ${doomed(cutoff)})`;
    const n = async (q: RawBuilder<{ n: number | string }>) => Number((await q.execute(this.db)).rows[0]?.n ?? 0);
    return {
      runs: runs.rows.length,
      runList: runs.rows.map((r) => ({ runId: r.run_id, dagId: r.dag_id })),
      taskInstances: await n(sql`select count(*) as n from task_instances where run_id in ${inDoomed}`),
      attempts: await n(sql`select count(*) as n from attempts where run_id in ${inDoomed}`),
      runAssetEvents: await n(sql`select count(*) as n from run_asset_events where run_id in ${inDoomed}`),
      trackedRuns: await n(sql`select count(*) as n from tracked_runs where run_id in ${inDoomed}`),
      // every reference the doomed runs hold (outputs and tracked files) that no other run holds
      artifacts: await n(sql`
        select count(*) as n from (
          select a.output_ref as ref from attempts a where a.run_id in ${inDoomed} and a.output_ref is not null
          union
          select t.ref from tracked_artifacts t where t.run_id in ${inDoomed}) d
         where not exists (select 1 from attempts o where o.output_ref = d.ref and o.run_id not in ${inDoomed})
           and not exists (select 1 from tracked_artifacts o where o.ref = d.ref and o.run_id not in ${inDoomed})`),
    };
  }
}
