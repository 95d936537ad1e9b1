/**
 * 0030 — the inference log (issue 15, item 4): what a model server answered, for monitoring. One row per
 * sampled request row: the model, the version that predicted, when, the input and the prediction (JSON
 * text). Written in batches off the request path (serving/inferenceLogWriter.ts) and kept bounded per
 * model (the newest N rows; older ones pruned in batches). The index (model, log_id) serves both the
 * drift monitor's "newest rows of this model" and the pruning's "rows of this model older than the Nth".
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0030InferenceLog(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("inference_log")
    .addColumn("log_id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("model", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("alias", "text")
    .addColumn("at", bigint, (c) => c.notNull())
    .addColumn("input", "text", (c) => c.notNull())
    .addColumn("prediction", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("inference_log_model").on("inference_log").columns(["model", "log_id"]).execute();
}
