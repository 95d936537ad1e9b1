/**
 * One open transaction (`Store.tx`): its run locks (`lockRuns`, `runRows`), its pipelined statements
 * (`send`: PostgreSQL writes them without waiting for the answers before, decision 0013), NOTIFY, COMMIT,
 * and the claim of ready work. The aggregates whose writes need those (runs, task instances, attempts,
 * DAG versions) are the Tx* kinds of their classes, returned by this transaction's getters.
 */
import { CompiledQuery, type QueryResult, type Transaction } from "kysely";
import { servesQueue } from "../core/capacity.js";
import { Aggregates } from "./aggregates.js";
import { TxAttemptRows } from "./attempts.js";
import { chooseClaimable, sendClaimReads, type CapacityClaim, type Candidate, type ClaimableRow, type ClaimReads } from "./claims.js";
import { TxDagRows } from "./dags.js";
import type { DialectName } from "./migrations.js";
import { preparable, quiet, type ReconnectingConnection } from "./postgres.js";
import { parseParams, type ClaimedAttempt, type TaskInstanceRecord } from "./records.js";
import { TxRunRows } from "./runs.js";
import type { Database, RunContextRow } from "./schema.js";
import { keyRows, marks, placeholders } from "./sqlText.js";
import type { Store } from "./store.js";
import type { PendingQueries, SqliteDirect } from "./sqlite.js";
import { TxTaskInstanceRows } from "./taskInstances.js";

export interface TxOptions {
  /** PostgreSQL: lock these runs as the transaction begins, in the same round trip (`Tx.lockRuns`). */
  lockRuns?: readonly string[];
  /** How the transaction's run locks are taken (`Tx.runLock`). */
  runLock?: "update" | "key share";
}

/** The write side, bound to one open transaction. */
export class Tx extends Aggregates {
  /** Runs this transaction holds locked (PostgreSQL): true when FOR UPDATE, false when FOR KEY SHARE. */
  private readonly locked = new Map<string, boolean>();
  /** @internal Runs this transaction created: nobody else sees them before it commits. */
  readonly created = new Set<string>();
  /** Their lock statements, answered with the runs' rows (`runRows`). */
  private readonly lockAnswers = new Map<string, Promise<unknown>>();
  /** @internal Runs read under this transaction's lock (or SQLite's single writer), kept current by its own writes. */
  readonly lockedRuns = new Map<string, RunLockRow>();
  #runs?: TxRunRows;
  #taskInstances?: TxTaskInstanceRows;
  #attempts?: TxAttemptRows;
  #dags?: TxDagRows;
  /** SQLite: the first failure of a statement nobody awaited (`send`); the transaction then fails. */
  private sendError: unknown = null;

  constructor(
    protected readonly db: Transaction<Database>,
    private readonly store: Store,
    /** PostgreSQL: the connection, for pipelined statements. */
    private readonly conn: ReconnectingConnection | null = null,
    /** SQLite: the connection for literal statements run at once, and this transaction's pending Kysely queries. */
    private readonly sqlite: { direct: SqliteDirect; pending: PendingQueries } | null = null,
  ) {
    super();
  }

  get dialect(): DialectName {
    return this.store.dialect;
  }

  // The aggregates whose writes need this transaction's locks and pipelining: their Tx* kinds.
  override get runs(): TxRunRows {
    return (this.#runs ??= new TxRunRows(this.db, this));
  }
  override get taskInstances(): TxTaskInstanceRows {
    return (this.#taskInstances ??= new TxTaskInstanceRows(this.db, this));
  }
  override get attempts(): TxAttemptRows {
    return (this.#attempts ??= new TxAttemptRows(this.db, this));
  }
  override get dags(): TxDagRows {
    return (this.#dags ??= new TxDagRows(this.db, this));
  }

  /** @internal The store this transaction belongs to (its notifier, for NOTIFY). */
  get owner(): Store {
    return this.store;
  }

  get hostname(): string {
    return this.store.hostname;
  }

  leaseNow(): { expr: string; params: number[] } {
    return this.store.leaseNow();
  }

  /** Aggregates that need a transaction run `fn` in this one. */
  inTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return fn(this);
  }

  /**
   * Lock runs for the rest of the transaction before reading and changing their task instances
   * (PostgreSQL: FOR UPDATE, in run-id order, so that two transactions lock a set of runs in one order;
   * a transaction that needs another run later may still deadlock, and `Store.tx` runs it again). This
   * makes transitions of one run serial, as SQLite's single writer makes them; claims skip the locked
   * runs' rows. A no-op on SQLite.
   *
   * The lock is issued at once (pipelined): statements issued after it run after it is granted, so the
   * caller need not wait for it unless it needs the runs' rows (`runRows`).
   */
  lockRuns(runIds: Iterable<string>): Promise<void> {
    if (this.store.dialect !== "postgres") return Promise.resolve();
    const strong = this.runLock === "update";
    const ids = [...new Set(runIds)].filter((id) => !(this.locked.get(id) === true || (!strong && this.locked.has(id)))).sort();
    if (ids.length === 0) return Promise.resolve();
    const answer = quiet(
      this.send<RunLockRow>(`select ${RUN_LOCK_COLUMNS} from runs where run_id = any(?) order by run_id for ${this.runLock}`, [ids]).then((r) => {
        for (const row of r.rows) this.lockedRuns.set(row.run_id, row);
      }),
    );
    for (const id of ids) {
      this.locked.set(id, strong);
      this.lockAnswers.set(id, answer);
    }
    return answer;
  }

  /**
   * How `lockRuns` locks. "update" (the default) makes this transaction the run's only writer: cancel,
   * clear, mark, retention and finishing a run take it. "key share" (`Engine.settle`) only keeps those
   * out: settles of one run and claims from it go on side by side (docs/decisions/0013). What they share —
   * the counters of fan-in task instances and the run's unfinished count — they only add to in place
   * (`bumpTaskInstances`, `addUnfinishedMany`).
   */
  runLock: "update" | "key share" = "update";

  /**
   * Whether this transaction is the run's only writer (SQLite: always; PostgreSQL: it holds the run FOR
   * UPDATE, or created it): it may read, change and write back any of the run's rows.
   */
  ownsRun(runId: string): boolean {
    return this.store.dialect === "sqlite" || this.locked.get(runId) === true || this.created.has(runId);
  }

  /**
   * Lock (PostgreSQL) or read (SQLite) these runs, so that `knownRun` answers for them: their rows as this
   * transaction sees them, which nobody else can change until it ends.
   */
  async runRows(runIds: readonly string[]): Promise<void> {
    if (runIds.length === 0) return;
    if (this.store.dialect === "postgres") {
      void this.lockRuns(runIds);
      await Promise.all([...new Set(runIds.map((id) => this.lockAnswers.get(id)))]);
      return;
    }
    const r = await this.send<RunLockRow>(`select ${RUN_LOCK_COLUMNS} from runs where run_id in (${marks(runIds.length)})`, runIds);
    for (const row of r.rows) this.lockedRuns.set(row.run_id, row);
  }

  /** A run read by `runRows`, with this transaction's own changes to it; undefined when not read. */
  knownRun(runId: string): Readonly<RunLockRow> | undefined {
    return this.lockedRuns.get(runId);
  }

  /** Tell other processes that work may be ready (PostgreSQL NOTIFY, delivered at commit; SQLite: nothing). */
  notifyWake(): Promise<unknown> {
    return this.store.notifier ? this.send(`select pg_notify(?, ?)`, [this.store.notifier.channel, this.store.notifier.senderId]) : Promise.resolve();
  }

  /**
   * @internal Issue a statement of this transaction. PostgreSQL: pipelined — written at once, answered in
   * order, without waiting for the statements before it; a caller that does not need the result need not
   * wait for it (a failure fails the COMMIT). SQLite: run in order. Only `store/` passes SQL here.
   *
   * Hot-path statements are literal SQL (pg-boss style): building them with Kysely on every call cost
   * more than running them. `?` placeholders are rewritten for PostgreSQL; `compiled` texts are already
   * PostgreSQL's.
   */
  send<R>(text: string, params: readonly unknown[], compiled = false): Promise<QueryResult<R>> {
    if (this.conn) return this.conn.send<R>(compiled ? preparable(text) : placeholders("postgres", text), params);
    let p: Promise<QueryResult<R>>;
    if (this.sqlite?.pending.none) {
      // nothing issued before it is still unanswered: run it now (SqliteDirect)
      try {
        p = Promise.resolve(this.sqlite.direct.run<R>(text, params));
      } catch (e) {
        p = Promise.reject(e);
      }
    } else {
      p = this.db.executeQuery<R>(CompiledQuery.raw(text, params as unknown[]));
      if (this.sqlite) p = this.sqlite.pending.track(p);
    }
    p.catch((e: unknown) => {
      this.sendError ??= e;
    });
    return p;
  }

  private exec<R>(text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
    return this.send<R>(text, params);
  }

  /** End the transaction (Store.tx): PostgreSQL's COMMIT also waits for everything issued before it. */
  async commit(): Promise<void> {
    if (this.conn) {
      await this.conn.send("commit");
      return;
    }
    if (this.sendError) throw this.sendError;
    await this.send("commit", []);
  }

  now(): number {
    return this.store.now();
  }

  /**
   * Issue a claim's first reads now (claims.ts `sendClaimReads`), so that they travel with the other
   * reads the transaction is about to make (PostgreSQL); `chooseClaims` then chooses from their answers.
   */
  sendClaimReads(opts: CapacityClaim): ClaimReads | null {
    return sendClaimReads(this, this.store.claimState, opts, this.now(), CLAIM_LOCKS_PG);
  }

  /**
   * Claim up to `limit` ready task instances: each gets a new attempt (its id is the fencing token) with
   * a lease. SQLite has one writer at a time, so the select-then-update cannot race; the PostgreSQL dialect
   * adds FOR UPDATE SKIP LOCKED. A transaction that goes on issues the reads early (`sendClaimReads`),
   * chooses (`chooseClaims`) and claims (`claimChosen`) without waiting for the new attempts.
   */
  async claimReady(opts: CapacityClaim & { leaseMs: number }): Promise<ClaimedAttempt[]> {
    const reads = this.sendClaimReads(opts);
    if (!reads) return [];
    return this.claimChosen(opts, await this.chooseClaims(opts, reads), reads.now).claimed;
  }

  /**
   * The rows a claim takes (claims.ts `chooseClaimable`), from the reads issued earlier in this
   * transaction (`sendClaimReads`) and `fresh`: task instances this transaction made ready itself.
   */
  async chooseClaims(opts: CapacityClaim, reads: ClaimReads | null, fresh: readonly TaskInstanceRecord[] = []): Promise<ClaimableRow[]> {
    if (!reads || opts.limit <= 0) return [];
    // Decision 0012: the capacity policy (core/capacity.ts) chooses the ready rows — queues, pools,
    // maxActiveTasks, maxActiveTisPerDag, resources, priority and fairness between DAGs — from what
    // claims.ts reads inside this transaction; on PostgreSQL the reads lock them FOR UPDATE SKIP LOCKED
    // (CLAIM_LOCKS_PG) after taking the capacity advisory locks (decision 0013).
    // Fresh rows were made ready after the reads were issued: due as of now, not as of then.
    return chooseClaimable(this, reads, this.freshCandidates(opts, fresh, this.now()));
  }

  /**
   * Give the chosen rows their attempts. The statements are issued at once and not awaited: the new
   * attempts come with the next answer the caller awaits (on PostgreSQL, its COMMIT's).
   */
  claimChosen(opts: CapacityClaim & { leaseMs: number }, ready: readonly ClaimableRow[], now: number): PendingClaim {
    if (ready.length === 0) return { claimed: Promise.resolve([]), chosen: [] };
    const pg = this.store.dialect === "postgres";
    const lease = this.store.leaseNow();
    const host = this.store.hostname;
    // A sensor's next poke continues its try: the attempt it waits in runs again, with the same id and try
    // number (pokes are not tries, as in Airflow's reschedule mode). Everything else gets a new attempt.
    const repoke = new Set(ready.filter((r) => r.state === "up_for_reschedule" && r.attempt_id !== null));
    const rows = repoke.size === 0 ? ready : ready.filter((r) => !repoke.has(r));
    if (repoke.size > 0) {
      const again = [...repoke];
      void this.send(
        `update attempts set state = 'running', worker_id = ?, hostname = ?, pid = ?, heartbeat_at = ${lease.expr}, lease_expires_at = ${lease.expr} + ?
          where state = 'up_for_reschedule' and attempt_id in (${marks(again.length)})`,
        [opts.workerId, host, process.pid, ...lease.params, ...lease.params, opts.leaseMs, ...again.map((r) => r.attempt_id)],
      );
      void this.send(
        `update task_instances set state = 'running', ready_at = null
          where (run_id, task_id, map_index) in (values ${keyRows(this.store.dialect, again.length)})`,
        again.flatMap((r) => [r.run_id, r.task_id, r.map_index]),
      );
    }
    const values = `values ${rows.map(() => `(?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ${lease.expr}, ${lease.expr} + ?)`).join(", ")}`;
    const valueParams = rows.flatMap((r) => [r.run_id, r.task_id, r.map_index, r.try_number + 1, r.try_base, opts.workerId, host, process.pid, now, ...lease.params, ...lease.params, opts.leaseMs]);
    type Inserted = { attempt_id: number; run_id: string; task_id: string; map_index: number };
    // PostgreSQL: the new attempts and their task instances in one statement
    const inserted: Promise<{ rows: Inserted[] }> = rows.length === 0 ? Promise.resolve({ rows: [] }) : pg ? this.send<Inserted>(
      `with ins as (
         insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
         ${values}
         returning attempt_id, run_id, task_id, map_index)
       update task_instances t
          set state = 'running', try_number = t.try_number + 1, started_at = ?, ready_at = null, attempt_id = ins.attempt_id
         from ins
        where t.run_id = ins.run_id and t.task_id = ins.task_id and t.map_index = ins.map_index
       returning ins.attempt_id, ins.run_id, ins.task_id, ins.map_index`,
      [...valueParams, now],
    ) : this.send<Inserted>(
      `insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
       ${values}
       returning attempt_id, run_id, task_id, map_index`,
      valueParams,
    );
    // One statement for all claimed rows; the subquery finds each row's new attempt (SET sees old values).
    if (rows.length > 0 && !pg) void this.send(
      `update task_instances
          set state = 'running', try_number = try_number + 1, started_at = ?, ready_at = null,
              attempt_id = (select a.attempt_id from attempts a
                             where a.run_id = task_instances.run_id and a.task_id = task_instances.task_id
                               and a.map_index = task_instances.map_index and a.try_number = task_instances.try_number + 1)
        where ${rows.length === 1 ? "run_id = ? and task_id = ? and map_index = ?" : `(run_id, task_id, map_index) in (values ${keyRows(this.store.dialect, rows.length)})`}`,
      [now, ...rows.flatMap((r) => [r.run_id, r.task_id, r.map_index])],
    );
    const claimed = inserted.then((ins) => {
      const ids = new Map(ins.rows.map((r) => [`${r.run_id}\0${r.task_id}\0${r.map_index}`, Number(r.attempt_id)]));
      const paramsCache = new Map<string, ReturnType<typeof parseParams>>();
      return ready.map((r): ClaimedAttempt => {
        // a run's params that do not parse fail this attempt (CORRUPT_ROW), never the whole claim
        let params = paramsCache.get(r.params);
        if (!params) paramsCache.set(r.params, (params = parseParams(r.params)));
        const again = repoke.has(r);
        return {
          attemptId: again ? r.attempt_id! : ids.get(`${r.run_id}\0${r.task_id}\0${r.map_index}`)!,
          runId: r.run_id,
          dagId: r.dag_id,
          dagVersion: r.dag_version,
          codeHash: r.code_hash,
          taskId: r.task_id,
          mapIndex: r.map_index,
          tryNumber: again ? r.try_number : r.try_number + 1,
          tryBase: r.try_base,
          logicalDate: r.logical_date,
          dataIntervalStart: r.data_interval_start,
          dataIntervalEnd: r.data_interval_end,
          params: params.value,
          pokes: r.poke_count,
          queue: r.queue,
          readyAt: r.ready_at,
          claimedAt: now,
          corrupt: params.problem === null ? null : `run "${r.run_id}": ${params.problem}`,
        };
      });
    });
    claimed.catch(() => undefined); // the transaction's COMMIT reports a failure
    return { claimed, chosen: ready.map((r) => `${r.run_id}\0${r.task_id}\0${r.map_index}`) };
  }

  /** Task instances this transaction made ready, as claim candidates (their runs read by `runRows`). */
  private freshCandidates(opts: CapacityClaim, rows: readonly TaskInstanceRecord[], now: number): Candidate[] {
    const out: Candidate[] = [];
    for (const t of rows) {
      const r = this.lockedRuns.get(t.runId);
      if (!r || r.state !== "running") continue;
      if (t.state !== "scheduled" && t.state !== "up_for_retry" && t.state !== "up_for_reschedule") continue;
      if (t.readyAt === null || t.readyAt > now) continue;
      if (opts.runId !== undefined && t.runId !== opts.runId) continue;
      if (opts.backfillId !== undefined && r.backfill_id !== opts.backfillId) continue;
      if (!servesQueue(opts.queues, t.queue)) continue;
      out.push({
        run_id: t.runId,
        task_id: t.taskId,
        map_index: t.mapIndex,
        try_number: t.tryNumber,
        try_base: t.tryBase,
        state: t.state,
        attempt_id: t.attemptId,
        poke_count: t.pokeCount,
        dag_id: r.dag_id,
        dag_version: r.dag_version,
        code_hash: r.code_hash,
        logical_date: r.logical_date,
        params: r.params,
        data_interval_start: r.data_interval_start,
        data_interval_end: r.data_interval_end,
        priority: t.priority,
        ready_at: t.readyAt,
        queue: t.queue,
      });
    }
    return out;
  }
}

/** A claim whose rows are chosen (`Tx.claimChosen`). */
export interface PendingClaim {
  /** The new attempts, once their ids are known (PostgreSQL: answered before the COMMIT). */
  claimed: Promise<ClaimedAttempt[]>;
  /** The task instances claimed: runId\0taskId\0mapIndex. */
  chosen: string[];
}

/** What `Tx.runRows` reads of a run: its state and counter, and what a claim of its task instances needs. */
export interface RunLockRow extends RunContextRow {
  run_id: string;
  state: string;
  unfinished: number;
  backfill_id: number | null;
}
const RUN_LOCK_COLUMNS = "run_id, state, unfinished, dag_id, dag_version, code_hash, logical_date, params, data_interval_start, data_interval_end, backfill_id";

/**
 * PostgreSQL's claim locks. The task instances: FOR UPDATE SKIP LOCKED, so that claimers never wait for
 * each other and never take the same row (graphile-worker's getJobs). Their runs: FOR KEY SHARE, which
 * conflicts only with the FOR UPDATE that transitions take on a run (`Tx.lockRuns`): a claim skips the
 * ready rows of a run being cancelled or cleared at this instant instead of racing with it, and claims
 * never block each other on the run row.
 */
const CLAIM_LOCKS_PG = "for update of ti skip locked for key share of r skip locked";

