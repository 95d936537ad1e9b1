/**
 * The response bodies of the REST API as zod schemas: each route names its own (`Route.response`), the
 * OpenAPI document carries them (server/openapi.ts), the UI's client types are generated from that document
 * (ui/src/api.gen.ts), and a contract test calls every route and checks the real answers against them
 * (test/server/contract.test.ts). Objects are strict: a field a view adds without saying so here fails the
 * contract test instead of reaching clients undocumented.
 */
import { z } from "zod";

const ms = z.number().describe("epoch milliseconds");
const nullableMs = ms.nullable();
const json = z.unknown().describe("any JSON value");
const jsonObject = z.record(z.string(), z.unknown());

/** `{ items, nextCursor }`: every list (keyset pages; nextCursor null on the last page). */
export const list = <T extends z.ZodType>(item: T) => z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });

export const ok = z.strictObject({ ok: z.literal(true) });

/** The OpenAPI 3.1 document (its own schema is OpenAPI's, not repeated here). */
export const openApiSchema = z.looseObject({ openapi: z.string(), info: jsonObject, paths: jsonObject, components: jsonObject });

// ---- DAGs ---------------------------------------------------------------------------------------------

export const dagSummarySchema = z.strictObject({
  dagId: z.string(),
  description: z.string().nullable(),
  owner: z.string().nullable(),
  tags: z.array(z.string()),
  schedule: z.string().nullable().describe("the schedule in words (cron, interval, assets, events); null: manual only"),
  timezone: z.string().nullable(),
  paused: z.boolean(),
  active: z.boolean(),
  nextRunAt: nullableMs,
  version: z.string(),
  file: z.string().nullable(),
  lastRuns: z.array(z.strictObject({ runId: z.string(), state: z.string(), logicalDate: ms })),
  hasImportError: z.boolean(),
  deadlineMisses: z.strictObject({ runs: z.number(), lastMissedAt: nullableMs }),
});

export const dagDetailSchema = dagSummarySchema.extend({
  docs: z.string().nullable().describe("Markdown"),
  params: jsonObject.nullable().describe("the params' JSON Schema (descriptions, defaults, bounds)"),
  defaults: jsonObject.nullable().describe("default params (secret ones as ***)"),
  secretParams: z.array(z.string()),
  paramsError: z.string().nullable(),
  maxActiveRuns: z.number().nullable(),
  catchup: z.boolean().nullable(),
  startDate: nullableMs,
  endDate: nullableMs,
  assetSchedule: json.nullable(),
  events: z.array(z.string()),
});

export const structureSchema = z.strictObject({
  version: z.string(),
  tasks: z.array(
    z.strictObject({
      id: z.string(),
      kind: z.string(),
      isolation: z.enum(["inline", "process"]).describe("where a function task runs: in the worker, or in a child process"),
      group: z.string().nullable(),
      upstream: z.array(z.string()),
      downstream: z.array(z.string()),
      mapped: z.boolean(),
      triggerRule: z.string(),
      maxTries: z.number().describe("retries + 1: the tries a run (or a clear) gives it"),
      docs: z.string().optional(),
      setup: z.literal(true).optional().describe("a setup task (d.setup)"),
      teardown: z.literal(true).optional().describe("a teardown task (d.teardown)"),
      onFailureFailDagRun: z.literal(true).optional().describe("a teardown whose failure fails the run"),
    }),
  ),
  groups: z.array(z.strictObject({ id: z.string(), parent: z.string().nullable(), description: z.string().nullable() })),
});

export const dagVersionSchema = z.strictObject({ version: z.string(), createdAt: ms, file: z.string().nullable() });
export const dagCodeSchema = z.strictObject({ file: z.string(), code: z.string() });
export const importErrorSchema = z.strictObject({ file: z.string(), line: z.number().nullable(), message: z.string(), at: ms });

export const gridSchema = z.strictObject({
  tasks: z.array(z.string()),
  runs: z.array(z.strictObject({ runId: z.string(), state: z.string(), logicalDate: ms, startedAt: nullableMs, endedAt: nullableMs, runType: z.string(), createdAt: ms })),
  states: z.record(z.string(), z.string()).describe("runId -> one state letter per task (docs/api.md)"),
  nextCursor: z.string().nullable(),
});

// ---- runs and task instances --------------------------------------------------------------------------

export const runSchema = z.strictObject({
  runId: z.string(),
  dagId: z.string(),
  dagVersion: z.string(),
  state: z.string(),
  stateReason: z.string().nullable(),
  runType: z.string().describe("scheduled | manual | backfill | asset | event | …"),
  logicalDate: ms,
  dataIntervalStart: nullableMs,
  dataIntervalEnd: nullableMs,
  createdAt: ms,
  startedAt: nullableMs,
  endedAt: nullableMs,
  params: jsonObject.describe("secret params as ***"),
  backfillId: z.number().nullable(),
  corrupt: z.string().nullable(),
  triggeredBy: z.string().nullable().describe("the person or token that triggered it; null: the scheduler, an asset, an event, a backfill"),
  deadlineAt: nullableMs,
});

export const deadlineMissSchema = z.strictObject({ taskId: z.string().nullable(), mapIndex: z.number(), deadlineAt: ms, missedAt: ms });
export const callbackSchema = z.strictObject({
  name: z.string(),
  event: z.string(),
  taskId: z.string().nullable(),
  mapIndex: z.number(),
  tryNumber: z.number(),
  state: z.string(),
  tries: z.number(),
  lastError: z.string().nullable(),
  createdAt: ms,
  endedAt: nullableMs,
});

/** A person's note on a run or task instance (markdown), who wrote it and when; `note: null` once removed. */
export const noteSchema = z.strictObject({ note: z.string().nullable(), updatedBy: z.string(), updatedAt: ms });

export const runDetailSchema = runSchema.extend({
  deadlineMisses: z.array(deadlineMissSchema),
  callbacks: z.array(callbackSchema),
  parkedTasks: z.number(),
  note: noteSchema.nullable().describe("the run's note (markdown); null: none"),
});

export const taskInstanceSchema = z.strictObject({
  taskId: z.string(),
  mapIndex: z.number(),
  state: z.string(),
  tryNumber: z.number().describe("tries overall, across clears"),
  tryBase: z.number().describe("tries before the last clear: tryNumber - tryBase is the try of this round"),
  startedAt: nullableMs,
  endedAt: nullableMs,
  durationMs: z.number().nullable(),
  lastAttemptId: z.number().nullable(),
  changedBy: z.string().nullable(),
});

/** A task instance in a cross-DAG list: with its run's DAG and logical date. */
export const taskInstanceRowSchema = taskInstanceSchema.extend({ runId: z.string(), dagId: z.string(), logicalDate: ms, runType: z.string() });

export const runTaskInstanceSchema = taskInstanceSchema.extend({ waitingReason: z.string().nullable(), note: noteSchema.nullable().describe("the instance's note (markdown); null: none") });

export const attemptSchema = z.strictObject({
  attemptId: z.number(),
  tryNumber: z.number(),
  state: z.string(),
  workerId: z.string(),
  hostname: z.string(),
  startedAt: ms,
  endedAt: nullableMs,
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  errorStack: z.string().nullable(),
  exitCode: z.number().nullable(),
  outputSize: z.number().nullable(),
  cachedFrom: z.number().nullable().describe("a cache hit: the attempt whose output it reused; null otherwise"),
});

/** An attempt with the task instance it belongs to (the timeline). */
export const runAttemptSchema = attemptSchema.extend({ taskId: z.string(), mapIndex: z.number() });

/** One attempt found by its id alone, with the run and DAG it belongs to (where a cache hit's source lives). */
export const attemptDetailSchema = runAttemptSchema.extend({ runId: z.string(), dagId: z.string() });

export const previewSchema = z.strictObject({ preview: z.string(), truncated: z.boolean() });
export const outputSchema = z.strictObject({ size: z.number(), preview: z.string().nullable(), truncated: z.boolean() });

/** The task instances an action (clear, mark) changes — or would change, as a dry run. */
export const affectedSchema = z.strictObject({ taskId: z.string(), mapIndex: z.number(), state: z.string().describe("its state before the action") });

export const clearResultSchema = z.strictObject({
  dryRun: z.boolean(),
  cleared: z.array(z.string()).describe("task ids"),
  instances: z.array(affectedSchema),
});
export const markResultSchema = z.strictObject({ dryRun: z.boolean(), marked: z.number(), instances: z.array(affectedSchema), run: runSchema.nullable() });

// ---- logs, backfills, assets ------------------------------------------------------------------------

export const logPageSchema = z.strictObject({
  lines: z.array(z.strictObject({ t: z.number().nullable(), level: z.string(), msg: z.string() })),
  nextOffset: z.number(),
  eof: z.boolean(),
});

export const backfillSchema = z.strictObject({
  id: z.number(),
  dagId: z.string(),
  from: ms,
  to: ms,
  reprocess: z.string(),
  maxActive: z.number(),
  state: z.string(),
  stateReason: z.string().nullable(),
  createdAt: ms,
  endedAt: nullableMs,
  progress: z.strictObject({ total: z.number(), done: z.number(), succeeded: z.number(), failed: z.number(), running: z.number(), pending: z.number(), skipped: z.number() }).optional(),
});

export const backfillPlanSchema = z.strictObject({
  dryRun: z.literal(true),
  dagId: z.string(),
  from: ms,
  to: ms,
  reprocess: z.string(),
  incomplete: z.number().describe("intervals in the range that have not ended yet: left to the scheduler"),
  total: z.number(),
  intervals: z.array(
    z.strictObject({
      start: ms,
      end: ms,
      existing: z.strictObject({ runId: z.string(), state: z.string() }).nullable(),
      action: z.enum(["create", "reprocess", "skip_exists", "skip_in_flight"]),
    }),
  ),
});

export const assetSchema = z.strictObject({ name: z.string(), createdAt: ms, lastEventAt: nullableMs });
export const assetDetailSchema = z.strictObject({
  name: z.string(),
  createdAt: nullableMs,
  lastEventAt: nullableMs,
  producers: z.array(z.strictObject({ dagId: z.string(), taskId: z.string() })),
  consumers: z.array(z.string()),
  events: z.array(z.strictObject({ eventId: z.number(), dagId: z.string().nullable(), runId: z.string().nullable(), taskId: z.string().nullable(), mapIndex: z.number().nullable(), createdAt: ms, metadata: json })),
});
export const lineageSchema = z.strictObject({
  nodes: z.array(
    z.strictObject({
      id: z.string(),
      kind: z.enum(["dag", "asset"]),
      name: z.string(),
      lastEvent: z
        .strictObject({ at: ms, dagId: z.string().nullable(), runId: z.string().nullable(), taskId: z.string().nullable(), runState: z.string().nullable() })
        .nullable()
        .optional()
        .describe("assets: the latest update the caller may see, and the state of the run that made it"),
      lastRun: z.strictObject({ runId: z.string(), state: z.string(), logicalDate: ms }).nullable().optional().describe("DAGs: their latest run"),
    }),
  ),
  edges: z.array(z.strictObject({ from: z.string(), to: z.string(), taskId: z.string().optional() })),
});

// ---- people, access, secrets, system ------------------------------------------------------------------

const roleSchema = z.enum(["admin", "operator", "viewer", "none"]);
export const userSchema = z.strictObject({ username: z.string(), role: roleSchema, createdAt: ms.optional() });
export const sessionSchema = z.strictObject({ user: userSchema, csrfToken: z.string().nullable() });
export const meSchema = sessionSchema.extend({ via: z.string(), grants: z.array(z.strictObject({ role: roleSchema, selector: z.string() })) });
export const tokenSchema = z.strictObject({ id: z.string(), name: z.string(), username: z.string(), role: roleSchema, scope: z.string().nullable(), createdAt: ms, lastUsedAt: nullableMs });
export const newTokenSchema = z.strictObject({ id: z.string(), name: z.string(), role: roleSchema, scope: z.string().nullable(), token: z.string().describe("shown once") });

export const grantSchema = z.strictObject({ id: z.number(), user: z.string().optional(), token: z.string().optional(), role: roleSchema, selector: z.string(), createdAt: ms, createdBy: z.string().nullable() });
export const newGrantSchema = grantSchema.extend({ warnings: z.array(z.string()) });
export const deletedGrantSchema = z.strictObject({ ok: z.literal(true), deleted: grantSchema.nullable() });

export const auditEntrySchema = z.strictObject({
  id: z.number(),
  at: ms,
  actor: z.string(),
  via: z.string(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  action: z.string(),
  dagId: z.string().nullable(),
  runId: z.string().nullable(),
  target: z.string().nullable(),
  before: json,
  after: json,
  outcome: z.string().nullable(),
});

export const connectionSchema = z.strictObject({
  id: z.string(),
  type: z.string(),
  description: z.string().nullable(),
  host: z.string().nullable(),
  port: z.number().nullable(),
  login: z.string().nullable(),
  schema: z.string().nullable(),
  passwordSet: z.boolean(),
  extraSet: z.boolean(),
  createdAt: ms,
  updatedAt: ms,
});
export const connectionTestSchema = z.strictObject({ id: z.string(), ok: z.boolean().nullable().describe("null: no test for the type"), message: z.string(), ms: z.number() });
export const variableSchema = z.strictObject({ key: z.string(), isSecret: z.boolean(), description: z.string().nullable(), value: json.optional().describe("absent for a secret variable"), updatedAt: ms });

export const deadLetterSchema = z.strictObject({
  id: z.number(),
  dagId: z.string(),
  runId: z.string(),
  taskId: z.string(),
  mapIndex: z.number(),
  state: z.string(),
  reason: z.string(),
  parked: z.boolean(),
  attempts: z.number(),
  tryNumber: z.number(),
  attemptId: z.number().nullable(),
  error: z.strictObject({ code: z.string().nullable(), message: z.string().nullable() }).nullable(),
  inputs: z.record(z.string(), z.string()).describe("input name -> the upstream task whose output it is"),
  createdAt: ms,
  resolvedAt: nullableMs,
  resolvedBy: z.string().nullable(),
});
export const deadLetterBulkSchema = z.strictObject({
  results: z.array(
    z.union([
      z.strictObject({ id: z.number(), ok: z.literal(true), entry: deadLetterSchema }),
      z.strictObject({ id: z.number(), ok: z.literal(false), error: z.strictObject({ code: z.string(), message: z.string() }) }),
    ]),
  ),
  succeeded: z.number(),
  failed: z.number(),
});

export const healthSchema = z.strictObject({ status: z.enum(["ok", "degraded"]), db: z.enum(["ok", "unavailable"]), disk: z.string() });

const processSchema = z.strictObject({
  id: z.string(),
  role: z.enum(["scheduler", "worker"]),
  host: z.string(),
  pid: z.number(),
  state: z.enum(["running", "draining", "unresponsive"]),
  startedAt: ms,
  lastHeartbeatAt: ms,
  queues: z.array(z.string()),
  concurrency: z.number(),
  resources: z.record(z.string(), z.number()).nullable(),
  running: z.number(),
});
export const statusSchema = z.strictObject({
  at: ms,
  schedulers: z.array(processSchema),
  workers: z.array(processSchema),
  queues: z.array(z.strictObject({ queue: z.string(), ready: z.number(), running: z.number(), workers: z.number() })),
  pools: z.array(z.strictObject({ name: z.string(), slots: z.number(), description: z.string().nullable(), used: z.number(), queued: z.number() })),
  runs: z.array(z.strictObject({ state: z.string(), count: z.number() })),
  database: z.string(),
});

/** The dashboard: the last 24 hours (or `since`) at a glance. */
export const dashboardSchema = z.strictObject({
  since: ms,
  at: ms,
  counts: z.strictObject({ failed: z.number(), running: z.number(), queued: z.number(), late: z.number(), succeeded: z.number() }),
  failed: z.array(runSchema),
  running: z.array(runSchema),
  queued: z.array(runSchema),
  late: z.array(runSchema.extend({ missedAt: ms.nullable(), lateBy: z.number().nullable() })),
});

// ---- type checks and experiment tracking ---------------------------------------------------------------

export const typeErrorsSchema = z.strictObject({
  items: z.array(z.strictObject({ file: z.string(), line: z.number(), column: z.number(), code: z.number(), message: z.string(), checkedAt: ms })),
  total: z.number(),
});

const metricSummarySchema = z.strictObject({ last: z.number(), lastStep: z.number(), min: z.number(), max: z.number(), points: z.number() });

/** A trial: one task instance that tracked something (its latest recording attempt's values). */
export const trialSchema = z.strictObject({
  runId: z.string(),
  dagId: z.string(),
  experiment: z.string(),
  createdAt: ms,
  taskId: z.string(),
  mapIndex: z.number(),
  params: z.record(z.string(), json),
  metrics: z.record(z.string(), metricSummarySchema),
  tags: z.record(z.string(), z.string()),
});

export const experimentsSchema = z.strictObject({
  items: z.array(z.strictObject({ experiment: z.string(), runs: z.number(), lastRunAt: ms, dagIds: z.array(z.string()) })),
});

export const experimentSchema = z.strictObject({
  experiment: z.string(),
  runs: z.array(z.strictObject({ runId: z.string(), createdAt: ms })),
  trials: z.array(trialSchema),
  nextCursor: z.string().nullable(),
});

export const compareSchema = z.strictObject({ trials: z.array(trialSchema) });

export const runTrackingSchema = z.strictObject({
  trials: z.array(trialSchema),
  artifacts: z.array(
    z.strictObject({ taskId: z.string(), mapIndex: z.number(), attemptId: z.number(), name: z.string(), ref: z.string(), size: z.number(), mediaType: z.string().nullable(), at: ms }),
  ),
});

export const metricSeriesSchema = z.strictObject({
  series: z.record(z.string(), z.array(z.strictObject({ step: z.number(), value: z.number(), at: ms }))),
});

// ---- the model registry (routes/models.ts) ----------------------------------------------------------

const modelFlavorSchema = z.union([z.strictObject({ kind: z.literal("js"), module: z.string(), export: z.string() }), z.strictObject({ kind: z.literal("python"), script: z.string() })]);

export const modelVersionSchema = z.strictObject({
  name: z.string(),
  version: z.number(),
  artifactRef: z.string(),
  artifactSize: z.number(),
  flavor: modelFlavorSchema,
  framework: z.string().nullable(),
  signature: z.strictObject({ inputs: z.record(z.string(), z.unknown()), outputs: z.record(z.string(), z.unknown()).nullable() }).nullable(),
  metrics: z.record(z.string(), z.number()),
  params: z.record(z.string(), z.unknown()),
  description: z.string().nullable(),
  dagId: z.string(),
  dagVersion: z.string(),
  runId: z.string(),
  taskId: z.string(),
  mapIndex: z.number(),
  attemptId: z.number(),
  createdAt: ms,
  inputEvents: z.array(z.strictObject({ id: z.number(), asset: z.string(), dagId: z.string(), runId: z.string(), createdAt: ms })).optional(),
});

const modelSummaryShape = { name: z.string(), latestVersion: z.number(), createdAt: ms, updatedAt: ms, aliases: z.record(z.string(), z.number()) };

export const modelsSchema = z.strictObject({ items: z.array(z.strictObject(modelSummaryShape)) });

const aliasHistoryEntrySchema = z.strictObject({
  id: z.number(),
  name: z.string(),
  alias: z.string(),
  fromVersion: z.number().nullable(),
  toVersion: z.number(),
  kind: z.enum(["promote", "rollback", "gate"]),
  actor: z.string(),
  reason: z.string().nullable(),
  at: ms,
});

export const approvalSchema = z.strictObject({
  id: z.number(),
  name: z.string(),
  alias: z.string(),
  version: z.number(),
  fromVersion: z.number().nullable(),
  comparison: z.strictObject({
    passed: z.boolean(),
    championVersion: z.number().nullable(),
    checks: z.array(z.strictObject({ metric: z.string(), candidate: z.number().nullable(), champion: z.number().nullable(), threshold: z.string(), passed: z.boolean() })),
  }),
  dagId: z.string(),
  runId: z.string(),
  taskId: z.string(),
  mapIndex: z.number(),
  attemptId: z.number(),
  state: z.enum(["pending", "approved", "rejected", "expired"]),
  requestedAt: ms,
  expiresAt: ms.nullable(),
  decidedBy: z.string().nullable(),
  decidedAt: ms.nullable(),
  comment: z.string().nullable(),
});

export const approvalsSchema = z.strictObject({ items: z.array(approvalSchema) });

export const modelDetailSchema = z.strictObject({
  ...modelSummaryShape,
  versions: z.array(modelVersionSchema),
  history: z.array(aliasHistoryEntrySchema),
  approvals: z.array(approvalSchema),
});

export const modelVersionDetailSchema = modelVersionSchema.extend({
  aliases: z.array(z.string()),
  run: z.strictObject({ runId: z.string(), dagId: z.string(), state: z.string(), createdAt: ms }).nullable(),
});

export const aliasMoveSchema = z.strictObject({
  name: z.string(),
  alias: z.string(),
  fromVersion: z.number().nullable(),
  toVersion: z.number(),
  moved: z.boolean(),
  entry: aliasHistoryEntrySchema.nullable(),
});

// ---- model serving (routes/serving.ts) ----

export const predictSchema = z.strictObject({
  model: z.string(),
  version: z.number().int().describe("the version that produced these predictions"),
  predictions: z.array(json).describe("one per input row, in order"),
});

export const inferenceLogSchema = z.strictObject({
  model: z.string(),
  rows: z.array(
    z.strictObject({
      id: z.number().int().describe("increases with every row logged (pass as afterId to read on)"),
      at: ms,
      version: z.number().int(),
      alias: z.string().nullable(),
      input: json,
      prediction: json,
    }),
  ),
});
