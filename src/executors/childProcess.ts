/**
 * `isolation: "process"`: the task runs in a child Node process, so its crash, infinite loop or
 * out-of-memory cannot take the engine down. The process is a warm one from childPool.ts when the run has
 * a code bundle (reused for many attempts of that code, like Celery's prefork workers), a new one per
 * attempt with `fresh: true` or code that is not a bundle. Inputs and the output cross over IPC with
 * structured-clone serialisation (Buffers, typed arrays, Dates survive).
 */
import { SluiceError, type ErrorCode } from "../errors.js";
import type { RegisterModelOptions, TaskContext } from "../dsl/types.js";
import type { JsonValue } from "../core/assets.js";
import type { Executor, TaskRun } from "./executor.js";
import { LineSplitter } from "./lines.js";
import { outputEndMarker } from "./outputEnd.js";
import { taskEnv } from "./subprocess.js";
import { traceparentOfSpan } from "../tracing/ids.js";
import { acquireChild, poolKey, releaseChild, retireChild, type PooledChild } from "./childPool.js";
import { DEFAULT_POOL_LIMITS } from "../core/processReuse.js";

/** Codes of a child's error kept as they are (any other failure of the task is TASK_FAILED). */
const KEPT_CODES = new Set<string>(["SERIALIZATION", "CONNECTION_NOT_FOUND", "VARIABLE_NOT_FOUND", "SECRET_KEY", "INVALID_CONNECTION"]);

/** How long a process may take to report itself idle after its attempt settled before it is ended. */
const IDLE_REPORT_MS = 5000;

/** The parent's answer to a "secret" request. */
export type SecretReply = { type: "secretReply"; reqId: number; value: unknown } | { type: "secretReply"; reqId: number; error: { code: string; message: string } };

/** What the parent sends a child: an attempt to run, or the answer to its request for a secret. */
export type ParentMessage = ChildRequest | SecretReply;

export interface ChildRequest {
  type: "run";
  dagFile: string;
  /** The run's code bundle (bundleImport.ts); null: import the DAG file. */
  moduleUrl: string | null;
  dagId: string;
  taskId: string;
  /** The attempt's whole process.env (set for the attempt, put back after it). */
  env: Record<string, string | undefined>;
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

/** What a child sends; all but "idle" name the attempt they belong to (others are dropped). */
export type ChildMessage =
  | { type: "log"; attemptId: number; level: "debug" | "info" | "warn" | "error"; msg: string }
  /** ctx.connection / ctx.variable in the child: the parent resolves it (and feeds its masker). */
  | { type: "secret"; attemptId: number; reqId: number; kind: "connection" | "variable"; id: string; fallback?: [unknown] }
  /** ctx.models.register in the child (options already plain: the artifact as bytes, the signature as JSON Schema): the parent registers it. */
  | { type: "secret"; attemptId: number; reqId: number; kind: "model"; id: string; model: RegisterModelOptions }
  | { type: "assetMetadata"; attemptId: number; asset: string; metadata: Record<string, unknown> }
  /** ctx.track in the child (checked there): recorded by the parent's tracker. */
  | { type: "track"; attemptId: number; call: "param" | "metric" | "tag" | "artifact"; name: string; value: unknown; step?: number; mediaType?: string }
  | { type: "result"; attemptId: number; value: unknown }
  | { type: "error"; attemptId: number; code: string; message: string; stack?: string; names?: string[]; nonRetryable?: boolean; skipTask?: boolean }
  /** The attempt is over and the process put back; `leftOver`: kinds of handles it left running (unfit). */
  | { type: "idle"; rssBytes: number; leftOver: string[] };

/**
 * A process-isolated task asked for a connection or variable: resolve it here, where the backends and the
 * attempt's masker are, and send it over the IPC channel (never through the child's environment).
 */
function answerSecret(r: TaskRun, c: PooledChild, m: Extract<ChildMessage, { type: "secret" }>): void {
  const work: Promise<unknown> = m.kind === "model" ? r.ctx.models.register(m.id, m.model) : m.kind === "connection" ? r.ctx.connection(m.id) : r.ctx.variable(m.id, ...((m.fallback ?? []) as [unknown?]));
  work.then(
    (value) => reply({ type: "secretReply", reqId: m.reqId, value }),
    (e: unknown) => {
      const err = e as { code?: unknown; message?: unknown };
      reply({ type: "secretReply", reqId: m.reqId, error: { code: typeof err.code === "string" ? err.code : "TASK_FAILED", message: String(err.message ?? e) } });
    },
  );
  function reply(msg: SecretReply) {
    if (c.process.connected) c.process.send(msg, (e) => void e);
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

/** How long an attempt's end waits for its output to drain through the pipes before it goes on without. */
const OUTPUT_END_WAIT_MS = 2000;

export const childProcessExecutor: Executor = {
  run(r: TaskRun): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      if (r.ctx.signal.aborted) return reject(r.ctx.signal.reason as Error);
      const limit = r.task.memoryLimitMb;
      const limits = r.processPool ?? DEFAULT_POOL_LIMITS;
      const env = taskEnv(r, r.impl.env);
      // only the run's code bundle is one version of the code; a DAG file may change between attempts
      const key = r.moduleUrl !== null && !r.task.fresh && limits.idleMs > 0 ? poolKey(r.moduleUrl, limit, env) : null;
      // a pooled process starts from the clean base, each attempt's env comes with its request
      // (never with the task's env: /proc/<pid>/environ shows a process's first env for all its life)
      const c = acquireChild(key, limit, key === null ? env : { ...r.env, ...(env["NODE_OPTIONS"] !== undefined ? { NODE_OPTIONS: env["NODE_OPTIONS"] } : {}) });
      const child = c.process;
      const attemptId = r.ctx.attemptId;
      let settled = false;
      let stderrTail = "";
      // whole lines only: a chunk may end mid-line, and a secret cut in two would escape the masker
      // each stream ends the attempt's output with a marker line (childMain.ts endOutput): everything the
      // attempt printed before its result is logged before the attempt ends, however the pipes and the IPC
      // channel are interleaved by the event loop
      const marker = outputEndMarker(attemptId);
      const ended = { stdout: false, stderr: false };
      let onEnded: (() => void) | null = null;
      const lineOf = (stream: "stdout" | "stderr") => (line: string) => {
        if (line.endsWith(marker)) {
          const before = line.slice(0, -marker.length);
          if (before) r.log.write(stream, before);
          ended[stream] = true;
          if (ended.stdout && ended.stderr) onEnded?.();
          return;
        }
        if (line) r.log.write(stream, line);
      };
      const out = { stdout: new LineSplitter(lineOf("stdout")), stderr: new LineSplitter(lineOf("stderr")) };
      const onStdout = (chunk: Buffer) => out.stdout.push(chunk);
      const onStderr = (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString("utf8")).slice(-4000);
        out.stderr.push(chunk);
      };
      let idleDeadline: NodeJS.Timeout | null = null;
      const detach = () => {
        if (idleDeadline) clearTimeout(idleDeadline);
        child.stdout!.off("data", onStdout);
        child.stderr!.off("data", onStderr);
        child.off("message", onMessage);
        child.off("error", onError);
        child.off("close", onClose);
        out.stdout.end();
        out.stderr.end();
      };
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        r.ctx.signal.removeEventListener("abort", onAbort);
        // a process still busy after its attempt (work the task left blocking its loop) never says it is
        // idle: it is ended rather than left running, unseen by the pool and by a worker's stop
        idleDeadline = setTimeout(() => {
          detach();
          retireChild(c);
        }, IDLE_REPORT_MS);
        idleDeadline.unref();
        // output the child wrote before its message is in the pipes, but may be read after the message:
        // wait for both markers (a process that died has closed its pipes: then at once)
        const done = () => {
          clearTimeout(giveUp);
          onEnded = null;
          child.stdout!.off("data", onStdout);
          child.stderr!.off("data", onStderr);
          out.stdout.end();
          out.stderr.end();
          fn();
          if (pendingIdle) onIdle(pendingIdle);
        };
        const giveUp = setTimeout(done, OUTPUT_END_WAIT_MS);
        if ((ended.stdout && ended.stderr) || child.exitCode !== null || child.signalCode !== null) setImmediate(done);
        else onEnded = done;
      };
      const onAbort = () => {
        detach();
        retireChild(c);
        finish(() => reject(r.ctx.signal.reason as Error));
      };
      let pendingIdle: Extract<ChildMessage, { type: "idle" }> | null = null;
      const onIdle = (m: Extract<ChildMessage, { type: "idle" }>) => {
        detach();
        if (!settled) retireChild(c);
        else releaseChild(c, m, limits);
      };
      const onMessage = (m: ChildMessage) => {
        if (m.type === "idle") {
          // the idle report can overtake the attempt's last output in the pipes: wait for its end marker
          if (onEnded) pendingIdle = m;
          else onIdle(m);
          return;
        }
        if (m.attemptId !== attemptId || settled) return;
        if (m.type === "log") r.log.write(m.level, m.msg);
        else if (m.type === "secret") answerSecret(r, c, m);
        else if (m.type === "track") track(r, m);
        else if (m.type === "assetMetadata") r.ctx.assetMetadata(m.asset, m.metadata as Parameters<TaskContext<unknown>["assetMetadata"]>[1]);
        else if (m.type === "result") finish(() => resolve(m.value));
        else if (m.type === "error") {
          const details = { ...(m.stack ? { stack: m.stack } : {}), ...(m.names ? { errorNames: m.names } : {}), ...(m.nonRetryable ? { nonRetryable: true } : {}), ...(m.skipTask ? { skipTask: true } : {}) };
          const err = new SluiceError(KEPT_CODES.has(m.code) ? (m.code as ErrorCode) : "TASK_FAILED", m.message, { details });
          finish(() => reject(err));
        }
      };
      const onError = (e: Error) => {
        detach();
        retireChild(c);
        finish(() => reject(new SluiceError("TASK_FAILED", `task "${r.task.id}": cannot start a child process: ${e.message}`, { cause: e })));
      };
      // "close", not "exit": stderr is fully read by then, so an out-of-memory message is not missed.
      const onClose = (code: number | null, signal: NodeJS.Signals | null) => {
        detach();
        const oom = /heap out of memory|Allocation failed/i.test(stderrTail);
        const why = oom
          ? `ran out of memory${limit ? ` (memoryLimitMb ${limit})` : ""}`
          : signal
            ? `was killed by ${signal}`
            : `exited with code ${code} before returning a result`;
        finish(() => reject(new SluiceError("TASK_FAILED", `task "${r.task.id}": its process ${why}`, { details: { exitCode: code ?? 137 } })));
      };
      r.ctx.signal.addEventListener("abort", onAbort, { once: true });
      child.stdout!.on("data", onStdout);
      child.stderr!.on("data", onStderr);
      child.on("message", onMessage);
      child.on("error", onError);
      child.on("close", onClose);
      const req: ChildRequest = {
        type: "run",
        dagFile: r.dagFile,
        moduleUrl: r.moduleUrl,
        dagId: r.ctx.dagId,
        taskId: r.task.id,
        env,
        inputs: r.inputs,
        ctx: {
          runId: r.ctx.runId,
          mapIndex: r.ctx.mapIndex,
          attempt: r.ctx.attempt,
          attemptId,
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
      // inputs that cannot be cloned (a function) fail the attempt, and the process is not trusted again
      child.send(req, (e) => {
        if (!e) return;
        detach();
        retireChild(c);
        finish(() => reject(new SluiceError("SERIALIZATION", `task "${r.task.id}": its inputs cannot be sent to its process: ${e.message}`, { cause: e })));
      });
    });
  },
};
