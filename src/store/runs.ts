/** SQL for runs. `store.runs`, or `tx.runs` inside a transaction. */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { RunState } from "../core/states.js";
import type { StoreContext } from "./aggregates.js";
import { toRun, type NewTaskInstance, type RunRecord } from "./records.js";
import { quiet } from "./postgres.js";
import type { Tx } from "./store.js";
import { execText, marks } from "./sqlText.js";

/** A stalled run (Store.stalledRuns), for `runs r`: served by runs_active, task_instances_ready_run, attempts_live. */
export const STALLED = `r.state in ('queued', 'running') and r.state = 'running' and r.unfinished > 0
  and not exists (select 1 from task_instances t where t.run_id = r.run_id and t.state in ('scheduled', 'up_for_retry', 'up_for_reschedule'))
  and not exists (select 1 from attempts a where a.run_id = r.run_id and a.state = 'running')
  and not exists (select 1 from past_waits w where w.run_id = r.run_id)`;

/** @internal Constructed by the Store (`store.runs`) and by each transaction (`tx.runs`). */
export class RunRows {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly ctx: StoreContext,
  ) {}

  /**
   * Runs that are queued or running, of a DAG (its maxActiveRuns: backfill runs do not count, their
   * backfill limits them — decision 0006, as Airflow 3; served by runs_dag_active) or of a backfill (its
   * maxActive; served by runs_backfill).
   */
  async countActive(of: { dagId: string } | { backfillId: number }): Promise<number> {
    let q = this.db
      .selectFrom("runs")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where(sql<boolean>`state in ('queued', 'running')`);
    q = "dagId" in of ? q.where("dag_id", "=", of.dagId).where("backfill_id", "is", null) : q.where("backfill_id", "=", of.backfillId);
    const r = await q.executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Runs, newest first (created_at, run_id descending); `after` is the last row of the previous page. */
  /** Across DAGs: store/history.ts. */
  async page(o: { dagId?: string; state?: string; runType?: string; limit: number; after: { createdAt: number; runId: string } | null }): Promise<RunRecord[]> {
    let q = this.db.selectFrom("runs").selectAll();
    if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
    if (o.state !== undefined) q = q.where("state", "=", o.state);
    if (o.runType !== undefined) q = q.where("run_type", "=", o.runType);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("run_id", "<", a.runId)])]));
    }
    const rows = await q.orderBy("created_at", "desc").orderBy("run_id", "desc").limit(o.limit).execute();
    return rows.map(toRun);
  }

  /** The newest `n` runs of each DAG (one indexed query per DAG: runs_dag_created). */
  async latestOf(dagIds: readonly string[], n: number): Promise<Map<string, { runId: string; state: string; logicalDate: number }[]>> {
    const out = new Map<string, { runId: string; state: string; logicalDate: number }[]>();
    for (const dagId of dagIds) {
      const rows = await this.db
        .selectFrom("runs")
        .select(["run_id", "state", "logical_date"])
        .where("dag_id", "=", dagId)
        .orderBy("created_at", "desc")
        .orderBy("run_id", "desc")
        .limit(n)
        .execute();
      out.set(
        dagId,
        rows.map((r) => ({ runId: r.run_id, state: r.state, logicalDate: Number(r.logical_date) })),
      );
    }
    return out;
  }

  /** Active runs per state, for /status (`dagIds`: of these DAGs only, per-DAG access). */
  async activeCounts(dagIds?: readonly string[]): Promise<{ state: string; count: number }[]> {
    if (dagIds?.length === 0) return [];
    // the literal keeps the partial index runs_active usable
    let q = this.db
      .selectFrom("runs")
      .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
      .where(sql<boolean>`state in ('queued', 'running')`);
    if (dagIds !== undefined) q = q.where("dag_id", "in", dagIds);
    const runs = await q.groupBy("state").execute();
    return runs.map((r) => ({ state: r.state, count: Number(r.n) }));
  }

  /** A finished run that a backfill reprocesses becomes a backfill run, started now. */
  async adoptForBackfill(runId: string, backfillId: number, now: number, timeoutAt: number | null): Promise<void> {
    await this.db
      .updateTable("runs")
      .set({ run_type: "backfill", backfill_id: backfillId, started_at: now, ended_at: null, timeout_at: timeoutAt })
      .where("run_id", "=", runId)
      .execute();
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async get(runId: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_id", "=", runId).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  async list(opts: { dagId?: string; states?: RunState[]; limit: number; offset?: number }): Promise<RunRecord[]> {
    let q = this.db.selectFrom("runs").selectAll();
    if (opts.dagId) q = q.where("dag_id", "=", opts.dagId);
    if (opts.states) q = q.where("state", "in", opts.states);
    const rows = await q
      .orderBy("created_at", "desc")
      .orderBy("run_id", "desc")
      .limit(opts.limit)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toRun);
  }

  /** Runs not yet finished (served by the partial index runs_active). */
  async listActive(): Promise<RunRecord[]> {
    const rows = await this.db
      .selectFrom("runs")
      .selectAll()
      .where(sql<boolean>`state in ('queued', 'running')`)
      .orderBy("created_at")
      .execute();
    return rows.map(toRun);
  }

  /**
   * Active runs with no unfinished task instance left: their finishing transaction's process died between
   * its COMMIT and finishing them (Engine.finishRunIfDone). Served by the partial index runs_active.
   */
  /**
   * Active runs past their deadline (`timeout_at`, a DAG's runTimeout) in the store's clock, and the
   * earliest deadline still ahead: both read through the partial index runs_deadline.
   */
  async deadlines(limit: number): Promise<{ expired: { runId: string; timeoutAt: number; startedAt: number | null }[]; next: { runId: string; timeoutAt: number; startedAt: number | null } | null }> {
    const active = sql<boolean>`timeout_at is not null and state in ('queued', 'running')`;
    const now = this.ctx.now();
    const expired = await this.db
      .selectFrom("runs")
      .select(["run_id", "timeout_at", "started_at"])
      .where(active)
      .where("timeout_at", "<=", now)
      .orderBy("timeout_at")
      .limit(limit)
      .execute();
    const next = await this.db.selectFrom("runs").select(["run_id", "timeout_at", "started_at"]).where(active).where("timeout_at", ">", now).orderBy("timeout_at").limit(1).executeTakeFirst();
    return {
      expired: expired.map((r) => ({ runId: r.run_id, timeoutAt: r.timeout_at!, startedAt: r.started_at })),
      next: next ? { runId: next.run_id, timeoutAt: next.timeout_at!, startedAt: next.started_at } : null,
    };
  }

  async withNothingLeft(): Promise<string[]> {
    const r = await execText<{ run_id: string }>(this.db, this.ctx.dialect, "select run_id from runs where state in ('queued', 'running') and unfinished <= 0", []);
    return r.rows.map((x) => x.run_id);
  }

  /**
   * Running runs where nothing happens: no task instance ready or due later, none running — yet some
   * still unfinished. A fan-in task instance whose deciding transaction's process died before it could
   * decide it waits so (Engine.unstall); a run should never be left so otherwise.
   */
  async stalled(): Promise<string[]> {
    const r = await execText<{ run_id: string }>(this.db, this.ctx.dialect, `select r.run_id from runs r where ${STALLED}`, []);
    return r.rows.map((x) => x.run_id);
  }

  /**
   * `sluice secrets rotate-key`: the runs whose params hold an encrypted value (`{"$secret": …}`, see
   * secrets/params.ts), with their params as stored. A scan of every run: an admin's occasional command.
   */
  async withSecretParams(): Promise<{ runId: string; params: string }[]> {
    const rows = await this.db.selectFrom("runs").select(["run_id", "params"]).where("params", "like", '%"$secret"%').orderBy("run_id").execute();
    return rows.map((r) => ({ runId: r.run_id, params: r.params }));
  }

  /** Rotation: a run's params re-encrypted, unless they changed since they were read (`expected`). */
  async replaceParams(runId: string, expected: string, next: string): Promise<boolean> {
    const r = await this.db.updateTable("runs").set({ params: next }).where("run_id", "=", runId).where("params", "=", expected).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}

/**
 * @internal The writes of runs inside a transaction (`tx.runs`): they take its run locks and
 * pipeline their statements (Tx.send).
 */
export class TxRunRows extends RunRows {
  constructor(
    db: Kysely<Database>,
    private readonly tx: Tx,
  ) {
    super(db, tx);
  }

  async findByKey(dagId: string, runKey: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("dag_id", "=", dagId).where("run_key", "=", runKey).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  /**
   * `codeHash`: the code bundle the run's tasks import (dag_code); absent: the one its DAG version was
   * last parsed with, if any (store/dagCode.ts).
   */
  async insert(
    run: Omit<RunRecord, "endedAt" | "stateReason" | "backfillId" | "corrupt" | "triggeredBy" | "deadlineAt" | "codeHash"> & { backfillId?: number | null; triggeredBy?: string | null; codeHash?: string | null; deadlineAt?: number | null; noCache?: boolean },
    instances: NewTaskInstance[],
  ): Promise<void> {
    this.tx.created.add(run.runId);
    const codeHash =
      run.codeHash !== undefined
        ? run.codeHash
        : ((await this.db.selectFrom("dag_versions").select("code_hash").where("dag_id", "=", run.dagId).where("version", "=", run.dagVersion).executeTakeFirst())?.code_hash ?? null);
    this.tx.lockedRuns.set(run.runId, {
      run_id: run.runId,
      state: run.state,
      unfinished: run.unfinished,
      dag_id: run.dagId,
      dag_version: run.dagVersion,
      code_hash: codeHash,
      logical_date: run.logicalDate,
      params: JSON.stringify(run.params),
      data_interval_start: run.dataIntervalStart,
      data_interval_end: run.dataIntervalEnd,
      backfill_id: run.backfillId ?? null,
    });
    await this.db
      .insertInto("runs")
      .values({
        run_id: run.runId,
        dag_id: run.dagId,
        dag_version: run.dagVersion,
        run_key: run.runKey,
        run_type: run.runType,
        state: run.state,
        state_reason: null,
        logical_date: run.logicalDate,
        data_interval_start: run.dataIntervalStart,
        data_interval_end: run.dataIntervalEnd,
        params: JSON.stringify(run.params),
        unfinished: run.unfinished,
        created_at: run.createdAt,
        started_at: run.startedAt,
        ended_at: null,
        timeout_at: run.timeoutAt,
        backfill_id: run.backfillId ?? null,
        triggered_by: run.triggeredBy ?? null,
        code_hash: codeHash,
        deadline_at: run.deadlineAt ?? null,
        no_cache: run.noCache ? 1 : 0,
      })
      .execute();
    await this.tx.taskInstances.insert(run.runId, instances);
  }

  /** Add `delta` to the run's count of unfinished task instances; returns the new count. */
  async addUnfinished(runId: string, delta: number): Promise<number> {
    const r = await this.tx.send<{ unfinished: number }>("update runs set unfinished = unfinished + ? where run_id = ? returning unfinished", [delta, runId]);
    const known = this.tx.lockedRuns.get(runId);
    if (known) known.unfinished = r.rows[0]!.unfinished;
    return r.rows[0]!.unfinished;
  }

  /**
   * Queued runs of a DAG become running while fewer than `max` run; returns their ids. Backfill runs do
   * not count: their backfill limits them (decision 0006).
   */
  async promoteQueued(dagId: string, max: number, now: number): Promise<string[]> {
    const running = await this.tx.send<{ n: number }>(
      `select count(*) as n from runs where dag_id = ? and state in ('queued', 'running') and state = 'running' and backfill_id is null`,
      [dagId],
    );
    const room = max - Number(running.rows[0]?.n ?? 0);
    if (room <= 0) return [];
    const queued = await this.tx.send<{ run_id: string }>(
      `select run_id from runs where dag_id = ? and state in ('queued', 'running') and state = 'queued' and backfill_id is null order by logical_date, created_at limit ?`,
      [dagId, room],
    );
    const ids = queued.rows.map((r) => r.run_id);
    if (ids.length) await this.tx.send(`update runs set state = 'running', started_at = ? where run_id in (${marks(ids.length)})`, [now, ...ids]);
    for (const id of ids) this.tx.lockedRuns.delete(id);
    return ids;
  }

  async setTimeoutAt(runId: string, at: number): Promise<void> {
    await this.tx.send("update runs set timeout_at = ? where run_id = ?", [at, runId]);
  }

  /** Count a run's unfinished task instances again and write the count; returns it. */
  async recountUnfinished(runId: string): Promise<number> {
    const r = await this.tx.send<{ unfinished: number }>(
      `update runs set unfinished = (select count(*) from task_instances t
                                      where t.run_id = runs.run_id and t.state not in ('success', 'failed', 'skipped', 'upstream_failed', 'removed'))
        where run_id = ? returning unfinished`,
      [runId],
    );
    const n = Number(r.rows[0]?.unfinished ?? 0);
    const known = this.tx.lockedRuns.get(runId);
    if (known) known.unfinished = n;
    return n;
  }

  /** A cleared run is running again: its unfinished count is recounted from its task instances. */
  async reopen(runId: string): Promise<void> {
    this.tx.lockedRuns.delete(runId);
    await this.tx.send(
      `update runs set state = 'running', state_reason = null, ended_at = null,
              unfinished = (select count(*) from task_instances t
                             where t.run_id = runs.run_id and t.state not in ('success', 'failed', 'skipped', 'upstream_failed', 'removed'))
        where run_id = ?`,
      [runId],
    );
  }

  async setState(runId: string, state: RunState, reason: string | null, endedAt: number | null): Promise<void> {
    const known = this.tx.lockedRuns.get(runId);
    if (known) known.state = state;
    await this.db.updateTable("runs").set({ state, state_reason: reason, ended_at: endedAt }).where("run_id", "=", runId).execute();
  }

  /** Store.stalledRuns for one run, as this transaction sees it (under the run's lock: for certain). */
  async isStalled(runId: string): Promise<boolean> {
    const r = await this.tx.send<{ run_id: string }>(`select r.run_id from runs r where r.run_id = ? and ${STALLED}`, [runId]);
    return r.rows.length > 0;
  }

  /**
   * Add to runs' unfinished counts, in place; returns each run's new count. Issued at once (pipelined on
   * PostgreSQL). `knownRun` rows follow: exact for runs this transaction owns, an estimate for others
   * (their other writers may have counted down meanwhile).
   */
  addUnfinishedMany(deltas: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const runs = [...deltas].filter(([, d]) => d !== 0);
    for (const [id, d] of runs) {
      const known = this.tx.lockedRuns.get(id);
      if (known) known.unfinished += d;
    }
    if (runs.length === 0) return Promise.resolve(new Map<string, number>());
    if (this.tx.owner.dialect === "postgres" && runs.length > 1) {
      const counted = this.tx.send<{ run_id: string; unfinished: number }>(
        `update runs set unfinished = runs.unfinished + d.d from unnest(?::text[], ?::integer[]) as d(run_id, d)
          where runs.run_id = d.run_id returning runs.run_id, runs.unfinished`,
        [runs.map(([id]) => id), runs.map(([, d]) => d)],
      ).then((r) => new Map(r.rows.map((x) => [x.run_id, Number(x.unfinished)])));
      return quiet(counted);
    }
    // one run (the common case), and SQLite: by key, a plan no statistics can turn into a scan of every run
    const counts = runs.map(([id, d]) => this.tx.send<{ unfinished: number }>("update runs set unfinished = unfinished + ? where run_id = ? returning unfinished", [d, id]));
    return quiet(Promise.all(counts).then((rs) => new Map(rs.map((r, i) => [runs[i]![0], r.rows[0]!.unfinished]))));
  }
}
