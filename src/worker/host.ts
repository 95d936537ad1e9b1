/**
 * The seam between the engine and its workers: what a worker needs from the engine (`WorkerHost`, which
 * the engine implements) and what crosses it — claims going in, attempts' results coming back.
 */
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { Clock } from "../core/clock.js";
import type { DagSpec, TaskSpec } from "../core/dagSpec.js";
import type { Capacity } from "../core/resources.js";
import type { TaskImpl } from "../dsl/dag.js";
import type { AssetEvent, TriggeringEvent } from "../dsl/types.js";
import type { SluiceError } from "../errors.js";
import type { LogStore } from "../logs/logStore.js";
import type { AttemptEnd, ClaimedAttempt, Store } from "../store/store.js";

/**
 * How a finished attempt ended, as reported by a worker (or by the engine for a lost worker). A sensor's
 * poke that found its condition unmet reports `up_for_reschedule`: its attempt waits for the next poke.
 */
export interface AttemptResult extends Omit<AttemptEnd, "state"> {
  /** `interrupted`: handed back by a draining worker (SIGTERM); the task instance is scheduled again at once. */
  state: AttemptEnd["state"] | "up_for_reschedule";
  /** branch tasks: the direct downstream task ids to follow. */
  follow?: string[] | null;
  /** short_circuit tasks: false skips downstream. */
  proceed?: boolean;
  /** Retry at once instead of after the retry delay (the worker died; the task did not fail by itself). */
  retryNow?: boolean;
  /** Do not retry (cancelled). */
  noRetry?: boolean;
  /** Metadata the task attached to its asset events (`ctx.assetMetadata`), by asset. */
  assetMetadata?: Record<string, Record<string, unknown>> | null;
}

export interface ClaimRequest {
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only this run's task instances (`sluice run`). */
  runId?: string;
  /** Only task instances of this backfill's runs (`sluice backfill`). */
  backfillId?: number;
  /** Only task instances of these queues; null or absent: every queue. */
  queues?: readonly string[] | null;
  /** Only task instances whose resource requests fit what this worker's running ones leave. */
  resources?: Capacity | null;
}

/** What a task of a run sees of what triggered it (ctx.event, ctx.triggeringAssetEvents). */
export interface RunTriggerInfo {
  event: TriggeringEvent | null;
  assetEvents: AssetEvent[];
}

export interface ResolvedTask {
  task: TaskSpec;
  /** The spec of the run's DAG version (a branch names its targets in it; mapping checks who maps over what). */
  dag: DagSpec;
  impl: TaskImpl;
  dagFile: string;
  /** The run's code bundle as a module URL (executors/bundleImport.ts); null: the DAG file itself. */
  moduleUrl: string | null;
}

/** What a worker needs from the engine; the engine implements it. */
export interface WorkerHost {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  readonly logs: LogStore;
  readonly clock: Clock;
  /** Record ends and claim new work, in one transaction. */
  settle(results: AttemptResult[], claim: ClaimRequest | null): Promise<ClaimedAttempt[]>;
  resolveTask(a: ClaimedAttempt): Promise<ResolvedTask>;
  /** A task's outputs in map-index order; with `mapIndex`, that instance's only. */
  loadOutputs(runId: string, taskId: string, mapIndex?: number): Promise<unknown[]>;
  /** What triggered a run: the external event, the asset events it consumed. */
  runTriggers(runId: string): Promise<RunTriggerInfo>;
  /** Subscribe to "work may be ready" (except for the worker named); returns an unsubscribe function. */
  onWake(cb: (except: string | null) => void): () => void;
  /** Subscribe to attempts that must be aborted (cancelled runs, run timeouts). */
  onAbort(cb: (attemptIds: number[], reason: SluiceError) => void): () => void;
}
