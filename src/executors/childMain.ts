/** Entry point of a child process that runs one task attempt (see childProcess.ts). */
import { formatWithOptions } from "node:util";
import { AssetMetadataCollector } from "../core/assets.js";
import { importBundleUrl } from "./bundleImport.js";
import { loadDagFile } from "./dagFile.js";
import { errorNames, isNonRetryable } from "../core/deadLetters.js";
import { isSkipSignal } from "../core/taskSignals.js";
import { SluiceError, errorRecord } from "../errors.js";
import type { TaskContext, Tracker } from "../dsl/types.js";
import { readFile } from "node:fs/promises";
import { checkMetric, checkTrackName } from "../core/tracking.js";
import type { ChildMessage, ChildRequest, SecretReply } from "./childProcess.js";
import { spanOfTraceparent, withActiveSpan } from "../tracing/context.js";

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));
}

/** ctx.connection / ctx.variable: asked of the parent, which resolves them (childProcess.ts answerSecret). */
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextReq = 0;
process.on("message", (m: SecretReply | ChildRequest) => {
  if (!("type" in m) || m.type !== "secretReply") return;
  const p = pending.get(m.reqId);
  pending.delete(m.reqId);
  if (!p) return;
  if ("error" in m) p.reject(new SluiceError(m.error.code as SluiceError["code"], m.error.message));
  else p.resolve(m.value);
});

function askParent(kind: "connection" | "variable", id: string, fallback: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reqId = nextReq++;
    pending.set(reqId, { resolve, reject });
    send({ type: "secret", reqId, kind, id, ...(fallback.length ? { fallback: [fallback[0]] } : {}) }).catch((e: Error) => {
      pending.delete(reqId);
      reject(e);
    });
  });
}

process.once("message", (req: ChildRequest) => {
  // Once its last "message" listener is gone the IPC channel no longer keeps this process alive: a task
  // awaiting something with no handle of its own (an abort signal) would let it exit 0 with no result.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  void runOnce(req).finally(() => {
    clearInterval(keepAlive);
    process.disconnect();
  });
});

/**
 * ctx.track in the child: checked here (a bad metric fails the task where it was made), recorded by the
 * parent's tracker, which batches the writes. Files cross as bytes.
 */
function childTracker(req: ChildRequest): Tracker {
  const where = `task "${req.taskId}"`;
  const call = (m: Omit<Extract<ChildMessage, { type: "track" }>, "type">) => void send({ type: "track", ...m });
  const t: Tracker = {
    param: (name, value) => call({ call: "param", name: checkTrackName(where, "param", name), value }),
    params: (values) => Object.entries(values).forEach(([k, v]) => t.param(k, v)),
    metric: (name, value, opts = {}) => {
      checkMetric(where, checkTrackName(where, "metric", name), value, opts.step);
      call({ call: "metric", name, value, ...(opts.step !== undefined ? { step: opts.step } : {}) });
    },
    metrics: (values, opts) => Object.entries(values).forEach(([k, v]) => t.metric(k, v, opts)),
    tag: (name, value) => call({ call: "tag", name: checkTrackName(where, "tag", name), value }),
    artifact: async (name, data, opts = {}) => {
      checkTrackName(where, "artifact", name);
      const bytes = typeof data === "string" ? await readFile(data) : data;
      await send({ type: "track", call: "artifact", name, value: bytes, ...(opts.mediaType ? { mediaType: opts.mediaType } : {}) });
    },
  };
  return t;
}

async function runOnce(req: ChildRequest): Promise<void> {
  try {
    const loaded = req.moduleUrl ? await importBundleUrl(req.moduleUrl, req.dagFile) : await loadDagFile(req.dagFile);
    if ("error" in loaded) throw new Error(`cannot import ${req.dagFile}: ${loaded.error}`);
    const dag = loaded.dags.find((d) => d.id === req.dagId);
    const impl = dag?.impls.get(req.taskId);
    if (!impl || impl.kind !== "fn") throw new Error(`task "${req.taskId}" of DAG "${req.dagId}" is not defined in ${req.dagFile}`);
    const log =
      (level: "debug" | "info" | "warn" | "error") =>
      (message: string, ...args: unknown[]) =>
        void send({ type: "log", level, msg: args.length ? formatWithOptions({ colors: false }, message, ...args) : String(message) });
    const controller = new AbortController();
    const assets = new AssetMetadataCollector(req.taskId, req.produces);
    process.once("SIGTERM", () => controller.abort(new Error("aborted")));
    const ctx: TaskContext<unknown> = {
      runId: req.ctx.runId,
      dagId: req.dagId,
      taskId: req.taskId,
      mapIndex: req.ctx.mapIndex,
      attempt: req.ctx.attempt,
      maxAttempts: req.ctx.maxAttempts,
      logicalDate: new Date(req.ctx.logicalDate),
      dataInterval: { start: new Date(req.ctx.dataInterval.start), end: new Date(req.ctx.dataInterval.end) },
      params: req.ctx.params,
      dagFile: req.dagFile,
      signal: controller.signal,
      attemptId: req.ctx.attemptId,
      // the parent ends this process (SIGTERM) when the attempt is aborted: the signal is the truth here too
      assertLive: () => {
        if (controller.signal.aborted) throw controller.signal.reason;
      },
      log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
      event: req.ctx.event,
      triggeringAssetEvents: req.ctx.triggeringAssetEvents,
      assetMetadata: (asset, metadata) => {
        assets.record(asset, metadata); // checked here, so the mistake fails the task where it was made
        void send({ type: "assetMetadata", asset, metadata });
      },
      connection: (id) => askParent("connection", id, []) as ReturnType<TaskContext<unknown>["connection"]>,
      variable: <T>(key: string, ...fallback: [T?]) => askParent("variable", key, fallback) as Promise<T>,
      // the parent's attempt span: it records nothing here, its ids parent the task's own spans
      span: spanOfTraceparent(req.ctx.traceparent),
      track: childTracker(req),
    };
    const value = await (req.ctx.traceparent ? withActiveSpan(ctx.span, () => impl.fn(req.inputs, ctx)) : impl.fn(req.inputs, ctx));
    try {
      await send({ type: "result", value });
    } catch (e) {
      await send({
        type: "error",
        code: "SERIALIZATION",
        message: `task "${req.taskId}" returned a value that cannot be stored (${(e as Error).message}); return plain data`,
      });
    }
  } catch (e) {
    const rec = errorRecord(e);
    // what makes an error non-retryable (core/deadLetters.ts) crosses to the parent with it
    const names = errorNames(e);
    await send({ type: "error", code: rec.code, message: rec.message, ...(rec.stack ? { stack: rec.stack } : {}), ...(names.length ? { names } : {}), ...(isNonRetryable(e, []) ? { nonRetryable: true } : {}), ...(isSkipSignal(e) ? { skipTask: true } : {}) });
  }
}
