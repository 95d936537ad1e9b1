/** Spawning a program for a task: output streamed line by line into the attempt log, killed on abort. */
import { spawn, type SpawnOptions } from "node:child_process";
import { SluiceError } from "../errors.js";
import type { AttemptLog } from "../logs/attemptLog.js";
import { envName } from "../secrets/connection.js";
import type { TaskRun } from "./executor.js";
import { LineSplitter } from "./lines.js";

export interface SpawnResult {
  exitCode: number;
  lastStdoutLine: string;
}

/**
 * Run `command` until it exits. The child gets its own process group, so an abort (timeout, cancel)
 * kills everything it started: SIGTERM, then SIGKILL after `graceMs`.
 */
export function runLogged(
  command: string,
  args: string[],
  opts: SpawnOptions & { stdinText?: string; log: AttemptLog; signal: AbortSignal; what: string; graceMs?: number },
): Promise<SpawnResult> {
  return new Promise<SpawnResult>((resolve, reject) => {
    if (opts.signal.aborted) return reject(opts.signal.reason as Error);
    // `signal` stays out of spawn's options: Node would then kill only the direct child and fail with its
    // own AbortError before onAbort runs (which removed onAbort, so the group survived and the abort
    // reason, e.g. a TIMEOUT, was lost).
    const { signal: _signal, ...spawnOpts } = opts;
    // no input: stdin is /dev/null (EOF at once, as an empty pipe gives) — one pipe fewer to create and close
    const child = spawn(command, args, { ...spawnOpts, stdio: [opts.stdinText === undefined ? "ignore" : "pipe", "pipe", "pipe"], detached: true });
    let lastStdoutLine = "";
    let settled = false;
    const splitter = (which: "stdout" | "stderr") =>
      new LineSplitter((line) => {
        opts.log.write(which, line);
        if (which === "stdout" && line.trim()) lastStdoutLine = line;
      });
    const out = { stdout: splitter("stdout"), stderr: splitter("stderr") };
    child.stdout!.on("data", (chunk: Buffer) => out.stdout.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => out.stderr.push(chunk));
    let killTimer: NodeJS.Timeout | null = null;
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      kill("SIGTERM");
      killTimer = setTimeout(() => kill("SIGKILL"), opts.graceMs ?? 5000);
      killTimer.unref();
      finish(() => reject(opts.signal.reason as Error));
    };
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      fn();
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", (e: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          e.code === "ENOENT"
            ? new SluiceError("TASK_FAILED", `${opts.what}: command not found: ${command}`, { cause: e })
            : new SluiceError("TASK_FAILED", `${opts.what}: cannot start ${command}: ${e.message}`, { cause: e }),
        ),
      );
    });
    child.on("close", (code, signal) => {
      out.stdout.end();
      out.stderr.end();
      if (killTimer) clearTimeout(killTimer);
      const exitCode = code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : 1);
      finish(() => resolve({ exitCode, lastStdoutLine }));
    });
    if (child.stdin) {
      child.stdin.on("error", () => undefined); // the program may exit without reading its input
      child.stdin.end(opts.stdinText);
    }
  });
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 } as Record<string, number>)[sig];
}

/** A non-zero exit: a failure, or — one of the task's `skipCodes` (skipOnExitCode, default 99) — a skip (core/taskSignals.ts). */
export function exitError(what: string, exitCode: number, skipCodes: readonly number[] = []): SluiceError {
  if (skipCodes.includes(exitCode)) {
    return new SluiceError("TASK_FAILED", `${what} exited with code ${exitCode}: skipped (skipOnExitCode)`, { details: { exitCode, skipTask: true } });
  }
  return new SluiceError("TASK_FAILED", `${what} exited with code ${exitCode}`, { details: { exitCode } });
}

/**
 * The environment of a task's process: the clean base (never Sluice's own variables, which hold its
 * database URL, tokens and passwords), Sluice's context as SLUICE_* variables, then the task's own `env`.
 */
export function taskEnv(r: TaskRun, own: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...r.env,
    SLUICE_DAG_ID: r.ctx.dagId,
    SLUICE_RUN_ID: r.ctx.runId,
    SLUICE_TASK_ID: r.ctx.taskId,
    SLUICE_MAP_INDEX: String(r.ctx.mapIndex),
    SLUICE_ATTEMPT: String(r.ctx.attempt),
    // the fencing token (TaskContext.attemptId): pass it along with external writes
    SLUICE_ATTEMPT_ID: String(r.ctx.attemptId),
    SLUICE_LOGICAL_DATE: r.ctx.logicalDate.toISOString(),
    SLUICE_DATA_INTERVAL_START: r.ctx.dataInterval.start.toISOString(),
    SLUICE_DATA_INTERVAL_END: r.ctx.dataInterval.end.toISOString(),
    ...own,
  };
}

/**
 * The connections and variables a shell or Python task declared (`connections: [...]`, `variables: [...]`),
 * as SLUICE_CONN_<ID> (URI) / SLUICE_VAR_<KEY> (JSON): only those, resolved through ctx — so from the
 * worker's backends, registered with the attempt's masker, an unknown id failing the attempt. Added after
 * the clean base on purpose: Sluice's own SLUICE_* variables never pass, these are the task's.
 */
export async function declaredSecretEnv(r: TaskRun): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  if (!r.task.connections?.length && !r.task.variables?.length) return env;
  for (const id of r.task.connections ?? []) env[envName("connection", id)] = (await r.ctx.connection(id)).uri;
  for (const key of r.task.variables ?? []) env[envName("variable", key)] = JSON.stringify(await r.ctx.variable(key));
  return env;
}
