/**
 * Embedding Sluice in a program: open the store, load DAGs, run them. DAG files import "sluice" instead.
 *
 * @example
 * import { Sluice, loadConfig } from "sluice/runtime";
 * const s = await Sluice.open(loadConfig({ dags: "./dags" }));
 * const summary = await s.run("etl", { params: { minAmount: 10 } });
 * await s.close();
 */
export { Sluice, SUMMARY_TASKS, SUMMARY_FAILED, type RunSummary, type SummaryTask, type OpenOptions, type DriveHooks, type BackfillDriveOptions } from "./sluice.js";
export type { BackfillRequest, BackfillPlan, BackfillSummary, BackfillHooks, PlannedInterval } from "./engine/backfill.js";
export type { BackfillRecord, BackfillCounts, BackfillIntervalRecord } from "./store/backfills.js";
export type { Reprocess } from "./core/backfill.js";
export { loadConfig, type SluiceConfig, type ConfigOverrides } from "./config.js";
export { ManualClock, systemClock, type Clock } from "./core/clock.js";
export type { TriggerOptions } from "./engine/engine.js";
export type { EventOutcome } from "./engine/triggers.js";
// what a task throws to end itself (also exported by "sluice"): for DAGs defined in the embedding program
export { SkipTask, FailTask } from "./dsl/taskSignals.js";
