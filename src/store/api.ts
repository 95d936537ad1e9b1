/**
 * Reads of the REST API: keyset-paginated lists (never OFFSET: page 200 of 10,000 runs costs what page 1
 * costs) and the compact grid. Cursors are the sort key of the last row of a page; server/cursor.ts
 * makes them opaque.
 */
import { sql, type Kysely } from "kysely";
import type { BackfillRecord } from "./backfills.js";
import { toBackfill } from "./backfills.js";
import type { Database } from "./schema.js";
import { toRun, toTaskInstance, type RunRecord, type TaskInstanceRecord } from "./store.js";

type Db = Kysely<Database>;

/** Runs, newest first (created_at, run_id descending); `after` is the last row of the previous page. */
export async function pageRuns(
  db: Db,
  o: { dagId?: string; state?: string; runType?: string; limit: number; after: { createdAt: number; runId: string } | null },
): Promise<RunRecord[]> {
  let q = db.selectFrom("runs").selectAll();
  if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
  if (o.state !== undefined) q = q.where("state", "=", o.state);
  if (o.runType !== undefined) q = q.where("run_type", "=", o.runType);
  if (o.after) {
    const a = o.after;
    q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("run_id", "<", a.runId)])]));
  }
  const rows = await q.orderBy("created_at", "desc").orderBy("run_id", "desc").limit(o.limit).execute();
  return rows.map(toRun);
}

/** The newest `n` runs of each DAG (one indexed query per DAG: runs_dag_created). */
export async function latestRunsOf(db: Db, dagIds: readonly string[], n: number): Promise<Map<string, { runId: string; state: string; logicalDate: number }[]>> {
  const out = new Map<string, { runId: string; state: string; logicalDate: number }[]>();
  for (const dagId of dagIds) {
    const rows = await db
      .selectFrom("runs")
      .select(["run_id", "state", "logical_date"])
      .where("dag_id", "=", dagId)
      .orderBy("created_at", "desc")
      .orderBy("run_id", "desc")
      .limit(n)
      .execute();
    out.set(
      dagId,
      rows.map((r) => ({ runId: r.run_id, state: r.state, logicalDate: Number(r.logical_date) })),
    );
  }
  return out;
}

/** A run's task instances by (task id, map index). */
export async function pageTaskInstances(db: Db, runId: string, o: { limit: number; after: { taskId: string; mapIndex: number } | null }): Promise<TaskInstanceRecord[]> {
  let q = db.selectFrom("task_instances").selectAll().where("run_id", "=", runId);
  if (o.after) {
    const a = o.after;
    q = q.where((eb) => eb.or([eb("task_id", ">", a.taskId), eb.and([eb("task_id", "=", a.taskId), eb("map_index", ">", a.mapIndex)])]));
  }
  const rows = await q.orderBy("task_id").orderBy("map_index").limit(o.limit).execute();
  return rows.map(toTaskInstance);
}

/** Task instance states of one run, for the grid: only the two columns it needs (primary-key order). */
export async function taskStatesOfRun(db: Db, runId: string): Promise<{ task_id: string; state: string }[]> {
  return db.selectFrom("task_instances").select(["task_id", "state"]).where("run_id", "=", runId).execute();
}

/** A DAG's versions, newest first. */
export async function pageDagVersions(
  db: Db,
  dagId: string,
  o: { limit: number; after: { createdAt: number; version: string } | null },
): Promise<{ version: string; createdAt: number; file: string | null }[]> {
  let q = db.selectFrom("dag_versions").select(["version", "created_at", "file"]).where("dag_id", "=", dagId);
  if (o.after) {
    const a = o.after;
    q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("version", "<", a.version)])]));
  }
  const rows = await q.orderBy("created_at", "desc").orderBy("version", "desc").limit(o.limit).execute();
  return rows.map((r) => ({ version: r.version, createdAt: Number(r.created_at), file: r.file }));
}

export async function pageImportErrors(db: Db, o: { limit: number; after: string | null }): Promise<{ file: string; line: number | null; message: string; at: number }[]> {
  let q = db.selectFrom("import_errors").selectAll();
  if (o.after !== null) q = q.where("file", ">", o.after);
  const rows = await q.orderBy("file").limit(o.limit).execute();
  return rows.map((r) => ({ file: r.file, line: r.line, message: r.message, at: Number(r.updated_at) }));
}

/** Files with an import error (the DAG list flags DAGs whose file has one). */
export async function filesWithImportErrors(db: Db): Promise<Set<string>> {
  return new Set((await db.selectFrom("import_errors").select("file").execute()).map((r) => r.file));
}

export async function pageAssets(db: Db, o: { limit: number; after: string | null }): Promise<{ name: string; createdAt: number; lastEventAt: number | null }[]> {
  let q = db.selectFrom("assets").select(["name", "created_at", "last_event_at"]);
  if (o.after !== null) q = q.where("name", ">", o.after);
  const rows = await q.orderBy("name").limit(o.limit).execute();
  return rows.map((r) => ({ name: r.name, createdAt: Number(r.created_at), lastEventAt: r.last_event_at === null ? null : Number(r.last_event_at) }));
}

/** Every declared asset edge (DAG produces/consumes asset), for the lineage graph. */
export async function assetEdges(db: Db): Promise<{ asset: string; role: "produces" | "consumes"; dagId: string; taskId: string }[]> {
  const rows = await db.selectFrom("dag_assets").selectAll().orderBy("asset").orderBy("dag_id").execute();
  return rows.map((r) => ({ asset: r.asset, role: r.role, dagId: r.dag_id, taskId: r.task_id }));
}

/** Backfills, newest first. */
export async function pageBackfills(db: Db, o: { dagId?: string; limit: number; after: number | null }): Promise<BackfillRecord[]> {
  let q = db.selectFrom("backfills").selectAll();
  if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
  if (o.after !== null) q = q.where("backfill_id", "<", o.after);
  return (await q.orderBy("backfill_id", "desc").limit(o.limit).execute()).map(toBackfill);
}

/** Active runs per state, for /status. */
export async function activeRunCounts(db: Db): Promise<{ state: string; count: number }[]> {
  // the literal keeps the partial index runs_active usable
  const runs = await db
    .selectFrom("runs")
    .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
    .where(sql<boolean>`state in ('queued', 'running')`)
    .groupBy("state")
    .execute();
  return runs.map((r) => ({ state: r.state, count: Number(r.n) }));
}

/** Cheap liveness of the database for /health. */
export async function pingDb(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
