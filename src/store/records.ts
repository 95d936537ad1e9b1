/**
 * Rows of the runs and task_instances tables as the records the rest of Sluice sees. Apart from store.ts
 * because the aggregate files (runs.ts, taskInstances.ts) use them too: importing them from store.ts made
 * store.ts -> aggregates.ts -> runs.ts -> store.ts a cycle at run time, and whichever module was imported
 * first decided whether `class Store extends Aggregates` found Aggregates initialised ("Cannot access
 * 'Aggregates' before initialization" when sluice/runtime was imported).
 */
import type { Generated } from "kysely";
import type { RunState, TaskState } from "../core/states.js";
import type { Database } from "./schema.js";
import type { RunRecord, TaskInstanceRecord } from "./store.js";

/** A selected row of a table: generated columns have their values. */
export type Row<T extends keyof Database> = { [K in keyof Database[T]]: Database[T][K] extends Generated<infer X> ? X : Database[T][K] };

/** @internal A runs row as a RunRecord. */
export function toRun(r: Row<"runs">): RunRecord {
  return {
    runId: r.run_id,
    dagId: r.dag_id,
    dagVersion: r.dag_version,
    runKey: r.run_key,
    runType: r.run_type,
    state: r.state as RunState,
    stateReason: r.state_reason,
    logicalDate: r.logical_date,
    dataIntervalStart: r.data_interval_start,
    dataIntervalEnd: r.data_interval_end,
    params: JSON.parse(r.params) as Record<string, unknown>,
    unfinished: r.unfinished,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    timeoutAt: r.timeout_at,
    backfillId: r.backfill_id,
  };
}

export function toTaskInstance(r: Row<"task_instances">): TaskInstanceRecord {
  return {
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    state: r.state as TaskState,
    tryNumber: r.try_number,
    tryBase: r.try_base,
    nUpstream: r.n_upstream,
    nSuccess: r.n_success,
    nFailed: r.n_failed,
    nUpstreamFailed: r.n_upstream_failed,
    nSkipped: r.n_skipped,
    readyAt: r.ready_at,
    priority: r.priority,
    queue: r.queue,
    attemptId: r.attempt_id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    sensorDeadline: r.sensor_deadline,
    pokeCount: r.poke_count,
  };
}
