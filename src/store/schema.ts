/**
 * Table types for Kysely. Timestamps are integer milliseconds since the epoch (UTC) on every dialect:
 * cheap to compare and index, and the same in SQLite and PostgreSQL (bigint).
 */
import type { Generated } from "kysely";

export interface DagVersionsTable {
  dag_id: string;
  version: string;
  /** JSON of the DagSpec. */
  spec: string;
  file: string | null;
  created_at: number;
  /** JSON array of the spec's tags (migration 0013): what tag grants select. */
  tags: string | null;
  /** The spec's owner (migration 0013): what owner grants select. */
  owner: string | null;
  /** 0016: the code bundle (dag_code) the version was last parsed with; null: none kept. */
  code_hash: Generated<string | null>;
}

export interface RunsTable {
  run_id: string;
  dag_id: string;
  dag_version: string;
  /** Unique per DAG: the logical date for scheduled runs, or an idempotency key. */
  run_key: string;
  run_type: string;
  state: string;
  state_reason: string | null;
  logical_date: number;
  /** JSON of the validated params. */
  params: string;
  /** Task instances not yet finished; the run ends when this reaches 0. */
  unfinished: number;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  timeout_at: number | null;
  data_interval_start: number | null;
  data_interval_end: number | null;
  /** 0005: the backfill the run belongs to, if any. */
  backfill_id: Generated<number | null>;
  /** 0014: the person or token that triggered it; null: the scheduler, an asset, a backfill. */
  triggered_by: Generated<string | null>;
  /** 0016: the code bundle (dag_code) every task of the run imports; null: the DAG file as it is. */
  code_hash: Generated<string | null>;
  /** 0018: the run's next deadline to check (its own or a task's); null: none left. */
  deadline_at: Generated<number | null>;
  /** 0028: 1 when the run reuses no cache entry (`--no-cache`). */
  no_cache: Generated<number>;
}

/** 0018: callbacks and notifiers that fell due (store/callbacks.ts). */
export interface CallbacksTable {
  callback_id: Generated<number>;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  event: string;
  position: number;
  name: string;
  state: string;
  tries: Generated<number>;
  due_at: number;
  claimed_by: string | null;
  last_error: string | null;
  created_at: number;
  ended_at: number | null;
}

/** 0018: deadlines missed, one row per run and scope (store/deadlines.ts). */
export interface DeadlineMissesTable {
  run_id: string;
  task_id: string;
  map_index: number;
  deadline_at: number;
  missed_at: number;
}

/** 0016: DAG code bundles by their SHA-256 (executors/dagBundle.ts). */
export interface DagCodeTable {
  hash: string;
  code: string;
  created_at: number;
}

export interface TaskInstancesTable {
  run_id: string;
  task_id: string;
  /** -1 unless mapped; a mapped task has one row at -1 until it expands into rows 0..n-1. */
  map_index: number;
  state: string;
  /** Attempts made so far. */
  try_number: number;
  /** try_number when the instance was last cleared: retries count from here. */
  try_base: Generated<number>;
  /** Upstream task instances and how they ended, for trigger rules (see core/triggerRules). */
  n_upstream: number;
  n_success: number;
  /** failed or upstream_failed */
  n_failed: number;
  /** of which upstream_failed */
  n_upstream_failed: Generated<number>;
  n_skipped: number;
  /** When a scheduled, up_for_retry or up_for_reschedule (a sensor's next poke) instance may start. */
  ready_at: number | null;
  priority: number;
  queue: string;
  /** The current (or last) attempt: the fencing token. */
  attempt_id: number | null;
  started_at: number | null;
  ended_at: number | null;
  /** 0003 — sensors: when a poke that finds the condition unmet times the sensor out. */
  sensor_deadline: number | null;
  /** 0003 — sensors: pokes that found the condition unmet, since the last clear. */
  poke_count: Generated<number>;
  /** 0014 — who last cleared or marked it (null: no person did). */
  changed_by: Generated<string | null>;
}

export interface AttemptsTable {
  attempt_id: Generated<number>;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  /** The task instance's try_base when this attempt was claimed. */
  try_base: Generated<number>;
  state: string;
  worker_id: string;
  hostname: string;
  pid: number;
  started_at: number;
  ended_at: number | null;
  heartbeat_at: number;
  lease_expires_at: number;
  error_code: string | null;
  error_message: string | null;
  error_stack: string | null;
  exit_code: number | null;
  /** Serialised output when small enough; else `output_ref` names an artifact by content hash. */
  output_inline: Uint8Array | null;
  output_ref: string | null;
  output_size: number | null;
  /** 0028: the attempt whose output this cache hit reused; null: it ran. */
  cached_from: Generated<number | null>;
}

export interface DagsTable {
  dag_id: string;
  /** Absolute path of the file that defines it. */
  file: string | null;
  /** The latest version parsed. */
  version: string;
  /** JSON of the parsed schedule (core/schedules), or null: runs only when triggered. */
  schedule: string | null;
  is_paused: number;
  /** 0 once its file is gone or no longer defines it. */
  is_active: number;
  /** JSON of the params scheduled runs get; null when a param has no default. */
  default_params: string | null;
  params_error: string | null;
  /** End of the latest data interval a run was created for. */
  last_interval_end: number | null;
  next_interval_start: number | null;
  /** When the next run is due (the end of its data interval). */
  next_interval_end: number | null;
  updated_at: number;
}

/** 0027: experiment tracking (store/tracking.ts). */
export interface TrackedRunsTable {
  run_id: string;
  experiment: string;
  dag_id: string;
  created_at: number;
}
export interface TrackedParamsTable {
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  key: string;
  /** JSON text. */
  value: string;
}
export interface TrackedMetricsTable {
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  name: string;
  step: number;
  /** Order of recording within the attempt: points with the same step keep theirs. */
  seq: number;
  value: number;
  at: number;
}
export interface TrackedMetricSummariesTable {
  run_id: string;
  task_id: string;
  map_index: number;
  name: string;
  attempt_id: number;
  last_step: number;
  last_value: number;
  min_value: number;
  max_value: number;
  points: number;
}
export interface TrackedTagsTable {
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  key: string;
  value: string;
}
export interface TrackedArtifactsTable {
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  name: string;
  /** The artifact store's content address. */
  ref: string;
  size: number;
  media_type: string | null;
  at: number;
}

/** 0026: the latest type check's errors (engine/typeCheck.ts), replaced as a whole by each check. */
export interface TypeErrorsTable {
  file: string;
  line: number;
  col: number;
  code: number;
  message: string;
  checked_at: number;
}

export interface ImportErrorsTable {
  file: string;
  line: number | null;
  message: string;
  updated_at: number;
}

export interface WorkersTable {
  worker_id: string;
  hostname: string;
  pid: number;
  queues: string;
  concurrency: number;
  started_at: number;
  heartbeat_at: number;
  state: string;
  /** 0006: "worker" | "scheduler". */
  role: Generated<string>;
  /** 0006: JSON of the declared capacity ({cpu, memoryMb, gpu}); null: none declared. */
  resources: string | null;
}

/** 0006: see store/migrations/0006_capacity.ts. */
export interface PoolsTable {
  name: string;
  slots: number;
  description: string | null;
  updated_at: number;
}

/** 0004: see store/migrations/0004_assets_events.ts. */
export interface AssetsTable {
  name: string;
  created_at: number;
  last_event_id: number | null;
  last_event_at: number | null;
}

export interface AssetEventsTable {
  event_id: Generated<number>;
  asset: string;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  attempt_id: number;
  created_at: number;
  /** JSON object. */
  metadata: string;
}

export interface DagAssetsTable {
  asset: string;
  role: "produces" | "consumes";
  dag_id: string;
  /** The producing task; "" for role consumes. */
  task_id: string;
}

export interface AssetConsumptionTable {
  dag_id: string;
  asset: string;
  last_event_id: number;
}

export interface AssetDagQueueTable {
  dag_id: string;
  asset: string;
  created_at: number;
}

export interface RunAssetEventsTable {
  run_id: string;
  event_id: number;
}

export interface EventSubscriptionsTable {
  event: string;
  dag_id: string;
}

export interface EventLogTable {
  event_id: Generated<number>;
  name: string;
  /** JSON. */
  payload: string;
  idempotency_key: string | null;
  /** "api" | "cli" | "runtime" */
  source: string;
  received_at: number;
}

export interface EventRunsTable {
  event_id: number;
  dag_id: string;
  /** null until the DAG's run is created. */
  run_id: string | null;
}

/** 0005: see store/migrations/0005_backfills.ts. */
export interface BackfillsTable {
  backfill_id: Generated<number>;
  dag_id: string;
  from_date: number;
  to_date: number;
  /** core/backfill Reprocess */
  reprocess: string;
  max_active: number;
  run_backwards: number;
  /** running | success | failed | cancelled */
  state: string;
  state_reason: string | null;
  created_at: number;
  ended_at: number | null;
  driver_pid: number | null;
  driver_host: string | null;
  driver_heartbeat_at: number | null;
}

export interface BackfillRunsTable {
  backfill_id: number;
  /** The data interval's start (the run's logical date) and end. */
  logical_date: number;
  interval_end: number;
  /** Run order. */
  ordinal: number;
  /** core/backfill IntervalAction */
  action: string;
  /** Set when the backfill started (created or cleared) the interval's run. */
  run_id: string | null;
}

/** 0007: see store/migrations/0007_auth.ts. */
export interface UsersTable {
  username: string;
  /** `scrypt$N$r$p$salt$hash` (auth/passwords.ts). */
  password_hash: string;
  /** admin | operator | viewer */
  role: string;
  created_at: number;
  password_changed_at: number;
}

export interface SessionsTable {
  /** SHA-256 (hex) of the session id; the id itself is only in the user's cookie. */
  id_hash: string;
  username: string;
  created_at: number;
  expires_at: number;
}

export interface ApiTokensTable {
  token_id: string;
  /** SHA-256 (hex) of the token, which is shown once. */
  token_hash: string;
  name: string;
  username: string;
  role: string;
  created_at: number;
  last_used_at: number | null;
  /** null: the token's role-based access; `events:<name-glob>`: it may only send matching events (0013). */
  scope: string | null;
}

export interface GrantsTable {
  grant_id: Generated<number>;
  principal_kind: string;
  principal: string;
  role: string;
  selector: string;
  created_at: number;
  created_by: string;
}

/** The run columns a claim hands to the new attempt (store.ts RunLockRow, claims.ts ClaimableRow). */
export interface RunContextRow {
  dag_id: string;
  dag_version: string;
  code_hash: string | null;
  logical_date: number;
  params: string;
  data_interval_start: number | null;
  data_interval_end: number | null;
}

/** Task outputs above the inline limit, on PostgreSQL (store/artifacts.ts). */
export interface ArtifactsTable {
  /** SHA-256 (hex) of the bytes. */
  ref: string;
  bytes: Buffer;
  size: number;
  /** When the bytes were last put (ms, database time). */
  touched_at: number;
}

/** Task log lines on PostgreSQL, in chunks (store/attemptLogs.ts). */
export interface AttemptLogsTable {
  attempt_id: number;
  /** The number (from 0) of the chunk's first line in the attempt's log. */
  first_line: number;
  n: number;
  /** `n` JSON lines, each ending in a newline. */
  body: string;
}

/** 0014: see store/migrations/0014_audit.ts. Append-only for the application. */
export interface AuditLogTable {
  id: Generated<number>;
  /** ms; the database's clock on PostgreSQL. */
  at: number;
  actor: string;
  /** session | token | cli | system */
  via: string;
  ip: string | null;
  user_agent: string | null;
  /** The operation id, e.g. `runs.trigger`. */
  action: string;
  dag_id: string | null;
  run_id: string | null;
  target: string | null;
  /** JSON, secret values replaced by "***". */
  before: string | null;
  after: string | null;
  /** Logins: success | failure. */
  outcome: string | null;
}

/** 0012: see store/migrations/0012_connections_variables.ts. Secret columns hold ciphertexts only. */
export interface ConnectionsTable {
  conn_id: string;
  conn_type: string;
  description: string | null;
  host: string | null;
  port: number | null;
  login: string | null;
  /** Ciphertext (secrets/keyring.ts) of the password, or null. */
  password: string | null;
  /** The connection's schema (database) field; "schema" is a keyword in SQL. */
  schema_name: string | null;
  /** Ciphertext of the extra JSON object, or null. */
  extra: string | null;
  created_at: number;
  updated_at: number;
}

export interface VariablesTable {
  key: string;
  /** JSON text, or its ciphertext when is_secret is 1. */
  value: string;
  is_secret: number;
  description: string | null;
  updated_at: number;
}

/** The dead-letter queue (migration 0020): task instances that failed after their last try. */
export interface DeadLettersTable {
  dead_letter_id: Generated<number>;
  run_id: string;
  task_id: string;
  map_index: number;
  dag_id: string;
  /** The last attempt (its error, its log). */
  attempt_id: number | null;
  try_number: number;
  /** Tries since the instance was last cleared (the retries it used up). */
  attempts: number;
  /** exhausted | non_retryable | sensor_timeout (core/deadLetters.ts). */
  reason: string;
  error_code: string | null;
  error_message: string | null;
  /** JSON: the inputs' upstream task ids by name and the map index (the values are those tasks' outputs in the run). */
  inputs: string;
  /** 1 when the DAG parks dead letters (`deadLetter: "park"`): the run did not fail for it. */
  parked: number;
  /** open | retried | discarded. */
  state: string;
  created_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
}

/** Task instances held back by the past (migration 0021, core/pastDeps.ts). */
export interface PastWaitsTable {
  run_id: string;
  task_id: string;
  /** The previous run whose task instances it waits on. */
  prev_run_id: string;
  reason: string;
  created_at: number;
}

/** 0028: cached tasks' entries (store/cache.ts). */
export interface TaskCacheTable {
  dag_id: string;
  task_id: string;
  cache_key: string;
  attempt_id: number;
  created_at: number;
  expires_at: number | null;
}

/** 0029: the model registry (store/models.ts). JSON columns hold text. */
export interface ModelsTable {
  name: string;
  /** The highest version number given out (0 before the first). */
  latest_version: number;
  created_at: number;
  updated_at: number;
}
export interface ModelVersionsTable {
  name: string;
  version: number;
  artifact_ref: string;
  artifact_size: number;
  /** JSON: ModelFlavor. */
  flavor: string;
  framework: string | null;
  /** JSON: ModelSignature. */
  signature: string | null;
  /** JSON: name -> finite number. */
  metrics: string;
  /** JSON object. */
  params: string;
  description: string | null;
  dag_id: string;
  dag_version: string;
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  /** JSON: the asset events the registering run consumed (ModelInputEvent[]). */
  input_events: string;
  created_at: number;
}
export interface ModelAliasesTable {
  name: string;
  alias: string;
  version: number;
  updated_at: number;
}
export interface ModelAliasHistoryTable {
  id: Generated<number>;
  name: string;
  alias: string;
  from_version: number | null;
  to_version: number;
  /** promote | rollback | gate */
  kind: string;
  actor: string;
  reason: string | null;
  at: number;
}
export interface ModelApprovalsTable {
  id: Generated<number>;
  name: string;
  alias: string;
  version: number;
  from_version: number | null;
  /** JSON: the gate's comparison (core/promotion.ts GateComparison). */
  comparison: string;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  attempt_id: number;
  /** pending | approved | rejected | expired */
  state: string;
  requested_at: number;
  expires_at: number | null;
  decided_by: string | null;
  decided_at: number | null;
  comment: string | null;
}

/** 0030: what model servers answered, sampled and bounded per model (store/inferenceLog.ts). */
export interface InferenceLogTable {
  log_id: Generated<number>;
  model: string;
  version: number;
  /** The alias the server served (null: a version named directly). */
  alias: string | null;
  at: number;
  /** JSON text: one request row. */
  input: string;
  /** JSON text: its prediction. */
  prediction: string;
}
export interface RunNotesTable {
  run_id: string;
  note: string;
  updated_by: string;
  updated_at: number;
}

export interface TaskInstanceNotesTable {
  run_id: string;
  task_id: string;
  map_index: number;
  note: string;
  updated_by: string;
  updated_at: number;
}

export interface Database {
  dag_versions: DagVersionsTable;
  run_notes: RunNotesTable;
  task_instance_notes: TaskInstanceNotesTable;
  runs: RunsTable;
  task_instances: TaskInstancesTable;
  attempts: AttemptsTable;
  workers: WorkersTable;
  dags: DagsTable;
  import_errors: ImportErrorsTable;
  type_errors: TypeErrorsTable;
  tracked_runs: TrackedRunsTable;
  task_cache: TaskCacheTable;
  inference_log: InferenceLogTable;
  tracked_params: TrackedParamsTable;
  tracked_metrics: TrackedMetricsTable;
  tracked_metric_summaries: TrackedMetricSummariesTable;
  tracked_tags: TrackedTagsTable;
  tracked_artifacts: TrackedArtifactsTable;
  assets: AssetsTable;
  asset_events: AssetEventsTable;
  dag_assets: DagAssetsTable;
  asset_consumption: AssetConsumptionTable;
  asset_dag_queue: AssetDagQueueTable;
  run_asset_events: RunAssetEventsTable;
  event_subscriptions: EventSubscriptionsTable;
  event_log: EventLogTable;
  event_runs: EventRunsTable;
  backfills: BackfillsTable;
  backfill_runs: BackfillRunsTable;
  pools: PoolsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  grants: GrantsTable;
  artifacts: ArtifactsTable;
  attempt_logs: AttemptLogsTable;
  audit_log: AuditLogTable;
  connections: ConnectionsTable;
  variables: VariablesTable;
  dag_code: DagCodeTable;
  callbacks: CallbacksTable;
  deadline_misses: DeadlineMissesTable;
  dead_letters: DeadLettersTable;
  past_waits: PastWaitsTable;
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  model_alias_history: ModelAliasHistoryTable;
  model_approvals: ModelApprovalsTable;
}
