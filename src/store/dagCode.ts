/**
 * SQL for DAG code bundles (migration 0016, decision 0017 item 7): content-addressed, written once, read
 * by the workers that run a run's tasks. `store.dagCode`, or `tx.dagCode` inside a transaction.
 */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

/** @internal Constructed by the Store (`store.dagCode`) and by each transaction (`tx.dagCode`). */
export class DagCodeRows {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Keep a bundle. When it is kept already (the hash names the content) only its time is renewed:
   * retention leaves bundles put recently alone, and a run about to hold this one is not committed yet.
   */
  async put(hash: string, code: string, now: number): Promise<void> {
    await this.db
      .insertInto("dag_code")
      .values({ hash, code, created_at: now })
      .onConflict((oc) => oc.column("hash").doUpdateSet({ created_at: now }))
      .execute();
  }

  async get(hash: string): Promise<string | null> {
    return (await this.db.selectFrom("dag_code").select("code").where("hash", "=", hash).executeTakeFirst())?.code ?? null;
  }

  /** The bundle a run was created with (null: none kept, the run imports its DAG file as it is). */
  async ofRun(runId: string): Promise<string | null> {
    return (await this.db.selectFrom("runs").select("code_hash").where("run_id", "=", runId).executeTakeFirst())?.code_hash ?? null;
  }

  /**
   * Retention: delete the bundles that no run was created with and that are not the code of a DAG's
   * current version (its next runs get that one), and were last put before `before` (see `put`). Returns
   * how many went.
   */
  async deleteUnreferenced(before: number): Promise<number> {
    const r = await sql`
      delete from dag_code where created_at < ${before}
         and not exists (select 1 from runs r where r.code_hash = dag_code.hash)
         and not exists (select 1 from dags d inner join dag_versions v on v.dag_id = d.dag_id and v.version = d.version
                          where v.code_hash = dag_code.hash)`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }
}
