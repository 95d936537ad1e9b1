/** SQL for task instances. `store.taskInstances`, or `tx.taskInstances` inside a transaction. */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { StoreContext } from "./aggregates.js";
import type { TaskState } from "../core/states.js";
import { toTaskInstance, type NewTaskInstance, type Row, type TaskInstanceRecord } from "./records.js";
import { quiet } from "./postgres.js";
import { keyRows, marks } from "./sqlText.js";
import type { Tx } from "./store.js";

/**
 * Claimable task instances. Written as a literal, not bound parameters: SQLite uses a partial index only
 * when the query's WHERE visibly implies the index's WHERE (task_instances_ready*), and with bound
 * parameters it cannot — every claim would then scan the run's task instances.
 */
const CLAIMABLE_TI = sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`;

/** SQLite: task instances per insert statement (8 parameters a row; SQLite allows 32,766 a statement). */
const INSERT_ROWS = 1000;
const INSERT_TI = "insert into task_instances (run_id, task_id, map_index, state, try_number, n_upstream, n_success, n_failed, n_skipped, ready_at, priority, queue) values";
const insertValues = (n: number) => Array.from({ length: n }, () => "(?, ?, ?, ?, 0, ?, 0, 0, 0, ?, ?, ?)").join(", ");
const INSERT_VALUES = insertValues(INSERT_ROWS);

/** @internal Constructed by the Store (`store.taskInstances`) and by each transaction (`tx.taskInstances`). */
export class TaskInstanceRows {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly ctx: StoreContext,
  ) {}

  /** A run's task instances by (task id, map index). */
  async page(runId: string, o: { limit: number; after: { taskId: string; mapIndex: number } | null }): Promise<TaskInstanceRecord[]> {
    let q = this.db.selectFrom("task_instances").selectAll().where("run_id", "=", runId);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("task_id", ">", a.taskId), eb.and([eb("task_id", "=", a.taskId), eb("map_index", ">", a.mapIndex)])]));
    }
    const rows = await q.orderBy("task_id").orderBy("map_index").limit(o.limit).execute();
    return rows.map(toTaskInstance);
  }

  /**
   * How many of a run's task instances are in each state, and their tries: a run's summary without a row
   * per instance (a 100,000-task run's rows took a second to read and a hundred megabytes to hold).
   */
  async stateCounts(runId: string): Promise<{ state: TaskState; count: number }[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .select((eb) => ["state", eb.fn.countAll<number | string>().as("n")])
      .where("run_id", "=", runId)
      .groupBy("state")
      .execute();
    return rows.map((r) => ({ state: r.state as TaskState, count: Number(r.n) }));
  }

  /** A run's task instances in one of `states` (e.g. the failed ones of a summary), at most `limit`, by (task id, map index). */
  async inStates(runId: string, states: readonly TaskState[], limit: number): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .where("state", "in", states)
      .orderBy("task_id")
      .orderBy("map_index")
      .limit(limit)
      .execute();
    return rows.map(toTaskInstance);
  }

  /** Task instance states of one run, for the grid: only the two columns it needs (primary-key order). */
  async statesOfRun(runId: string): Promise<{ task_id: string; state: string }[]> {
    return this.db.selectFrom("task_instances").select(["task_id", "state"]).where("run_id", "=", runId).execute();
  }

  /** Set the claim priority of a run's task instances of the given tasks (every map index). */
  async setPriority(runId: string, taskIds: readonly string[], priority: number): Promise<void> {
    for (let i = 0; i < taskIds.length; i += 500) {
      await this.db.updateTable("task_instances").set({ priority }).where("run_id", "=", runId).where("task_id", "in", taskIds.slice(i, i + 500)).execute();
    }
  }

  /** One task instance (a transaction's read under its locks, or a callback's context). */
  async get(runId: string, taskId: string, mapIndex: number): Promise<TaskInstanceRecord | null> {
    const row = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .where("task_id", "=", taskId)
      .where("map_index", "=", mapIndex)
      .executeTakeFirst();
    return row ? toTaskInstance(row) : null;
  }

  async list(runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .orderBy("task_id")
      .orderBy("map_index")
      .execute();
    return rows.map(toTaskInstance);
  }

  /**
   * Task instances of running runs that have been ready since `cutoff` or earlier, oldest first: the
   * candidates of the queued timeout (engine: they fail when nothing can ever run them). Served by
   * task_instances_ready (ready_at), not a scan of all task instances.
   */
  async readySince(cutoff: number, limit: number): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .selectAll("ti")
      .where(sql<boolean>`ti.state in ('scheduled', 'up_for_retry')`)
      .where("ti.ready_at", "<=", cutoff)
      .where("r.state", "=", "running")
      .orderBy("ti.ready_at")
      .limit(limit)
      .execute();
    return rows.map(toTaskInstance);
  }

  /**
   * The earliest time a retry becomes due, to set a wake-up timer. Only runs that are `running` count, as
   * in claimReady: the ready tasks of a `queued` run cannot be claimed, and counting them made a worker
   * spin (a due time in the past, nothing to claim, again) and starve its event loop.
   */
  async nextRetryAt(runId?: string, backfillId?: number): Promise<number | null> {
    let q = this.db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select((eb) => eb.fn.min("ti.ready_at").as("at"))
      .where(CLAIMABLE_TI)
      .where("r.state", "=", "running");
    if (runId) q = q.where("ti.run_id", "=", runId);
    // the same filter as the worker's claims: else a worker of one backfill spins on others' ready work
    if (backfillId !== undefined) q = q.where("r.backfill_id", "=", backfillId);
    const row = await q.executeTakeFirst();
    return row?.at ?? null;
  }
}

/**
 * @internal The writes of task instances inside a transaction (`tx.taskInstances`): they take its run locks and
 * pipeline their statements (Tx.send).
 */
export class TxTaskInstanceRows extends TaskInstanceRows {
  constructor(
    db: Kysely<Database>,
    private readonly tx: Tx,
  ) {
    super(db, tx);
  }

  /**
   * Record who cleared or marked a run's instances of `taskIds` (every map index, or only `mapIndex`):
   * the person the audit log names, kept on the row for the UI and API.
   */
  async setChangedBy(runId: string, taskIds: readonly string[], by: string, mapIndex?: number): Promise<void> {
    for (let i = 0; i < taskIds.length; i += 500) {
      let q = this.db.updateTable("task_instances").set({ changed_by: by }).where("run_id", "=", runId).where("task_id", "in", taskIds.slice(i, i + 500));
      if (mapIndex !== undefined) q = q.where("map_index", "=", mapIndex);
      await q.execute();
    }
  }

  async insert(runId: string, instances: NewTaskInstance[]): Promise<void> {
    if (instances.length === 0) return;
    if (this.tx.owner.dialect === "postgres") {
      // one statement of constant text whatever the count: a 10,000-task run's rows as seven arrays
      await this.tx.send(
        `insert into task_instances (run_id, task_id, map_index, state, try_number, n_upstream, n_success, n_failed, n_skipped, ready_at, priority, queue)
         select ?, t, m, s, 0, u, 0, 0, 0, r, p, q from unnest(?::text[], ?::integer[], ?::text[], ?::integer[], ?::bigint[], ?::integer[], ?::text[]) as x(t, m, s, u, r, p, q)`,
        [
          runId,
          instances.map((t) => t.taskId),
          instances.map((t) => t.mapIndex),
          instances.map((t) => t.state),
          instances.map((t) => t.nUpstream),
          instances.map((t) => t.readyAt),
          instances.map((t) => t.priority),
          instances.map((t) => t.queue),
        ],
      );
      return;
    }
    // SQLite: literal statements of INSERT_ROWS rows (one text, prepared once and reused), not Kysely,
    // whose building of a 2,000-row statement cost more than running it (a 100,000-task run: ~1 s)
    for (let i = 0; i < instances.length; i += INSERT_ROWS) {
      const chunk = instances.slice(i, i + INSERT_ROWS);
      const params: unknown[] = [];
      for (const t of chunk) params.push(runId, t.taskId, t.mapIndex, t.state, t.nUpstream, t.readyAt, t.priority, t.queue);
      await this.tx.send(`${INSERT_TI} ${chunk.length === INSERT_ROWS ? INSERT_VALUES : insertValues(chunk.length)}`, params);
    }
  }

  /**
   * The waiting instances (state 'none') of these tasks, locked (PostgreSQL: FOR UPDATE) so that this
   * transaction may apply their trigger rules and write them back.
   */
  async lockWaiting(runId: string, taskIds: readonly string[]): Promise<TaskInstanceRecord[]> {
    if (taskIds.length === 0) return [];
    const r =
      this.tx.owner.dialect === "postgres"
        ? await this.tx.send<Row<"task_instances">>("select * from task_instances where run_id = ? and task_id = any(?::text[]) and state = 'none' order by task_id, map_index for update", [runId, taskIds])
        : await this.tx.send<Row<"task_instances">>(`select * from task_instances where run_id = ? and task_id in (${marks(taskIds.length)}) and state = 'none'`, [runId, ...taskIds]);
    return r.rows.map(toTaskInstance);
  }

  /**
   * One task instance, read to be changed and written back by this transaction: with `lock` (PostgreSQL),
   * FOR UPDATE, so that other transactions counting into it wait for this one (a mapped task group's
   * per-index dependencies, engine/mapGroups.ts). Null when there is none.
   */
  async getOne(runId: string, taskId: string, mapIndex: number, lock: boolean): Promise<TaskInstanceRecord | null> {
    const forUpdate = lock && this.tx.owner.dialect === "postgres" ? " for update" : "";
    const r = await this.tx.send<Row<"task_instances">>(`select * from task_instances where run_id = ? and task_id = ? and map_index = ?${forUpdate}`, [runId, taskId, mapIndex]);
    return r.rows[0] ? toTaskInstance(r.rows[0]) : null;
  }

  /** Every instance (all map indexes) of the given tasks in a run. */
  async getMany(runId: string, taskIds: readonly string[]): Promise<TaskInstanceRecord[]> {
    if (taskIds.length === 0) return [];
    const r = await this.tx.send<Row<"task_instances">>(
      `select * from task_instances where run_id = ? and task_id in (${marks(taskIds.length)})`,
      [runId, ...taskIds],
    );
    return r.rows.map(toTaskInstance);
  }

  async unfinished(runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .where("state", "not in", ["success", "failed", "skipped", "upstream_failed", "removed"])
      .execute();
    return rows.map(toTaskInstance);
  }

  /**
   * How many instances of these tasks are in each state: what a trigger rule's counters are recounted
   * from (mark, clear) — a few rows whatever the fan-in, not one per upstream instance.
   */
  async countStates(runId: string, taskIds: readonly string[]): Promise<{ state: TaskState; count: number }[]> {
    if (taskIds.length === 0) return [];
    const r =
      this.tx.owner.dialect === "postgres"
        ? await this.tx.send<{ state: string; n: number | string }>("select state, count(*) as n from task_instances where run_id = ? and task_id = any(?::text[]) group by state", [runId, taskIds])
        : // one parameter however many tasks (SQLite binds at most 32,766)
          await this.tx.send<{ state: string; n: number }>("select state, count(*) as n from task_instances where run_id = ? and task_id in (select value from json_each(?)) group by state", [runId, JSON.stringify(taskIds)]);
    return r.rows.map((x) => ({ state: x.state as TaskState, count: Number(x.n) }));
  }

  /** The states of the instances of these tasks (a run's leaves: a DAG of 10,000 independent tasks has 10,000). */
  async leafStates(runId: string, leafTaskIds: readonly string[]): Promise<TaskState[]> {
    if (this.tx.owner.dialect === "postgres") {
      const r = await this.tx.send<{ state: string }>("select state from task_instances where run_id = ? and task_id = any(?::text[])", [runId, leafTaskIds]);
      return r.rows.map((x) => x.state as TaskState);
    }
    const out: TaskState[] = [];
    for (let i = 0; i < leafTaskIds.length; i += 10_000) {
      const chunk = leafTaskIds.slice(i, i + 10_000);
      const r = await this.tx.send<{ state: string }>(`select state from task_instances where run_id = ? and task_id in (${marks(chunk.length)})`, [runId, ...chunk]);
      out.push(...r.rows.map((x) => x.state as TaskState));
    }
    return out;
  }

  /** Write a task instance's new state and counters. */
  async update(
    ti: Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">,
    set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>,
  ): Promise<void> {
    await this.db
      .updateTable("task_instances")
      .set(tiColumns(set))
      .where("run_id", "=", ti.runId)
      .where("task_id", "=", ti.taskId)
      .where("map_index", "=", ti.mapIndex)
      .execute();
  }

  /** Apply the same change to many task instances (one statement per 500). */
  async updateMany(
    keys: readonly Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">[],
    set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>,
  ): Promise<void> {
    const cols = Object.entries(tiColumns(set));
    if (cols.length === 0) return;
    const assign = cols.map(([c]) => `${c} = ?`).join(", ");
    const values = cols.map(([, v]) => v);
    // every chunk issued before any answer is awaited: a caller may issue more statements behind them
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const where =
        chunk.length === 1
          ? "run_id = ? and task_id = ? and map_index = ?"
          : `(run_id, task_id, map_index) in (values ${keyRows(this.tx.owner.dialect, chunk.length)})`;
      chunks.push(this.tx.send(`update task_instances set ${assign} where ${where}`, [...values, ...chunk.flatMap((k) => [k.runId, k.taskId, k.mapIndex])]));
    }
    await Promise.all(chunks);
  }

  /**
   * Write task instance changes, each row its own columns. Issued at once (pipelined on PostgreSQL); a
   * caller that does not wait for it learns of a failure from the COMMIT.
   *
   * PostgreSQL: one statement of constant text (arrays, unnest), prepared once: every column a row does
   * not change keeps its value (a bit mask per row), so NULL can be written too. SQLite: one UPDATE per
   * distinct change (better-sqlite3 answers at once; statements are cheap there).
   */
  writeChanges(rows: readonly TiWrite[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.tx.owner.dialect === "postgres") {
      const sets = rows.map((r) => tiColumns(r.set) as Record<string, unknown>);
      // only the columns some row sets: a statement text per set of columns (few: the transitions' shapes)
      const used = TI_SET.filter(([name]) => sets.some((r) => name in r));
      const params: unknown[][] = [rows.map((r) => r.key.runId), rows.map((r) => r.key.taskId), rows.map((r) => r.key.mapIndex), []];
      for (const [name] of used) params.push(sets.map((r) => (name in r ? r[name] : null)));
      for (const r of sets) params[3]!.push(used.reduce((m, [name], c) => (name in r ? m | (1 << c) : m), 0));
      return quiet(this.tx.send(writeChangesPg(used), params, true).then(() => undefined));
    }
    // every statement issued now, in order (a caller that does not wait may issue more behind them)
    const groups = new Map<string, { set: TiWrite["set"]; keys: TiWrite["key"][] }>();
    for (const { key, set } of rows) {
      const sig = JSON.stringify(Object.entries(set).sort(([a], [b]) => (a < b ? -1 : 1)));
      const g = groups.get(sig);
      if (g) g.keys.push(key);
      else groups.set(sig, { set, keys: [key] });
    }
    return quiet(Promise.all([...groups.values()].map((g) => quiet(this.updateMany(g.keys, g.set)))).then(() => undefined));
  }

  /**
   * Fan-in task instances (SpecIndex.fanIn) of runs this transaction does not own: add to their counters
   * in place, or skip them, where they still wait (state 'none'); returns the rows it changed, as they are
   * now. Their row locks are held from here to COMMIT, so callers issue this last. PostgreSQL only.
   */
  async bump(bumps: readonly TiBump[], now: number): Promise<TaskInstanceRecord[]> {
    if (bumps.length === 0) return [];
    const r = await this.tx.send<Row<"task_instances">>(
      `update task_instances t
          set n_success = t.n_success + v.s, n_failed = t.n_failed + v.f, n_upstream_failed = t.n_upstream_failed + v.uf,
              n_skipped = t.n_skipped + v.sk, n_upstream = t.n_upstream + v.up,
              state = case when v.skip then 'skipped' else t.state end, ended_at = case when v.skip then ? else t.ended_at end
         from unnest(?::text[], ?::text[], ?::integer[], ?::integer[], ?::integer[], ?::integer[], ?::integer[], ?::boolean[])
           as v(run_id, task_id, s, f, uf, sk, up, skip)
        where t.run_id = v.run_id and t.task_id = v.task_id and t.state = 'none'
        returning t.*`,
      [
        now,
        bumps.map((b) => b.runId),
        bumps.map((b) => b.taskId),
        bumps.map((b) => b.add.nSuccess ?? 0),
        bumps.map((b) => b.add.nFailed ?? 0),
        bumps.map((b) => b.add.nUpstreamFailed ?? 0),
        bumps.map((b) => b.add.nSkipped ?? 0),
        bumps.map((b) => b.add.nUpstream ?? 0),
        bumps.map((b) => b.skip),
      ],
    );
    return r.rows.map(toTaskInstance);
  }

  async delete(runId: string, taskId: string, mapIndex: number): Promise<void> {
    await this.db.deleteFrom("task_instances").where("run_id", "=", runId).where("task_id", "=", taskId).where("map_index", "=", mapIndex).execute();
  }
}

/** One task instance's changed columns (`Tx.writeChanges`). */
export interface TiWrite {
  key: Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">;
  set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>;
}

/** The task instance columns `writeChanges` sets on PostgreSQL, with their types, in mask-bit order. */
const TI_SET: readonly [string, string][] = [
  ["state", "text"],
  ["n_success", "integer"],
  ["n_failed", "integer"],
  ["n_upstream_failed", "integer"],
  ["n_skipped", "integer"],
  ["n_upstream", "integer"],
  ["ready_at", "bigint"],
  ["ended_at", "bigint"],
  ["started_at", "bigint"],
  ["try_number", "integer"],
  ["try_base", "integer"],
  ["attempt_id", "bigint"],
  ["sensor_deadline", "bigint"],
  ["poke_count", "integer"],
];

/**
 * Tx.writeChanges on PostgreSQL for a set of columns: $1–$4 the keys and a bit mask per row (which of the
 * columns it sets), then one array per column. Built once per set.
 */
function writeChangesPg(cols: readonly (readonly [string, string])[]): string {
  const key = cols.map(([n]) => n).join(",");
  let text = writeChangesTexts.get(key);
  if (!text) {
    text = `update task_instances t set ${cols.map(([n], c) => `${n} = case when v.m & ${1 << c} <> 0 then v.${n} else t.${n} end`).join(", ")}
    from unnest($1::text[], $2::text[], $3::integer[], $4::integer[]${cols.map(([, t], c) => `, $${5 + c}::${t}[]`).join("")})
      as v(run_id, task_id, map_index, m${cols.map(([n]) => `, ${n}`).join("")})
   where t.run_id = v.run_id and t.task_id = v.task_id and t.map_index = v.map_index`;
    writeChangesTexts.set(key, text);
  }
  return text;
}
/**
 * Module-level, unlike the claim's caches (Store.claimState): a memo of a pure function of the column
 * set, the same for every store, bounded by the transitions' shapes (2^14 column sets at the very most).
 */
const writeChangesTexts = new Map<string, string>();

/** Counters to add to (or a skip of) every waiting instance of a fan-in task (`Tx.bumpTaskInstances`). */
export interface TiBump {
  runId: string;
  taskId: string;
  add: Partial<Pick<TaskInstanceRecord, "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream">>;
  skip: boolean;
}

/** The columns of a partial TaskInstanceRecord. */
function tiColumns(set: Partial<TaskInstanceRecord>): Partial<Row<"task_instances">> {
  const out: Partial<Row<"task_instances">> = {};
  if (set.state !== undefined) out.state = set.state;
  if (set.nSuccess !== undefined) out.n_success = set.nSuccess;
  if (set.nFailed !== undefined) out.n_failed = set.nFailed;
  if (set.nUpstreamFailed !== undefined) out.n_upstream_failed = set.nUpstreamFailed;
  if (set.nSkipped !== undefined) out.n_skipped = set.nSkipped;
  if (set.nUpstream !== undefined) out.n_upstream = set.nUpstream;
  if (set.readyAt !== undefined) out.ready_at = set.readyAt;
  if (set.endedAt !== undefined) out.ended_at = set.endedAt;
  if (set.startedAt !== undefined) out.started_at = set.startedAt;
  if (set.tryNumber !== undefined) out.try_number = set.tryNumber;
  if (set.tryBase !== undefined) out.try_base = set.tryBase;
  if (set.attemptId !== undefined) out.attempt_id = set.attemptId;
  if (set.sensorDeadline !== undefined) out.sensor_deadline = set.sensorDeadline;
  if (set.pokeCount !== undefined) out.poke_count = set.pokeCount;
  return out;
}
