/**
 * Entry point of a child process that runs task attempts (see childProcess.ts and childPool.ts): one after
 * another, each asked for by a "run" message, until the parent retires it (SIGTERM or the end of the IPC
 * channel). Between attempts it puts back what an attempt may change of the process that matters for the
 * next one (process.env, cwd, exitCode), and tells the parent whether it is fit to be reused.
 */
import { formatWithOptions } from "node:util";
import { AssetMetadataCollector } from "../core/assets.js";
import { importBundleUrl } from "./bundleImport.js";
import { errorNames, isNonRetryable } from "../core/deadLetters.js";
import { isSkipSignal } from "../core/taskSignals.js";
import { SluiceError, errorRecord } from "../errors.js";
import type { ModelRegistry, RegisteredModel, RegisterModelOptions, TaskContext, Tracker } from "../dsl/types.js";
import { readFile } from "node:fs/promises";
import { checkMetric, checkTrackName } from "../core/tracking.js";
import { signatureOf } from "../core/modelSignature.js";
import type { ChildMessage, ChildRequest, ParentMessage } from "./childProcess.js";
import { outputEndMarker } from "./outputEnd.js";
import type { LoadedModule } from "./dagFile.js";
import { spanOfTraceparent, withActiveSpan } from "../tracing/context.js";

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));
}

// The state every attempt starts from. stdout and stderr are opened now (their getters create them), so
// that an attempt's first console.log does not count as a handle the attempt left behind.
void process.stdout;
void process.stderr;
const BASE_ENV: Record<string, string | undefined> = { ...process.env };
const BASE_CWD = process.cwd();
/**
 * Handles held before the first task runs, its code imported: the IPC channel (held only once a message
 * is in), stdio, and what importing the code started (the TypeScript loader's esbuild, if needed).
 */
let baseResources: Map<string, number> | null = null;

/** ctx.connection / ctx.variable: asked of the parent, which resolves them (childProcess.ts answerSecret). */
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextReq = 0;

/** The attempt running now, if any: a SIGTERM aborts it, and the process ends once it has settled. */
let current: { controller: AbortController; done: Promise<void> } | null = null;
let retiring = false;

// The parent retires this process (or the attempt was aborted): abort the attempt, end when it settles.
// A task that ignores its signal is SIGKILLed by the parent after a grace period.
process.on("SIGTERM", () => {
  retiring = true;
  if (!current) process.exit(0);
  current.controller.abort(new Error("aborted"));
  void current.done.finally(() => process.exit(0));
});
// The parent is gone (killed, even by SIGKILL) or has let this process go: nobody can use a result now.
process.on("disconnect", () => process.exit(0));

process.on("message", (m: ParentMessage) => {
  if (m.type === "secretReply") {
    const p = pending.get(m.reqId);
    pending.delete(m.reqId);
    if (!p) return;
    if ("error" in m) p.reject(new SluiceError(m.error.code as SluiceError["code"], m.error.message));
    else p.resolve(m.value);
  } else if (m.type === "run" && !current && !retiring) {
    const controller = new AbortController();
    current = { controller, done: runAttempt(m, controller) };
    void current.done.then(() => {
      current = null;
      if (retiring) process.exit(0);
      return afterAttempt();
    });
  }
});

function askParent(attemptId: number, kind: "connection" | "variable", id: string, fallback: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const reqId = nextReq++;
    pending.set(reqId, { resolve, reject });
    send({ type: "secret", attemptId, reqId, kind, id, ...(fallback.length ? { fallback: [fallback[0]] } : {}) }).catch((e: Error) => {
      pending.delete(reqId);
      reject(e);
    });
  });
}

/**
 * ctx.models in the child: the options made plain here (a file read to bytes from the task's working
 * directory, a zod signature turned into JSON Schema), registered by the parent, which answers the version.
 */
function childModels(attemptId: number, taskId: string): ModelRegistry {
  return {
    async register(name, options) {
      const where = `task "${taskId}": model "${String(name)}"`;
      const o = (options ?? {});
      let artifact = o.artifact;
      if (typeof artifact === "string") {
        try {
          artifact = await readFile(artifact);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new SluiceError("INVALID_INPUT", `${where}: artifact file ${o.artifact as string} ${code === "ENOENT" ? "does not exist" : `cannot be read (${(e as Error).message})`}; write it before registering, or pass its bytes`);
        }
      }
      const signature = signatureOf(where, o.signature);
      const model: RegisterModelOptions = { ...o, artifact, ...(signature ? { signature: { inputs: signature.inputs, outputs: signature.outputs } } : {}) };
      return new Promise<RegisteredModel>((resolve, reject) => {
        const reqId = nextReq++;
        pending.set(reqId, { resolve: (v) => resolve(v as RegisteredModel), reject });
        send({ type: "secret", attemptId, reqId, kind: "model", id: String(name), model }).catch((e: Error) => {
          pending.delete(reqId);
          reject(e);
        });
      });
    },
    inferenceLog: (name) => Promise.reject(new SluiceError("INVALID_INPUT", `task "${taskId}": model "${String(name)}": ctx.models.inferenceLog is not available in tasks with isolation: "process" yet; read it from an in-process task`)),
  };
}

/** The DAG modules this process imported, by URL: a reused process imports its code once. */
const modules = new Map<string, Promise<LoadedModule>>();

/**
 * ctx.track in the child: checked here (a bad metric fails the task where it was made), recorded by the
 * parent's tracker, which batches the writes. Files cross as bytes.
 */
function childTracker(req: ChildRequest): Tracker {
  const where = `task "${req.taskId}"`;
  const call = (m: Omit<Extract<ChildMessage, { type: "track" }>, "type" | "attemptId">) => void send({ type: "track", attemptId: req.ctx.attemptId, ...m });
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
      await send({ type: "track", attemptId: req.ctx.attemptId, call: "artifact", name, value: bytes, ...(opts.mediaType ? { mediaType: opts.mediaType } : {}) });
    },
  };
  return t;
}

/**
 * Mark the end of an attempt's output on both pipes, before its result or error goes over IPC: the
 * parent logs everything up to the marker as the attempt's (pipes are written synchronously on Linux,
 * so what the task printed is in the pipe before the marker).
 */
function endOutput(attemptId: number): void {
  const line = `\n${outputEndMarker(attemptId)}\n`;
  process.stdout.write(line);
  process.stderr.write(line);
}

function importCode(req: ChildRequest): Promise<LoadedModule> {
  const key = req.moduleUrl ?? req.dagFile;
  let p = modules.get(key);
  if (!p) {
    // a bundle is plain JavaScript: no TypeScript loader (tsx) unless the bundle's packages need it
    p = req.moduleUrl ? importBundleUrl(req.moduleUrl, req.dagFile, { typeScript: "onDemand" }) : import("./dagFile.js").then((m) => m.loadDagFile(req.dagFile));
    modules.set(key, p);
  }
  return p;
}

function setEnv(env: Record<string, string | undefined>): void {
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  for (const [k, v] of Object.entries(env)) if (v !== undefined && process.env[k] !== v) process.env[k] = v;
}

async function runAttempt(req: ChildRequest, controller: AbortController): Promise<void> {
  const attemptId = req.ctx.attemptId;
  try {
    setEnv(req.env);
    const loaded = await importCode(req);
    baseResources ??= resourceCounts();
    if ("error" in loaded) throw new Error(`cannot import ${req.dagFile}: ${loaded.error}`);
    const dag = loaded.dags.find((d) => d.id === req.dagId);
    const impl = dag?.impls.get(req.taskId);
    if (!impl || impl.kind !== "fn") throw new Error(`task "${req.taskId}" of DAG "${req.dagId}" is not defined in ${req.dagFile}`);
    // every message names its attempt: what a task left running (a timer) cannot write into the next one
    const log =
      (level: "debug" | "info" | "warn" | "error") =>
      (message: string, ...args: unknown[]) =>
        void send({ type: "log", attemptId, level, msg: args.length ? formatWithOptions({ colors: false }, message, ...args) : String(message) });
    const assets = new AssetMetadataCollector(req.taskId, req.produces);
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
      attemptId,
      // the parent ends this process (SIGTERM) when the attempt is aborted: the signal is the truth here too
      assertLive: () => {
        if (controller.signal.aborted) throw controller.signal.reason;
      },
      log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
      event: req.ctx.event,
      triggeringAssetEvents: req.ctx.triggeringAssetEvents,
      assetMetadata: (asset, metadata) => {
        assets.record(asset, metadata); // checked here, so the mistake fails the task where it was made
        void send({ type: "assetMetadata", attemptId, asset, metadata });
      },
      connection: (id) => askParent(attemptId, "connection", id, []) as ReturnType<TaskContext<unknown>["connection"]>,
      variable: <T>(key: string, ...fallback: [T?]) => askParent(attemptId, "variable", key, fallback) as Promise<T>,
      // the parent's attempt span: it records nothing here, its ids parent the task's own spans
      span: spanOfTraceparent(req.ctx.traceparent),
      track: childTracker(req),
      models: childModels(attemptId, req.taskId),
    };
    const value = await (req.ctx.traceparent ? withActiveSpan(ctx.span, () => impl.fn(req.inputs, ctx)) : impl.fn(req.inputs, ctx));
    try {
      endOutput(attemptId);
      await send({ type: "result", attemptId, value });
    } catch (e) {
      await send({
        type: "error",
        attemptId,
        code: "SERIALIZATION",
        message: `task "${req.taskId}" returned a value that cannot be stored (${(e as Error).message}); return plain data`,
      });
    }
  } catch (e) {
    const rec = errorRecord(e);
    // what makes an error non-retryable (core/deadLetters.ts) crosses to the parent with it
    endOutput(attemptId);
    const names = errorNames(e);
    await send({
      type: "error",
      attemptId,
      code: rec.code,
      message: rec.message,
      ...(rec.stack ? { stack: rec.stack } : {}),
      ...(names.length ? { names } : {}),
      ...(isNonRetryable(e, []) ? { nonRetryable: true } : {}),
      ...(isSkipSignal(e) ? { skipTask: true } : {}),
    }).catch(() => undefined);
  }
}

/**
 * Put the process back as the next attempt expects it, then tell the parent whether it may reuse it: not
 * if the attempt left work behind that keeps running (a timer, a socket, a server, a child process — the
 * handles Node counts as keeping it alive), since that work would run, log and touch state during another
 * task's attempt.
 */
async function afterAttempt(): Promise<void> {
  setEnv(BASE_ENV);
  if (process.cwd() !== BASE_CWD) process.chdir(BASE_CWD);
  process.exitCode = undefined;
  // callbacks already queued by the attempt (a setImmediate, a settled promise) run before the count
  await new Promise<void>((resolve) => setImmediate(resolve));
  const now = resourceCounts();
  const leftOver = [...now].filter(([type, n]) => n > (baseResources?.get(type) ?? 0)).map(([type]) => type);
  await send({ type: "idle", rssBytes: process.memoryUsage.rss(), leftOver }).catch(() => undefined);
}

function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  // CloseReq: a handle being closed right now (stdio opened above, say); it goes by itself
  for (const r of process.getActiveResourcesInfo()) if (r !== "CloseReq") counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}
