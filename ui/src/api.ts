/**
 * The typed client of the REST API (/api/v1, docs/api.md). The only module that calls fetch: it sends the
 * session cookie (same origin), adds the CSRF header to every state-changing request and turns error
 * bodies `{ code, message, fields? }` into ApiError.
 */

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
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
export interface RunMark {
  runId: string;
  state: string;
  logicalDate: number | null;
}
export interface DagSummary {
  dagId: string;
  description: string | null;
  owner: string | null;
  tags: string[];
  schedule: string | null;
  timezone: string | null;
  paused: boolean;
  active: boolean;
  nextRunAt: number | null;
  version: string;
  file: string | null;
  lastRuns: RunMark[];
  hasImportError: boolean;
  /** Runs of the DAG that missed a deadline (decision 0019), and the last miss. */
  deadlineMisses?: { runs: number; lastMissedAt: number | null };
}
export interface DagDetail extends DagSummary {
  docs: string | null;
  params: JsonSchema | null;
  defaults: Record<string, unknown> | null;
  /** Params whose values are secrets: shown as *** by the API, entered in password fields. */
  secretParams?: string[];
  maxActiveRuns: number | null;
  catchup: boolean;
}
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
export interface TaskNode {
  id: string;
  kind: string;
  /** Where a plain task runs: "inline" (in the worker) or "process" (a child process). */
  isolation?: string;
  group: string | null;
  upstream: string[];
  downstream: string[];
  mapped: boolean;
  triggerRule: string;
  docs?: string | null;
}
export interface Structure {
  version: string;
  tasks: TaskNode[];
  groups: { id: string; parent: string | null }[];
}
export interface Run {
  runId: string;
  dagId: string;
  dagVersion: string;
  state: string;
  runType: string;
  logicalDate: number | null;
  dataIntervalStart: number | null;
  dataIntervalEnd: number | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  params: unknown;
  /** Who triggered it (a person or token); null: the scheduler, an asset, a backfill. */
  triggeredBy?: string | null;
  /** Deadlines missed (GET /runs/:runId only): the run's own (taskId null) or a task's. */
  deadlineMisses?: { taskId: string | null; mapIndex: number; deadlineAt: number; missedAt: number }[];
}
export interface TaskInstance {
  taskId: string;
  mapIndex: number;
  state: string;
  tryNumber: number;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  lastAttemptId: AttemptId | null;
  /** Who last cleared or marked it. */
  changedBy?: string | null;
  /** Why it cannot start anywhere (no live worker serves its queue…), when ready; null otherwise. */
  waitingReason?: string | null;
}
/** Attempt ids are numbers in JSON; the client only passes them back. */
export type AttemptId = string | number;
export interface Attempt {
  attemptId: AttemptId;
  tryNumber: number;
  state: string;
  workerId: string | null;
  hostname: string | null;
  startedAt: number | null;
  endedAt: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  errorStack: string | null;
  exitCode: number | null;
  outputSize: number | null;
}
export interface AssetDetail {
  name: string;
  createdAt: number | null;
  lastEventAt: number | null;
  producers: { dagId: string; taskId: string }[];
  consumers: string[];
  events: { eventId: number; dagId: string | null; runId: string | null; taskId: string | null; mapIndex: number; createdAt: number; metadata: unknown }[];
}
export interface LineageNode {
  id: string;
  kind: "dag" | "asset";
  name: string;
  /** Assets: the latest update the caller may see and the state of the run that made it; null: none. */
  lastEvent?: { at: number; dagId: string | null; runId: string | null; taskId: string | null; runState: string | null } | null;
  /** DAGs: their latest run. */
  lastRun?: { runId: string; state: string; logicalDate: number } | null;
}
/** An attempt with the task instance it belongs to (GET /runs/:runId/attempts). */
export interface RunAttempt extends Attempt {
  taskId: string;
  mapIndex: number;
}
export interface LogLine {
  t: number;
  level: string;
  msg: string;
}
export interface LogPage {
  lines: LogLine[];
  nextOffset: number;
  eof: boolean;
}
export interface Grid {
  tasks: string[];
  runs: { runId: string; state: string; logicalDate: number | null; startedAt: number | null; endedAt: number | null; runType?: string; createdAt?: number }[];
  states: Record<string, string>;
  nextCursor: string | null;
}
export interface ImportError {
  file: string;
  line: number | null;
  message: string;
  at: number;
}
export interface BackfillProgress {
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  running: number;
  pending: number;
}
export interface Backfill {
  id: string;
  dagId: string;
  from: number;
  to: number;
  state: string;
  stateReason?: string | null;
  progress?: BackfillProgress;
  /** A dry run: the intervals it would create runs for. */
  [k: string]: unknown;
}
export interface UserRecord extends User {
  createdAt?: number;
}
export interface ApiToken {
  id: string | number;
  name: string;
  username: string;
  role: Role;
  /** `events:<glob>`: an event token (sends matching events only). */
  scope?: string | null;
  createdAt: number | null;
  lastUsedAt: number | null;
}
/** A role on the DAGs a selector picks (dag:<glob>, tag:<tag>, owner:<name>), for a user or an API token. */
export interface Grant {
  id: number;
  user?: string;
  token?: string;
  role: Role;
  selector: string;
  createdAt: number;
  createdBy: string;
}
/** GET /status: only some fields are known; the payload grows, so pages render the rest generically. */
export interface Status {
  schedulers?: Record<string, unknown>[];
  workers?: Record<string, unknown>[];
  queues?: Record<string, unknown>[];
  runs?: Record<string, unknown>[];
  pools?: Record<string, unknown>[];
  database?: unknown;
  [k: string]: unknown;
}
export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  via: "session" | "token" | "cli" | "system";
  ip: string | null;
  userAgent: string | null;
  action: string;
  dagId: string | null;
  runId: string | null;
  target: string | null;
  before: unknown;
  after: unknown;
  outcome: string | null;
}
/** A dead letter: a task instance that failed after its last try (GET /dlq). */
export interface DeadLetter {
  id: number;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  state: "open" | "retried" | "discarded";
  reason: "exhausted" | "non_retryable" | "sensor_timeout";
  /** The DAG parks dead letters: the run did not fail for this one. */
  parked: boolean;
  attempts: number;
  tryNumber: number;
  attemptId: number | null;
  error: { code: string | null; message: string | null } | null;
  /** Input name -> the upstream task whose output it is. */
  inputs: Record<string, string>;
  createdAt: number;
  resolvedAt: number | null;
  resolvedBy: string | null;
}
/** A bulk retry or discard: each id's outcome. */
export interface BulkResult {
  results: ({ id: number; ok: true; entry: DeadLetter } | { id: number; ok: false; error: { code: string; message: string } })[];
  succeeded: number;
  failed: number;
}
export interface FieldError {
  path: string;
  message: string;
}

/** A connection as the API shows it: never its password or extra, only whether they are set. */
export interface ConnectionRecord {
  id: string;
  type: string;
  description: string | null;
  host: string | null;
  port: number | null;
  login: string | null;
  schema: string | null;
  passwordSet: boolean;
  extraSet: boolean;
  createdAt: number;
  updatedAt: number;
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

/** A variable; `value` is absent for a secret one. */
export interface VariableRecord {
  key: string;
  isSecret: boolean;
  description: string | null;
  value?: unknown;
  updatedAt: number;
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
  me: () => get<{ user: User; csrfToken: string; grants?: GrantRule[] }>("/auth/me"),
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
  testConnection: (id: string) => post<{ id: string; ok: boolean | null; message: string; ms: number }>(`/connections/${enc(id)}/test`),
  variables: () => get<Page<VariableRecord>>("/variables"),
  putVariable: (key: string, body: { value: unknown; isSecret?: boolean; description?: string | null }) => request<VariableRecord>("PUT", `/variables/${enc(key)}`, body),
  deleteVariable: (key: string) => request<unknown>("DELETE", `/variables/${enc(key)}`),

  tokens: () => get<Page<ApiToken>>("/tokens"),
  createToken: (body: { name: string; role?: Role; scope?: string }) => post<{ id: string | number; name: string; role: Role; scope: string | null; token: string }>("/tokens", body),
  grants: () => get<Page<Grant>>("/grants"),
  addGrant: (body: { user?: string; token?: string; role: Role; selector: string }) => post<Grant & { warnings: string[] }>("/grants", body),
  deleteGrant: (id: number) => request<unknown>("DELETE", `/grants/${id}`),
  revokeToken: (id: string | number) => request<unknown>("DELETE", `/tokens/${enc(String(id))}`),

  status: () => get<Status>("/status"),

  dags: (q: { q?: string; tag?: string; owner?: string; state?: string; paused?: string; limit?: number; cursor?: string | null }) =>
    get<Page<DagSummary>>("/dags", q),
  dag: (dagId: string) => get<DagDetail>(`/dags/${enc(dagId)}`),
  structure: (dagId: string, version?: string) => get<Structure>(`/dags/${enc(dagId)}/structure`, { version }),
  versions: (dagId: string) => get<Page<{ version: string; createdAt: number; file: string | null }>>(`/dags/${enc(dagId)}/versions`, { limit: 500 }),
  code: (dagId: string, version?: string) => get<{ file: string | null; code: string }>(`/dags/${enc(dagId)}/code`, { version }),
  setPaused: (dagId: string, paused: boolean) => request<DagSummary>("PATCH", `/dags/${enc(dagId)}`, { paused }),
  importErrors: () => get<Page<ImportError>>("/import-errors", { limit: 500 }),

  dagRuns: (dagId: string, q: { limit?: number; cursor?: string | null } = {}) => get<Page<Run>>(`/dags/${enc(dagId)}/runs`, q),
  trigger: (dagId: string, body: { params?: unknown; logicalDate?: number }) => post<Run>(`/dags/${enc(dagId)}/runs`, body),
  run: (runId: string) => get<Run>(`/runs/${enc(runId)}`),
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
  clear: (runId: string, taskId: string, body: { mapIndex?: number; downstream?: boolean }) => post<unknown>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/clear`, body),
  mark: (runId: string, taskId: string, body: { state: "success" | "failed"; mapIndex?: number }) => post<unknown>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/mark`, body),
  inputs: (runId: string, taskId: string, mapIndex: number) => get<{ inputs: Record<string, { preview: string | null; truncated: boolean }> }>(`/runs/${enc(runId)}/tasks/${enc(taskId)}/inputs`, { mapIndex }),

  logs: (attemptId: AttemptId, offset = 0, limit = 1000) => get<LogPage>(`/attempts/${enc(String(attemptId))}/logs`, { offset, limit }),
  logDownloadUrl: (attemptId: AttemptId) => `${BASE}/attempts/${enc(String(attemptId))}/logs/download`,
  logStreamUrl: (attemptId: AttemptId, offset = 0) => `${BASE}/attempts/${enc(String(attemptId))}/logs/stream${qs({ offset })}`,
  output: (attemptId: AttemptId) => get<{ size: number; preview: string | null; truncated: boolean }>(`/attempts/${enc(String(attemptId))}/output`),

  grid: (dagId: string, q: { limit?: number; cursor?: string | null }) => get<Grid>(`/dags/${enc(dagId)}/grid`, q),

  assets: (q: { limit?: number; cursor?: string | null } = {}) => get<Page<{ name: string; [k: string]: unknown }>>("/assets", q),
  asset: (name: string) => get<AssetDetail>(`/assets/${enc(name)}`),
  lineage: (asset?: string) => get<{ nodes: LineageNode[]; edges: { from: string; to: string; taskId?: string }[] }>("/lineage", { asset }),

  backfills: (q: { dagId?: string; limit?: number } = {}) => get<Page<Backfill>>("/backfills", q),
  backfill: (id: string) => get<Backfill>(`/backfills/${enc(id)}`),
  createBackfill: (body: { dagId: string; from: number; to: number; reprocess?: "missing" | "failed" | "all"; maxActive?: number; dryRun?: boolean }) => post<Backfill>("/backfills", body),
  cancelBackfill: (id: string) => post<unknown>(`/backfills/${enc(id)}/cancel`),
};
