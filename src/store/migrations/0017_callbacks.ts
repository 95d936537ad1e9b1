/**
 * 0017 — Callbacks, notifiers and deadlines (decision 0019). A callback that falls due is a row of
 * `callbacks`, written in the transaction that makes it due (the state change it follows), so a crash
 * after the COMMIT cannot lose it; live processes claim due rows with a lease (`due_at` doubles as the
 * lease's end while a row is running) and try them with backoff. The unique key keeps a transition that
 * PostgreSQL runs again from writing one twice.
 *
 * A deadline miss is a row of `deadline_misses`, keyed by (run, task, map index): however many schedulers
 * notice it at once, one insert wins, and only the winner writes the miss's callbacks. `runs.deadline_at`
 * is a run's next deadline to check, read through a partial index over active runs only, like
 * `timeout_at` (0015): the checker never scans all runs.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0017Callbacks(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("callbacks")
    .addColumn("callback_id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("run_id", "text", (c) => c.notNull())
    // "" for the run's own callbacks
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    // the try that ended (0 when none: a skip, the run's own events, a deadline)
    .addColumn("try_number", "integer", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    // the callback's place in its list (Dag.callbacks), and its name when it was written
    .addColumn("position", "integer", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    // pending, running, done, failed (given up after its tries)
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("tries", "integer", (c) => c.notNull().defaultTo(0))
    // pending: when it may be tried (lease time); running: when its claim's lease ends
    .addColumn("due_at", bigint, (c) => c.notNull())
    .addColumn("claimed_by", "text")
    .addColumn("last_error", "text")
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("ended_at", bigint)
    .addUniqueConstraint("callbacks_key", ["run_id", "task_id", "map_index", "try_number", "event", "position"])
    .execute();
  await sql`create index callbacks_due on callbacks (due_at) where state in ('pending', 'running')`.execute(db);

  await db.schema
    .createTable("deadline_misses")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("deadline_at", bigint, (c) => c.notNull())
    .addColumn("missed_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("deadline_misses_pk", ["run_id", "task_id", "map_index"])
    .execute();

  await db.schema.alterTable("runs").addColumn("deadline_at", bigint).execute();
  await sql`create index runs_next_deadline on runs (deadline_at) where deadline_at is not null and state in ('queued', 'running')`.execute(db);
}
