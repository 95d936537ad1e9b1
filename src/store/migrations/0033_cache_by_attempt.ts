/**
 * 0033 — `task_cache` by attempt: `sluice db clean` deletes the cache entries that point at the attempts it
 * deletes (store/retention.ts), one indexed lookup per batch instead of a scan of every entry.
 */
import type { Kysely } from "kysely";

export async function m0033CacheByAttempt(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex("task_cache_attempt").on("task_cache").column("attempt_id").execute();
}
