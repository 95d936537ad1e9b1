/**
 * `isolation: "process"`: the task runs in a child Node process (one per attempt, like Airflow's
 * LocalExecutor), so its crash, infinite loop or out-of-memory cannot take the engine down. Inputs and the
 * output cross over IPC with structured-clone serialisation (Buffers, typed arrays, Dates survive).
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SluiceError, type ErrorCode } from "../errors.js";
import type { TaskContext } from "../dsl/types.js";
import type { JsonValue } from "../core/assets.js";
import type { Executor, TaskRun } from "./executor.js";
import { LineSplitter } from "./lines.js";
import { taskEnv } from "./subprocess.js";
import { traceparentOfSpan } from "../tracing/ids.js";

// Built: dist/executors/childMain.js. Run from source under tsx (tests): childMain.ts, with tsx loaded.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const CHILD_MAIN = fileURLToPath(new URL(FROM_SOURCE ? "./childMain.ts" : "./childMain.js", import.meta.url));

/** Codes of a child's error kept as they are (any other failure of the task is TASK_FAILED). */
const KEPT_CODES = new Set<string>(["SERIALIZATION", "CONNECTION_NOT_FOUND", "VARIABLE_NOT_FOUND", "SECRET_KEY", "INVALID_CONNECTION"]);

/** The parent's answer to a "secret" request. */
export type SecretReply = { type: "secretReply"; reqId: number; value: unknown } | { type: "secretReply"; reqId: number; error: { code: string; message: string } };

/** Children still running: killed if this process exits, so none is left behind without a parent. */
const LIVE = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of LIVE) c.kill("SIGKILL");
});

export interface ChildRequest {
  dagFile: string;
  /** The run's code bundle (bundleImport.ts); null: import the DAG file. */
  moduleUrl: string | null;
  dagId: string;
  taskId: string;
  inputs: Record<string, unknown>;
  ctx: {
    runId: string;
    mapIndex: number;
    attempt: number;
    attemptId: number;
    maxAttempts: number;
    logicalDate: number;
    dataInterval: { start: number; end: number };
    params: unknown;
    event: TaskContext<unknown>["event"];
    triggeringAssetEvents: TaskContext<unknown>["triggeringAssetEvents"];
    /** The attempt's span (W3C traceparent) when tracing is on, for ctx.span in the child; else null. */
    traceparent: string | null;
  };
  /** The task's assets: ctx.assetMetadata checks names against them in the child too. */
  produces: string[];
}

export type ChildMessage =
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string }
  /** ctx.connection / ctx.variable in the child: the parent resolves it (and feeds its masker). */
  | { type: "secret"; reqId: number; kind: "connection" | "variable"; id: string; fallback?: [unknown] }
  | { type: "assetMetadata"; asset: string; metadata: Record<string, unknown> }
  /** ctx.track in the child (checked there): recorded by the parent's tracker. */
  | { type: "track"; call: "param" | "metric" | "tag" | "artifact"; name: string; value: unknown; step?: number; mediaType?: string }
  | { type: "result"; value: unknown }
  | { type: "error"; code: string; message: string; stack?: string; names?: string[]; nonRetryable?: boolean; skipTask?: boolean };

/**
 * A process-isolated task asked for a connection or variable: resolve it here, where the backends and the
 * attempt's masker are, and send it over the IPC channel (never through the child's environment).
 */
function answerSecret(r: TaskRun, child: ChildProcess, m: Extract<ChildMessage, { type: "secret" }>): void {
  const work = m.kind === "connection" ? r.ctx.connection(m.id) : r.ctx.variable(m.id, ...((m.fallback ?? []) as [unknown?]));
  work.then(
    (value) => reply({ type: "secretReply", reqId: m.reqId, value }),
    (e: unknown) => {
      const err = e as { code?: unknown; message?: unknown };
      reply({ type: "secretReply", reqId: m.reqId, error: { code: typeof err.code === "string" ? err.code : "TASK_FAILED", message: String(err.message ?? e) } });
    },
  );
  function reply(msg: SecretReply) {
    if (child.connected) child.send(msg, (e) => void e);
  }
}

/** A child's ctx.track call, recorded by this attempt's tracker (a failed write fails the attempt at its end). */
function track(r: TaskRun, m: Extract<ChildMessage, { type: "track" }>): void {
  const t = r.ctx.track;
  if (m.call === "param") t.param(m.name, m.value as JsonValue);
  else if (m.call === "metric") t.metric(m.name, m.value as number, m.step === undefined ? {} : { step: m.step });
  else if (m.call === "tag") t.tag(m.name, String(m.value));
  else void t.artifact(m.name, m.value as Uint8Array, m.mediaType ? { mediaType: m.mediaType } : {}).catch((e: Error) => r.log.write("error", e.message));
}

export const childProcessExecutor: Executor = {
  run(r: TaskRun): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (r.ctx.signal.aborted) return reject(r.ctx.signal.reason as Error);
      const limit = r.task.memoryLimitMb;
      const child = fork(CHILD_MAIN, [], {
        serialization: "advanced",
        execArgv: [...(FROM_SOURCE ? ["--import", "tsx"] : []), ...(limit ? [`--max-old-space-size=${limit}`] : [])],
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        // never process.env: the child runs user code, and Sluice's variables hold its secrets
        env: taskEnv(r, r.impl.env),
      });
      LIVE.add(child);
      let settled = false;
      let stderrTail = "";
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        r.ctx.signal.removeEventListener("abort", onAbort);
        fn();
      };
      const onAbort = () => {
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
        finish(() => reject(r.ctx.signal.reason as Error));
      };
      r.ctx.signal.addEventListener("abort", onAbort, { once: true });
      // whole lines only: a chunk may end mid-line, and a secret cut in two would escape the masker
      const out = {
        stdout: new LineSplitter((line) => line && r.log.write("stdout", line)),
        stderr: new LineSplitter((line) => line && r.log.write("stderr", line)),
      };
      child.stdout!.on("data", (chunk: Buffer) => out.stdout.push(chunk));
      child.stderr!.on("data", (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString("utf8")).slice(-4000);
        out.stderr.push(chunk);
      });
      child.stdout!.on("end", () => out.stdout.end());
      child.stderr!.on("end", () => out.stderr.end());
      child.on("message", (m: ChildMessage) => {
        if (m.type === "log") r.log.write(m.level, m.msg);
        else if (m.type === "secret") answerSecret(r, child, m);
        else if (m.type === "track") track(r, m);
        else if (m.type === "assetMetadata") r.ctx.assetMetadata(m.asset, m.metadata as Parameters<TaskContext<unknown>["assetMetadata"]>[1]);
        else if (m.type === "result") finish(() => resolve(m.value));
        else if (m.type === "error") {
          const details = { ...(m.stack ? { stack: m.stack } : {}), ...(m.names ? { errorNames: m.names } : {}), ...(m.nonRetryable ? { nonRetryable: true } : {}), ...(m.skipTask ? { skipTask: true } : {}) };
          const err = new SluiceError(KEPT_CODES.has(m.code) ? (m.code as ErrorCode) : "TASK_FAILED", m.message, { details });
          finish(() => reject(err));
        }
      });
      child.on("error", (e) => finish(() => reject(new SluiceError("TASK_FAILED", `task "${r.task.id}": cannot start a child process: ${e.message}`, { cause: e }))));
      // "close", not "exit": stderr is fully read by then, so an out-of-memory message is not missed.
      child.on("close", (code, signal) => {
        LIVE.delete(child);
        const oom = /heap out of memory|Allocation failed/i.test(stderrTail);
        const why = oom
          ? `ran out of memory${limit ? ` (memoryLimitMb ${limit})` : ""}`
          : signal
            ? `was killed by ${signal}`
            : `exited with code ${code} before returning a result`;
        finish(() => reject(new SluiceError("TASK_FAILED", `task "${r.task.id}": its process ${why}`, { details: { exitCode: code ?? 137 } })));
      });
      const req: ChildRequest = {
        dagFile: r.dagFile,
        moduleUrl: r.moduleUrl,
        dagId: r.ctx.dagId,
        taskId: r.task.id,
        inputs: r.inputs,
        ctx: {
          runId: r.ctx.runId,
          mapIndex: r.ctx.mapIndex,
          attempt: r.ctx.attempt,
          attemptId: r.ctx.attemptId,
          maxAttempts: r.ctx.maxAttempts,
          logicalDate: r.ctx.logicalDate.getTime(),
          dataInterval: { start: r.ctx.dataInterval.start.getTime(), end: r.ctx.dataInterval.end.getTime() },
          params: r.ctx.params,
          event: r.ctx.event,
          triggeringAssetEvents: r.ctx.triggeringAssetEvents,
          traceparent: traceparentOfSpan(r.ctx.span),
        },
        produces: r.task.produces ?? [],
      };
      child.send(req);
    });
  },
};
