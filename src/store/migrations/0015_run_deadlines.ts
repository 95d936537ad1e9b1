/**
 * 0015 — Run deadlines (a DAG's `runTimeout`) are enforced from the store by whichever process sweeps
 * (engine Recovery), not only by a timer in the process that created the run: a run created by
 * `sluice trigger`, or whose scheduler died, must still time out. The sweep reads active runs past their
 * deadline, and the next deadline, through this partial index: never a scan of all runs.
 */
import { sql, type Kysely } from "kysely";

export async function m0015RunDeadlines(db: Kysely<unknown>): Promise<void> {
  await sql`create index runs_deadline on runs (timeout_at) where timeout_at is not null and state in ('queued', 'running')`.execute(db);
}
