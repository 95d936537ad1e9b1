/**
 * SQL for the inference log (migration 0030): the rows model servers sampled (serving/inferenceLogWriter.ts
 * batches them off the request path) and what pipelines read back for monitoring (the drift monitor reads
 * a model's recent inputs). Bounded per model by `prune`, which the writer calls once per flush, never per
 * request. `store.inferenceLog`.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** One logged row as written: input and prediction as JSON text (the writer serialised them). */
export interface NewInferenceRow {
  model: string;
  version: number;
  alias: string | null;
  at: number;
  input: string;
  prediction: string;
}

/** One logged row as read back. */
export interface InferenceRow {
  /** Increases with every row written (a cursor for "rows after the last one I saw"). */
  id: number;
  at: number;
  version: number;
  alias: string | null;
  input: unknown;
  prediction: unknown;
}

export interface InferenceLogQuery {
  /** Only rows logged at or after this time (epoch ms). */
  since?: number;
  /** Only rows with an id above this one (the last id a reader saw). */
  afterId?: number;
  /** Only rows predicted by this version. */
  version?: number;
  /** At most this many rows, the newest (default 1000, at most 100,000). */
  limit?: number;
}

/** Rows per INSERT: far below both dialects' bound-parameter limits (6 columns). */
const CHUNK = 500;
export const INFERENCE_LOG_MAX_READ = 100_000;

export class InferenceLogRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** Append a batch (one statement per CHUNK rows; the caller's transaction makes it all-or-nothing). */
  async append(rows: readonly NewInferenceRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += CHUNK) {
      await this.db.insertInto("inference_log").values(rows.slice(i, i + CHUNK).map((r) => ({ ...r }))).execute();
    }
  }

  /**
   * Keep the newest `keep` rows of `model`, delete the rest; returns how many went. Two statements through
   * the (model, log_id) index: the id of the first row beyond the bound, then a range delete below it.
   */
  async prune(model: string, keep: number): Promise<number> {
    const edge = await this.db
      .selectFrom("inference_log")
      .select("log_id")
      .where("model", "=", model)
      .orderBy("log_id", "desc")
      .limit(1)
      .offset(keep)
      .executeTakeFirst();
    if (!edge) return 0;
    const r = await this.db.deleteFrom("inference_log").where("model", "=", model).where("log_id", "<=", edge.log_id).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** The newest rows of `model` matching `q`, returned oldest first (the order they were served in). */
  async recent(model: string, q: InferenceLogQuery = {}): Promise<InferenceRow[]> {
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 1000)), INFERENCE_LOG_MAX_READ);
    let query = this.db.selectFrom("inference_log").select(["log_id", "at", "version", "alias", "input", "prediction"]).where("model", "=", model);
    if (q.since !== undefined) query = query.where("at", ">=", q.since);
    if (q.afterId !== undefined) query = query.where("log_id", ">", q.afterId);
    if (q.version !== undefined) query = query.where("version", "=", q.version);
    const rows = await query.orderBy("log_id", "desc").limit(limit).execute();
    return rows.reverse().map((r) => ({
      id: Number(r.log_id),
      at: Number(r.at),
      version: Number(r.version),
      alias: r.alias,
      input: JSON.parse(r.input) as unknown,
      prediction: JSON.parse(r.prediction) as unknown,
    }));
  }

  /** How many rows `model` has in the log. */
  async count(model: string): Promise<number> {
    const r = await this.db.selectFrom("inference_log").select((e) => e.fn.countAll<number>().as("n")).where("model", "=", model).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}
