/**
 * Task log lines in the `attempt_logs` table (migration 0010): the log store of PostgreSQL deployments
 * (logs/logStore.ts). Appends are fenced like every other write of an attempt: a chunk is kept only while
 * its attempt is live, so a stale worker's lines after its attempt was taken over are dropped.
 */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";


/** @internal Constructed by the Store (`store.attemptLogs`) and by each transaction (`tx.attemptLogs`). */
export class AttemptLogRows {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Append a chunk after the attempt's last one (a sensor's pokes each add to the same log); false when
   * the attempt is no longer live (fenced: the lines are dropped). One writer per attempt at a time.
   */
  async append(attemptId: number, n: number, body: string): Promise<boolean> {
    const r = await sql`
      insert into attempt_logs (attempt_id, first_line, n, body)
      select ${attemptId}, coalesce((select max(first_line + n) from attempt_logs where attempt_id = ${attemptId}), 0), ${n}, ${body}
       where exists (select 1 from attempts where attempt_id = ${attemptId} and state in (${"running"}, ${"up_for_reschedule"}))
      on conflict (attempt_id, first_line) do nothing`.execute(this.db);
    return Number(r.numAffectedRows ?? 0) > 0;
  }

  /** Chunks holding lines from `fromLine` on, in order, up to about `maxLines` lines. */
  async read(attemptId: number, fromLine: number, maxLines: number): Promise<{ firstLine: number; n: number; body: string }[]> {
    const out: { firstLine: number; n: number; body: string }[] = [];
    let from = fromLine;
    let lines = 0;
    while (lines < maxLines) {
      const rows = await this.db
        .selectFrom("attempt_logs")
        .select(["first_line", "n", "body"])
        .where("attempt_id", "=", attemptId)
        .where(sql<boolean>`first_line + n > ${from}`)
        .orderBy("first_line")
        .limit(64)
        .execute();
      if (rows.length === 0) break;
      for (const r of rows) {
        out.push({ firstLine: r.first_line, n: r.n, body: r.body });
        lines += r.first_line + r.n - Math.max(from, r.first_line);
        from = r.first_line + r.n;
        if (lines >= maxLines) break;
      }
      if (rows.length < 64) break;
    }
    return out;
  }

  /** Delete the log lines of these runs' attempts (retention; before the attempts go). */
  async deleteOfRuns(runIds: readonly string[]): Promise<number> {
    if (runIds.length === 0) return 0;
    const r = await this.db
      .deleteFrom("attempt_logs")
      .where("attempt_id", "in", this.db.selectFrom("attempts").select("attempt_id").where("run_id", "in", runIds))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
