/**
 * The authoring API of Sluice: what DAG files import. It is kept light (no database, no engine), because
 * every DAG file and every process-isolated task loads it. Embedding Sluice in a program: "sluice/runtime".
 */
export { dag, isDag, DagBuilder, type Dag } from "./dsl/dag.js";
export { NonRetryableError } from "./dsl/nonRetryable.js";
export { SkipTask, FailTask } from "./dsl/taskSignals.js";
export { zip } from "./dsl/mapping.js";
export type { MappedRef, Zipped, KwargsMapOptions, MapElement } from "./dsl/types.js";
export type {
  TaskRef,
  TaskContext,
  TaskLogger,
  TaskOptions,
  TaskDefaults,
  RetryOptions,
  MapOptions,
  ShellOptions,
  PythonOptions,
  DagOptions,
  InputValues,
  BranchResult,
  SensorOptions,
  PokeResult,
  PokeOutput,
  Poke,
  Tracker,
  TeardownOptions,
  SkipOnExitCode,
} from "./dsl/types.js";
export type { Callback, Callbacks, CallbackContext, TaskCallbackOptions } from "./dsl/callbacks.js";
export { webhook, slack, email, signature as webhookSignature, TEMPLATE_VARIABLES, type WebhookOptions, type SlackOptions, type EmailOptions } from "./dsl/notifiers.js";
export type { DeadlineOption } from "./core/deadlines.js";
export type { Timetable, TriggerScheduleOption, NextRunQuery } from "./core/timetables.js";
export type { DataInterval } from "./core/schedules.js";
export { fileExists, httpOk, sqlRow, type HttpOkOptions, type SqlRowOptions } from "./dsl/sensors.js";
export type { AssetScheduleOption, AssetEvent, TriggeringEvent } from "./dsl/types.js";
export type { InferenceLogEntry, InferenceLogOptions } from "./dsl/types.js";
export type { Predictor } from "./core/models.js";
export type { JsonValue } from "./core/assets.js";
export type { Connection } from "./secrets/connection.js";
export { TRIGGER_RULES, type TriggerRule } from "./core/triggerRules.js";
export { TASK_STATES, RUN_STATES, type TaskState, type RunState } from "./core/states.js";
export type { Duration } from "./core/duration.js";
export type { ResourceRequest } from "./core/resources.js";
export type { StandardSchemaV1 } from "./core/standardSchema.js";
export { SluiceError, isSluiceError, type ErrorCode } from "./errors.js";
export {
  driftReport,
  numericPsi,
  categoricalPsi,
  ksTest,
  chiSquareTest,
  kolmogorovSurvival,
  chiSquareSurvival,
  PSI_EPSILON,
  type DriftReport,
  type DriftReportOptions,
  type DriftThresholds,
  type FeatureDrift,
  type FeatureKind,
  type NumericDrift,
  type CategoricalDrift,
  type KsResult,
  type ChiSquareResult,
  type PsiResult,
  type PsiBin,
} from "./ml/drift.js";
