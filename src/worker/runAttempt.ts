/**
 * One attempt, start to end: resolve its task, gather its inputs, run it through its executor under its
 * timeout and abort signal, and turn what it returned or threw into the result the worker settles.
 */
import { encodeOutput } from "../artifacts/serialize.js";
import { AssetMetadataCollector } from "../core/assets.js";
import { taskById, type DagSpec, type TaskSpec } from "../core/dagSpec.js";
import { branchFollows } from "../core/branching.js";
import { mapItem, mappableList, unmappableReason } from "../core/mapping.js";
import { pokeOutcome } from "../core/sensors.js";
import type { TaskImpl } from "../dsl/dag.js";
import type { TaskContext } from "../dsl/types.js";
import { isNonRetryable } from "../core/deadLetters.js";
import { isSkipSignal } from "../core/taskSignals.js";
import { describeTry } from "../core/tries.js";
import { SluiceError, errorRecord, isSluiceError } from "../errors.js";
import { childProcessExecutor } from "../executors/childProcess.js";
import type { Executor } from "../executors/executor.js";
import { inProcessExecutor } from "../executors/inProcess.js";
import { pythonExecutor } from "../executors/python.js";
import { shellExecutor } from "../executors/shell.js";
import { DEFAULT_POOL } from "../store/capacity.js";
import type { ClaimedAttempt } from "../store/store.js";
import { AttemptLog, logFailureError } from "../logs/attemptLog.js";
import { attemptSecrets } from "../secrets/attempt.js";
import { Keyring, type KeySource } from "../secrets/keyring.js";
import { isSensitiveName, Masker } from "../secrets/mask.js";
import { decryptSecretParams } from "../secrets/params.js";
import type { TaskSecrets } from "../secrets/secrets.js";
import type { AttemptResult, WorkerHost } from "./host.js";
import type { AttemptAbort } from "./attemptAbort.js";
import { AttemptTracker } from "./tracker.js";
import { AttemptModels } from "./models.js";
import { pokeGate } from "./promotionGate.js";
import { attemptCacheKey, cacheHit, storeCacheEntry } from "./cache.js";
import { openTrackChannel, type TrackChannel } from "./trackFile.js";
import { traceparentOf } from "../tracing/ids.js";
import { NOOP_SPAN, withActiveSpan } from "../tracing/context.js";
import { endAttemptSpan, startAttemptSpan } from "../tracing/spans.js";
import { isTracingEnabled } from "../tracing/tracing.js";
import type { Span } from "@opentelemetry/api";
import type { ProcessPoolLimits } from "../core/processReuse.js";

/** What an attempt needs of its worker's options. */
export interface AttemptOptions {
  inlineOutputLimit: number;
  maxLogBytes?: number;
  python: string;
  /** The clean environment task processes start from (config's taskEnv). */
  taskEnv: Record<string, string>;
  /** When warm processes of `isolation: "process"` are retired; absent: the defaults. */
  processPool?: ProcessPoolLimits;
  /** Where ctx.connection and ctx.variable look (the worker's backends); absent: nowhere. */
  secrets?: TaskSecrets;
  /** Where the keys that decrypt secret params come from (config's secretKey); absent: none configured. */
  secretKey?: KeySource;
  /** The DAGs folder: registered models' flavor files are stored relative to it (worker/models.ts). */
  dagsDir?: string;
}

/**
 * Run attempt `a`. Whatever the task throws (or its abort reason: the timeout set here, or the worker's
 * cancel, lost lease, hand-back) becomes a `failed` result, not a rejection.
 */
export async function runAttempt(host: WorkerHost, opts: AttemptOptions, a: ClaimedAttempt, controller: AttemptAbort): Promise<AttemptResult> {
  const clock = host.clock;
  // the secrets this attempt can reach, replaced by *** wherever the attempt writes (secrets/mask.ts)
  // (docs/decisions/0016-secrets.md): every line, the error, the output and the asset metadata go through it
  const masker = new Masker();
  const log = new AttemptLog(host.logs.sink(a), () => clock.now(), (text) => masker.mask(text), opts.maxLogBytes);
  // tracing off (the default): one boolean, and the one shared no-op span — nothing allocated per attempt
  const span = isTracingEnabled() ? startAttemptSpan(a) : NOOP_SPAN;
  let result = await attempt(host, opts, a, controller, masker, log, span);
  // the log store failed under the attempt (a full disk): the attempt fails with that, and says so
  const failure = log.failure;
  if (failure && result.state !== "failed") {
    const e = logFailureError(failure);
    result = { attemptId: a.attemptId, state: "failed", endedAt: clock.now(), errorCode: e.code, errorMessage: e.message, errorStack: null, exitCode: null };
  }
  if (span !== NOOP_SPAN) endAttemptSpan(span, result);
  return result;
}

async function attempt(host: WorkerHost, opts: AttemptOptions, a: ClaimedAttempt, controller: AttemptAbort, masker: Masker, log: AttemptLog, span: Span): Promise<AttemptResult> {
  const clock = host.clock;
  let cancelTimeout: (() => void) | null = null;
  // until the task is known (its retries), the try as the store counts it
  let tryText = `attempt ${a.tryNumber}`;
  let nonRetryable: readonly string[] | undefined;
  let tracker: AttemptTracker | null = null;
  let channel: TrackChannel | null = null;
  try {
    // a poison row (the run's params do not parse…) fails this task instance, clearly, and nothing else
    if (a.corrupt !== null) throw new SluiceError("CORRUPT_ROW", `${a.corrupt}: task "${a.taskId}" cannot run; fix or delete the row`);
    const resolved = await host.resolveTask(a);
    const { task, dag, impl, dagFile, moduleUrl } = resolved;
    nonRetryable = task.nonRetryable;
    // the task's env (with the DAG's and its group's defaults merged in): values under sensitive names
    for (const [name, value] of Object.entries(impl.env)) if (isSensitiveName(name)) masker.add(value);
    // decrypted for this attempt only, and masked from here on; no key or a wrong one fails it (SECRET_KEY)
    const params = decryptSecretParams(a.params, a.runId, () => keyringOf(opts.secretKey), masker);
    if (task.pool !== null && task.pool !== DEFAULT_POOL) await host.store.pools.require(task.pool, a.dagId, task.id);
    if (task.timeoutMs !== null) {
      const ms = task.timeoutMs;
      // counted from the claim (store time, the clock this worker runs on), not from here: importing the
      // DAG file above takes time, and a clock that moved meanwhile must not push the deadline out
      const expire = () => controller.abort(new SluiceError("TIMEOUT", `task "${task.id}" timed out after ${ms} ms`));
      const left = a.claimedAt + ms - clock.now();
      if (left <= 0) expire();
      else cancelTimeout = clock.setTimer(left, expire);
    }
    // "attempt 1 of 2 (try 4 overall)" after a clear, as the CLI and the UI say it (core/tries.ts)
    tryText = describeTry(a.tryNumber, a.tryBase, task.retry.retries + 1);
    log.note(`${a.pokes > 0 ? `poke ${a.pokes + 1} of ` : ""}${tryText} started (${executorName(task, impl)})`);
    const inputs = await inputsFor(host, a, task, impl);
    const triggers = await host.runTriggers(a.runId);
    const assets = new AssetMetadataCollector(task.id, task.produces ?? []);
    const secrets = attemptSecrets(opts.secrets, masker, { dagId: a.dagId, taskId: a.taskId });
    tracker = new AttemptTracker({ store: host.store, artifacts: host.artifacts, clock, masker }, a, a.dagId);
    const ctx: TaskContext<unknown> = {
      runId: a.runId,
      dagId: a.dagId,
      taskId: a.taskId,
      mapIndex: a.mapIndex,
      attempt: a.tryNumber,
      maxAttempts: task.retry.retries + 1,
      logicalDate: new Date(a.logicalDate),
      // runs created before data intervals were always set (manual runs) have none: the logical date's point
      dataInterval: { start: new Date(a.dataIntervalStart ?? a.logicalDate), end: new Date(a.dataIntervalEnd ?? a.logicalDate) },
      params,
      dagFile: dagFile || null,
      signal: controller.signal,
      attemptId: a.attemptId,
      assertLive: () => {
        if (controller.aborted) throw controller.reason;
      },
      log: log.logger(),
      event: triggers.event,
      triggeringAssetEvents: triggers.assetEvents,
      assetMetadata: (asset, metadata) => assets.record(asset, metadata),
      connection: (id) => secrets.connection(id),
      variable: (key, ...fallback) => secrets.variable(key, ...fallback),
      span,
      track: tracker,
      models: new AttemptModels(
        { store: host.store, artifacts: host.artifacts, masker, dagFile, dagsDir: opts.dagsDir, inputEvents: triggers.assetEvents, onRegistered: (m) => log.note(`registered model "${m.name}" version ${m.version}`) },
        a,
      ),
    };
    // a cached task (task.cache) whose key has a usable entry reuses that attempt's output and runs nothing
    const cache = await attemptCacheKey(a, task, impl, dagFile, inputs, ctx, log);
    const hit = cache ? await cacheHit(host, a, cache, log) : null;
    if (hit) {
      await tracker.close();
      return hit;
    }
    // traced: the task's processes get TRACEPARENT (W3C) and in-process code runs with the span active,
    // so a task's own spans nest under its attempt's
    let env = span === NOOP_SPAN ? opts.taskEnv : { ...opts.taskEnv, TRACEPARENT: traceparentOf(span.spanContext()) };
    // shell and Python tasks track through a file (worker/trackFile.ts)
    if (impl.kind !== "fn") {
      channel = await openTrackChannel(env);
      env = { ...env, ...channel.env };
    }
    // aborted before it started (a deadline already past, a cancel): the task's code never runs
    if (controller.aborted) throw controller.reason;
    const executor = executorFor(task, impl);
    const taskRun = { task, impl, dagFile, moduleUrl, inputs, ctx, abort: controller, log, masker, python: opts.python, env, ...(opts.processPool ? { processPool: opts.processPool } : {}) };
    // a promotion gate is the worker's own code (worker/promotionGate.ts), poked like a sensor
    const returned = task.kind === "promote" ? await pokeGate(host, a, task, inputs, log) : await (span === NOOP_SPAN ? executor.run(taskRun) : withActiveSpan(span, () => executor.run(taskRun)));
    // what it tracked is stored before the attempt counts as done (a batch that cannot be stored fails it)
    const ch = channel;
    channel = null;
    // a Python or shell task's model registrations count only when it succeeded
    await ch?.drain(tracker, controller.signal.aborted ? null : ctx.models);
    await tracker.close();
    if (controller.aborted) throw controller.reason;
    // a sensor whose condition is not met gives its slot back and waits, in the store, for its next poke
    const poke = task.kind === "sensor" || task.kind === "promote" ? pokeOutcome(task.id, returned) : null;
    if (poke && !poke.done) return { attemptId: a.attemptId, state: "up_for_reschedule", endedAt: clock.now() };
    const value = poke?.done ? poke.value : returned;
    const result = await successResult(host, opts, a, dag, task, value, masker);
    result.assetMetadata = masker.maskJson(assets.collected());
    if (cache) await storeCacheEntry(host, a, cache);
    log.note(`${tryText} succeeded`);
    return result;
  } catch (e) {
    // what a failed attempt tracked is kept (a diverging loss curve is worth seeing)
    await channel?.drain(tracker!).catch(() => undefined);
    await tracker?.close().catch(() => undefined);
    const reason: unknown = controller.aborted && !isSluiceError(e) ? controller.reason : e;
    const raw = errorRecord(reason);
    // a task that throws a secret (or an error quoting one) leaves *** in the store and the log
    const rec = { ...raw, message: masker.mask(raw.message), ...(raw.stack !== undefined ? { stack: masker.mask(raw.stack) } : {}) };
    if (reason === e && isSkipSignal(e)) {
      // SkipTask or a skipOnExitCode exit: the instance is skipped, its reason kept as the attempt's message
      // written even by a quiet task (note() would not open its log): the reason must be readable there
      log.system("info", `${tryText} skipped: ${rec.message}`);
      return { attemptId: a.attemptId, state: "skipped", endedAt: clock.now(), errorCode: "SKIPPED", errorMessage: rec.message, errorStack: null, exitCode: rec.exitCode ?? null };
    }
    log.system("error", `${tryText} failed: ${rec.message}`);
    if (rec.stack && rec.code === "TASK_FAILED") log.system("error", rec.stack);
    return {
      attemptId: a.attemptId,
      state: "failed",
      endedAt: clock.now(),
      errorCode: rec.code,
      errorMessage: rec.message,
      errorStack: rec.stack ?? null,
      exitCode: rec.exitCode ?? null,
      // a non-retryable error (NonRetryableError, or a name in the task's nonRetryable list) goes to the
      // dead-letter queue at once (core/deadLetters.ts); the abort reasons above are never the task's own
      noRetry: rec.code === "CANCELLED" || rec.code === "LEASE_LOST" || rec.code === "POOL_NOT_FOUND" || rec.code === "CORRUPT_ROW" || (reason === e && isNonRetryable(e, nonRetryable)),
    };
  } finally {
    cancelTimeout?.();
    await log.close();
  }
}

async function successResult(host: WorkerHost, opts: AttemptOptions, a: ClaimedAttempt, dag: DagSpec, task: TaskSpec, value: unknown, masker: Masker): Promise<AttemptResult> {
  const result: AttemptResult = { attemptId: a.attemptId, state: "success", endedAt: host.clock.now() };
  checkMappable(dag, task, value);
  if (task.kind === "branch") result.follow = branchFollows(dag, task, value);
  if (task.kind === "short_circuit") result.proceed = Boolean(value);
  // The stored output is what the DSL types promise downstream: TaskRef<string[]> for a branch (the ids
  // followed, even when it returned a handle or one id), TaskRef<boolean> for a short-circuit.
  // a returned secret is stored (inline or as an artifact) and passed downstream as ***
  const output = task.kind === "branch" ? result.follow : task.kind === "short_circuit" ? result.proceed : masker.maskJson(value);
  const bytes = encodeOutput(output, `task "${task.id}"`);
  if (bytes.length > opts.inlineOutputLimit) {
    result.outputRef = await host.artifacts.put(bytes);
  } else {
    result.outputInline = bytes;
  }
  result.outputSize = bytes.length;
  return result;
}

async function inputsFor(host: WorkerHost, a: ClaimedAttempt, task: TaskSpec, impl: TaskImpl): Promise<Record<string, unknown>> {
  const inputs: Record<string, unknown> = {};
  const valueOf = async (taskId: string): Promise<unknown> => {
    const outputs = await host.loadOutputs(a.runId, taskId);
    const upstream = await host.resolveTask({ ...a, taskId });
    // a mapped upstream task gives the list of its results in map-index order
    return upstream.task.map ? outputs : outputs[0];
  };
  for (const [name, taskId] of Object.entries(task.inputs)) inputs[name] = await valueOf(taskId);
  if (task.map) {
    const mode = task.mapMode ?? "product";
    const lists: [string, unknown[]][] = [];
    for (const m of task.map) {
      const value = "values" in m.source ? m.source.values : await valueOf(m.source.task);
      // the producer checked its value when it succeeded (checkMappable); a task marked success has none
      const list = mappableList(value);
      if (!list) {
        throw new SluiceError("TASK_FAILED", `task "${task.id}" maps over "${m.name}", but ${"task" in m.source ? `task "${m.source.task}" gave` : "it is"} ${unmappableReason(value, mode, false)}`);
      }
      lists.push([m.name, list]);
    }
    const item = mapItem(lists, a.mapIndex, mode);
    // `.map(fn)` of a mapped argument: applied to this instance's element only (lazily, like Airflow's XComArg.map)
    const transforms = impl.kind === "fn" ? impl.transforms : undefined;
    for (const m of task.map) {
      if (!("task" in m.source) || !m.source.transform || !transforms?.[m.name]) continue;
      if (mode === "kwargs") {
        const args = transforms[m.name]!(lists[0]![1][a.mapIndex]);
        const reason = unmappableReason(args, "kwargs", true);
        if (reason) throw new SluiceError("TASK_FAILED", `task "${task.id}": the .map() function of overKwargs returned ${reason}`);
        for (const k of Object.keys(item)) delete item[k];
        Object.assign(item, args);
      } else {
        item[m.name] = transforms[m.name]!(item[m.name]);
      }
    }
    Object.assign(inputs, task.partial ?? {}, item);
  }
  return inputs;
}

/**
 * A task that another task maps over must give something mappable: a list or an object (a list of
 * objects for `overKwargs`). Anything else fails this task's attempt, naming both tasks — the error is
 * the producer's, as in Airflow (UnmappableXComTypePushed), not a silent skip of the consumer.
 */
function checkMappable(dag: DagSpec, task: TaskSpec, value: unknown): void {
  for (const consumer of task.downstream) {
    const c = tasksOf(dag).get(consumer);
    for (const m of c?.map ?? []) {
      if (!("task" in m.source) || m.source.task !== task.id) continue;
      const mode = c!.mapMode ?? "product";
      // overKwargs through `.map(fn)`: each element becomes an object of arguments only when its function ran (inputsFor)
      const reason =
        mode === "kwargs" && m.source.transform
          ? task.map || Array.isArray(value) ? null : unmappableReason(value, "kwargs", false)
          : unmappableReason(value, mode, task.map !== null);
      if (reason) {
        throw new SluiceError("TASK_FAILED", `task "${task.id}" returned ${reason}, but task "${c!.id}" maps over it (${mode === "kwargs" ? "overKwargs" : `over.${m.name}`})`, {
          details: { dagId: dag.id, taskId: task.id },
        });
      }
    }
  }
}

function executorFor(task: TaskSpec, impl: TaskImpl): Executor {
  if (impl.kind === "shell") return shellExecutor;
  if (impl.kind === "python") return pythonExecutor;
  return task.isolation === "process" ? childProcessExecutor : inProcessExecutor;
}

function executorName(task: TaskSpec, impl: TaskImpl): string {
  return impl.kind === "fn" ? (task.isolation === "process" ? "child process" : "in process") : impl.kind;
}

/** A spec's tasks by id, built once per DAG version (specs are frozen and cached): O(1) per downstream task, even in a 100,000-task DAG. */
const tasksById = new WeakMap<DagSpec, Map<string, TaskSpec>>();

function tasksOf(dag: DagSpec): Map<string, TaskSpec> {
  let m = tasksById.get(dag);
  if (!m) tasksById.set(dag, (m = taskById(dag)));
  return m;
}

/** Keyrings by their source, once loaded (a key file is read once per worker, not per attempt). */
const keyrings = new WeakMap<KeySource, Keyring>();

/** The keys of `src`, or null when none is configured (never created here: a reader needs an existing key). */
function keyringOf(src: KeySource | undefined): Keyring | null {
  if (!src) return null;
  let k = keyrings.get(src) ?? null;
  if (!k) {
    k = Keyring.load(src, { create: false });
    if (k) keyrings.set(src, k);
  }
  return k;
}
