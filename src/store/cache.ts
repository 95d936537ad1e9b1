/**
 * SQL for caching across runs (migration 0028): entries from a cached task's key to the attempt whose output
 * is reused. Whether an entry may be reused is core/cache.ts's `cacheEntryUsable`; here only reads and
 * writes. `store.cache`.
 */
import type { Kysely } from "kysely";
import { cacheEntryUsable } from "../core/cache.js";
import type { Database } from "./schema.js";

/** A usable entry: the source attempt and the output it left (inline bytes or an artifact ref). */
export interface CacheHit {
  attemptId: number;
  runId: string;
  inline: Uint8Array | null;
  ref: string | null;
  size: number | null;
}

export class CacheRows {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The entry for `key`, if its source attempt succeeded and it has not expired at `now`: one primary-key
   * read joined to the attempt (whose output is shared, never copied).
   */
  async lookup(dagId: string, taskId: string, key: string, now: number): Promise<CacheHit | null> {
    const row = await this.db
      .selectFrom("task_cache as c")
      .innerJoin("attempts as a", "a.attempt_id", "c.attempt_id")
      .select(["a.attempt_id", "a.run_id", "a.state", "a.output_inline", "a.output_ref", "a.output_size", "c.expires_at"])
      .where("c.dag_id", "=", dagId)
      .where("c.task_id", "=", taskId)
      .where("c.cache_key", "=", key)
      .executeTakeFirst();
    if (!row || !cacheEntryUsable({ sourceState: row.state, expiresAt: row.expires_at === null ? null : Number(row.expires_at) }, now)) return null;
    return { attemptId: Number(row.attempt_id), runId: row.run_id, inline: row.output_inline, ref: row.output_ref, size: row.output_size === null ? null : Number(row.output_size) };
  }

  /** Point `key` at `attemptId` (a newer success replaces an older or expired entry). */
  async put(e: { dagId: string; taskId: string; key: string; attemptId: number; createdAt: number; expiresAt: number | null }): Promise<void> {
    await this.db
      .insertInto("task_cache")
      .values({ dag_id: e.dagId, task_id: e.taskId, cache_key: e.key, attempt_id: e.attemptId, created_at: e.createdAt, expires_at: e.expiresAt })
      .onConflict((oc) => oc.columns(["dag_id", "task_id", "cache_key"]).doUpdateSet({ attempt_id: e.attemptId, created_at: e.createdAt, expires_at: e.expiresAt }))
      .execute();
  }

  /** Record on `attemptId` that it reused `sourceAttemptId`'s output. */
  async markCached(attemptId: number, sourceAttemptId: number): Promise<void> {
    await this.db.updateTable("attempts").set({ cached_from: sourceAttemptId }).where("attempt_id", "=", attemptId).execute();
  }

  /** Whether run `runId` was triggered with `noCache`. */
  async runNoCache(runId: string): Promise<boolean> {
    const row = await this.db.selectFrom("runs").select("no_cache").where("run_id", "=", runId).executeTakeFirst();
    return Number(row?.no_cache ?? 0) === 1;
  }
}
