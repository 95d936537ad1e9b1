/**
 * Which PostgreSQL failures a transaction survives by running again, and how long it waits first.
 * Deadlocks and serialization failures are part of normal life with many workers (Store.tx rolls back
 * and retries with jitter); a lost connection (PostgreSQL restarted, backend terminated) is retried with
 * a longer, capped, jittered backoff while the pool opens new connections — for up to a minute.
 */
import { SluiceError, toSluiceError } from "../errors.js";

export type RetryKind = "conflict" | "connection";

/** SQLSTATEs: serialization_failure, deadlock_detected, lock_not_available. */
const CONFLICT = new Set(["40001", "40P01", "55P03"]);
/** admin_shutdown, crash_shutdown, cannot_connect_now, connection_exception/failure, too_many_connections. */
const CONNECTION = new Set(["57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004", "53300"]);
const NET = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * A claim found that it needs advisory locks it did not take (claims.ts): its transaction runs again,
 * taking them from the start.
 */
export class LocksChanged extends Error {
  readonly code = "sluice:locks-changed";
  constructor() {
    super("the capacity locks a claim needs changed; running its transaction again");
  }
}

export function isRetryableTxError(e: unknown): RetryKind | null {
  if (e instanceof LocksChanged) return "conflict";
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && CONFLICT.has(code)) return "conflict";
  if (typeof code === "string" && (CONNECTION.has(code) || NET.has(code))) return "connection";
  const msg = e instanceof Error ? e.message : "";
  if (/Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(msg)) return "connection";
  return null;
}

/** Conflicts: up to 20 tries; connections: up to 60 s. */
export function retryAgain(kind: RetryKind, attempt: number, startedAt: number): boolean {
  return kind === "conflict" ? attempt < 20 : Date.now() - startedAt < 60_000;
}

export function retryDelayMs(kind: RetryKind, attempt: number): number {
  const base = kind === "conflict" ? 5 : 200;
  const cap = kind === "conflict" ? 500 : 5_000;
  return Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 12));
}

/**
 * SQLite could not write for want of space (SQLITE_FULL; ENOSPC from a file it extends). The statement,
 * and the transaction with it, was rolled back: nothing of it was recorded, and it can run again later.
 */
export function isDiskFullError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "SQLITE_FULL" || code === "ENOSPC";
}

/**
 * How long a write waits for space before it tries again: from 250 ms, doubling, at most 5 s, jittered
 * so that the transactions of one process that all hit the full disk do not retry in step. Space is
 * usually freed by a person: 5 s is soon enough after that, and rare enough not to spin meanwhile.
 */
export function diskFullDelayMs(attempt: number): number {
  return (0.5 + Math.random() / 2) * Math.min(5_000, 250 * 2 ** Math.min(attempt - 1, 10));
}

/** A PostgreSQL failure as a SluiceError that names the database (without its password). */
export function toStoreError(e: unknown, location: string): SluiceError {
  if (e instanceof SluiceError) return e;
  if (isRetryableTxError(e) === "connection") {
    return new SluiceError("DB_UNAVAILABLE", `PostgreSQL at ${location} is unreachable: ${(e as Error).message}`, { cause: e });
  }
  // what a transaction pooler (PgBouncer pool_mode=transaction) answers a client that keeps session
  // state: the startup options (refused), or named prepared statements (unknown on, or already on, the
  // server connection the pooler picked)
  const msg = e instanceof Error ? e.message : "";
  if (/unsupported startup parameter|prepared statement "sluice_\d+" (does not exist|already exists)/.test(msg)) {
    return new SluiceError(
      "CONFIG",
      `${msg} — ${location} looks like a connection pooler in transaction mode (PgBouncer): add pgbouncer=true to SLUICE_DATABASE_URL, and set SLUICE_DATABASE_DIRECT_URL for LISTEN (docs/deploy.md, "PgBouncer")`,
      { cause: e },
    );
  }
  return toSluiceError(e);
}
