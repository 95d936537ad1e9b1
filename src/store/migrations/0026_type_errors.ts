/**
 * 0026 — type errors of the DAGs folder (issue 13, item 12): what `sluice dev`'s background type check
 * found, shown next to import errors in the CLI and the UI. The check replaces the whole set each time, so
 * the table holds the latest check only; loading never waits for it (engine/typeCheck.ts).
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0026TypeErrors(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("type_errors")
    .addColumn("file", "text", (c) => c.notNull())
    .addColumn("line", "integer", (c) => c.notNull())
    .addColumn("col", "integer", (c) => c.notNull())
    .addColumn("code", "integer", (c) => c.notNull())
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("checked_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("type_errors_file").on("type_errors").columns(["file", "line", "col"]).execute();
}
