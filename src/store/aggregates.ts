/**
 * The store's objects per aggregate, one per table or concept (`store.dags`, `tx.assets`, …): the same
 * classes serve the store (autocommit) and an open transaction, bound to its handle. Each is made on
 * first use, so a transaction of the hot path pays for none it does not touch.
 *
 * The lists the REST API pages through (`runs.page`, `dags.pageVersions`, …) are keyset-paginated, never
 * OFFSET: page 200 of 10,000 runs costs what page 1 costs. Cursors are the sort key of a page's last row
 * (server/cursor.ts makes them opaque).
 */
import type { Kysely } from "kysely";
import { AssetRows } from "./assets.js";
import { AttemptLogRows } from "./attemptLogs.js";
import { AuditRows } from "./audit.js";
import { ApiTokenRows, SessionRows, UserRows } from "./auth.js";
import { BackfillRows } from "./backfills.js";
import { BenchHistory } from "./benchHistory.js";
import { ConnectionRows } from "./connections.js";
import { DagRows } from "./dags.js";
import { DeadLetterRows } from "./deadLetters.js";
import { PastWaitRows } from "./pastWaits.js";
import { EventRows } from "./events.js";
import { GrantRows } from "./grants.js";
import { PoolRows } from "./pools.js";
import { WorkerRows } from "./workers.js";
import { RetentionQueries } from "./retention.js";
import { RunRows } from "./runs.js";
import type { DialectName } from "./migrations.js";
import type { Database } from "./schema.js";
import type { Tx } from "./store.js";
import { AttemptRows } from "./attempts.js";
import { StatusQueries } from "./status.js";
import { TaskInstanceRows } from "./taskInstances.js";
import { VariableRows } from "./variables.js";
import { DagCodeRows } from "./dagCode.js";
import { CallbackRows } from "./callbacks.js";
import { DeadlineRows } from "./deadlines.js";
import { TrackingRows } from "./tracking.js";
import { HistoryRows } from "./history.js";
import { CacheRows } from "./cache.js";
import { ModelRows } from "./models.js";
import { InferenceLogRows } from "./inferenceLog.js";
import { NoteRows } from "./notes.js";

/** What the aggregates need of the store or transaction they are bound to, besides the handle. */
export interface StoreContext {
  readonly dialect: DialectName;
  readonly hostname: string;
  /** The store's clock (records, schedules). */
  now(): number;
  /** Lease time as SQL: the database's clock on PostgreSQL (Store.leaseNow). */
  leaseNow(): { expr: string; params: number[] };
  /** Run `fn` in a transaction: the Store opens one; a Tx runs it in itself. */
  inTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

export abstract class Aggregates implements StoreContext {
  abstract readonly dialect: DialectName;
  abstract readonly hostname: string;
  abstract now(): number;
  abstract leaseNow(): { expr: string; params: number[] };
  abstract inTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;

  /** The connection (Store) or the open transaction (Tx): never handed out of `store/`. */
  protected abstract readonly db: Kysely<Database>;

  /**
   * @internal The handle, for `store/` modules that compose statements across aggregates (and for tests
   * that plant corrupt rows). A lint rule keeps it out of every other layer.
   */
  static handleOf(a: Aggregates): Kysely<Database> {
    return a.db;
  }

  #runs?: RunRows;
  #attempts?: AttemptRows;
  #taskInstances?: TaskInstanceRows;
  #dags?: DagRows;
  #assets?: AssetRows;
  #events?: EventRows;
  #backfills?: BackfillRows;
  #users?: UserRows;
  #sessions?: SessionRows;
  #apiTokens?: ApiTokenRows;
  #grants?: GrantRows;
  #attemptLogs?: AttemptLogRows;
  #workers?: WorkerRows;
  #pools?: PoolRows;
  #retention?: RetentionQueries;
  #status?: StatusQueries;
  #benchHistory?: BenchHistory;
  #audit?: AuditRows;
  #connections?: ConnectionRows;
  #variables?: VariableRows;
  #dagCode?: DagCodeRows;
  #callbacks?: CallbackRows;
  #deadlines?: DeadlineRows;
  #history?: HistoryRows;
  #deadLetters?: DeadLetterRows;
  #tracking?: TrackingRows;
  #pastWaits?: PastWaitRows;
  #notes?: NoteRows;
  #cache?: CacheRows;
  #models?: ModelRows;
  #inferenceLog?: InferenceLogRows;

  get runs(): RunRows {
    return (this.#runs ??= new RunRows(this.db, this));
  }
  get attempts(): AttemptRows {
    return (this.#attempts ??= new AttemptRows(this.db, this));
  }
  get taskInstances(): TaskInstanceRows {
    return (this.#taskInstances ??= new TaskInstanceRows(this.db, this));
  }
  get dags(): DagRows {
    return (this.#dags ??= new DagRows(this.db, this));
  }
  get assets(): AssetRows {
    return (this.#assets ??= new AssetRows(this.db));
  }
  get events(): EventRows {
    return (this.#events ??= new EventRows(this.db));
  }
  get backfills(): BackfillRows {
    return (this.#backfills ??= new BackfillRows(this.db));
  }
  get users(): UserRows {
    return (this.#users ??= new UserRows(this.db));
  }
  get sessions(): SessionRows {
    return (this.#sessions ??= new SessionRows(this.db));
  }
  get apiTokens(): ApiTokenRows {
    return (this.#apiTokens ??= new ApiTokenRows(this.db));
  }
  get grants(): GrantRows {
    return (this.#grants ??= new GrantRows(this.db));
  }
  get attemptLogs(): AttemptLogRows {
    return (this.#attemptLogs ??= new AttemptLogRows(this.db));
  }
  get workers(): WorkerRows {
    return (this.#workers ??= new WorkerRows(this.db, this));
  }
  get pools(): PoolRows {
    return (this.#pools ??= new PoolRows(this.db));
  }
  get retention(): RetentionQueries {
    return (this.#retention ??= new RetentionQueries(this.db));
  }
  get status(): StatusQueries {
    return (this.#status ??= new StatusQueries(this.db));
  }
  /** The audit log: append, page, retention (no update path). */
  get audit(): AuditRows {
    return (this.#audit ??= new AuditRows(this.db, this));
  }
  /** Connections (secret fields as ciphertexts): store/connections.ts. */
  get connections(): ConnectionRows {
    return (this.#connections ??= new ConnectionRows(this.db, this));
  }
  /** Variables (secret ones as ciphertexts): store/variables.ts. */
  get variables(): VariableRows {
    return (this.#variables ??= new VariableRows(this.db, this));
  }
  /** DAG code bundles by hash (one code version per run): store/dagCode.ts. */
  get dagCode(): DagCodeRows {
    return (this.#dagCode ??= new DagCodeRows(this.db));
  }
  /** Callbacks that fell due (decision 0019): store/callbacks.ts. */
  get callbacks(): CallbackRows {
    return (this.#callbacks ??= new CallbackRows(this.db, this));
  }
  /** Runs' next deadlines and deadline misses: store/deadlines.ts. */
  get deadlines(): DeadlineRows {
    return (this.#deadlines ??= new DeadlineRows(this.db, this));
  }
  /** Caching across runs: store/cache.ts. */
  get cache(): CacheRows {
    return (this.#cache ??= new CacheRows(this.db));
  }
  /** The model registry: versions, aliases and their history, approvals (store/models.ts). */
  get models(): ModelRows {
    return (this.#models ??= new ModelRows(this.db, this));
  }
  /** What model servers answered, sampled and bounded: store/inferenceLog.ts. */
  get inferenceLog(): InferenceLogRows {
    return (this.#inferenceLog ??= new InferenceLogRows(this.db));
  }
  /** Experiment tracking: store/tracking.ts. */
  get tracking(): TrackingRows {
    return (this.#tracking ??= new TrackingRows(this.db));
  }
  /** Runs and task instances across DAGs (lists, the dashboard): store/history.ts. */
  get history(): HistoryRows {
    return (this.#history ??= new HistoryRows(this.db));
  }
  /** The dead-letter queue: store/deadLetters.ts. */
  get deadLetters(): DeadLetterRows {
    return (this.#deadLetters ??= new DeadLetterRows(this.db));
  }
  /** Depending on the past: store/pastWaits.ts. */
  get pastWaits(): PastWaitRows {
    return (this.#pastWaits ??= new PastWaitRows(this.db));
  }
  /** Notes on runs and task instances: store/notes.ts. */
  get notes(): NoteRows {
    return (this.#notes ??= new NoteRows(this.db));
  }
  /** PostgreSQL bench only (`npm run bench -- --pg`). */
  get benchHistory(): BenchHistory {
    return (this.#benchHistory ??= new BenchHistory(this.db));
  }
}

/** @internal See `Aggregates.handleOf`: `store/` modules and tests only. */
export function handleOf(a: Aggregates): Kysely<Database> {
  return Aggregates.handleOf(a);
}
