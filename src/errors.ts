/**
 * The one error type of Sluice. Every boundary (CLI entry, worker catch, HTTP handler) turns `unknown`
 * into a SluiceError with `toSluiceError`, so users see a code and a message that names what is wrong,
 * never a bare stack trace for their own mistakes.
 */

/** Closed union of error codes. Add a code here and in `ERROR_TABLE`, nowhere else. */
export type ErrorCode =
  | "USAGE"
  | "CONFIG"
  | "DAG_NOT_FOUND"
  | "DAG_IMPORT"
  | "INVALID_DAG"
  | "CYCLE"
  | "DUPLICATE_TASK"
  | "FOREIGN_TASK"
  | "INVALID_PARAM"
  | "RUN_NOT_FOUND"
  | "TASK_NOT_FOUND"
  | "ATTEMPT_NOT_FOUND"
  | "RUN_FINISHED"
  | "BACKFILL_NOT_FOUND"
  | "BACKFILL_CONFLICT"
  | "SERIALIZATION"
  | "TASK_FAILED"
  | "TIMEOUT"
  | "CANCELLED"
  | "LEASE_LOST"
  | "WORKER_LOST"
  | "INTERRUPTED"
  /** A run left with nothing that can run (Engine.unstall). */
  | "STALLED"
  | "POOL_NOT_FOUND"
  | "DB_LOCKED"
  | "DB_TOO_NEW"
  | "DB_CORRUPT"
  /** A row the code cannot interpret (bad params JSON, unknown state, unknown DAG version): its work fails, the rest flows. */
  | "CORRUPT_ROW"
  /** The disk holding logs (or the database) is full: the attempt fails, the process stays up. */
  | "DISK_FULL"
  /** A ready task instance nothing can run (no worker serves its queue…) waited past the queued timeout. */
  | "QUEUED_TIMEOUT"
  /** Outbound HTTP to an address the egress policy denies (core/egress.ts). */
  | "EGRESS_DENIED"
  /** An attempt's log could not be written for another reason (permissions…). */
  | "LOG_WRITE"
  | "DB_UNAVAILABLE"
  | "EVENT_NOT_FOUND"
  | "ASSET_NOT_FOUND"
  | "INVALID_PAYLOAD"
  | "PAYLOAD_TOO_LARGE"
  | "UNAUTHORIZED"
  | "ROUTE_NOT_FOUND"
  | "INTERNAL"
  // the REST API and its users (docs/decisions/0010-api-and-auth.md)
  | "NOT_FOUND"
  | "FORBIDDEN"
  | "CONFLICT"
  | "INVALID_INPUT"
  | "RATE_LIMITED"
  // secrets and governance (docs/decisions/0016-secrets.md)
  /** A secret cannot be encrypted or decrypted: no key, a wrong key, a tampered value. Fails closed. */
  | "SECRET_KEY"
  | "CONNECTION_NOT_FOUND"
  | "VARIABLE_NOT_FOUND"
  | "INVALID_CONNECTION"
  // model serving (docs/decisions/0031-model-serving.md)
  /** A model version's code or artifact cannot be loaded (module missing, no load export, Python load failed). */
  | "MODEL_LOAD"
  /** A model version cannot answer now (its Python process died and is restarting; the server is closing). */
  | "MODEL_UNAVAILABLE"
  /** A model's predict threw or answered the wrong number of predictions. */
  | "PREDICT_FAILED";

interface ErrorMeta {
  /** HTTP status for the API. */
  http: number;
  /** Process exit code for the CLI: 2 is the user's mistake, 1 is a failure of the work or of Sluice. */
  exit: number;
}

export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorMeta>> = Object.freeze({
  USAGE: { http: 400, exit: 2 },
  CONFIG: { http: 500, exit: 2 },
  DAG_NOT_FOUND: { http: 404, exit: 2 },
  DAG_IMPORT: { http: 422, exit: 2 },
  INVALID_DAG: { http: 422, exit: 2 },
  CYCLE: { http: 422, exit: 2 },
  DUPLICATE_TASK: { http: 422, exit: 2 },
  FOREIGN_TASK: { http: 422, exit: 2 },
  INVALID_PARAM: { http: 400, exit: 2 },
  RUN_NOT_FOUND: { http: 404, exit: 2 },
  TASK_NOT_FOUND: { http: 404, exit: 2 },
  ATTEMPT_NOT_FOUND: { http: 404, exit: 2 },
  RUN_FINISHED: { http: 409, exit: 2 },
  BACKFILL_NOT_FOUND: { http: 404, exit: 2 },
  BACKFILL_CONFLICT: { http: 409, exit: 2 },
  SERIALIZATION: { http: 422, exit: 1 },
  TASK_FAILED: { http: 500, exit: 1 },
  TIMEOUT: { http: 504, exit: 1 },
  CANCELLED: { http: 409, exit: 1 },
  LEASE_LOST: { http: 409, exit: 1 },
  WORKER_LOST: { http: 500, exit: 1 },
  INTERRUPTED: { http: 503, exit: 1 },
  STALLED: { http: 500, exit: 1 },
  POOL_NOT_FOUND: { http: 404, exit: 2 },
  DB_LOCKED: { http: 503, exit: 2 },
  DB_TOO_NEW: { http: 500, exit: 2 },
  DB_CORRUPT: { http: 500, exit: 2 },
  CORRUPT_ROW: { http: 500, exit: 1 },
  DISK_FULL: { http: 507, exit: 2 },
  QUEUED_TIMEOUT: { http: 500, exit: 1 },
  EGRESS_DENIED: { http: 403, exit: 2 },
  LOG_WRITE: { http: 500, exit: 1 },
  DB_UNAVAILABLE: { http: 503, exit: 1 },
  EVENT_NOT_FOUND: { http: 404, exit: 2 },
  ASSET_NOT_FOUND: { http: 404, exit: 2 },
  INVALID_PAYLOAD: { http: 400, exit: 2 },
  PAYLOAD_TOO_LARGE: { http: 413, exit: 2 },
  UNAUTHORIZED: { http: 401, exit: 2 },
  ROUTE_NOT_FOUND: { http: 404, exit: 2 },
  INTERNAL: { http: 500, exit: 1 },
  NOT_FOUND: { http: 404, exit: 2 },
  FORBIDDEN: { http: 403, exit: 2 },
  CONFLICT: { http: 409, exit: 2 },
  INVALID_INPUT: { http: 400, exit: 2 },
  RATE_LIMITED: { http: 429, exit: 2 },
  SECRET_KEY: { http: 500, exit: 2 },
  CONNECTION_NOT_FOUND: { http: 404, exit: 2 },
  VARIABLE_NOT_FOUND: { http: 404, exit: 2 },
  INVALID_CONNECTION: { http: 400, exit: 2 },
  MODEL_LOAD: { http: 500, exit: 2 },
  MODEL_UNAVAILABLE: { http: 503, exit: 1 },
  PREDICT_FAILED: { http: 500, exit: 1 },
});

export class SluiceError extends Error {
  override readonly name = "SluiceError";
  readonly code: ErrorCode;
  /** Structured facts for JSON output (file, line, dagId, taskId, field, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get httpStatus(): number {
    return ERROR_TABLE[this.code].http;
  }

  get exitCode(): number {
    return ERROR_TABLE[this.code].exit;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return Object.keys(this.details).length
      ? { code: this.code, message: this.message, details: { ...this.details } }
      : { code: this.code, message: this.message };
  }
}

export function isSluiceError(e: unknown, code?: ErrorCode): e is SluiceError {
  // Duck-typed on purpose: a DAG file may load a second copy of this module (e.g. dist vs src).
  return (
    typeof e === "object" &&
    e !== null &&
    (e as { name?: unknown }).name === "SluiceError" &&
    typeof (e as { code?: unknown }).code === "string" &&
    (code === undefined || (e as { code: string }).code === code)
  );
}

/** Normalise anything thrown into a SluiceError, keeping the original as `cause`. */
export function toSluiceError(e: unknown, fallback: ErrorCode = "INTERNAL"): SluiceError {
  if (e instanceof SluiceError) return e;
  if (isSluiceError(e)) {
    const se = e;
    return new SluiceError(se.code, se.message, { cause: e, details: { ...se.details } });
  }
  const sqliteCode = (e as { code?: unknown } | null)?.code;
  if (sqliteCode === "SQLITE_BUSY" || sqliteCode === "SQLITE_LOCKED") {
    return new SluiceError(
      "DB_LOCKED",
      "the database is locked by another process; wait for it to finish or raise SLUICE_DB_BUSY_TIMEOUT_MS",
      { cause: e },
    );
  }
  if (sqliteCode === "SQLITE_FULL" || (e as { code?: unknown } | null)?.code === "ENOSPC") {
    // nothing was written by the statement that failed (SQLite rolls it back): free space and go on
    return new SluiceError("DISK_FULL", `the disk is full (${String((e as Error).message)}); nothing of the failed write was recorded: free space, then resume (sluice runs resume <runId>)`, { cause: e });
  }
  if (sqliteCode === "SQLITE_CORRUPT" || sqliteCode === "SQLITE_NOTADB") {
    return new SluiceError("DB_CORRUPT", `the database file is corrupt or not a SQLite database (${String((e as Error).message)})`, { cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new SluiceError(fallback, message, { cause: e });
}

/** The serialisable shape of an error, as stored on a failed attempt. */
export interface ErrorRecord {
  code: string;
  message: string;
  stack?: string;
  exitCode?: number;
}

export function errorRecord(e: unknown, code: ErrorCode = "TASK_FAILED"): ErrorRecord {
  if (isSluiceError(e)) {
    const se = e;
    const rec: ErrorRecord = { code: se.code, message: se.message };
    const cause = se.cause;
    const stack = cause instanceof Error ? cause.stack : se.details["stack"];
    if (typeof stack === "string") rec.stack = stack;
    const exitCode = se.details["exitCode"];
    if (typeof exitCode === "number") rec.exitCode = exitCode;
    return rec;
  }
  if (e instanceof Error) {
    const rec: ErrorRecord = { code, message: e.message || e.name };
    if (e.stack) rec.stack = e.stack;
    return rec;
  }
  return { code, message: typeof e === "string" ? e : safeString(e) };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
