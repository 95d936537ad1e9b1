/**
 * 0028 — caching across runs (issue 15, item 1). `task_cache` maps a cached task's key to the attempt whose
 * output is reused; the output itself is never copied (the entry points at the attempt, which holds the
 * inline bytes or the artifact ref). `attempts.cached_from` records which attempt a cache hit reused;
 * `runs.no_cache` is set by `--no-cache` / `noCache` (the run looks nothing up but still writes entries).
 * The primary key (dag_id, task_id, cache_key) is the lookup index on both dialects.
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0028TaskCache(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("task_cache")
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("cache_key", "text", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("expires_at", bigint)
    .addPrimaryKeyConstraint("task_cache_pk", ["dag_id", "task_id", "cache_key"])
    .execute();
  await db.schema.alterTable("attempts").addColumn("cached_from", bigint).execute();
  await db.schema.alterTable("runs").addColumn("no_cache", "integer", (c) => c.notNull().defaultTo(0)).execute();
}
