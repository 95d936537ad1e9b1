/**
 * When a warm process of `isolation: "process"` may take another attempt (executors/childPool.ts). Pure:
 * the pool asks, with what the process reported at the end of its attempt.
 */

/** When a warm process is retired. */
export interface ProcessPoolLimits {
  /** Attempts one process runs before it is replaced (SLUICE_PROCESS_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Resident memory (MB) above which a process is replaced after its attempt (SLUICE_PROCESS_MAX_RSS_MB). */
  maxRssMb: number;
  /** How long an idle process is kept (ms; SLUICE_PROCESS_IDLE_MS). 0: a new process for every attempt. */
  idleMs: number;
}

// Celery's worker_max_tasks_per_child and worker_max_memory_per_child are unset by default (a process
// lives for ever); a bound keeps a slow leak in task code (a growing module-level cache) from growing
// without end, and 100 attempts makes the start of a new process ~1% of the cost.
export const DEFAULT_POOL_LIMITS: ProcessPoolLimits = { maxAttempts: 100, maxRssMb: 1024, idleMs: 60_000 };

/** What a process reported after its attempt. */
export interface AttemptEnd {
  /** Attempts it has run, this one included. */
  attempts: number;
  rssBytes: number;
  /** Kinds of handles the attempt left running (timers, sockets, servers, child processes). */
  leftOver: readonly string[];
}

/** Why the process is retired instead of taking another attempt; null: it is reused. */
export function retireReason(end: AttemptEnd, limits: ProcessPoolLimits): string | null {
  if (limits.idleMs <= 0) return "idle processes are not kept (idleMs 0)";
  if (end.leftOver.length > 0) return `its attempt left work running (${[...new Set(end.leftOver)].join(", ")})`;
  if (end.attempts >= limits.maxAttempts) return `it ran ${end.attempts} attempts (maxAttempts ${limits.maxAttempts})`;
  const mb = end.rssBytes / (1024 * 1024);
  if (mb > limits.maxRssMb) return `it uses ${Math.round(mb)} MB (maxRssMb ${limits.maxRssMb})`;
  return null;
}
