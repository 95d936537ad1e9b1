/**
 * 0008 — live workers by index (docs/decisions/0013-concurrent-settles.md).
 *
 * Every PostgreSQL claim now reads the total concurrency of the live workers (state running or draining):
 * a pool that many slots cannot overflow, and its claims need not take turns. The `workers` table keeps a
 * row per process ever started; this partial index keeps that read to the live ones.
 */
import { sql, type Kysely } from "kysely";

export async function m0008LiveWorkers(db: Kysely<unknown>): Promise<void> {
  await sql`create index workers_live on workers (worker_id) where state in ('running', 'draining')`.execute(db);
}
