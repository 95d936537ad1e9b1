/**
 * SQL for DAG rows (schedule state, pause flag) and import errors. `store.dags`, or
 * `tx.dags` inside a transaction.
 */
import { sql, type Kysely } from "kysely";
import type { DagSpec } from "../core/dagSpec.js";
import type { StoreContext } from "./aggregates.js";
import type { Database } from "./schema.js";
import type { Tx } from "./store.js";

export interface DagRecord {
  dagId: string;
  file: string | null;
  version: string;
  /** Parsed schedule as stored (JSON), or null. */
  schedule: unknown;
  isPaused: boolean;
  isActive: boolean;
  defaultParams: Record<string, unknown> | null;
  paramsError: string | null;
  lastIntervalEnd: number | null;
  nextIntervalStart: number | null;
  nextIntervalEnd: number | null;
  updatedAt: number;
}

/** What grants select a DAG by: its id, tags and owner (of its current version); its file for import errors. */
export interface DagAccessMeta {
  dagId: string;
  file: string | null;
  tags: string[];
  owner: string | null;
}

export interface ImportErrorRecord {
  file: string;
  line: number | null;
  message: string;
  updatedAt: number;
}


function toDag(r: Database["dags"]): DagRecord {
  return {
    dagId: r.dag_id,
    file: r.file,
    version: r.version,
    schedule: r.schedule === null ? null : (JSON.parse(r.schedule) as unknown),
    isPaused: r.is_paused === 1,
    isActive: r.is_active === 1,
    defaultParams: r.default_params === null ? null : (JSON.parse(r.default_params) as Record<string, unknown>),
    paramsError: r.params_error,
    lastIntervalEnd: r.last_interval_end,
    nextIntervalStart: r.next_interval_start,
    nextIntervalEnd: r.next_interval_end,
    updatedAt: r.updated_at,
  };
}

/** @internal Constructed by the Store (`store.dags`) and by each transaction (`tx.dags`). */
export class DagRows {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly ctx: StoreContext,
  ) {}

  async get(dagId: string): Promise<DagRecord | null> {
    const r = await this.db.selectFrom("dags").selectAll().where("dag_id", "=", dagId).executeTakeFirst();
    return r ? toDag(r) : null;
  }

  async list(opts: { activeOnly?: boolean } = {}): Promise<DagRecord[]> {
    let q = this.db.selectFrom("dags").selectAll();
    if (opts.activeOnly) q = q.where("is_active", "=", 1);
    return (await q.orderBy("dag_id").execute()).map(toDag);
  }

  /**
   * Record the latest parse of a DAG; keeps its pause flag and schedule progress. A DAG seen for the first
   * time starts paused when `pausedAtCreation` (SLUICE_DAGS_PAUSED_AT_CREATION).
   */
  async upsert(d: { dagId: string; file: string; version: string; schedule: unknown; defaultParams: Record<string, unknown> | null; paramsError: string | null; now: number; pausedAtCreation?: boolean }): Promise<void> {
    await this.db
      .insertInto("dags")
      .values({
        dag_id: d.dagId,
        file: d.file,
        version: d.version,
        schedule: d.schedule === null ? null : JSON.stringify(d.schedule),
        is_paused: d.pausedAtCreation ? 1 : 0,
        is_active: 1,
        default_params: d.defaultParams === null ? null : JSON.stringify(d.defaultParams),
        params_error: d.paramsError,
        last_interval_end: null,
        next_interval_start: null,
        next_interval_end: null,
        updated_at: d.now,
      })
      .onConflict((oc) =>
        oc.column("dag_id").doUpdateSet((eb) => ({
          file: eb.ref("excluded.file"),
          version: eb.ref("excluded.version"),
          schedule: eb.ref("excluded.schedule"),
          is_active: 1,
          default_params: eb.ref("excluded.default_params"),
          params_error: eb.ref("excluded.params_error"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      )
      .execute();
  }

  /** DAGs whose files are gone (or no longer define them): no new scheduled runs. */
  async deactivate(dagIds: readonly string[], now: number): Promise<void> {
    if (dagIds.length === 0) return;
    await this.db.updateTable("dags").set({ is_active: 0, next_interval_start: null, next_interval_end: null, updated_at: now }).where("dag_id", "in", dagIds).execute();
  }

  async setPaused(dagId: string, paused: boolean, now: number): Promise<boolean> {
    const r = await this.db.updateTable("dags").set({ is_paused: paused ? 1 : 0, updated_at: now }).where("dag_id", "=", dagId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setNextInterval(dagId: string, next: { start: number; end: number } | null, lastIntervalEnd: number | null | undefined): Promise<void> {
    await this.db
      .updateTable("dags")
      .set({
        next_interval_start: next?.start ?? null,
        next_interval_end: next?.end ?? null,
        ...(lastIntervalEnd !== undefined ? { last_interval_end: lastIntervalEnd } : {}),
      })
      .where("dag_id", "=", dagId)
      .execute();
  }

  /** DAGs with a run due at `now` (served by the partial index dags_due). */
  async due(now: number, limit: number): Promise<DagRecord[]> {
    const rows = await this.db
      .selectFrom("dags")
      .selectAll()
      .where(sql<boolean>`is_paused = 0 and is_active = 1`)
      .where("next_interval_end", "<=", now)
      .orderBy("next_interval_end")
      .limit(limit)
      .execute();
    return rows.map(toDag);
  }

  /** When the next scheduled run anywhere is due, to sleep until then. */
  async nextDueAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom("dags")
      .select((eb) => eb.fn.min("next_interval_end").as("at"))
      .where(sql<boolean>`is_paused = 0 and is_active = 1`)
      .executeTakeFirst();
    return r?.at ?? null;
  }



  async setImportError(file: string, line: number | null, message: string, now: number): Promise<void> {
    await this.db
      .insertInto("import_errors")
      .values({ file, line, message, updated_at: now })
      .onConflict((oc) => oc.column("file").doUpdateSet({ line, message, updated_at: now }))
      .execute();
  }

  async clearImportErrors(files: readonly string[]): Promise<void> {
    if (files.length === 0) return;
    await this.db.deleteFrom("import_errors").where("file", "in", files).execute();
  }

  async listImportErrors(): Promise<ImportErrorRecord[]> {
    const rows = await this.db.selectFrom("import_errors").selectAll().orderBy("file").execute();
    return rows.map((r) => ({ file: r.file, line: r.line, message: r.message, updatedAt: r.updated_at }));
  }

  async listVersions(dagId: string): Promise<{ version: string; createdAt: number; file: string | null }[]> {
    const rows = await this.db.selectFrom("dag_versions").select(["version", "created_at", "file"]).where("dag_id", "=", dagId).orderBy("created_at", "desc").execute();
    return rows.map((r) => ({ version: r.version, createdAt: r.created_at, file: r.file }));
  }

  /** A DAG's versions, newest first. */
  async pageVersions(dagId: string, o: { limit: number; after: { createdAt: number; version: string } | null }): Promise<{ version: string; createdAt: number; file: string | null }[]> {
    let q = this.db.selectFrom("dag_versions").select(["version", "created_at", "file"]).where("dag_id", "=", dagId);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("version", "<", a.version)])]));
    }
    const rows = await q.orderBy("created_at", "desc").orderBy("version", "desc").limit(o.limit).execute();
    return rows.map((r) => ({ version: r.version, createdAt: Number(r.created_at), file: r.file }));
  }

  async pageImportErrors(o: { limit: number; after: string | null }): Promise<{ file: string; line: number | null; message: string; at: number }[]> {
    let q = this.db.selectFrom("import_errors").selectAll();
    if (o.after !== null) q = q.where("file", ">", o.after);
    const rows = await q.orderBy("file").limit(o.limit).execute();
    return rows.map((r) => ({ file: r.file, line: r.line, message: r.message, at: Number(r.updated_at) }));
  }

  /** The latest type check's errors (`sluice dev`), by file and position. */
  async listTypeErrors(): Promise<{ file: string; line: number; column: number; code: number; message: string; checkedAt: number }[]> {
    const rows = await this.db.selectFrom("type_errors").selectAll().orderBy("file").orderBy("line").orderBy("col").execute();
    return rows.map((r) => ({ file: r.file, line: r.line, column: r.col, code: r.code, message: r.message, checkedAt: Number(r.checked_at) }));
  }

  /** Files with an import error (the DAG list flags DAGs whose file has one). */
  async filesWithImportErrors(): Promise<Set<string>> {
    return new Set((await this.db.selectFrom("import_errors").select("file").execute()).map((r) => r.file));
  }

  /**
   * Every DAG's id, file, tags and owner (of its current version): what per-DAG access (app/access.ts)
   * selects by. One query for all DAGs, so that filtering a list of 1,000 costs no query per DAG.
   */
  async accessMeta(): Promise<DagAccessMeta[]> {
    const rows = await this.db
      .selectFrom("dags")
      .leftJoin("dag_versions", (j) => j.onRef("dag_versions.dag_id", "=", "dags.dag_id").onRef("dag_versions.version", "=", "dags.version"))
      .select(["dags.dag_id", "dags.file", "dag_versions.tags", "dag_versions.owner"])
      .orderBy("dags.dag_id")
      .execute();
    return rows.map((r) => ({ dagId: r.dag_id, file: r.file, tags: r.tags ? (JSON.parse(r.tags) as string[]) : [], owner: r.owner ?? null }));
  }

  /** The code bundle of each active DAG's current version (null: none kept), with its file. */
  async currentCode(): Promise<{ dagId: string; file: string; codeHash: string | null }[]> {
    const rows = await this.db
      .selectFrom("dags")
      .innerJoin("dag_versions", (j) => j.onRef("dag_versions.dag_id", "=", "dags.dag_id").onRef("dag_versions.version", "=", "dags.version"))
      .select(["dags.dag_id", "dags.file", "dag_versions.code_hash"])
      .where("dags.is_active", "=", 1)
      .execute();
    return rows.flatMap((r) => (r.file === null ? [] : [{ dagId: r.dag_id, file: r.file, codeHash: r.code_hash }]));
  }

  async getVersion(dagId: string, version: string): Promise<{ spec: DagSpec; file: string | null } | null> {
    const row = await this.db
      .selectFrom("dag_versions")
      .select(["spec", "file"])
      .where("dag_id", "=", dagId)
      .where("version", "=", version)
      .executeTakeFirst();
    return row ? { spec: JSON.parse(row.spec) as DagSpec, file: row.file } : null;
  }
}

/**
 * @internal The writes of DAG versions inside a transaction (`tx.dags`): they take its run locks and
 * pipeline their statements (Tx.send).
 */
export class TxDagRows extends DagRows {
  constructor(
    db: Kysely<Database>,
    private readonly tx: Tx,
  ) {
    super(db, tx);
  }

  /** The result of a type check replaces the last one's (one transaction: readers see one or the other). */
  async replaceTypeErrors(errors: readonly { file: string; line: number; column: number; code: number; message: string }[], now: number): Promise<void> {
    await this.db.deleteFrom("type_errors").execute();
    // a few columns per row: 500 rows stay far below both dialects' bound-parameter limits
    for (let i = 0; i < errors.length; i += 500) {
      const rows = errors.slice(i, i + 500).map((e) => ({ file: e.file, line: e.line, col: e.column, code: e.code, message: e.message, checked_at: now }));
      await this.db.insertInto("type_errors").values(rows).execute();
    }
  }

  /**
   * Record a version (a no-op when it is recorded). `codeHash`: the code bundle it was parsed with now
   * (store/dagCode.ts), which the version's next runs get: a helper module can change without changing
   * the version (its spec and task sources). Null: the file did not bundle (its runs import the file);
   * absent: leave what is recorded.
   */
  async saveVersion(dagId: string, version: string, spec: DagSpec, file: string | null, codeHash?: string | null): Promise<void> {
    // The process holds the spec: its claims take the task profiles from it, not from the row (a
    // 100,000-task spec is ~10 MB of JSON to read back and parse).
    this.tx.owner.claimState.profiles.prime(dagId, version, spec);
    // A recorded version is not serialised again to be thrown away by the conflict (every run of a
    // 100,000-task DAG paid ~0.5 s for it).
    if (codeHash === undefined) {
      const known = await this.db.selectFrom("dag_versions").select("version").where("dag_id", "=", dagId).where("version", "=", version).executeTakeFirst();
      if (known) return;
    }
    await this.db
      .insertInto("dag_versions")
      // tags and owner are copied out of the spec: what per-DAG grants select (dags.accessMeta)
      .values({ dag_id: dagId, version, spec: JSON.stringify(spec), file, created_at: this.tx.now(), tags: JSON.stringify(spec.tags ?? []), owner: spec.owner ?? null, code_hash: codeHash ?? null })
      .onConflict((oc) => (codeHash === undefined ? oc.columns(["dag_id", "version"]).doNothing() : oc.columns(["dag_id", "version"]).doUpdateSet({ code_hash: codeHash, file })))
      .execute();
  }
}
