/**
 * The authoring API: `dag(id, options, build)` runs `build` once, at import time, and returns a frozen
 * `Dag` — a serialisable `DagSpec` plus the task code. Dependencies come from data (`inputs`) or order
 * (`after`, `edge`, `chain`), and the output types flow from one task into the next.
 *
 * @example
 * export default dag("etl", { defaults: { retries: 2, retryDelay: "10s" } }, (d) => {
 *   const rows = d.task("extract", async () => [{ id: 1 }]);
 *   const count = d.task("transform", { inputs: { rows } }, async ({ rows }) => rows.length);
 *   d.task("load", { inputs: { count } }, async ({ count }, ctx) => ctx.log.info(`loaded ${count}`));
 * });
 */
import { assetList, checkEventName, parseAssetSchedule, type AssetSchedule } from "../core/assets.js";
import type { RetryPolicy } from "../core/backoff.js";
import { isDeadLetterMode } from "../core/deadLetters.js";
import { checkId, checkSecretParams, dagVersion, finalizeTasks, secretRefs, type CacheSpec, type DagSpec, type GroupSpec, type TaskKind, type TaskSpec } from "../core/dagSpec.js";
import { parseDuration, type Duration } from "../core/duration.js";
import { resourceRequest } from "../core/resources.js";
import { parseSchedule, type Schedule } from "../core/schedules.js";
import { parseScheduleOption, timetableSource, type Timetable } from "../core/timetables.js";
import { checkPastDeps, pastDepsOption } from "./pastDeps.js";
import { DEFAULT_POKE_INTERVAL_MS, DEFAULT_SENSOR_TIMEOUT_MS, type SensorPolicy } from "../core/sensors.js";
import { isStandardSchema, type StandardSchemaV1 } from "../core/standardSchema.js";
import { isTriggerRule, type TriggerRule } from "../core/triggerRules.js";
import { SluiceError } from "../errors.js";
import type {
  AnyRef,
  BranchResult,
  DagOptions,
  ElementOf,
  InputValues,
  Inputs,
  KwargsMapOptions,
  KwargsSource,
  MapItem,
  MapOptions,
  MapOver,
  NoInputs,
  NoParams,
  ParamsOf,
  PokeOutput,
  PokeResult,
  PromoteOptions,
  PromotionResult,
  PythonOptions,
  PythonOutput,
  ShellOptions,
  SensorOptions,
  TaskContext,
  TaskDefaults,
  TaskOptions,
  TaskRef,
  TeardownOptions,
  Zipped,
} from "./types.js";
import { checkOptions, teardownOptions } from "./setupTeardown.js";
import { DEFAULT_SKIP_EXIT_CODE, skipExitCodes } from "../core/taskSignals.js";
import { checkSetupTeardown } from "../core/setupTeardown.js";
import { isTransformed, mapParts, mapSpecFields, taskRef, type MapParts } from "./mapping.js";
import { pokeLabel } from "./sensors.js";
import { checkAlias, checkModelName, checkRules, DEFAULT_APPROVAL_TIMEOUT_MS, type PromoteSpec } from "../core/promotion.js";
import { callbackList, CallbackSet, type Callback } from "./callbacks.js";
import { parseDeadline } from "../core/deadlines.js";
import { EVENT_OPTIONS, type TaskCallbackEvent } from "../core/callbacks.js";

const DAG_BRAND = Symbol.for("sluice.dag");

/** How a task runs; the function-valued parts of a task that the spec cannot hold. */
/** `cacheKey`: the DAG's own cache key for a task (TaskOptions.cacheKey). */
export type CacheKeyFn = (inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => string;

export type TaskImpl = (
  | {
      kind: "fn";
      fn: (inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => unknown;
      env: Record<string, string>;
      /** Mapped tasks: the `ref.map(fn)` functions of their mapped arguments, by argument name (dsl/mapping.ts). */
      transforms?: Record<string, (element: unknown) => unknown>;
    }
  | {
      kind: "shell";
      command: string;
      args: string[] | ((inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => string[] | Promise<string[]>);
      env: Record<string, string>;
      cwd: string | null;
      shell: boolean;
    }
  | {
      kind: "python";
      script: string | null;
      module: string | null;
      args: string[] | ((inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => string[] | Promise<string[]>);
      env: Record<string, string>;
      cwd: string | null;
      python: string | null;
      output: StandardSchemaV1 | null;
    }
) & { cacheKey?: CacheKeyFn };

/** A DAG as built by `dag()`: immutable. `P` is the type of its params. */
export interface Dag<P = unknown> {
  readonly id: string;
  readonly spec: DagSpec;
  /** Content hash of structure and code. */
  readonly version: string;
  readonly paramsSchema: StandardSchemaV1 | null;
  /** @internal */
  readonly impls: ReadonlyMap<string, TaskImpl>;
  /** @internal Callback code by core/callbacks.ts `callbackKey` (task id or "" for the DAG, event), in the spec's order. */
  readonly callbacks: ReadonlyMap<string, readonly Callback[]>;
  /** @internal The DAG's own timetable (spec.schedule.kind "custom"); null for the built-in ones. */
  readonly timetable: Timetable | null;
  /** Phantom: the params type. */
  readonly __params?: P;
}

export function isDag(v: unknown): v is Dag {
  return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[DAG_BRAND] === true;
}

type Draft = Omit<TaskSpec, "downstream">;

interface GroupFrame {
  prefix: string;
  defaults: TaskDefaults;
}

/** The object a DAG's build function receives. `P` is the params type, used to type `ctx.params`. */
export class DagBuilder<P> {
  /** @internal */
  constructor(
    private readonly state: BuildState,
    private readonly frame: GroupFrame,
  ) {}

  /** A task: an async function of its inputs. Returns a handle typed by the function's result. */
  task<O>(id: string, fn: (inputs: NoInputs, ctx: TaskContext<P>) => O | Promise<O>): TaskRef<Awaited<O>>;
  task<O, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: TaskOptions<I, R>,
    fn: (inputs: NoInfer<InputValues<I, R>>, ctx: TaskContext<P>) => O | Promise<O>,
  ): TaskRef<Awaited<O>>;
  task(id: string, a: unknown, b?: unknown): AnyRef {
    const [options, fn] = typeof a === "function" ? [{}, a] : [a, b];
    return this.add("task", id, options ?? {}, null, fnImpl(this.where(id), fn));
  }

  /**
   * Dynamic task mapping: one instance per element of `over` (the cross product when it names several
   * lists, position by position with `zip({ … })`), or per argument object of `overKwargs`; known only at
   * run time when a list is an upstream output. `partial` adds fixed arguments. Downstream tasks get the
   * results in order. See core/mapping.ts for the semantics (Airflow's `expand`, `zip`, `expand_kwargs`).
   */
  map<O, const M extends MapOver | Zipped<MapOver>, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success", const A extends Record<string, unknown> = NoInputs>(
    id: string,
    options: MapOptions<M, I, R, A>,
    fn: (item: NoInfer<MapItem<M> & A & InputValues<I, R>>, ctx: TaskContext<P>) => O | Promise<O>,
  ): TaskRef<Awaited<O>[]>;
  map<O, const K extends KwargsSource, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success", const A extends Record<string, unknown> = NoInputs>(
    id: string,
    options: KwargsMapOptions<K, I, R, A>,
    fn: (item: NoInfer<ElementOf<K> & A & InputValues<I, R>>, ctx: TaskContext<P>) => O | Promise<O>,
  ): TaskRef<Awaited<O>[]>;
  map(id: string, options: TaskOptions & { over?: unknown; overKwargs?: unknown; partial?: unknown }, fn: unknown): AnyRef {
    const where = this.where(id);
    if (typeof options !== "object" || options === null) throw new SluiceError("INVALID_DAG", `${where}: options must be an object`);
    const parts = mapParts(where, options, (ref, field) => this.refId(where, ref, field, true));
    const impl = fnImpl(where, fn);
    if (impl.kind === "fn" && Object.keys(parts.transforms).length) impl.transforms = parts.transforms;
    return this.add("task", id, options, parts, impl);
  }

  /**
   * Branching: the function returns the id(s) (or handles) of the direct downstream tasks to follow, or a
   * task group's id (its root tasks); the direct downstream tasks it did not follow and that no followed
   * task leads to are skipped, and the skips propagate by trigger rule (core/branching.ts).
   *
   * Mapped (with `over` or `overKwargs`, as `d.map`): each instance decides for itself, and for each
   * direct downstream task its decision counts as a success (followed) or a skip (not followed): the
   * downstream task's trigger rule decides (all_success: every instance followed it; none_failed_min_one_success: one did).
   */
  branch<const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: TaskOptions<I, R> & { over?: never; overKwargs?: never },
    fn: (inputs: NoInfer<InputValues<I, R>>, ctx: TaskContext<P>) => BranchResult | Promise<BranchResult>,
  ): TaskRef<string[]>;
  branch<const M extends MapOver | Zipped<MapOver>, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success", const A extends Record<string, unknown> = NoInputs>(
    id: string,
    options: MapOptions<M, I, R, A>,
    fn: (item: NoInfer<MapItem<M> & A & InputValues<I, R>>, ctx: TaskContext<P>) => BranchResult | Promise<BranchResult>,
  ): TaskRef<string[][]>;
  branch<const K extends KwargsSource, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success", const A extends Record<string, unknown> = NoInputs>(
    id: string,
    options: KwargsMapOptions<K, I, R, A>,
    fn: (item: NoInfer<ElementOf<K> & A & InputValues<I, R>>, ctx: TaskContext<P>) => BranchResult | Promise<BranchResult>,
  ): TaskRef<string[][]>;
  branch(id: string, options: TaskOptions & { over?: unknown; overKwargs?: unknown; partial?: unknown }, fn: unknown): AnyRef {
    const where = this.where(id);
    if (typeof options !== "object" || options === null) throw new SluiceError("INVALID_DAG", `${where}: options must be an object`);
    const mapped = options.over !== undefined || options.overKwargs !== undefined;
    if (!mapped && options.partial !== undefined) throw new SluiceError("INVALID_DAG", `${where}: partial is for mapped tasks (with "over" or "overKwargs")`);
    const parts = mapped ? mapParts(where, options, (ref, field) => this.refId(where, ref, field, true)) : null;
    const impl = fnImpl(where, fn);
    if (parts && impl.kind === "fn" && Object.keys(parts.transforms).length) impl.transforms = parts.transforms;
    return this.add("branch", id, options, parts, impl);
  }

  /**
   * Short-circuit: when the function returns false, every task downstream is skipped (with
   * `respectTriggerRules: true`, only the direct downstream tasks, and their rules decide the rest).
   */
  shortCircuit<const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: TaskOptions<I, R> & { respectTriggerRules?: boolean },
    fn: (inputs: NoInfer<InputValues<I, R>>, ctx: TaskContext<P>) => boolean | Promise<boolean>,
  ): TaskRef<boolean> {
    return this.add("short_circuit", id, options, null, fnImpl(this.where(id), fn)) as TaskRef<boolean>;
  }

  /** A program run as a task: a non-zero exit fails the attempt; the output is the last line of stdout. */
  shell<const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: ShellOptions<I, R, P>,
  ): TaskRef<string> {
    const where = this.where(id);
    if (typeof options.command !== "string" || options.command.length === 0) {
      throw new SluiceError("INVALID_DAG", `${where}: shell task needs a "command"`);
    }
    const impl: TaskImpl = {
      kind: "shell",
      command: options.command,
      args: (options.args ?? []) as Extract<TaskImpl, { kind: "shell" }>["args"],
      env: {}, // add() merges the defaults' and the task's
      cwd: options.cwd ?? null,
      shell: options.shell ?? false,
    };
    const shown = [options.command, ...(Array.isArray(options.args) ? options.args : ["…"])].join(" ");
    return this.add("shell", id, options, null, impl, shown, null, skipOption(where, options.skipOnExitCode)) as TaskRef<string>;
  }

  /**
   * A Python script or module as a task: it reads its inputs as JSON on stdin (also in the file named by
   * $SLUICE_INPUTS) and writes its result as JSON to the file named by $SLUICE_OUTPUT.
   */
  python<S extends StandardSchemaV1 | undefined = undefined, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: PythonOptions<I, R, P, S>,
  ): TaskRef<PythonOutput<S>> {
    const where = this.where(id);
    if (!options.script === !options.module) {
      throw new SluiceError("INVALID_DAG", `${where}: python task needs exactly one of "script" or "module"`);
    }
    if (options.output !== undefined && !isStandardSchema(options.output)) {
      throw new SluiceError("INVALID_DAG", `${where}: "output" must be a schema (zod or another Standard Schema)`);
    }
    const impl: TaskImpl = {
      kind: "python",
      script: options.script ?? null,
      module: options.module ?? null,
      args: (options.args ?? []) as Extract<TaskImpl, { kind: "python" }>["args"],
      env: {}, // add() merges the defaults' and the task's
      cwd: options.cwd ?? null,
      python: options.python ?? null,
      output: options.output ?? null,
    };
    const shown = `${options.python ?? "python3"} ${options.script ?? `-m ${options.module}`}`;
    return this.add("python", id, options, null, impl, shown, null, skipOption(where, options.skipOnExitCode)) as TaskRef<PythonOutput<S>>;
  }

  /**
   * A sensor: waits until `poke` finds its condition met — a file appears (`fileExists`), an endpoint
   * answers (`httpOk`), a query returns a row (`sqlRow`), or any async predicate — poking every
   * `pokeInterval` until `timeout` (Airflow's semantics). Between pokes it holds no worker slot
   * (`up_for_reschedule`), and a restarted Sluice goes on poking. Its output is what the poke returned
   * as `value` (or `true`).
   *
   * @example
   * const file = d.sensor("wait_orders", { poke: fileExists("incoming/orders-*.csv"), pokeInterval: "30s", timeout: "6h" });
   * d.task("load", { inputs: { file } }, async ({ file }) => file.length);   // file: string[]
   */
  sensor<O extends PokeResult, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: SensorOptions<I, R> & { poke: (inputs: NoInfer<InputValues<I, R>>, ctx: TaskContext<P>) => O | Promise<O> },
  ): TaskRef<PokeOutput<O>> {
    const where = this.where(id);
    if (typeof options !== "object" || options === null) throw new SluiceError("INVALID_DAG", `${where}: options must be an object`);
    const { poke, pokeInterval, timeout, pokeTimeout, softFail, exponentialBackoff, maxWait, ...rest } = options;
    const impl = fnImpl(where, poke);
    const ms = (field: string, v: Duration | undefined, fallback: number | null): number | null => {
      if (v === undefined) return fallback;
      const n = parseDuration(v, `${where}: ${field}`);
      // a zero wait would poke in a tight loop, claiming a worker slot again and again
      if (n <= 0) throw new SluiceError("INVALID_DAG", `${where}: ${field} must be longer than 0`);
      return n;
    };
    for (const [field, v] of [["softFail", softFail], ["exponentialBackoff", exponentialBackoff]] as const) {
      if (v !== undefined && typeof v !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: ${field} must be true or false`);
    }
    const sensor: SensorPolicy = {
      pokeIntervalMs: ms("pokeInterval", pokeInterval, DEFAULT_POKE_INTERVAL_MS)!,
      timeoutMs: ms("timeout", timeout, DEFAULT_SENSOR_TIMEOUT_MS)!,
      softFail: softFail ?? false,
      exponentialBackoff: exponentialBackoff ?? false,
      maxWaitMs: ms("maxWait", maxWait, null),
    };
    const taskOptions: TaskOptions = { ...(rest as TaskOptions), ...(pokeTimeout === undefined ? {} : { timeout: pokeTimeout }) };
    return this.add("sensor", id, taskOptions, null, impl, pokeLabel(poke), sensor) as TaskRef<PokeOutput<O>>;
  }

  /**
   * A promotion gate: compares the candidate version (the output of the task that registered it) with the
   * current holder of `alias` on the `compare` rules, optionally waits for a person's approval — holding
   * no worker slot, woken at once by the decision — then moves the alias. A failed comparison fails the
   * gate with each metric's candidate, champion and threshold; a rejection skips it (and, by their trigger
   * rules, what follows); either way the alias stays where it was.
   *
   * @example
   * const model = d.task("train", async (_, ctx) => ctx.models.register("spam", { artifact, flavor, metrics }));
   * d.promote("gate", {
   *   model: "spam", candidate: model, alias: "champion",
   *   compare: { accuracy: { notWorseBy: 0.005 }, latency_p95: { max: 120 } },
   *   approval: { timeout: "2d" },
   * });
   */
  promote<R extends TriggerRule = "all_success">(id: string, options: PromoteOptions<R>): TaskRef<PromotionResult> {
    const where = this.where(id);
    // a misspelt option ("aliass") is refused, not ignored
    checkOptions(where, options, ["model", "candidate", "alias", "compare", "approval"]);
    const { model, candidate, alias, compare, approval, ...rest } = options;
    for (const k of ["inputs", "isolation", "fresh", "memoryLimitMb", "cache", "cacheKey", "timeout"]) {
      if ((rest as Record<string, unknown>)[k] !== undefined) throw new SluiceError("INVALID_DAG", `${where}: a promotion gate does not take "${k}"`);
    }
    const wrap = (e: unknown): never => {
      const err = e as SluiceError;
      throw new SluiceError("INVALID_DAG", err.message.replace(/^promote: /, `${where}: `));
    };
    let spec: PromoteSpec;
    try {
      spec = {
        model: checkModelName("promote", model),
        alias: checkAlias("promote", alias),
        compare: compare === undefined ? {} : checkRules("promote", compare),
        approval: approvalOption(where, approval),
      };
    } catch (e) {
      return wrap(e);
    }
    if (candidate === undefined) throw new SluiceError("INVALID_DAG", `${where}: "candidate" must be the task that registered the model (its output is { name, version })`);
    const impl = fnImpl(where, gateBody);
    // the sensor machinery waits for the decision (up_for_reschedule, no worker slot): its poke comes when
    // the decision is made (app/models.ts wakes it), or at the approval's timeout
    const waitMs = spec.approval?.timeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    const sensor: SensorPolicy = { pokeIntervalMs: waitMs, timeoutMs: waitMs, softFail: false, exponentialBackoff: false, maxWaitMs: null };
    const taskOptions = { ...(rest as TaskOptions), inputs: { candidate } };
    return this.add("promote", id, taskOptions, null, impl, `promote ${spec.model}@${spec.alias}`, sensor, { promote: spec }) as TaskRef<PromotionResult>;
  }

  /** A task group: ids inside are prefixed with `id.`; the UI can collapse it. Returns what `build` returns. */
  group<T>(id: string, build: (g: DagBuilder<P>) => T): T;
  group<T>(id: string, options: { description?: string; defaults?: TaskDefaults }, build: (g: DagBuilder<P>) => T): T;
  group<T>(id: string, a: unknown, b?: unknown): T {
    const [options, build] = (typeof a === "function" ? [{}, a] : [a, b]) as [
      { description?: string; defaults?: TaskDefaults },
      (g: DagBuilder<P>) => T,
    ];
    checkId("task group", id, `DAG "${this.state.dagId}"`);
    const full = this.frame.prefix ? `${this.frame.prefix}.${id}` : id;
    if (this.state.groups.some((g) => g.id === full)) {
      throw new SluiceError("DUPLICATE_TASK", `DAG "${this.state.dagId}": task group "${full}" is declared twice`);
    }
    this.state.groups.push({ id: full, description: options.description ?? null });
    return build(new DagBuilder<P>(this.state, { prefix: full, defaults: { ...this.frame.defaults, ...(options.defaults ?? {}) } }));
  }

  /** Order-only dependency added after both tasks exist (Airflow's `upstream >> downstream`). */
  edge(upstream: AnyRef, downstream: AnyRef): void {
    const where = `DAG "${this.state.dagId}"`;
    const from = this.refId(where, upstream, "edge");
    const to = this.refId(where, downstream, "edge");
    const draft = this.state.tasks.get(to)!;
    if (!draft.upstream.includes(from)) draft.upstream = [...draft.upstream, from].sort();
  }

  /** `chain(a, b, c)`: a before b before c. */
  chain(...refs: AnyRef[]): void {
    for (let i = 1; i < refs.length; i++) this.edge(refs[i - 1]!, refs[i]!);
  }

  /**
   * A setup task (Airflow 2.7+): it creates what the tasks after it use — a scratch table, a cluster, a
   * temporary directory — and the teardowns that name it release it. Clearing a task that needs it clears
   * it too (and its teardowns). Otherwise an ordinary task: its output flows to the tasks that take it.
   *
   * @example
   * const table = d.setup("create_scratch", async () => createTable());
   * const rows = d.map("load", { over: { part: [1, 2, 3] }, inputs: { table } }, async ({ table, part }) => load(table, part));
   * d.teardown("drop_scratch", { setups: table, inputs: { table }, after: [rows] }, async ({ table }) => dropTable(table!));
   */
  setup<O>(id: string, fn: (inputs: NoInputs, ctx: TaskContext<P>) => O | Promise<O>): TaskRef<Awaited<O>>;
  setup<O, const I extends Inputs = NoInputs, R extends TriggerRule = "all_success">(
    id: string,
    options: TaskOptions<I, R>,
    fn: (inputs: NoInfer<InputValues<I, R>>, ctx: TaskContext<P>) => O | Promise<O>,
  ): TaskRef<Awaited<O>>;
  setup(id: string, a: unknown, b?: unknown): AnyRef {
    const [options, fn] = typeof a === "function" ? [{}, a] : [a, b];
    const where = this.where(id);
    return this.add("task", id, checkOptions(where, options, []), null, fnImpl(where, fn), null, null, { setup: true });
  }

  /**
   * A teardown task (Airflow 2.7+): it releases what its `setups` created, and runs once everything before
   * it is done whatever happened to the work in between (trigger rule `all_done_setup_success`), as long
   * as one of its setups succeeded. Its failure does not fail the run (unless `onFailureFailDagRun`): the
   * run's state comes from the work. Wire the work before it with `after` or `inputs`.
   */
  teardown<O, const I extends Inputs = NoInputs>(
    id: string,
    options: TeardownOptions<I>,
    fn: (inputs: NoInfer<InputValues<I, "all_done_setup_success">>, ctx: TaskContext<P>) => O | Promise<O>,
  ): TaskRef<Awaited<O>> {
    const where = this.where(id);
    const { setups: _setups, onFailureFailDagRun: _fail, ...rest } = checkOptions(where, options, ["setups", "onFailureFailDagRun"]);
    const { setups, onFailureFailDagRun } = teardownOptions(where, options as unknown as Record<string, unknown>);
    for (const [i, ref] of setups.entries()) {
      const setupId = this.refId(where, ref, `setups[${i}]`);
      if (!this.state.tasks.get(setupId)!.setup) {
        throw new SluiceError("INVALID_DAG", `${where}: setups[${i}] is task "${setupId}", which is not a setup task; declare it with d.setup(...) to pair it with this teardown`, {
          details: { dagId: this.state.dagId, taskId: setupId, field: "setups" },
        });
      }
    }
    const after = [...((rest.after as AnyRef[] | undefined) ?? []), ...setups];
    const taskOptions = { ...rest, after, triggerRule: "all_done_setup_success" } as TaskOptions;
    return this.add("task", id, taskOptions, null, fnImpl(where, fn), null, null, { teardown: true, ...(onFailureFailDagRun ? { onFailureFailDagRun: true } : {}) }) as TaskRef<Awaited<O>>;
  }

  private where(id: string): string {
    return `DAG "${this.state.dagId}", task "${this.frame.prefix ? `${this.frame.prefix}.` : ""}${id}"`;
  }

  private refId(where: string, ref: unknown, field: string, transformed = false): string {
    const r = ref as Partial<AnyRef> | null;
    if (typeof r !== "object" || r === null || typeof r.id !== "string" || typeof r.dagId !== "string") {
      throw new SluiceError("INVALID_DAG", `${where}: ${field} is not a task handle (use what d.task(...) returned)`);
    }
    if (!transformed && isTransformed(r)) {
      throw new SluiceError("INVALID_DAG", `${where}: ${field} is a handle transformed with .map(fn), which only a mapped task's "over" or "overKwargs" can take; pass "${r.id}" itself`);
    }
    if (r.dagId !== this.state.dagId || !this.state.tasks.has(r.id)) {
      throw new SluiceError(
        "FOREIGN_TASK",
        `${where}: ${field} refers to task "${r.id}" of DAG "${r.dagId}"; a task can only depend on tasks of its own DAG`,
        { details: { dagId: this.state.dagId, foreignDagId: r.dagId, taskId: r.id } },
      );
    }
    return r.id;
  }

  /** A task's callbacks (its own over the defaults', plus the DAG's `notify`) and deadline, for its spec. */
  private callbackOptions(id: string, where: string, d: TaskDefaults, options: Omit<TaskOptions, "cacheKey">): Pick<TaskSpec, "callbacks" | "deadline"> {
    const set = this.state.callbacks;
    for (const event of ["failure", "success", "retry", "skipped"] as TaskCallbackEvent[]) {
      const option = EVENT_OPTIONS[event];
      set.add(id, event, callbackList(d[option], where, option));
    }
    set.add(id, "retry", this.state.notify.onRetry);
    const deadline = parseDeadline(options.deadline, where, true);
    if (deadline) set.add(id, "deadline_miss", [...callbackList(options.onDeadlineMiss, where, "onDeadlineMiss"), ...this.state.notify.onDeadlineMiss]);
    else if (options.onDeadlineMiss !== undefined) throw new SluiceError("INVALID_DAG", `${where}: onDeadlineMiss needs a deadline, e.g. deadline: { from: "start", within: "20m" }`);
    const names = set.names(id);
    return { ...(names ? { callbacks: names } : {}), ...(deadline ? { deadline } : {}) };
  }

  private add(
    kind: TaskKind,
    localId: string,
    options: Omit<TaskOptions, "cacheKey"> & { cacheKey?: unknown; respectTriggerRules?: boolean },
    mapping: MapParts | null,
    impl: TaskImpl,
    command: string | null = null,
    sensor: SensorPolicy | null = null,
    /** setup/teardown flags, skipOnExitCode: present only when set (other specs and versions unchanged). */
    extra: Pick<TaskSpec, "setup" | "teardown" | "onFailureFailDagRun" | "skipOnExitCode" | "promote"> = {},
  ): AnyRef {
    const dagId = this.state.dagId;
    checkId("task", localId, `DAG "${dagId}"`);
    const id = this.frame.prefix ? `${this.frame.prefix}.${localId}` : localId;
    const where = `DAG "${dagId}", task "${id}"`;
    if (this.state.tasks.has(id)) {
      throw new SluiceError("DUPLICATE_TASK", `DAG "${dagId}": task id "${id}" is used twice`, { details: { dagId, taskId: id } });
    }
    if (typeof options !== "object" || options === null) throw new SluiceError("INVALID_DAG", `${where}: options must be an object`);
    const inputs: Record<string, string> = {};
    for (const [name, ref] of Object.entries(options.inputs ?? {})) inputs[name] = this.refId(where, ref, `input "${name}"`);
    const upstream = new Set<string>(Object.values(inputs));
    for (const ref of options.after ?? []) upstream.add(this.refId(where, ref, "after"));
    const map = mapping?.map ?? null;
    for (const m of map ?? []) if ("task" in m.source) upstream.add(m.source.task);

    const d = { ...this.state.defaults, ...this.frame.defaults, ...stripUndefined(options) } as TaskOptions;
    const triggerRule = options.triggerRule ?? "all_success";
    if (!isTriggerRule(triggerRule)) throw new SluiceError("INVALID_DAG", `${where}: unknown trigger rule "${String(triggerRule)}"`);
    // the environment of the task's process: the DAG's defaults, the group's, then the task's own, merged
    impl.env = { ...envOption(where, this.state.defaults.env), ...envOption(where, this.frame.defaults.env), ...envOption(where, options.env) };
    const isolation = d.isolation ?? "inline";
    if (isolation !== "inline" && isolation !== "process") throw new SluiceError("INVALID_DAG", `${where}: isolation must be "inline" or "process"`);
    if (d.fresh !== undefined && typeof d.fresh !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: fresh must be true or false`);
    // a task's own fresh: true without a process to be fresh in is a mistake (DAG defaults may set it for all)
    if (options.fresh === true && impl.kind === "fn" && isolation !== "process") throw new SluiceError("INVALID_DAG", `${where}: fresh: true needs isolation: "process"`);

    const draft: Draft = {
      id,
      kind,
      group: this.frame.prefix,
      upstream: [...upstream].sort(),
      inputs,
      map,
      ...mapSpecFields(mapping),
      triggerRule,
      retry: retryPolicy(where, d),
      timeoutMs: d.timeout === undefined ? null : parseDuration(d.timeout, `${where}: timeout`),
      isolation,
      memoryLimitMb: positiveOrNull(where, "memoryLimitMb", d.memoryLimitMb),
      ...(d.fresh === true && isolation === "process" ? { fresh: true as const } : {}),
      queue: d.queue ?? "default",
      pool: d.pool ?? null,
      priority: d.priority ?? 0,
      ...capacityOptions(where, d),
      ...pastDepsOption(where, d),
      owner: d.owner ?? null,
      description: options.description ?? null,
      respectTriggerRules: options.respectTriggerRules ?? false,
      command,
      ...(sensor ? { sensor } : {}),
      ...optionalList("produces", assetList(options.produces, where, "produces")),
      ...secretOptions(where, kind, options),
      ...this.callbackOptions(id, where, d, options),
      ...optionalList("nonRetryable", nonRetryableNames(where, d.nonRetryable)),
      ...extra,
      ...cacheOptions(where, kind, d, options),
    };
    this.state.tasks.set(id, draft);
    if (options.cacheKey) impl.cacheKey = options.cacheKey as CacheKeyFn;
    this.state.impls.set(id, impl);
    return taskRef(id, dagId);
  }
}

interface BuildState {
  dagId: string;
  callbacks: CallbackSet;
  /** The DAG's `notify` lists that tasks take too (retries, deadlines). */
  notify: { onRetry: Callback[]; onDeadlineMiss: Callback[] };
  defaults: TaskDefaults;
  tasks: Map<string, Draft>;
  impls: Map<string, TaskImpl>;
  groups: GroupSpec[];
}

/**
 * Define a DAG. Export the result (default or named; arrays of DAGs work too) from a file under the DAGs
 * folder.
 */
export function dag<PS extends StandardSchemaV1 | undefined = undefined>(
  id: string,
  options: DagOptions<PS>,
  build: (d: DagBuilder<ParamsOf<PS>>) => void,
): Dag<ParamsOf<PS>>;
export function dag(id: string, build: (d: DagBuilder<NoParams>) => void): Dag<NoParams>;
export function dag(id: string, a: unknown, b?: unknown): Dag<unknown> {
  const [options, build] = (typeof a === "function" ? [{}, a] : [a ?? {}, b]) as [DagOptions<StandardSchemaV1 | undefined>, (d: DagBuilder<unknown>) => void];
  checkId("DAG", id, "dag()");
  if (typeof build !== "function") throw new SluiceError("INVALID_DAG", `DAG "${id}": the last argument of dag() must be a function that declares the tasks`);
  if (options.params !== undefined && !isStandardSchema(options.params)) {
    throw new SluiceError("INVALID_DAG", `DAG "${id}": params must be a schema (zod or another Standard Schema), e.g. z.object({ lr: z.number().default(0.1) })`);
  }
  const where = `DAG "${id}"`;
  const notify = notifyOption(where, options.notify);
  const callbacks = new CallbackSet();
  const state: BuildState = { dagId: id, callbacks, notify, defaults: options.defaults ?? {}, tasks: new Map(), impls: new Map(), groups: [] };
  callbacks.add("", "failure", [...callbackList(options.onFailure, where, "onFailure"), ...notify.onFailure]);
  callbacks.add("", "success", [...callbackList(options.onSuccess, where, "onSuccess"), ...notify.onSuccess]);
  const deadline = parseDeadline(options.deadline, where, false);
  if (deadline) callbacks.add("", "deadline_miss", [...callbackList(options.onDeadlineMiss, where, "onDeadlineMiss"), ...notify.onDeadlineMiss]);
  else if (options.onDeadlineMiss !== undefined) throw new SluiceError("INVALID_DAG", `${where}: onDeadlineMiss needs a deadline, e.g. deadline: { at: "06:00", timezone: "Europe/Berlin" }`);
  const runCallbacks = callbacks.names("");
  build(new DagBuilder<unknown>(state, { prefix: "", defaults: {} }));
  if (state.tasks.size === 0) throw new SluiceError("INVALID_DAG", `DAG "${id}" has no tasks`);

  // a Map keeps insertion order: the drafts in the order the tasks were declared
  const tasks = finalizeTasks(id, [...state.tasks.values()]);
  checkSetupTeardown(id, tasks);
  const schedule = scheduleOptions(id, options);
  const spec: DagSpec = deepFreeze({
    id,
    description: options.description ?? null,
    doc: options.doc ?? null,
    owner: options.owner ?? null,
    tags: [...(options.tags ?? [])],
    paramsJsonSchema: paramsJsonSchema(options.params),
    runTimeoutMs: options.runTimeout === undefined ? null : parseDuration(options.runTimeout, `DAG "${id}": runTimeout`),
    maxActiveTasks: positiveOrNull(`DAG "${id}"`, "maxActiveTasks", options.maxActiveTasks),
    ...schedule.spec,
    ...optionalList("events", eventList(id, options.events)),
    ...optionalList("secretParams", checkSecretParams(id, options.secretParams, options.params !== undefined, paramsJsonSchema(options.params))),
    ...(runCallbacks ? { callbacks: runCallbacks } : {}),
    ...(deadline ? { deadline } : {}),
    ...deadLetterOption(id, options.deadLetter),
    groups: state.groups,
    tasks,
  });
  checkNoSelfTrigger(spec);
  checkPastDeps(spec);
  // callbacks join the code only when there are some, so that the versions of DAGs without them stay as they were
  const code = [...tasks.map((t) => implSource(state.impls.get(t.id)!)), ...callbacks.source(), ...(schedule.custom ? [timetableSource(schedule.custom)] : [])];
  return Object.freeze({
    [DAG_BRAND]: true,
    id,
    spec,
    version: dagVersion(spec, code),
    paramsSchema: options.params ?? null,
    impls: state.impls,
    callbacks: callbacks.code,
    timetable: schedule.custom,
  });
}

/** The DAG's `notify` option, each list checked (INVALID_DAG naming the list and the DAG). */
function notifyOption(where: string, v: unknown): { onFailure: Callback[]; onSuccess: Callback[]; onRetry: Callback[]; onDeadlineMiss: Callback[] } {
  if (v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))) {
    throw new SluiceError("INVALID_DAG", `${where}: notify must be an object such as { onFailure: [slack({ url })] }`);
  }
  const o = (v ?? {}) as Record<string, unknown>;
  const known = ["onFailure", "onSuccess", "onRetry", "onDeadlineMiss"];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new SluiceError("INVALID_DAG", `${where}: notify has no ${unknown.map((k) => `"${k}"`).join(", ")}; it takes ${known.join(", ")}`);
  return {
    onFailure: callbackList(o.onFailure, where, "notify.onFailure"),
    onSuccess: callbackList(o.onSuccess, where, "notify.onSuccess"),
    onRetry: callbackList(o.onRetry, where, "notify.onRetry"),
    onDeadlineMiss: callbackList(o.onDeadlineMiss, where, "notify.onDeadlineMiss"),
  };
}

function scheduleOptions(
  id: string,
  o: DagOptions<StandardSchemaV1 | undefined>,
): {
  spec: { schedule: Schedule | null; assetSchedule?: AssetSchedule; startDate: number | null; endDate: number | null; catchup: boolean; maxActiveRuns: number };
  custom: Timetable | null;
} {
  const where = `DAG "${id}"`;
  let schedule: Schedule | null = null;
  let assetSchedule: AssetSchedule | null = null;
  let custom: Timetable | null = null;
  if (typeof o.schedule === "object" && o.schedule !== null && "assets" in o.schedule) {
    assetSchedule = parseAssetSchedule(o.schedule, where);
  } else if (o.schedule !== undefined && o.schedule !== null) {
    ({ schedule, custom } = parseScheduleOption(o.schedule, o.timezone, id));
  } else if (o.timezone !== undefined) {
    parseSchedule("@daily", o.timezone); // still reject an unknown timezone
  }
  const date = (field: string, v: string | Date | undefined): number | null => {
    if (v === undefined) return null;
    const t = v instanceof Date ? v.getTime() : typeof v === "string" ? Date.parse(v) : NaN;
    if (Number.isNaN(t)) throw new SluiceError("INVALID_DAG", `${where}: ${field} ${JSON.stringify(v)} is not a date; use ISO 8601, e.g. "2026-01-01" or "2026-01-01T06:00:00Z"`);
    return t;
  };
  const startDate = date("startDate", o.startDate);
  const endDate = date("endDate", o.endDate);
  if (startDate !== null && endDate !== null && endDate < startDate) throw new SluiceError("INVALID_DAG", `${where}: endDate is before startDate`);
  if (o.catchup !== undefined && typeof o.catchup !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: catchup must be true or false`);
  return {
    custom,
    spec: {
      schedule,
      ...(assetSchedule ? { assetSchedule } : {}),
      // fixed intervals need a grid origin: by default the Unix epoch, so "every 15m" runs at :00, :15, :30, :45 UTC
      startDate: startDate ?? (schedule?.kind === "interval" ? 0 : null),
      endDate,
      catchup: o.catchup ?? false,
      maxActiveRuns: positiveOrNull(where, "maxActiveRuns", o.maxActiveRuns) ?? 16,
    },
  };
}

/** Absent when empty, so DAGs without assets or events keep their specs (and versions). */
function optionalList<K extends string>(key: K, list: string[]): { [P in K]?: string[] } {
  return (list.length ? { [key]: list } : {}) as { [P in K]?: string[] };
}

function eventList(id: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SluiceError("INVALID_DAG", `DAG "${id}": events must be a list of event names, e.g. ["new_orders"]`);
  return [...new Set(v.map((e) => checkEventName(e, `DAG "${id}": events`)))].sort();
}

/** A DAG scheduled on an asset that one of its own tasks produces would trigger itself forever. */
function checkNoSelfTrigger(spec: DagSpec): void {
  if (!spec.assetSchedule) return;
  for (const t of spec.tasks) {
    const loop = t.produces?.find((a) => spec.assetSchedule!.assets.includes(a));
    if (loop) {
      throw new SluiceError(
        "INVALID_DAG",
        `DAG "${spec.id}" is scheduled on asset "${loop}", which its own task "${t.id}" produces: every run would trigger the next one`,
        { details: { dagId: spec.id, taskId: t.id } },
      );
    }
  }
}

function envOption(where: string, env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== "object" || env === null || Array.isArray(env) || Object.values(env).some((v) => typeof v !== "string")) {
    throw new SluiceError("INVALID_DAG", `${where}: env must map variable names to strings`);
  }
  return { ...(env as Record<string, string>) };
}

/** shell/python `skipOnExitCode`: in the spec only when not the default [99], so that versions stay as they were. */
function skipOption(where: string, v: unknown): Pick<TaskSpec, "skipOnExitCode"> {
  const codes = skipExitCodes(v, where);
  return codes.length === 1 && codes[0] === DEFAULT_SKIP_EXIT_CODE ? {} : { skipOnExitCode: codes };
}

/** A gate's body: the worker runs gates itself (worker/promotionGate.ts); this is never called. */
function gateBody(): never {
  throw new SluiceError("INTERNAL", "a promotion gate is run by the worker, not as a function");
}

function approvalOption(where: string, v: unknown): PromoteSpec["approval"] {
  if (v === undefined || v === false) return null;
  if (v === true) return { timeoutMs: DEFAULT_APPROVAL_TIMEOUT_MS };
  if (typeof v !== "object" || v === null) throw new SluiceError("INVALID_DAG", `${where}: approval must be true or { timeout: "2d" }`);
  const t = (v as { timeout?: Duration }).timeout;
  const timeoutMs = t === undefined ? DEFAULT_APPROVAL_TIMEOUT_MS : parseDuration(t, `${where}: approval.timeout`);
  if (timeoutMs <= 0) throw new SluiceError("INVALID_DAG", `${where}: approval.timeout must be longer than 0`);
  return { timeoutMs };
}

function fnImpl(where: string, fn: unknown): TaskImpl {
  if (typeof fn !== "function") throw new SluiceError("INVALID_DAG", `${where}: the task body must be a function`);
  return { kind: "fn", fn: fn as (inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => unknown, env: {} };
}

function implSource(impl: TaskImpl): string {
  switch (impl.kind) {
    case "fn":
      // env joins the source only when set, so that the versions of DAGs without it stay as they were
      // so do `ref.map(fn)` transforms
      return [
        impl.fn.toString(),
        ...(Object.keys(impl.env).length ? [JSON.stringify(impl.env)] : []),
        ...Object.entries(impl.transforms ?? {}).map(([name, t]) => `${name}: ${t.toString()}`),
      ].join("\n");
    case "shell":
    case "python":
      return JSON.stringify({ ...impl, args: typeof impl.args === "function" ? impl.args.toString() : impl.args, output: null });
  }
}

/**
 * The cache options, checked: only tasks whose result is a function of their code, inputs and params can
 * be cached — a sensor's depends on when it pokes, a branch's or short-circuit's decides the run's path.
 */
function cacheOptions(where: string, kind: TaskKind, d: TaskDefaults, o: TaskDefaults & { cacheKey?: unknown }): { cache?: CacheSpec } {
  const on = d.cache;
  if (on !== undefined && typeof on !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: cache must be true or false`);
  if (o.cacheKey !== undefined && typeof o.cacheKey !== "function") throw new SluiceError("INVALID_DAG", `${where}: cacheKey must be a function (inputs, ctx) => string`);
  if (!on) {
    // a default's cache settings apply to the tasks that cache; a task's own without cache: true is a mistake
    for (const k of ["cacheKey", "cacheExpires", "cacheVersion", "cacheParams"] as const) {
      if (o[k] !== undefined) throw new SluiceError("INVALID_DAG", `${where}: ${k} needs cache: true`);
    }
    return {};
  }
  if (kind === "sensor" || kind === "branch" || kind === "short_circuit" || kind === "promote") {
    // `defaults: { cache: true }` means "every task that can be"; only the task's own cache: true is a mistake
    if (o.cache !== true) return {};
    throw new SluiceError("INVALID_DAG", `${where}: a ${kind === "sensor" ? "sensor" : kind === "branch" ? "branch" : "short-circuit"} cannot be cached: its result depends on ${kind === "sensor" ? "when it pokes" : "the run it decides"}, not only on its inputs`);
  }
  if (d.cacheVersion !== undefined && typeof d.cacheVersion !== "string") throw new SluiceError("INVALID_DAG", `${where}: cacheVersion must be a string`);
  const params = d.cacheParams;
  if (params !== undefined && (!Array.isArray(params) || params.some((p) => typeof p !== "string"))) throw new SluiceError("INVALID_DAG", `${where}: cacheParams must be a list of param names`);
  return {
    cache: {
      expiresMs: d.cacheExpires === undefined ? null : parseDuration(d.cacheExpires, `${where}: cacheExpires`),
      version: d.cacheVersion ?? null,
      params: params === undefined ? null : [...(params as readonly string[])].sort(),
      customKey: o.cacheKey !== undefined,
    },
  };
}

function retryPolicy(where: string, d: TaskDefaults): RetryPolicy {
  const retries = d.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0) throw new SluiceError("INVALID_DAG", `${where}: retries must be a whole number ≥ 0, got ${String(retries)}`);
  const jitter = d.retryJitter ?? 0;
  if (typeof jitter !== "number" || jitter < 0 || jitter > 1) throw new SluiceError("INVALID_DAG", `${where}: retryJitter must be between 0 and 1`);
  const backoff = d.retryBackoff ?? "fixed";
  if (backoff !== "fixed" && backoff !== "exponential") throw new SluiceError("INVALID_DAG", `${where}: retryBackoff must be "fixed" or "exponential"`);
  return {
    retries,
    retryDelayMs: parseDuration(d.retryDelay ?? "5m", `${where}: retryDelay`),
    backoff,
    maxRetryDelayMs: d.maxRetryDelay === undefined ? null : parseDuration(d.maxRetryDelay, `${where}: maxRetryDelay`),
    jitter,
  };
}

/** The `nonRetryable` option: error names, sorted and deduplicated (absent from the spec when empty: versions unchanged). */
function nonRetryableNames(where: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((n) => typeof n !== "string" || n === "")) {
    throw new SluiceError("INVALID_DAG", `${where}: nonRetryable must be a list of error names, e.g. nonRetryable: ["ValidationError"]`);
  }
  return [...new Set(v as string[])].sort();
}

/** The DAG's `deadLetter` option: only "park" is written to the spec, so that other DAGs' versions stay as they were. */
function deadLetterOption(dagId: string, v: unknown): { deadLetter?: "park" } {
  if (v === undefined || v === "fail_run") return {};
  if (!isDeadLetterMode(v)) throw new SluiceError("INVALID_DAG", `DAG "${dagId}": deadLetter must be "fail_run" (the default) or "park", got ${JSON.stringify(v)}`, { details: { dagId } });
  return { deadLetter: "park" };
}

function positiveOrNull(where: string, field: string, v: number | undefined): number | null {
  if (v === undefined) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new SluiceError("INVALID_DAG", `${where}: ${field} must be a whole number > 0`);
  return v;
}

function paramsJsonSchema(schema: StandardSchemaV1 | undefined): unknown {
  if (!schema) return null;
  try {
    // zod 4 schemas describe themselves as JSON Schema (the UI's trigger form uses it); other libraries
    // simply get none. Calling the method keeps zod out of the authoring API's imports.
    const toJson = (schema as { toJSONSchema?: (o: object) => unknown }).toJSONSchema;
    return typeof toJson === "function" ? toJson.call(schema, { io: "input", unrepresentable: "any" }) : null;
  } catch {
    return null;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out as Partial<T>;
}

function deepFreeze<T>(o: T): T {
  if (typeof o !== "object" || o === null || Object.isFrozen(o)) return o;
  Object.freeze(o);
  // loops, not Object.values: no array per object of a 100,000-task spec
  if (Array.isArray(o)) for (const v of o) deepFreeze(v);
  else for (const k of Object.keys(o)) deepFreeze((o as Record<string, unknown>)[k]);
  return o;
}

/** shell/python: the connections and variables declared for the environment (absent when none). */
function secretOptions(where: string, kind: TaskKind, options: object): Pick<TaskSpec, "connections" | "variables"> {
  const o = options as { connections?: unknown; variables?: unknown };
  const out: Pick<TaskSpec, "connections" | "variables"> = {};
  for (const option of ["connections", "variables"] as const) {
    const refs = secretRefs(where, option, o[option]);
    if (!refs) continue;
    if (kind !== "shell" && kind !== "python") {
      throw new SluiceError("INVALID_DAG", `${where}: ${option} is for shell and Python tasks (passed in as environment variables); a function task calls ctx.${option === "connections" ? "connection(id)" : "variable(key)"}`);
    }
    out[option] = refs;
  }
  return out;
}

/** pool slots, resources and per-task concurrency, present only when set (other specs and versions stay unchanged). */
function capacityOptions(where: string, d: TaskOptions): Pick<TaskSpec, "poolSlots" | "resources" | "maxActiveTisPerDag"> {
  if (d.pool !== undefined && (typeof d.pool !== "string" || d.pool.trim() === "")) throw new SluiceError("INVALID_DAG", `${where}: pool must be a non-empty string`);
  if (d.queue !== undefined && (typeof d.queue !== "string" || !/^[A-Za-z0-9_.-]+$/.test(d.queue))) {
    throw new SluiceError("INVALID_DAG", `${where}: queue must be a name of letters, digits, "_", "-" and "." (got ${JSON.stringify(d.queue)})`);
  }
  if (d.priority !== undefined && (typeof d.priority !== "number" || !Number.isInteger(d.priority))) throw new SluiceError("INVALID_DAG", `${where}: priority must be a whole number`);
  const out: Pick<TaskSpec, "poolSlots" | "resources" | "maxActiveTisPerDag"> = {};
  const slots = positiveOrNull(where, "poolSlots", d.poolSlots);
  if (slots !== null && slots !== 1) out.poolSlots = slots;
  const resources = resourceRequest(d.resources, where);
  if (resources && (resources.cpu || resources.memoryMb || resources.gpu)) out.resources = resources;
  const maxTis = positiveOrNull(where, "maxActiveTisPerDag", d.maxActiveTisPerDag);
  if (maxTis !== null) out.maxActiveTisPerDag = maxTis;
  return out;
}
