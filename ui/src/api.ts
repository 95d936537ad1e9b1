/**
 * The typed client of the REST API (/api/v1, docs/api.md). The only module that calls fetch: it sends the
 * session cookie (same origin), adds the CSRF header to every state-changing request and turns error
 * bodies `{ code, message, fields? }` into ApiError.
 */

import type { paths } from "./api.gen";

/** A global role; `none`: only what grants give (per-DAG access). Grants themselves are viewer, operator or admin. */
export type Role = "admin" | "operator" | "viewer" | "none";
export interface GrantRule {
  role: Role;
  selector: string;
}
export interface User {
  username: string;
  role: Role;
  /** The caller's own grants (from /auth/me): the role on some DAGs may be higher than `role`. */
  grants?: GrantRule[];
}

// ---- response types: generated from the OpenAPI document (api.gen.ts, npm run gen:api) ----------------

type Method = "get" | "post" | "put" | "patch" | "delete";
/** The JSON body a path and method answer with `status`. */
type Ok<P extends keyof paths, M extends Method, S extends number = 200> = paths[P][M] extends { responses: { [K in S]: { content: { "application/json": infer T } } } } ? T : never;
type Item<L> = L extends { items: (infer T)[] } ? T : never;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export type DagSummary = Item<Ok<"/api/v1/dags", "get">>;
export type DagDetail = Ok<"/api/v1/dags/{dagId}", "get">;
export type Structure = Ok<"/api/v1/dags/{dagId}/structure", "get">;
export type TaskNode = Structure["tasks"][number];
export type Run = Item<Ok<"/api/v1/runs", "get">>;
export type RunDetail = Ok<"/api/v1/runs/{runId}", "get">;
export type TaskInstance = Item<Ok<"/api/v1/runs/{runId}/tasks", "get">>;
export type TaskInstanceRow = Item<Ok<"/api/v1/task-instances", "get">>;
export type Dashboard = Ok<"/api/v1/dashboard", "get">;
export type Attempt = Item<Ok<"/api/v1/runs/{runId}/tasks/{taskId}/attempts", "get">>;
/** An attempt with the task instance it belongs to (GET /runs/:runId/attempts: the timeline). */
export type RunAttempt = Item<Ok<"/api/v1/runs/{runId}/attempts", "get">>;
/** Attempt ids are numbers in JSON; the client only passes them back. */
export type AttemptId = string | number;
export type LogPage = Ok<"/api/v1/attempts/{attemptId}/logs", "get">;
export type LogLine = LogPage["lines"][number];
export type Grid = Ok<"/api/v1/dags/{dagId}/grid", "get">;
export type ImportError = Item<Ok<"/api/v1/import-errors", "get">>;
export type LineageNode = Ok<"/api/v1/lineage", "get">["nodes"][number];
export type TypeErrors = Ok<"/api/v1/type-errors", "get">;
export type Backfill = Ok<"/api/v1/backfills/{id}", "get">;
export type BackfillPlan = Ok<"/api/v1/backfills", "post", 200>;
export type UserRecord = Item<Ok<"/api/v1/users", "get">>;
export type ApiToken = Item<Ok<"/api/v1/tokens", "get">>;
export type Grant = Item<Ok<"/api/v1/grants", "get">>;
export type Status = Ok<"/api/v1/status", "get">;
export type AuditEntry = Item<Ok<"/api/v1/audit", "get">>;
export type DeadLetter = Item<Ok<"/api/v1/dlq", "get">>;
export type BulkResult = Ok<"/api/v1/dlq/retry", "post">;
export type ConnectionRecord = Item<Ok<"/api/v1/connections", "get">>;
export type VariableRecord = Item<Ok<"/api/v1/variables", "get">>;
export type ClearResult = Ok<"/api/v1/runs/{runId}/tasks/{taskId}/clear", "post">;
export type MarkResult = Ok<"/api/v1/runs/{runId}/tasks/{taskId}/mark", "post">;
export type Asset = Item<Ok<"/api/v1/assets", "get">>;
export type AssetDetail = Ok<"/api/v1/assets/{name}", "get">;
export type Lineage = Ok<"/api/v1/lineage", "get">;
export type AttemptDetail = Ok<"/api/v1/attempts/{attemptId}", "get">;
export type Experiment = Item<Ok<"/api/v1/experiments", "get">>;
export type ExperimentPage = Ok<"/api/v1/experiments/{name}", "get">;
/** One task instance that tracked something: its params, metric summaries and tags. */
export type Trial = ExperimentPage["trials"][number];
export type RunTracking = Ok<"/api/v1/runs/{runId}/tracking", "get">;
export type MetricSeries = Ok<"/api/v1/runs/{runId}/metrics", "get">["series"];
export type ModelSummary = Item<Ok<"/api/v1/models", "get">>;
export type ModelDetail = Ok<"/api/v1/models/{name}", "get">;
export type Approval = Ok<"/api/v1/approvals/{id}", "post">;

/** A DAG's params as JSON Schema (the part the trigger form reads). */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: JsonSchema;
  format?: string;
}
export interface FieldError {
  path: string;
  message: string;
}
export interface ConnectionBody {
  type: string;
  description?: string | null;
  host?: string | null;
  port?: number | null;
  login?: string | null;
  schema?: string | null;
  password?: string | null;
  extra?: Record<string, unknown> | null;
}
/** Airflow's clear and mark options: the task's downstream / upstream tasks too, only failed instances. */
export interface ActionScope {
  mapIndex?: number;
  downstream?: boolean;
  upstream?: boolean;
  onlyFailed?: boolean;
  dryRun?: boolean;
}
/** Filters of the runs and task-instance lists (all optional). */
export interface RunFilters {
  dagId?: string;
  state?: string;
  runType?: string;
  from?: string;
  to?: string;
  triggeredBy?: string;
  taskId?: string;
  limit?: number;
  cursor?: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
/** Called on login and on /auth/me: the token every state-changing request carries. */
export function setCsrfToken(t: string | null): void {
  csrfToken = t;
}
let onUnauthorized: (() => void) | null = null;
/** The app listens so that an expired session sends the user back to the login page. */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

const BASE = "/api/v1";

type Query = Record<string, string | number | boolean | null | undefined>;
function qs(q: Query | undefined): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}
const enc = encodeURIComponent;

async function request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const res = await fetch(`${BASE}${path}${qs(query)}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = (data ?? {}) as { code?: string; message?: string; fields?: FieldError[] };
    if (res.status === 401 && path !== "/auth/login") onUnauthorized?.();
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (text.slice(0, 200) || res.statusText), e.fields ?? []);
  }
  return data as T;
}

const get = <T>(path: string, query?: Query) => request<T>("GET", path, undefined, query);
const post = <T>(path: string, body: unknown = {}) => request<T>("POST", path, body);

export const api = {
  login: (username: string, password: string) => post<{ user: User; csrfToken: string }>("/auth/login", { username, password }),
  logout: () => post<unknown>("/auth/logout"),
  me: () => get<Ok<"/api/v1/auth/me", "get">>("/auth/me"),
  /** Ends every session of the user and opens a new one for this browser (new CSRF token). */
  changePassword: (current: string, password: string) => post<{ user: User; csrfToken: string | null }>("/auth/password", { current, password }),

  users: () => get<Page<UserRecord>>("/users"),
  createUser: (body: { username: string; password: string; role: Role }) => post<UserRecord>("/users", body),
  updateUser: (username: string, body: { role?: Role; password?: string }) => request<UserRecord>("PATCH", `/users/${enc(username)}`, body),
  deleteUser: (username: string) => request<unknown>("DELETE", `/users/${enc(username)}`),

  audit: (q: { user?: string; dagId?: string; action?: string; since?: string; limit?: number; cursor?: string } = {}) => get<Page<AuditEntry>>("/audit", q),
  deadLetters: (q: { dagId?: string; runId?: string; state?: string; limit?: number; cursor?: string } = {}) => get<Page<DeadLetter>>("/dlq", q),
  retryDeadLetters: (ids: number[]) => post<BulkResult>("/dlq/retry", { ids }),
  discardDeadLetters: (ids: number[]) => post<BulkResult>("/dlq/discard", { ids }),
  connections: () => get<Page<ConnectionRecord>>("/connections"),
  /** Create or replace; a password or extra left out keeps the stored one, null clears it. */
  putConnection: (id: string, body: ConnectionBody) => request<ConnectionRecord>("PUT", `/connections/${enc(id)}`, body),
  deleteConnection: (id: string) => request<unknown>("DELETE", `/connections/${enc(id)}`),
  testConnection: (id: string) => post<Ok<"/api/v1/connections/{id}/test", "post">>(`/connections/${enc(id)}/test`),
  variables: () => get<Page<VariableRecord>>("/variables"),
  putVariable: (key: string, body: { value: unknown; isSecret?: boolean; description?: string | null }) => request<VariableRecord>("PUT", `/variables/${enc(key)}`, body),
  deleteVariable: (key: string) => request<unknown>("DELETE", `/variables/${enc(key)}`),

  tokens: () => get<Page<ApiToken>>("/tokens"),
  createToken: (body: { name: string; role?: Role; scope?: string }) => post<Ok<"/api/v1/tokens", "post", 201>>("/tokens", body),
  grants: () => get<Page<Grant>>("/grants"),
  addGrant: (body: { user?: string; token?: string; role: Role; selector: string }) => post<Grant & { warnings: string[] }>("/grants", body),
  deleteGrant: (id: number) => request<unknown>("DELETE", `/grants/${id}`),
  revokeToken: (id: string | number) => request<unknown>("DELETE", `/tokens/${enc(String(id))}`),

  status: () => get<Status>("/status"),

  models: () => get<{ items: ModelSummary[] }>("/models"),
  model: (name: string) => get<ModelDetail>(`/models/${enc(name)}`),
  promoteModel: (name: string, body: { alias: string; version: number; reason?: string | null }) => post<unknown>(`/models/${enc(name)}/promote`, body),
  rollbackModel: (name: string, body: { alias: string; reason?: string | null }) => post<unknown>(`/models/${enc(name)}/rollback`, body),
  approvals: (q: { state?: string; model?: string } = {}) => get<{ items: Approval[] }>("/approvals", q),
  decideApproval: (id: number, body: { decision: "approve" | "reject"; comment?: string | null }) => post<Approval>(`/approvals/${id}`, body),

  dags: (q: { q?: string; tag?: string; owner?: string; state?: string; paused?: string; limit?: number; cursor?: string | null }) =>
    get<Page<DagSummary>>("/dags", q),
  dag: (dagId: string) => get<DagDetail>(`/dags/${enc(dagId)}`),
  structure: (dagId: string, version?: string) => get<Structure>(`/dags/${enc(dagId)}/structure`, { version }),
  versions: (dagId: string) => get<Page<{ version: string; createdAt: number; file: string | null }>>(`/dags/${enc(dagId)}/versions`, { limit: 500 }),
  code: (dagId: string, version?: string) => get<Ok<"/api/v1/dags/{dagId}/code", "get">>(`/dags/${enc(dagId)}/code`, { version }),
  setPaused: (dagId: string, paused: boolean) => request<DagSummary>("PATCH", `/dags/${enc(dagId)}`, { paused }),
  importErrors: () => get<Page<ImportError>>("/import-errors", { limit: 500 }),
  typeErrors: () => get<TypeErrors>("/type-errors"),

  dagRuns: (dagId: string, q: { limit?: number; cursor?: string | null } = {}) => get<Page<Run>>(`/dags/${enc(dagId)}/runs`, q),
  /** `noCache`: no cached result is reused; cached tasks run and refresh their entries. */
  trigger: (dagId: string, body: { params?: unknown; logicalDate?: number; noCache?: boolean }) => post<Run>(`/dags/${enc(dagId)}/runs`, body),
  run: (runId: string) => get<RunDetail>(`/runs/${enc(runId)}`),
  /** A run's note (markdown); "" removes it. */
  setRunNote: (runId: string, note: string) => request<Ok<"/api/v1/runs/{runId}/note", "put">>("PUT", `/runs/${enc(runId)}/note`, { note }),
  cancelRun: (runId: string) => post<unknown>(`/runs/${enc(runId)}/cancel`),
  runTasks: (runId: string) => get<Page<TaskInstance>>(`/runs/${enc(runId)}/tasks`, { limit: 500 }),
  /** Every task instance of a run, following the cursor (a 10,000-task run is 20 pages). */
  async allRunTasks(runId: string): Promise<TaskInstance[]> {
    const out: TaskInstance[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<TaskInstance> = await get<Page<TaskInstance>>(`/runs/${enc(runId)}/tasks`, { limit: 500, cursor });
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  },
  /** Every attempt of a run, oldest first (the timeline). */
  async runAttempts(runId: string): Promise<RunAttempt[]> {
    const out: RunAttempt[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<RunAttempt> = await get<Page<RunAttempt>>(`/runs/${enc(runId)}/attempts`, { limit: 500, cursor });
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  },
  attempts: (runId: string, taskId: string, mapIndex: number) =>
    get<Page<Attempt>>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/attempts`, { mapIndex, limit: 500 }),
  /** `dryRun`: what it would clear, changing nothing (the preview before confirming). */
  clear: (runId: string, taskId: string, body: ActionScope) => post<ClearResult>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/clear`, body),
  mark: (runId: string, taskId: string, body: Omit<ActionScope, "onlyFailed"> & { state: "success" | "failed" | "skipped" }) => post<MarkResult>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/mark`, body),
  inputs: (runId: string, taskId: string, mapIndex: number) => get<Ok<"/api/v1/runs/{runId}/tasks/{taskId}/inputs", "get">>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/inputs`, { mapIndex }),
  runs: (q: RunFilters) => get<Page<Run>>("/runs", { ...q }),
  taskInstances: (q: RunFilters) => get<Page<TaskInstanceRow>>("/task-instances", { ...q }),
  dashboard: (hours = 24) => get<Dashboard>("/dashboard", { hours }),

  logs: (attemptId: AttemptId, offset = 0, limit = 1000) => get<LogPage>(`/attempts/${enc(String(attemptId))}/logs`, { offset, limit }),
  logDownloadUrl: (attemptId: AttemptId) => `${BASE}/attempts/${enc(String(attemptId))}/logs/download`,
  logStreamUrl: (attemptId: AttemptId, offset = 0) => `${BASE}/attempts/${enc(String(attemptId))}/logs/stream${qs({ offset })}`,
  attempt: (attemptId: AttemptId) => get<AttemptDetail>(`/attempts/${enc(String(attemptId))}`),
  output: (attemptId: AttemptId) => get<Ok<"/api/v1/attempts/{attemptId}/output", "get">>(`/attempts/${enc(String(attemptId))}/output`),

  grid: (dagId: string, q: { limit?: number; cursor?: string | null }) => get<Grid>(`/dags/${enc(dagId)}/grid`, q),

  assets: (q: { limit?: number; cursor?: string | null } = {}) => get<Page<Asset>>("/assets", q),
  asset: (name: string) => get<AssetDetail>(`/assets/${enc(name)}`),
  lineage: (asset?: string) => get<Lineage>("/lineage", { asset }),

  experiments: () => get<{ items: Experiment[] }>("/experiments"),
  experiment: (name: string, q: { limit?: number; cursor?: string | null } = {}) => get<ExperimentPage>(`/experiments/${enc(name)}`, q),
  runTracking: (runId: string) => get<RunTracking>(`/runs/${enc(runId)}/tracking`),
  /** A trial's series in step order; `maxPoints`: downsampled on the server (each bucket's low and high). */
  metrics: (runId: string, task: string, mapIndex: number, names: string[], maxPoints?: number) =>
    get<{ series: MetricSeries }>(`/runs/${enc(runId)}/metrics`, { task, mapIndex, names: names.join(","), maxPoints }),

  backfills: (q: { dagId?: string; limit?: number } = {}) => get<Page<Backfill>>("/backfills", q),
  backfill: (id: number) => get<Backfill>(`/backfills/${enc(id)}`),
  createBackfill: (body: { dagId: string; from: number; to: number; reprocess?: "missing" | "failed" | "all"; maxActive?: number }) => post<Backfill>("/backfills", body),
  planBackfill: (body: { dagId: string; from: number; to: number; reprocess?: "missing" | "failed" | "all" }) => post<BackfillPlan>("/backfills", { ...body, dryRun: true }),
  cancelBackfill: (id: number) => post<unknown>(`/backfills/${enc(id)}/cancel`),
};
