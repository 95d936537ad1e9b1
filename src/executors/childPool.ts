/**
 * Warm child processes for `isolation: "process"` (docs/decisions/0022-performance.md, "Warm processes"):
 * a fork, Node's start and the import of the DAG's code cost ~100-500 ms, the task itself often ~1 ms. So a
 * process that ran an attempt is kept and given the next attempt of the same code, as Celery's and
 * Airflow's prefork workers do. Processes are pooled by what they cannot change once started: the code
 * they imported (the run's code bundle, by its hash), the heap limit and NODE_OPTIONS.
 *
 * A process goes back to the pool only when it says it is idle and fit (childMain.ts: nothing left
 * running by the attempt) and is under its limits: `maxAttempts` attempts, `maxRssMb` resident memory.
 * Idle processes end after `idleMs`, and when a worker stops (endIdleChildren). None outlives this process:
 * on its exit they are killed, and a child whose parent dies (even by SIGKILL) sees its IPC channel close
 * and exits.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { retireReason, type ProcessPoolLimits } from "../core/processReuse.js";

// Built: dist/executors/childMain.js. Run from source under tsx (tests): childMain.ts, with tsx loaded.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const CHILD_MAIN = fileURLToPath(new URL(FROM_SOURCE ? "./childMain.ts" : "./childMain.js", import.meta.url));

/** A child process that runs attempts, and what the pool knows of it. */
export interface PooledChild {
  readonly process: ChildProcess;
  readonly key: string;
  /** Attempts started in it. */
  attempts: number;
  /** Retired: never given another attempt (it is ending, or will end after its attempt). */
  retired: boolean;
  idleTimer: NodeJS.Timeout | null;
}

/** Children still running: killed if this process exits, so none is left behind without a parent. */
const LIVE = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of LIVE) c.kill("SIGKILL");
});

/** Idle processes by pool key, the most recently used last (reused first: its caches are warm). */
const idle = new Map<string, PooledChild[]>();

/** The pool key of a process for these start options. */
export function poolKey(moduleUrl: string, memoryLimitMb: number | null, env: Record<string, string | undefined>): string {
  return JSON.stringify([moduleUrl, memoryLimitMb, env["NODE_OPTIONS"] ?? null]);
}

/**
 * A process for an attempt: an idle one of `key` if there is one (key null: never pooled, as for a task
 * with `fresh: true` or code that is not a bundle), else a new one started with `env`.
 */
export function acquireChild(key: string | null, memoryLimitMb: number | null, env: NodeJS.ProcessEnv): PooledChild {
  const list = key === null ? undefined : idle.get(key);
  for (let c = list?.pop(); c; c = list?.pop()) {
    if (c.idleTimer) clearTimeout(c.idleTimer);
    c.idleTimer = null;
    if (c.retired || c.process.exitCode !== null || c.process.signalCode !== null || !c.process.connected) continue;
    setRef(c.process, true);
    c.attempts++;
    return c;
  }
  const child = fork(CHILD_MAIN, [], {
    serialization: "advanced",
    execArgv: [...(FROM_SOURCE ? ["--import", "tsx"] : []), ...(memoryLimitMb ? [`--max-old-space-size=${memoryLimitMb}`] : [])],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    // never process.env: the child runs user code, and Sluice's variables hold its secrets
    env,
  });
  LIVE.add(child);
  const pooled: PooledChild = { process: child, key: key ?? "", attempts: 1, retired: key === null, idleTimer: null };
  child.once("exit", () => {
    LIVE.delete(child);
    pooled.retired = true;
    if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
    dropIdle(pooled);
  });
  // a process that cannot start reports it through the executor's "error" listener; this keeps an error
  // emitted while it is idle (no listener then) from being thrown here
  child.on("error", () => undefined);
  return pooled;
}

/**
 * The attempt in `c` is over and the process reported how it is (`rssBytes`, handles `leftOver`): keep it
 * for the next attempt, or retire it when core/processReuse.ts gives a reason.
 */
export function releaseChild(c: PooledChild, end: { rssBytes: number; leftOver: readonly string[] }, limits: ProcessPoolLimits): void {
  if (c.retired || !c.process.connected || retireReason({ attempts: c.attempts, ...end }, limits) !== null) {
    retireChild(c);
    return;
  }
  setRef(c.process, false); // an idle process does not keep this one alive
  c.idleTimer = setTimeout(() => retireChild(c), limits.idleMs);
  c.idleTimer.unref();
  const list = idle.get(c.key) ?? [];
  list.push(c);
  idle.set(c.key, list);
}

/**
 * End `c` (it is idle, or its attempt is over or aborted): SIGTERM, which aborts an attempt still running
 * in it (childMain.ts), then SIGKILL after `graceMs` for a task that ignores it (a blocked event loop).
 */
export function retireChild(c: PooledChild, graceMs = 5000): void {
  c.retired = true;
  if (c.idleTimer) clearTimeout(c.idleTimer);
  c.idleTimer = null;
  dropIdle(c);
  if (c.process.exitCode !== null || c.process.signalCode !== null) return;
  c.process.kill("SIGTERM");
  setTimeout(() => c.process.kill("SIGKILL"), graceMs).unref();
}

/** End every idle process (a worker stops; a process busy with another worker's attempt is left to it). */
export function endIdleChildren(): void {
  for (const list of [...idle.values()]) for (const c of [...list]) retireChild(c);
  idle.clear();
}

/** @public The pids of idle processes (tests watch reuse with it). */
export function idleChildPids(): number[] {
  return [...idle.values()].flatMap((list) => list.map((c) => c.process.pid ?? -1));
}

function dropIdle(c: PooledChild): void {
  const list = idle.get(c.key);
  if (!list) return;
  const i = list.indexOf(c);
  if (i !== -1) list.splice(i, 1);
  if (list.length === 0) idle.delete(c.key);
}

/** Whether `child` keeps this process's event loop alive (its IPC channel and pipes). */
function setRef(child: ChildProcess, on: boolean): void {
  const handles: ({ ref(): unknown; unref(): unknown } | null | undefined)[] = [child, child.channel, child.stdout as never, child.stderr as never];
  for (const h of handles) {
    if (h && on) h.ref();
    else if (h) h.unref();
  }
}
