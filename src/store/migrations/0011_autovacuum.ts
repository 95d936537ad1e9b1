/**
 * 0011 — PostgreSQL: vacuum the hot tables by a fixed count of dead rows, not by a share of the table
 * (docs/decisions/0013-concurrent-settles.md).
 *
 * Every task end and claim leaves dead row versions in `attempts` and `task_instances`, and dead entries in
 * the partial indexes over active work (attempts_live, task_instances_ready*). Those indexes are read by
 * every claim; until VACUUM removes the entries, each read walks past them. PostgreSQL's default vacuums a
 * table once 20% of it is dead: with a million rows of history, 200,000 dead entries per claim. As job-queue
 * tables usually are, these are vacuumed (and analyzed) after a fixed 10,000 changed rows whatever their
 * size. SQLite has nothing of the kind to set.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0011Autovacuum(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  if (dialect !== "postgres") return;
  for (const table of ["attempts", "task_instances", "runs", "workers", "attempt_logs"]) {
    await sql`alter table ${sql.table(table)} set (
      autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
      autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000,
      autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 10000)`.execute(db);
  }
}
