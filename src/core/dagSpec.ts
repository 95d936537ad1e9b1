/**
 * The immutable, serialisable description of a DAG: what the store records per version, what the engine
 * walks, what the UI draws. It holds no functions; the code lives beside it in the DSL's `Dag` object.
 */
import { createHash } from "node:crypto";
import { SluiceError } from "../errors.js";
import type { RetryPolicy } from "./backoff.js";
import type { AssetSchedule } from "./assets.js";
import type { PastDeps } from "./pastDeps.js";
import type { Resources } from "./resources.js";
import type { Schedule } from "./schedules.js";
import type { SensorPolicy } from "./sensors.js";
import type { TriggerRule } from "./triggerRules.js";
import type { CallbackNames } from "./callbacks.js";
import type { DeadlineSpec } from "./deadlines.js";
import type { PromoteSpec } from "./promotion.js";

export type TaskKind = "task" | "branch" | "short_circuit" | "shell" | "python" | "sensor" | "promote";

/**
 * What one mapped argument takes its list from: an upstream task's output (`transform`: through the
 * consuming task's `.map(fn)` function, applied to each element as the instance starts) or a literal list.
 */
export type MapSource = { task: string; transform?: true } | { values: unknown[] };

export interface TaskSpec extends PastDeps {
  id: string;
  kind: TaskKind;
  /** Enclosing task group ("" at the top level). */
  group: string;
  /** Direct upstream task ids (data and order dependencies), sorted. */
  upstream: string[];
  /** Direct downstream task ids, sorted. */
  downstream: string[];
  /** Input name -> upstream task id whose output it receives. */
  inputs: Record<string, string>;
  /** Dynamic mapping: one instance per element of the cross product of these lists. */
  map: { name: string; source: MapSource }[] | null;
  /** How the lists of `map` combine (core/mapping.ts): absent for their cross product (so other specs and versions are unchanged). */
  mapMode?: "zip" | "kwargs";
  /** Mapped tasks: fixed JSON arguments beside the mapped ones (Airflow's `partial`); absent when none. */
  partial?: Record<string, unknown>;
  triggerRule: TriggerRule;
  retry: RetryPolicy;
  timeoutMs: number | null;
  isolation: "inline" | "process";
  memoryLimitMb: number | null;
  /** isolation "process": a new process for every attempt (no warm one); absent when false (specs and versions unchanged). */
  fresh?: true;
  queue: string;
  pool: string | null;
  priority: number;
  owner: string | null;
  description: string | null;
  /** short_circuit only: when false (default) a false result skips every task downstream, ignoring their rules. */
  respectTriggerRules: boolean;
  /** shell/python: the static part of the command, for display; sensor: what a ready-made poke checks. */
  command: string | null;
  /** Sensors only (absent otherwise, so other tasks' specs and versions are unchanged): poke interval, timeout, softFail. */
  sensor?: SensorPolicy;
  /**
   * Assets (names or URIs, sorted) that each success of this task updates: one asset event per asset.
   * Absent when none (so other tasks' specs and versions are unchanged).
   */
  produces?: string[];
  /** Slots of its pool this task holds while it runs; absent when 1 (so other specs and versions are unchanged). */
  poolSlots?: number;
  /** What it needs of a worker's declared capacity while it runs; absent when nothing. */
  resources?: Resources;
  /** At most this many instances of this task run at once, across all runs of the DAG; absent: no limit. */
  maxActiveTisPerDag?: number;
  /** shell/python: connections passed in as SLUICE_CONN_<ID> (sorted); absent when none. */
  connections?: string[];
  /** shell/python: variables passed in as SLUICE_VAR_<KEY> (sorted); absent when none. */
  variables?: string[];
  /**
   * Its callbacks' names by event (decision 0019); absent when none. A transition asks `callbacks?.failure`
   * and writes a callback row only then: a DAG without callbacks costs the hot path nothing.
   */
  callbacks?: CallbackNames;
  /** When it must be done (core/deadlines.ts); absent when it has no deadline. */
  deadline?: DeadlineSpec;
  /** Error names that skip the retries left (core/deadLetters.ts `isNonRetryable`), sorted; absent when none. */
  nonRetryable?: string[];
  /** shell/python: the exit codes that skip the task (core/taskSignals.ts), sorted; absent: [99], the default. */
  skipOnExitCode?: number[];
  /** A setup task (`d.setup`, core/setupTeardown.ts): it creates what the tasks after it use; absent otherwise. */
  setup?: true;
  /** A teardown task (`d.teardown`): it releases what its setups (direct upstream setups) created; absent otherwise. */
  teardown?: true;
  /** A teardown whose failure fails the run (Airflow's on_failure_fail_dagrun); absent: it does not. */
  onFailureFailDagRun?: true;
  /** Caching across runs (core/cache.ts); absent when the task is not cached. */
  cache?: CacheSpec;
  /** A promotion gate (`d.promote`, core/promotion.ts); absent for other tasks. Its candidate is its input "candidate". */
  promote?: PromoteSpec;
}

export interface CacheSpec {
  /** How long an entry is reused; null: forever. */
  expiresMs: number | null;
  version: string | null;
  /** The params that are part of the key; null: all. */
  params: string[] | null;
  /** Whether the DAG computes the key itself (`cacheKey`). */
  customKey: boolean;
}

export interface GroupSpec {
  id: string;
  description: string | null;
}

export interface DagSpec {
  id: string;
  description: string | null;
  doc: string | null;
  owner: string | null;
  tags: string[];
  /** JSON Schema of the params when the schema library can produce one (zod 4 can). */
  paramsJsonSchema: unknown;
  runTimeoutMs: number | null;
  maxActiveTasks: number | null;
  /** Parsed schedule (core/schedules), or null: runs only when triggered. */
  schedule: Schedule | null;
  startDate: number | null;
  endDate: number | null;
  catchup: boolean;
  maxActiveRuns: number;
  /** Runs on updates of assets (then `schedule` is null); absent when not asset-scheduled. */
  assetSchedule?: AssetSchedule;
  /** External events (by name, sorted) that trigger a run; absent when none. */
  events?: string[];
  /**
   * Params whose values are secrets (sorted): stored encrypted in the run, decrypted only for its tasks,
   * masked in their output and shown as `***` (docs/decisions/0016-secrets.md); absent when none.
   */
  secretParams?: string[];
  /** The run's callbacks (and `notify`) by event: failure, success, deadline_miss; absent when none. */
  callbacks?: CallbackNames;
  /** When a run must be done (core/deadlines.ts); absent when none. */
  deadline?: DeadlineSpec;
  /** What a dead-lettered task does to its run (core/deadLetters.ts); absent: "fail_run". */
  deadLetter?: "park";
  groups: GroupSpec[];
  /** In topological order. */
  tasks: TaskSpec[];
}

export const ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,199}$/;

export function checkId(kind: "DAG" | "task" | "task group", id: unknown, where: string): string {
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw new SluiceError(
      "INVALID_DAG",
      `${where}: ${kind} id ${JSON.stringify(id)} is invalid; use letters, digits, "_" and "-" (at most 200, not starting with "-")`,
    );
  }
  return id;
}

/** Connection ids and variable keys (secrets/connection.ts SECRET_ID_PATTERN: they name files and env variables). */
const SECRET_REF = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

/**
 * A shell or Python task's `connections` / `variables` option: a list of ids, sorted and deduplicated;
 * null when absent or empty (so the spec and version of a task without them stay unchanged).
 */
export function secretRefs(where: string, option: "connections" | "variables", value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw new SluiceError("INVALID_DAG", `${where}: ${option} must be a list of ${option === "connections" ? "connection ids" : "variable keys"}, e.g. ${option}: ["warehouse"]`);
  for (const id of value) {
    if (typeof id !== "string" || !SECRET_REF.test(id)) {
      throw new SluiceError("INVALID_DAG", `${where}: ${option}: ${JSON.stringify(id)} is not a valid ${option === "connections" ? "connection id" : "variable key"} (letters, digits, "_", "-" and ".")`);
    }
  }
  return value.length ? [...new Set(value as string[])].sort() : null;
}

/**
 * A DAG's `secretParams` option, checked: a list of the names of its params (those of its JSON Schema when
 * the schema library gives one), sorted and without duplicates.
 */
export function checkSecretParams(dagId: string, v: unknown, hasParams: boolean, paramsJsonSchema: unknown): string[] {
  if (v === undefined || v === null) return [];
  const where = `DAG "${dagId}": secretParams`;
  if (!Array.isArray(v) || v.some((n) => typeof n !== "string" || n === "")) {
    throw new SluiceError("INVALID_DAG", `${where} must be a list of param names, e.g. ["api_key"]`, { details: { dagId } });
  }
  const names = [...new Set(v as string[])].sort();
  if (names.length && !hasParams) throw new SluiceError("INVALID_DAG", `${where} names ${names.map((n) => `"${n}"`).join(", ")}, but the DAG has no params schema`, { details: { dagId } });
  const known = (paramsJsonSchema as { properties?: Record<string, unknown> } | null)?.properties;
  if (known) {
    const unknown = names.filter((n) => !Object.hasOwn(known, n));
    if (unknown.length) {
      throw new SluiceError("INVALID_DAG", `${where} names ${unknown.map((n) => `"${n}"`).join(", ")}, which ${unknown.length === 1 ? "is not a param" : "are not params"}; its params are: ${Object.keys(known).join(", ") || "(none)"}`, {
        details: { dagId },
      });
    }
    // a default is DAG code, and the DAG's defaults are stored in plain text for scheduled runs
    const withDefault = names.filter((n) => typeof known[n] === "object" && known[n] !== null && "default" in known[n]);
    if (withDefault.length) {
      throw new SluiceError(
        "INVALID_DAG",
        `${where}: ${withDefault.map((n) => `"${n}"`).join(", ")} ${withDefault.length === 1 ? "has a default" : "have defaults"} in the params schema; a secret param's value is given when the run is triggered (a default would be stored in plain text with the DAG): drop the default, or read the value from a variable or connection`,
        { details: { dagId } },
      );
    }
  }
  return names;
}

/**
 * Fill in `downstream`, check the graph (unknown upstream, cycles) and return tasks in topological order.
 * Cycles are reported with the tasks on them, e.g. `a -> b -> c -> a`.
 */
export function finalizeTasks(dagId: string, tasks: readonly Omit<TaskSpec, "downstream">[]): TaskSpec[] {
  // by index, in arrays: a 100,000-task DAG is finalized in tens of milliseconds (Maps of Sets took ~1 s)
  const index = new Map<string, number>();
  for (let i = 0; i < tasks.length; i++) index.set(tasks[i]!.id, i);
  const down: number[][] = tasks.map(() => []);
  const indegree = new Int32Array(tasks.length);
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    for (const u of t.upstream) {
      const j = index.get(u);
      if (j === undefined) throw new SluiceError("INVALID_DAG", `DAG "${dagId}": task "${t.id}" depends on unknown task "${u}"`, { details: { dagId, taskId: t.id } });
      down[j]!.push(i);
    }
    indegree[i] = t.upstream.length;
  }
  // Kahn's algorithm, keeping declaration order among ready tasks so the order is stable.
  const queue: number[] = [];
  for (let i = 0; i < tasks.length; i++) if (indegree[i] === 0) queue.push(i);
  for (let q = 0; q < queue.length; q++) {
    for (const d of down[queue[q]!]!) if (--indegree[d]! === 0) queue.push(d);
  }
  if (queue.length !== tasks.length) {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const cycle = findCycle(tasks.filter((_, i) => indegree[i]! > 0), byId);
    throw new SluiceError("CYCLE", `DAG "${dagId}" has a cycle: ${cycle.join(" -> ")}`, { details: { dagId, cycle } });
  }
  return queue.map((i) => ({ ...tasks[i]!, downstream: down[i]!.map((j) => tasks[j]!.id).sort() }));
}

function findCycle(candidates: readonly Omit<TaskSpec, "downstream">[], byId: Map<string, Omit<TaskSpec, "downstream">>): string[] {
  const color = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    color.set(id, 1);
    stack.push(id);
    for (const u of byId.get(id)!.upstream) {
      if (color.get(u) === 1) {
        // stack holds a path following upstream edges; reverse it to read in execution order
        const path = stack.slice(stack.indexOf(u)).reverse();
        return [...path, path[0]!];
      }
      if (!color.has(u)) {
        const found = visit(u);
        if (found) return found;
      }
    }
    stack.pop();
    color.set(id, 2);
    return null;
  };
  for (const t of candidates) {
    if (!color.has(t.id)) {
      const found = visit(t.id);
      if (found) return found;
    }
  }
  return candidates.map((t) => t.id);
}

/** Content hash of a DAG's structure and code: what a run records as its DAG version. */
export function dagVersion(spec: DagSpec, code: Iterable<string>): string {
  const h = createHash("sha256");
  h.update(JSON.stringify(spec));
  // one update for all the code: the same bytes as "\0" + c per source, without 100,000 calls into the hash
  const sources = [...code];
  if (sources.length) h.update(`\0${sources.join("\0")}`);
  return h.digest("hex").slice(0, 16);
}

export function taskById(spec: DagSpec): Map<string, TaskSpec> {
  return new Map(spec.tasks.map((t) => [t.id, t]));
}
