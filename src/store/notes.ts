/**
 * SQL for notes on runs and task instances (migration 0034). An empty note is no note: setting one deletes
 * the row. Who may write them, and the audit entry, is app/runs.ts.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export interface NoteRecord {
  note: string;
  updatedBy: string;
  updatedAt: number;
}

export interface TaskNoteRecord extends NoteRecord {
  taskId: string;
  mapIndex: number;
}

/** @internal Constructed by the Store (`store.notes`) and by each transaction (`tx.notes`). */
export class NoteRows {
  constructor(private readonly db: Kysely<Database>) {}

  async ofRun(runId: string): Promise<NoteRecord | null> {
    const r = await this.db.selectFrom("run_notes").select(["note", "updated_by", "updated_at"]).where("run_id", "=", runId).executeTakeFirst();
    return r ? { note: r.note, updatedBy: r.updated_by, updatedAt: Number(r.updated_at) } : null;
  }

  /** The notes of a run's task instances (one primary-key range). */
  async ofTasks(runId: string): Promise<TaskNoteRecord[]> {
    const rows = await this.db
      .selectFrom("task_instance_notes")
      .select(["task_id", "map_index", "note", "updated_by", "updated_at"])
      .where("run_id", "=", runId)
      .orderBy("task_id")
      .orderBy("map_index")
      .execute();
    return rows.map((r) => ({ taskId: r.task_id, mapIndex: r.map_index, note: r.note, updatedBy: r.updated_by, updatedAt: Number(r.updated_at) }));
  }

  async setRun(runId: string, note: string, by: string, at: number): Promise<void> {
    if (note === "") {
      await this.db.deleteFrom("run_notes").where("run_id", "=", runId).execute();
      return;
    }
    await this.db
      .insertInto("run_notes")
      .values({ run_id: runId, note, updated_by: by, updated_at: at })
      .onConflict((oc) => oc.column("run_id").doUpdateSet({ note, updated_by: by, updated_at: at }))
      .execute();
  }

  async setTask(runId: string, taskId: string, mapIndex: number, note: string, by: string, at: number): Promise<void> {
    if (note === "") {
      await this.db.deleteFrom("task_instance_notes").where("run_id", "=", runId).where("task_id", "=", taskId).where("map_index", "=", mapIndex).execute();
      return;
    }
    await this.db
      .insertInto("task_instance_notes")
      .values({ run_id: runId, task_id: taskId, map_index: mapIndex, note, updated_by: by, updated_at: at })
      .onConflict((oc) => oc.columns(["run_id", "task_id", "map_index"]).doUpdateSet({ note, updated_by: by, updated_at: at }))
      .execute();
  }

  /** Retention: the notes of deleted runs go with them. */
  async deleteOfRuns(runIds: readonly string[]): Promise<void> {
    if (runIds.length === 0) return;
    await this.db.deleteFrom("run_notes").where("run_id", "in", runIds).execute();
    await this.db.deleteFrom("task_instance_notes").where("run_id", "in", runIds).execute();
  }
}
