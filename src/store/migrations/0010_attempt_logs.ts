/**
 * 0010 — task logs in the database (docs/decisions/0014-artifacts-in-the-database.md).
 *
 * On PostgreSQL a worker writes its attempts' log lines here, so that `sluice server` and `sluice logs` on
 * any host show them. A row is a chunk of JSON lines (`{ t, level, msg }\n` each, as in the log files):
 * `first_line` is the number of the chunk's first line in the attempt's log, `n` its line count, so a
 * reader asks for the lines from a number on without counting bytes.
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0010AttemptLogs(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable("attempt_logs")
    .addColumn("attempt_id", dialect === "postgres" ? "bigint" : "integer", (c) => c.notNull())
    .addColumn("first_line", "integer", (c) => c.notNull())
    .addColumn("n", "integer", (c) => c.notNull())
    .addColumn("body", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("attempt_logs_pk", ["attempt_id", "first_line"])
    .execute();
}
