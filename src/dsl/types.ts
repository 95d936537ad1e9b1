/** Types of the public authoring API. Typed data flow is API: see test/types for what must not compile. */
import type { Span } from "@opentelemetry/api";
import type { JsonValue } from "../core/assets.js";
import type { Connection } from "../secrets/connection.js";
import type { Duration } from "../core/duration.js";
import type { ResourceRequest } from "../core/resources.js";
import type { StandardSchemaV1 } from "../core/standardSchema.js";
import type { TriggerRule } from "../core/triggerRules.js";
import type { DeadlineOption } from "../core/deadlines.js";
import type { Timetable, TriggerScheduleOption } from "../core/timetables.js";
import type { Callbacks, TaskCallbackOptions } from "./callbacks.js";

declare const OUTPUT: unique symbol;

/**
 * A handle on a task inside a DAG definition. Pass it in another task's `inputs` to receive its output
 * (typed `T`), or in `after` for an order-only dependency.
 */
export interface TaskRef<T> {
  readonly id: string;
  readonly dagId: string;
  /** Phantom: carries the output type; never set at run time. */
  readonly [OUTPUT]?: T;
  /**
   * Each element of this task's output (a list, or an object's `[key, value]` entries) transformed by
   * `fn` before a mapped task gets it (Airflow's `XComArg.map`): use it in `over` or `overKwargs`. `fn`
   * runs in the worker, for one element as its instance starts; the number of instances is unchanged.
   *
   * @example
   * d.map("fetch", { over: { url: pages.map((p) => `https://example.com/${p.slug}`) } }, async ({ url }) => get(url));
   */
  map<U>(fn: (element: MapElement<T>) => U): MappedRef<U>;
}

declare const ELEMENT: unique symbol;

/** A task's output with each element transformed (`ref.map(fn)`): something to map over, not an input. */
export interface MappedRef<E> {
  readonly id: string;
  readonly dagId: string;
  /** Phantom (never set at run time; required, so that a plain handle is not one): the type of one transformed element. */
  readonly [ELEMENT]: E;
}

/** What one element of a mapped-over value is: a list's element, or an object's `[key, value]` entry. */
export type MapElement<T> = T extends readonly (infer E)[] ? E : T extends Readonly<Record<string, infer V>> ? [string, V] : never;

export type AnyRef = TaskRef<unknown>;
export type Inputs = Record<string, AnyRef>;

/**
 * What a task without `inputs` receives: an object with no keys. Not `Record<string, never>`, whose index
 * signature would let a body destructure any name (`({ typo }) => ...`) without a compile error.
 */
export type NoInputs = { readonly [K in never]: never };

/** Rules under which every upstream task succeeded, so every input has a value. */
export type StrictRule = "all_success";

/** What a task function receives for its `inputs`: values typed like the upstream outputs. */
export type InputValues<I extends Inputs, R extends TriggerRule> = [R] extends [StrictRule]
  ? { [K in keyof I]: I[K] extends TaskRef<infer T> ? T : never }
  : // Under any other rule an upstream task may have failed or been skipped: its input is undefined.
    { [K in keyof I]: I[K] extends TaskRef<infer T> ? T | undefined : never };

/** What a mapped argument takes its elements from: a literal list, a task returning a list or an object, or `ref.map(fn)`. */
export type MapSourceRef = TaskRef<readonly unknown[]> | TaskRef<Readonly<Record<string, unknown>>> | MappedRef<unknown> | readonly unknown[];

export type MapOver = Record<string, MapSourceRef>;

declare const ZIPPED: unique symbol;

/** `zip({ … })`: the lists mapped over position by position. */
export interface Zipped<Z extends MapOver> {
  readonly [ZIPPED]: Z;
}

/** One element of a mapped argument's source. */
export type ElementOf<S> = S extends MappedRef<infer E> ? E : S extends TaskRef<infer L> ? MapElement<L> : S extends readonly (infer E)[] ? E : never;

export type MapItem<M extends MapOver | Zipped<MapOver>> = M extends Zipped<infer Z> ? { [K in keyof Z]: ElementOf<Z[K]> } : { [K in keyof M]: ElementOf<M[K]> };

/**
 * The element of a mapped task group (`d.mapGroup`) under each name of its `over` (and `partial`): a handle
 * that only the group's own tasks take as an input, receiving their instance's element.
 */
export type GroupItem<X> = { readonly [K in keyof X]: TaskRef<X[K]> };

/**
 * What a mapped task group's build function returned, as seen outside the group: each handle of a task
 * inside it gives the list of its instances' outputs, in map-index order (the downstream task is a reduce).
 */
export type Reduced<T> = T extends TaskRef<infer O>
  ? TaskRef<O[]>
  : T extends readonly unknown[]
    ? { -readonly [K in keyof T]: Reduced<T[K]> }
    : T extends (...args: never[]) => unknown
      ? T
      : T extends object
        ? { [K in keyof T]: Reduced<T[K]> }
        : T;

/** `d.mapGroup`'s options: what to map over (as `d.map`'s `over`), fixed arguments, and a task group's options. */
export interface MapGroupOptions<M extends MapOver | Zipped<MapOver>, A extends Record<string, unknown> = NoInputs> {
  /** Lists to instantiate the group over, by name: a literal list, an upstream output, or several (cross product; `zip({ … })`). */
  over: M;
  /** Fixed JSON values beside the mapped ones, taken like elements (Airflow's `partial` of a task group). */
  partial?: A;
  description?: string;
  defaults?: TaskDefaults;
}

/** What `overKwargs` maps over: a list of argument objects (literal, an upstream output, or `ref.map(fn)` giving objects). */
export type KwargsSource = TaskRef<readonly Readonly<Record<string, unknown>>[]> | MappedRef<Readonly<Record<string, unknown>>> | readonly Readonly<Record<string, unknown>>[];

export interface TaskLogger {
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string, ...args: unknown[]): void;
}

/** What every task function gets besides its inputs. */
export interface TaskContext<P = Record<string, unknown>> {
  /**
   * The run's data interval [start, end): a scheduled run's from its timetable; a manual run's as its
   * timetable infers it for the logical date (a daily DAG triggered on the 25th covers the 24th); a
   * trigger timetable's run and a run of a DAG without a time schedule: [logicalDate, logicalDate].
   */
  readonly dataInterval: { readonly start: Date; readonly end: Date };
  readonly runId: string;
  readonly dagId: string;
  readonly taskId: string;
  /** -1 for a task that is not mapped. */
  readonly mapIndex: number;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly logicalDate: Date;
  /** The run's params, validated against the DAG's schema. */
  readonly params: P;
  /**
   * Absolute path of the DAG file that defines the task (null for a DAG defined in code): relative paths in
   * a task resolve from its folder, like the ready-made sensors' (`fileExists("data/*.csv")`).
   */
  readonly dagFile?: string | null;
  /** Fires when the attempt times out or the run is cancelled: stop work and throw. */
  readonly signal: AbortSignal;
  /**
   * This attempt's id: a fencing token. It only grows from one attempt of a task to the next, so an
   * external system that records the highest token it has seen per key can refuse a write carrying a
   * lower one — the write of a stale attempt (one that lost its lease while paused, and was replaced)
   * after its successor's. Shell and Python tasks get it as `SLUICE_ATTEMPT_ID`.
   *
   * @example
   * d.task("publish", async (_, ctx) => {
   *   ctx.assertLive();
   *   await fetch(url, { method: "PUT", headers: { "If-Fencing-Token": String(ctx.attemptId) }, body });
   * });
   */
  readonly attemptId: number;
  /**
   * Throws (the abort reason: LEASE_LOST, CANCELLED, TIMEOUT, INTERRUPTED) when this attempt is no longer
   * the live one. Costs nothing (no query): call it before each external side effect. A task that ignores
   * its signal after losing its lease could otherwise repeat an effect its replacement performs too;
   * effects should be idempotent, and `attemptId` lets the other side reject stale writes.
   */
  assertLive(): void;
  readonly log: TaskLogger;
  /**
   * This attempt's span (OpenTelemetry) while tracing is on (the OTEL_* variables: docs/operations.md),
   * else a span that records nothing. It is the active span while the task runs: spans the task starts
   * with `tracer.startActiveSpan` nest under it. Shell and Python tasks, and process-isolated ones, get
   * it as `TRACEPARENT`.
   *
   * @example
   * d.task("train", async (_, ctx) => {
   *   ctx.span.setAttribute("model.rows", rows.length);
   *   ctx.span.addEvent("checkpoint saved");
   * });
   */
  readonly span: Span;
  /** The external event that triggered this run (`sluice events send`, `POST /api/v1/events/<name>`), or null. */
  readonly event: TriggeringEvent | null;
  /** The asset events an asset-scheduled run consumed (oldest first); empty for other runs. */
  readonly triggeringAssetEvents: readonly AssetEvent[];
  /**
   * Attach metadata to the asset event this attempt records for `asset` (one of the task's `produces`)
   * when it succeeds. Calls merge; the metadata must be JSON.
   *
   * @example
   * d.task("load", { produces: ["warehouse.daily_sales"] }, async (_, ctx) => {
   *   ctx.assetMetadata("warehouse.daily_sales", { rows: 123 });
   * });
   */
  assetMetadata(asset: string, metadata: Record<string, JsonValue>): void;
  /**
   * A connection, looked up when called in the environment (`SLUICE_CONN_<ID>`), the secrets folder
   * (`SLUICE_SECRETS_DIR`), then the metadata store (`sluice connections add`). An unknown id fails the
   * attempt naming the id and where it was searched. Its password, extra and URI are masked (`***`) in
   * everything the attempt writes.
   *
   * @example
   * d.task("load", async (_, ctx) => {
   *   const wh = await ctx.connection("warehouse");
   *   const client = new pg.Client({ host: wh.host, port: wh.port, user: wh.login, password: wh.password, database: wh.schema });
   * });
   */
  connection(id: string): Promise<Connection>;
  /**
   * A variable's JSON value, looked up like a connection (`SLUICE_VAR_<KEY>`, the folder, the store). An
   * unknown key fails the attempt, unless a `fallback` is given. Secret values are masked in what the
   * attempt writes. The type parameter is what the author expects; validate it if unsure.
   */
  variable<T = JsonValue>(key: string, fallback?: T): Promise<T>;
  /**
   * Experiment tracking: params, metrics (with a step, for learning curves), tags and files of this task
   * instance — a *trial* of the run's experiment (the DAG's id unless the DAG says `experiment`). Compared
   * with `sluice runs compare`, `sluice experiments show`, the API and the UI's Experiments page. Points
   * are written in batches; a metric that is not a finite number throws, naming it.
   *
   * @example
   * d.map("fit", { over: { depth: [2, 4, 8] } }, async ({ depth }, ctx) => {
   *   ctx.track.param("depth", depth);
   *   for (let epoch = 0; epoch < 10; epoch++) ctx.track.metric("loss", trainEpoch(), { step: epoch });
   *   ctx.track.metric("accuracy", evaluate());
   *   await ctx.track.artifact("model.json", Buffer.from(JSON.stringify(model)));
   * });
   */
  readonly track: Tracker;
  /**
   * The model registry: `register` stores a trained model as the next version of `name` (1, 2, 3…), with
   * its metrics, params and signature, linked to this attempt, its run and the asset events the run
   * consumed. Promote it with a gate (`d.promote`) or `sluice models promote`.
   *
   * @example
   * d.task("train", async (_, ctx) => {
   *   await writeFile("model.json", JSON.stringify(model));
   *   return ctx.models.register("spam", {
   *     artifact: "model.json",
   *     flavor: { module: "./spamModel.ts" },            // exports load(artifact, version) → Predictor
   *     signature: z.object({ text: z.string() }),
   *     metrics: { accuracy: 0.93, latency_p95: 80 },
   *   });                                                 // → { name: "spam", version: 3 }
   * });
   */
  readonly models: ModelRegistry;
}

/** `ctx.models`: registering model versions. */
export interface ModelRegistry {
  register(name: string, options: RegisterModelOptions): Promise<RegisteredModel>;
  /**
   * What model servers answered for `name` (`sluice models serve`, sampled and bounded): the newest rows
   * matching `options` (default 1,000, at most 100,000), oldest first — what a drift monitor compares with
   * the training data.
   *
   * @example
   * const rows = await ctx.models.inferenceLog("iris", { since: Date.now() - 86_400_000, limit: 5000 });
   * const widths = rows.map((r) => (r.input as { petal_width: number }).petal_width);
   */
  inferenceLog(name: string, options?: InferenceLogOptions): Promise<InferenceLogEntry[]>;
}

/** Which rows of a model's inference log to read. */
export interface InferenceLogOptions {
  /** Only rows logged at or after this time. */
  since?: Date | number;
  /** Only rows after this id (the last `id` a previous read returned). */
  afterId?: number;
  /** Only rows this version predicted. */
  version?: number;
  /** At most this many (the newest); default 1,000, at most 100,000. */
  limit?: number;
}

/** One logged request row: its input, its prediction, the version that made it. */
export interface InferenceLogEntry {
  /** Increases with every row logged. */
  id: number;
  at: Date;
  version: number;
  /** The alias the server served (null: a version named directly). */
  alias: string | null;
  input: unknown;
  prediction: unknown;
}

/** What `ctx.models.register` returns (and a promotion gate takes as its `candidate`). */
export interface RegisteredModel {
  name: string;
  version: number;
}

export interface RegisterModelOptions {
  /** The model's bytes, or the path of a file the task wrote (relative to the working directory). */
  artifact: Uint8Array | string;
  /**
   * The code that loads it for serving, relative to the DAG file: `{ module: "./m.ts", export?: "load" }`
   * (TypeScript, in process) or `{ python: "./m.py" }` (a script defining `load(path)`).
   */
  flavor: { module: string; export?: string } | { python: string };
  /** A free label: "ml-random-forest", "sklearn", … */
  framework?: string;
  /**
   * What one request row is: a zod object schema (turned into JSON Schema), a JSON Schema of an object, or
   * `{ inputs, outputs }` of JSON Schemas.
   */
  signature?: StandardSchemaV1 | Record<string, unknown>;
  /** Finite numbers; a promotion gate compares these. */
  metrics?: Record<string, number>;
  params?: Record<string, JsonValue>;
  description?: string;
}

/** One metric's rule in a promotion gate (`d.promote`'s `compare`). */
export interface MetricRuleOption {
  /** Compared with the alias's current holder: at most this much worse (skipped when there is none). */
  notWorseBy?: number;
  /** For `notWorseBy`: lower values are better (a loss, a latency). Default: higher is better. */
  lowerIsBetter?: boolean;
  /** Absolute bounds, checked whether or not there is a holder. */
  min?: number;
  max?: number;
}

/** `d.promote`'s options besides the usual task options. */
export interface PromoteOptions<R extends TriggerRule = TriggerRule> extends Omit<TaskOptions<Inputs, R>, "inputs" | "isolation" | "fresh" | "memoryLimitMb" | "cache" | "cacheKey" | "cacheExpires" | "cacheVersion" | "cacheParams" | "timeout"> {
  /** The model whose alias moves. */
  model: string;
  /** The task that registered the candidate (its output: `{ name, version }`, what ctx.models.register returns). */
  candidate: AnyRef;
  /** The alias to move: "champion", "production", … */
  alias: string;
  /** Metric → rule; every rule must pass. Default: none (only the approval, if any). */
  compare?: Record<string, MetricRuleOption>;
  /**
   * Wait for a person to approve (`sluice models approve <id>`, the API, the UI) before moving the alias;
   * while it waits the gate holds no worker slot. `timeout`: how long at most (default "7d"), then the gate
   * fails with TIMEOUT.
   */
  approval?: boolean | { timeout?: Duration };
}

/** What a promotion gate gives downstream. */
export interface PromotionResult {
  name: string;
  alias: string;
  /** The version the alias now holds. */
  version: number;
  /** The version it held before (null: none); equal to `version` when it held the candidate already. */
  previous: number | null;
  moved: boolean;
  /** The approval that allowed it, when the gate asked for one. */
  approvalId: number | null;
}

/** `ctx.track`: what a task records for its experiment. */
export interface Tracker {
  param(name: string, value: JsonValue): void;
  params(values: Record<string, JsonValue>): void;
  /** A scalar; `step` orders a series (default: one more than the series' last step). */
  metric(name: string, value: number, opts?: { step?: number }): void;
  metrics(values: Record<string, number>, opts?: { step?: number }): void;
  tag(name: string, value: string): void;
  /** A file: its bytes, or the path of a file to read (relative to the working directory). */
  artifact(name: string, data: Uint8Array | string, opts?: { mediaType?: string }): Promise<void>;
}

/** An external event, as a task of the run it triggered sees it. */
export interface TriggeringEvent {
  readonly id: number;
  readonly name: string;
  /** The JSON the sender posted (null when it sent none). Validate it before use (e.g. with zod). */
  readonly payload: JsonValue;
  readonly receivedAt: Date;
}

/** One recorded update of an asset: which run and task produced it, when, with what metadata. */
export interface AssetEvent {
  readonly id: number;
  readonly asset: string;
  readonly dagId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly mapIndex: number;
  readonly attempt: number;
  readonly createdAt: Date;
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

export interface RetryOptions {
  /** Attempts after the first. Default 0. */
  retries?: number;
  /** Delay before a retry. Default "5m" (Airflow's). */
  retryDelay?: Duration;
  /** "exponential" doubles the delay after every failed attempt. Default "fixed". */
  retryBackoff?: "fixed" | "exponential";
  maxRetryDelay?: Duration;
  /** 0..1: a random fraction of the delay taken off, so retries do not march in lock-step. Default 0. */
  retryJitter?: number;
  /**
   * Errors that another try cannot fix, by name: a thrown error whose `name` or class name is listed fails
   * the task at once, whatever retries are left, and sends it to the dead-letter queue (as
   * `throw new NonRetryableError(...)` does anywhere). In-process and `isolation: "process"` tasks.
   *
   * @example
   * d.task("load", { retries: 5, nonRetryable: ["ValidationError"] }, load);
   */
  nonRetryable?: readonly string[];
}

/** Options that DAG-level `defaults` can set for every task. */
export interface TaskDefaults extends RetryOptions, TaskCallbackOptions {
  /** The attempt fails (and is retried if retries remain) after this long; the signal fires. */
  timeout?: Duration;
  owner?: string;
  /** "process" runs the task in a child Node process: a crash or out-of-memory does not take Sluice down. */
  isolation?: "inline" | "process";
  /** With isolation "process": the child's heap limit. */
  memoryLimitMb?: number;
  /**
   * With isolation "process": run every attempt in a new process instead of a warm one reused for other
   * attempts of the same DAG code (the default: see "Warm processes" in the README). For a task that
   * changes global state, patches modules or keeps secrets in module variables it must not share.
   */
  fresh?: boolean;
  /**
   * Variables set for the task's process (shell, Python, `isolation: "process"`), merged over the DAG's and
   * group's defaults. A task process starts from a clean environment — PATH, HOME, locale, TZ and what the
   * operator allows with SLUICE_TASK_ENV_ALLOW — never Sluice's own SLUICE_* variables. In-process tasks
   * share Sluice's process.env: run tasks that must not see it with `isolation: "process"`.
   */
  env?: Record<string, string>;
  /**
   * Workers serving this queue run the task (`sluice worker --queues gpu`). Default "default". A task whose
   * queue no worker serves waits as scheduled (`sluice status` shows the queue's depth).
   */
  queue?: string;
  /**
   * The pool whose slots the task holds while it runs (`sluice pools set gpu --slots 2`). Default
   * "default_pool" (128 slots). A pool that does not exist fails the task with a message naming it.
   */
  pool?: string;
  /** Slots of the pool this task holds while it runs. Default 1. */
  poolSlots?: number;
  /**
   * Caching across runs: reuse a previous successful result of this task when its cache key matches —
   * by default a hash of the task's code (its function, or its command and script file), its inputs, the
   * params it reads (`cacheParams`, default all) and `cacheVersion`. A hit costs milliseconds and records an
   * attempt marked cached, sharing the earlier output. Mapped instances are cached one by one.
   *
   * @example
   * d.map("fit", { over: { depth: [2, 4, 8] }, inputs: { data }, cache: true, cacheExpires: "7d" }, fit);
   */
  cache?: boolean;
  /** How long an entry is reused (default: forever). */
  cacheExpires?: Duration;
  /** Part of the key: change it to invalidate what was cached (e.g. after a data fix the code does not show). */
  cacheVersion?: string;
  /** The params the task reads: only these are part of its key (default: all the run's params). */
  cacheParams?: readonly string[];
  /** Higher runs first among ready tasks (across DAGs); equal priorities share fairly between DAGs. Default 0. */
  priority?: number;
  /**
   * What the task needs of a worker while it runs, matched against the worker's declared capacity
   * (`sluice worker --resources cpu=4,memory=16Gi,gpu=1`); memory as bytes or "512Mi", "4Gi".
   *
   * @example
   * d.task("train", { queue: "gpu", resources: { cpu: 4, memory: "16Gi", gpu: 1 } }, train);
   */
  resources?: ResourceRequest;
  /** At most this many instances of this task run at once, across all runs of the DAG (Airflow's max_active_tis_per_dag). */
  maxActiveTisPerDag?: number;
  /**
   * Airflow's depends_on_past: this task runs only once its instance in the DAG's previous run (by logical
   * date; with catchup, the previous scheduled or backfill run) succeeded or was skipped. The first run,
   * and the first run of a backfill, need nothing. Needs a DAG with a time schedule.
   */
  dependsOnPast?: boolean;
  /** Airflow's wait_for_downstream: also wait for the previous run's instances of this task's direct downstream tasks (implies dependsOnPast). */
  waitForDownstream?: boolean;
  /** Airflow's ignore_first_depends_on_past: when the previous run has no instance of this task (a task new to the DAG), run anyway. */
  ignoreFirstDependsOnPast?: boolean;
}

export interface TaskOptions<I extends Inputs = Inputs, R extends TriggerRule = TriggerRule> extends TaskDefaults {
  /** Upstream outputs this task receives, by name. */
  inputs?: I;
  /** Order-only dependencies. */
  after?: readonly AnyRef[];
  triggerRule?: R;
  description?: string;
  /**
   * Assets this task updates when it succeeds: names ("warehouse.daily_sales") or URIs ("s3://lake/orders").
   * Each success records one asset event per asset; DAGs scheduled on the asset run from it.
   */
  produces?: readonly string[];
  /**
   * When this task must be done (decision 0019): `{ from: "start", within: "20m" }` (of its attempt's
   * start), `{ from: "logicalDate" | "queued", within: "2h" }`, or `{ at: "06:00", timezone: "Europe/Berlin" }`.
   * A miss fires `onDeadlineMiss` (and the DAG's `notify.onDeadlineMiss`) once per run; it changes no state.
   */
  deadline?: DeadlineOption;
  onDeadlineMiss?: Callbacks;
  /**
   * The cache key instead of the default one (with `cache: true`): a string computed from the inputs and
   * context, e.g. a dataset's version. A function that throws runs the task uncached, saying why in its log.
   */
  cacheKey?: (inputs: InputValues<I, R>, ctx: TaskContext<Record<string, unknown>>) => string;
}

export interface MapOptions<M extends MapOver | Zipped<MapOver>, I extends Inputs, R extends TriggerRule, A extends Record<string, unknown> = NoInputs> extends TaskOptions<I, R> {
  /**
   * Lists to fan out over, by name; several lists give their cross product, `zip({ … })` pairs them up
   * position by position. Each may be a literal list, an upstream output (a list, or an object: its
   * `[key, value]` entries), or `ref.map(fn)`.
   */
  over: M;
  overKwargs?: never;
  /** Fixed JSON arguments every instance gets beside the mapped ones (Airflow's `partial`). */
  partial?: A;
}

export interface KwargsMapOptions<K extends KwargsSource, I extends Inputs, R extends TriggerRule, A extends Record<string, unknown> = NoInputs> extends TaskOptions<I, R> {
  /** One instance per object of this list, its keys the arguments (Airflow's `expand_kwargs`). */
  overKwargs: K;
  over?: never;
  /** Fixed JSON arguments every instance gets beside the mapped ones (Airflow's `partial`). */
  partial?: A;
}

export type ArgsOf<I extends Inputs, R extends TriggerRule, P> = string[] | ((inputs: InputValues<I, R>, ctx: TaskContext<P>) => string[] | Promise<string[]>);

export interface ShellOptions<I extends Inputs, R extends TriggerRule, P> extends TaskOptions<I, R>, SecretOptions {
  /** The program to run (looked up on PATH), or a script when `shell` is true. */
  command: string;
  args?: ArgsOf<I, R, P>;
  /** Working directory, relative to the DAG file's folder. Default: that folder. */
  cwd?: string;
  /** Run `command` through /bin/sh -c (pipes, globs). Default false. */
  shell?: boolean;
  /** Exit codes that skip the task instead of failing it (Airflow's skip_on_exit_code). Default 99; null: none. */
  skipOnExitCode?: SkipOnExitCode;
}

/** An exit code (1–255), a list of them, or null for none. */
export type SkipOnExitCode = number | readonly number[] | null;

/** What shell and Python tasks declare to receive connections and variables in their environment. */
export interface SecretOptions {
  /**
   * Connections passed in as `SLUICE_CONN_<ID>` (a URI; `<ID>` upper-cased, `-` and `.` as `_`): only these,
   * resolved when the attempt starts and masked in its log. An unknown id fails the attempt.
   */
  connections?: readonly string[];
  /** Variables passed in as `SLUICE_VAR_<KEY>` (JSON), likewise. */
  variables?: readonly string[];
}

export interface PythonOptions<I extends Inputs, R extends TriggerRule, P, S extends StandardSchemaV1 | undefined>
  extends TaskOptions<I, R>,
    SecretOptions {
  /** A Python file, relative to the DAG file's folder. */
  script?: string;
  /** Or a module to run with `python -m`. */
  module?: string;
  args?: ArgsOf<I, R, P>;
  cwd?: string;
  /** Interpreter; default $SLUICE_PYTHON or "python3". */
  python?: string;
  /** Schema of the JSON the script returns; the output is validated and typed by it. */
  output?: S;
  /** Exit codes that skip the task instead of failing it (`sys.exit(99)`). Default 99; null: none. */
  skipOnExitCode?: SkipOnExitCode;
}

export type PythonOutput<S> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : unknown;

export interface DagOptions<PS extends StandardSchemaV1 | undefined = undefined> {
  description?: string;
  /** Markdown shown in the UI. */
  doc?: string;
  owner?: string;
  tags?: readonly string[];
  /** Params schema (zod or any Standard Schema); params are validated when a run is created. */
  params?: PS;
  /** Defaults for every task of the DAG. */
  defaults?: TaskDefaults;
  /** A run still going after this long is failed and its running tasks are aborted. */
  runTimeout?: Duration;
  /** At most this many task instances of this DAG run at once, across all its runs and all workers. */
  maxActiveTasks?: number;
  /**
   * When scheduled runs happen: a cron expression ("0 6 * * *"; 6 fields with seconds first), a preset
   * ("@hourly", "@daily", "@weekly", "@monthly", "@yearly") or a fixed interval ("every 15m"). Each run
   * covers a data interval [start, end): its logical date is `start` and it starts at `end` (Airflow's
   * semantics). Or on assets: `{ assets: { anyOf: ["s3://lake/orders"] } }` (see AssetScheduleOption).
   * Or Airflow 3's trigger timetables, a run at each tick with no data interval:
   * `{ trigger: "0 6 * * *" }`, several crons `{ trigger: ["0 6 * * 1-5", "0 9 * * 6"] }`, or
   * `{ trigger: "every 3 days", runImmediately: true }`. "every 1 month" / "every 1 year" are calendar
   * deltas from startDate. Or your own `Timetable` (see README, "Schedules and timetables").
   * Without a schedule, runs happen only when triggered.
   */
  schedule?: string | AssetScheduleOption | TriggerScheduleOption | Timetable | null;
  /** IANA timezone of a cron schedule, e.g. "Europe/Berlin" (daylight saving handled). Default "UTC". */
  timezone?: string;
  /** No data interval starts before this (ISO 8601 or a Date). Fixed intervals are laid out from it. */
  startDate?: string | Date;
  /** No data interval starts after this. */
  endDate?: string | Date;
  /** After downtime: false (default) runs only the latest missed interval, true runs every one, oldest first. */
  catchup?: boolean;
  /** At most this many runs of the DAG are active at once; scheduled runs beyond wait as `queued`. Default 16. */
  maxActiveRuns?: number;
  /**
   * External events that trigger a run of this DAG: `sluice events send <name>` or
   * `POST /api/v1/events/<name>`. Tasks read the payload as `ctx.event.payload`.
   */
  events?: readonly string[];
  /**
   * Params whose values are secrets (an API key given at trigger time): stored encrypted in the run
   * (AES-256-GCM, the key from SLUICE_SECRET_KEY or the key file), decrypted only for the run's tasks,
   * replaced by `***` wherever a task writes them (logs, errors, outputs) and shown as `***` by the API,
   * the UI and the CLI. A secret param may not have a default in the schema (a default is DAG code, stored
   * in plain text with the DAG): scheduled runs read secrets from variables or connections.
   */
  secretParams?: readonly (PS extends StandardSchemaV1 ? keyof StandardSchemaV1.InferInput<PS> & string : never)[];
  /** Run when a run of the DAG fails (after its state is committed; a throw is logged, nothing else). */
  onFailure?: Callbacks;
  /** Run when a run of the DAG succeeds. */
  onSuccess?: Callbacks;
  /**
   * When a run must be done: `{ from: "logicalDate" | "queued", within: "2h" }` or `{ at: "06:00",
   * timezone: "Europe/Berlin" }` (the first such time after the run was queued). A run still going then
   * fires `onDeadlineMiss` and `notify.onDeadlineMiss` once; it keeps running.
   */
  deadline?: DeadlineOption;
  onDeadlineMiss?: Callbacks;
  /**
   * Notifiers (webhook, slack, email) or callbacks for the DAG's events: `onFailure` / `onSuccess` of its
   * runs, `onRetry` of any of its tasks, `onDeadlineMiss` of the run's or a task's deadline.
   *
   * @example
   * notify: { onFailure: [slack({ url: process.env.SLACK_WEBHOOK! })], onDeadlineMiss: [email({ to: "ops@example.com", connection: "smtp" })] }
   */
  notify?: { onFailure?: Callbacks; onSuccess?: Callbacks; onRetry?: Callbacks; onDeadlineMiss?: Callbacks };
  /**
   * What a task instance that ends in the dead-letter queue (retries exhausted, or a non-retryable error)
   * does to its run: "fail_run" (default) fails it as any failure does; "park" lets the run finish — it
   * ends `success` when every failure in it is parked — with the instance waiting in the queue
   * (`sluice dlq retry` runs it again and the run resumes). For pipelines that process items
   * independently (a mapped task's indexes are parked one by one).
   */
  deadLetter?: "fail_run" | "park";
}

/**
 * `schedule: { assets: { anyOf: [...] } }` runs the DAG when any of the assets is updated;
 * `{ assets: { allOf: [...] } }` when every one of them has been updated since its last asset-triggered run.
 */
export type AssetScheduleOption = { assets: { anyOf: readonly string[]; allOf?: never } } | { assets: { allOf: readonly string[]; anyOf?: never } };

/** The params of a DAG without a params schema: none, so reading `ctx.params.anything` is a compile error. */
export type NoParams = { readonly [K in never]: never };

export type ParamsOf<PS> = PS extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<PS> : NoParams;

export type BranchResult = string | AnyRef | readonly (string | AnyRef)[] | null | undefined;

/**
 * What a sensor's poke returns: `true` when the condition is met (the sensor's output is `true`), `false`
 * to poke again later, or `{ done, value }` (Airflow's PokeReturnValue: the output is `value`).
 */
export type PokeResult<T = unknown> = boolean | { done: false } | { done: true; value?: T };

/** The output type of a sensor whose poke returns `O`. */
export type PokeOutput<O> = O extends true
  ? true
  : O extends { done: true }
    ? "value" extends keyof O
      ? O extends { value: infer V }
        ? V
        : O extends { value?: infer V }
          ? Exclude<V, undefined> | true
          : true
      : true
    : never;

/** A ready-made poke (`fileExists`, `httpOk`, `sqlRow`): usable as any sensor's `poke`. */
export type Poke<T> = (inputs: unknown, ctx: TaskContext<unknown>) => Promise<false | { done: true; value: T }>;

/**
 * A sensor's options besides its `poke`. Airflow's semantics, in its reschedule (deferrable) mode: between
 * pokes the sensor holds no worker slot, and its state is in the store, so a restart continues it.
 */
export interface SensorOptions<I extends Inputs = Inputs, R extends TriggerRule = TriggerRule> extends Omit<TaskOptions<I, R>, "timeout"> {
  /** Wait between pokes. Default "60s" (Airflow's). */
  pokeInterval?: Duration;
  /**
   * How long the sensor waits in all, counted from its first poke (retries do not restart it): a poke
   * that finds the condition unmet after this fails the sensor with TIMEOUT, without retrying. Default "7d".
   */
  timeout?: Duration;
  /** The time limit of each poke (what `timeout` is for other tasks; default: the DAG's `defaults.timeout`). */
  pokeTimeout?: Duration;
  /** On timeout, skip instead of failing (downstream tasks are skipped by their trigger rules). */
  softFail?: boolean;
  /** Grow the wait after each poke (about doubling, with random spread), capped by `maxWait`. */
  exponentialBackoff?: boolean;
  maxWait?: Duration;
}

/**
 * A teardown's options (`d.teardown`): a task's options less its trigger rule — a teardown always runs
 * under `all_done_setup_success` — plus the setups whose work it undoes. Its inputs are typed as under
 * any rule but all_success: a value from a task that failed or was skipped is undefined.
 */
export interface TeardownOptions<I extends Inputs = Inputs> extends Omit<TaskOptions<I, "all_done_setup_success">, "triggerRule"> {
  /** The setup task(s) (`d.setup`) whose resource this task releases; each becomes one of its upstream tasks. */
  setups: AnyRef | readonly AnyRef[];
  /** When true, the teardown's failure fails the run (Airflow's on_failure_fail_dagrun). Default false. */
  onFailureFailDagRun?: boolean;
  /** Not settable: a teardown runs when everything before it is done and one of its setups succeeded. */
  triggerRule?: never;
}
