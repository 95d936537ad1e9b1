/**
 * Long-running roles: `sluice dev` (scheduler, worker and API in one process — what `npm start` runs),
 * `sluice scheduler`, `sluice worker` and `sluice server` (the HTTP API), any number of each on any host
 * that reaches the database and has the DAG code. They run until SIGINT or SIGTERM, then stop
 * gracefully: no new runs or tasks start; running tasks get the grace period (`--grace-period`,
 * SLUICE_GRACE_MS) to finish, then are handed back to run again elsewhere at once (a second signal exits
 * at once; their runs stay resumable). What they print is their process log (logs/processLog.ts): text
 * lines by default, JSON lines with `--log-format json` (SLUICE_LOG_FORMAT), filtered by `--log-level`.
 */
import type { Command } from "commander";
import { dagModuleCacheDir } from "../../executors/dagModuleCache.js";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describeAssetSchedule } from "../../core/assets.js";
import { describeSchedule } from "../../core/schedules.js";
import { DagCodeLoader } from "../../engine/codeLoader.js";
import { findDagFiles } from "../../engine/dagLoader.js";
import { formatTypeError } from "../../engine/typeCheck.js";
import { BackgroundTypeCheck } from "../../engine/typeCheckService.js";
import { Scheduler } from "../../engine/scheduler.js";
import { formatDuration } from "../../core/duration.js";
import { parseCapacity } from "../../core/resources.js";
import { SluiceError, toSluiceError } from "../../errors.js";
import { configureProcessLog, processLog, type ProcessLogger } from "../../logs/processLog.js";
import type { SluiceConfig } from "../../config.js";
import { Sluice } from "../../sluice.js";
import type { Worker } from "../../worker/worker.js";
import { configFrom, type GlobalOptions } from "../context.js";
import { colorState, iso, table } from "../format.js";
import { progress } from "../progress.js";

interface ServeOptions extends GlobalOptions {
  concurrency?: string;
  quiet?: boolean;
  port?: string;
  host?: string;
  queues?: string;
  resources?: string;
  gracePeriod?: string;
  metricsPort?: string;
  logFormat?: string;
  logLevel?: string;
}

type Roles = { scheduler: boolean; worker: boolean };

/** What these commands need of the HTTP server: what server/http.ts's startHttp returns. */
interface HttpServer {
  url: string;
  /** Set when this start created the first admin: printed once, never logged again. */
  firstAdmin: { username: string; password: string; generated: boolean } | null;
  close(): Promise<void>;
}

/**
 * Starts the HTTP server (web UI, REST API, events) on `s.config`'s port and host: server/http.ts's
 * startHttp, passed in by the program's entry point (src/main.ts), since cli/ and server/ are two front
 * ends over the same layers and do not import each other.
 */
export type StartHttp = (s: Sluice, opts: { eventToken: string | null; onError?: (e: SluiceError) => void }) => Promise<HttpServer>;

/**
 * Serves `GET /metrics` alone on a port (`--metrics-port`): server/metrics.ts's startMetricsServer, passed
 * in like StartHttp. `deployment`: with the store's gauges (a scheduler), or the process's own only (a worker).
 */
export type StartMetrics = (s: Sluice, opts: { port: number; host: string; deployment: boolean }) => Promise<{ url: string; close(): Promise<void> }>;

interface ServeDeps {
  startHttp: StartHttp;
  startMetrics: StartMetrics;
}

const METRICS_PORT_HELP = "serve GET /metrics (Prometheus) on this port, on --host / SLUICE_HOST; 0: any free port";

/** The process-log flags every long-running role takes. */
function logOptions(c: Command): Command {
  return c
    .option("--log-format <format>", "text (default) or json: one JSON object a line, for log collectors (env SLUICE_LOG_FORMAT)")
    .option("--log-level <level>", "debug, info (default), warn or error (env SLUICE_LOG_LEVEL)");
}

export function registerServe(program: Command, globals: () => GlobalOptions, deps: ServeDeps): void {
  const { startHttp } = deps;
  logOptions(program
    .command("dev"))
    .description("run Sluice in one process: scheduler (DAG files watched) and worker, on the embedded store")
    .option("--concurrency <n>", "task instances to run at once")
    .option("--quiet", "no line per task")
    .option("--port <n>", "serve the HTTP API (events) on this port; 0: any free port (env SLUICE_PORT; default 8080)")
    .option("--host <host>", "interface of the HTTP API (env SLUICE_HOST; default 127.0.0.1)")
    .action((o: ServeOptions) => serve({ ...globals(), ...o }, { scheduler: true, worker: true }, deps));
  logOptions(program
    .command("scheduler"))
    .description("create scheduled runs (DAG files watched); run tasks with `sluice worker`")
    .option("--port <n>", "serve the HTTP API (events) on this port; 0: any free port (env SLUICE_PORT; default 8080)")
    .option("--host <host>", "interface of the HTTP API (env SLUICE_HOST; default 127.0.0.1)")
    .option("--metrics-port <n>", METRICS_PORT_HELP)
    .action((o: ServeOptions) => serve({ ...globals(), ...o }, { scheduler: true, worker: false }, deps));
  logOptions(program
    .command("worker"))
    .description("run the tasks of every active run (any number of workers, on any hosts)")
    .option("--concurrency <n>", "task instances to run at once (env SLUICE_CONCURRENCY; default 32)")
    .option("--queues <a,b>", "serve only these queues (default: default)")
    .option("--resources <spec>", "declared capacity, e.g. cpu=4,memory=16Gi,gpu=1: tasks' resource requests must fit")
    .option("--grace-period <duration>", "on SIGTERM, let running tasks finish this long, then hand them back (env SLUICE_GRACE_MS; default 30s)")
    .option("--quiet", "no line per task")
    .option("--metrics-port <n>", METRICS_PORT_HELP)
    .option("--host <host>", "interface of --metrics-port (env SLUICE_HOST; default 127.0.0.1)")
    .action((o: ServeOptions) => serve({ ...globals(), ...o }, { scheduler: false, worker: true }, deps));
  logOptions(program
    .command("server"))
    .description("serve the web UI and the REST API only (run `sluice scheduler` and `sluice worker` beside it)")
    .option("--port <n>", "port of the web UI and API; 0: any free port (env SLUICE_PORT; default 8080)")
    .option("--host <host>", "interface to listen on (env SLUICE_HOST; default 127.0.0.1)")
    .action((o: ServeOptions) => serveWeb({ ...globals(), ...o }, startHttp));
}

/** `sluice server`: the HTTP server alone, until SIGINT or SIGTERM. */
async function serveWeb(opts: ServeOptions, startHttp: StartHttp): Promise<void> {
  const config = configFrom(opts, "server");
  const { log, err } = startLog(config, "server");
  const s = await Sluice.open(config, { loadDags: false });
  const code = new DagCodeLoader(s.store, dagModuleCacheDir(config.home));
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  reportDiskFull(s, err);
  let http: HttpServer;
  try {
    http = await startHttp(s, { eventToken: config.eventToken, onError: (e) => apiError(err, e) });
  } catch (e) {
    await s.close();
    throw e;
  }
  log.info(`Sluice server — database ${redactUrl(config.databaseUrl)}`, { event: "started", database: redactUrl(config.databaseUrl) });
  printHttp(http, log, config.eventToken ? "from SLUICE_EVENT_TOKEN" : null);
  await untilSignal(
    () => err.info("\nstopping…", { event: "stopping" }),
    () => process.exit(130),
  );
  await http.close();
  await s.close();
}

/**
 * This process's log, in the format and at the level configured (flags, then SLUICE_LOG_*): `log` for
 * what text mode prints on stdout, `err` for stderr's lines (warnings, progress, stopping).
 */
function startLog(config: SluiceConfig, role: string): { log: ProcessLogger; err: ProcessLogger } {
  configureProcessLog({ format: config.logFormat, level: config.logLevel, role });
  const log = processLog();
  if (config.tracing) log.debug(`  tracing:   spans to ${config.tracing.exporter === "otlp" ? config.tracing.url : "the console"} as service ${config.tracing.serviceName}`, { event: "tracing", ...config.tracing });
  return { log, err: processLog("stderr") };
}

function apiError(err: ProcessLogger, e: SluiceError): void {
  err.error(`  api error [${e.code}]: ${e.message}`, { event: "api error", code: e.code, error: e.message });
}

/** The addresses, and the first admin's password — printed this once, never logged again. */
function printHttp(http: HttpServer, log: ProcessLogger, token: string | null): void {
  log.info(`  web UI:    ${http.url}/`, { event: "serving", webUi: `${http.url}/`, api: `${http.url}/api/v1` });
  log.banner(`  api:       ${http.url}  (REST API under /api/v1, docs /api/v1/openapi.json; events: POST /api/v1/events/<name>)`);
  log.banner(`  metrics:   ${http.url}/metrics  (Prometheus; an API token, or SLUICE_METRICS_PUBLIC=1)`);
  if (token) log.info(`  token:     ${token}`, { event: "event token" });
  const a = http.firstAdmin;
  if (a) {
    log.info(a.generated ? `  first admin: user "${a.username}", password ${a.password}  (shown once: write it down; change it with \`sluice users set-password ${a.username}\`)` : `  first admin: user "${a.username}" created with the password from SLUICE_ADMIN_PASSWORD`, { event: "first admin", username: a.username });
  }
}

/** How long a second signal waits for the handed-back attempts to be recorded before exiting anyway. */
const HAND_BACK_WAIT_MS = 10_000;

/**
 * Resolves at the first SIGINT or SIGTERM (a graceful stop follows). A second one hands the running
 * attempts back at once (`onSecond`: recorded as interrupted, not counted) and exits when that is
 * recorded, or after HAND_BACK_WAIT_MS if the store does not answer; a third exits at once. Only SIGKILL
 * leaves attempts to wait for their lease.
 */
export function untilSignal(onFirst: () => void, onSecond: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      signals++;
      if (signals > 2) process.exit(130);
      if (signals === 2) {
        process.exitCode = 130;
        setTimeout(() => process.exit(130), HAND_BACK_WAIT_MS).unref();
        onSecond();
        return;
      }
      onFirst();
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/**
 * The database's disk is full: this process's writes wait for space (Store diskFull "wait") instead of
 * ending it — one line when that begins and one when they resume, never one per retry.
 */
function reportDiskFull(s: Sluice, err: ProcessLogger): void {
  s.store.onDiskFull((e) => {
    if (e.full) {
      const cause = e.error instanceof Error ? e.error.message : String(e.error);
      err.error(`error [DISK_FULL]: the disk of the database ${s.store.location} is full (${cause}); writes wait for space and are retried — nothing is lost, nothing half-written: free space and this process goes on by itself`, { event: "disk full", code: "DISK_FULL", database: s.store.location, error: cause });
    } else err.info(`the database's disk has space again: writes resume`, { event: "disk space again", database: s.store.location });
  });
}

/** A database URL without its password, for banners and logs. */
function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@/]*@/, "$1:***@");
}

async function serve(opts: ServeOptions, roles: Roles, deps: ServeDeps): Promise<void> {
  const role = roles.scheduler && roles.worker ? "dev" : roles.scheduler ? "scheduler" : "worker";
  const config = configFrom(opts, role);
  // checked before anything starts: a bad flag must not leave a half-started process
  const metricsPort = opts.metricsPort === undefined ? undefined : parsePort(opts.metricsPort, "--metrics-port");
  const queues = opts.queues === undefined ? undefined : parseQueues(opts.queues);
  const resources = opts.resources === undefined ? undefined : parseCapacity(opts.resources);
  const { log, err } = startLog(config, role);
  const s = await Sluice.open(config, { loadDags: false });
  const code = new DagCodeLoader(s.store, dagModuleCacheDir(config.home));
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  reportDiskFull(s, err);
  // a worker of its own process imports the task code before it claims (the scheduler's has it already):
  // code bundles, and the files that do not bundle
  if (roles.worker && !roles.scheduler) await code.preload(await s.engine.preloadCode(await findDagFiles(config.dagsDir).catch(() => [])));
  log.info(`Sluice ${role} — DAGs from ${config.dagsDir}`, {
    event: "started",
    dags: config.dagsDir,
    database: redactUrl(config.databaseUrl),
    logs: s.engine.logs.location,
    artifacts: s.engine.artifacts.location,
  });
  log.banner(`  database:  ${redactUrl(config.databaseUrl)}`);
  log.banner(`  logs:      ${s.engine.logs.location}`);
  log.banner(`  artifacts: ${s.engine.artifacts.location}`);

  const recovered = await s.engine.recoverLostAttempts();
  if (recovered) log.info(`  ${recovered} attempt(s) of a stopped process get new attempts`, { event: "recovered", attempts: recovered });
  for (const run of await s.store.runs.listActive()) s.engine.watchRunTimeout(run);

  let scheduler: Scheduler | null = null;
  let schedulerId: string | null = null;
  // the API first: a port that is taken fails the command before anything else has started
  const api = roles.scheduler ? await serveApi(s, opts, { dev: roles.worker, err }, deps.startHttp) : null;
  let metricsServer: { url: string; close(): Promise<void> } | null = null;
  if (metricsPort !== undefined) {
    try {
      // a worker's own metrics only: the deployment's gauges come from the schedulers and servers
      metricsServer = await deps.startMetrics(s, { port: metricsPort, host: config.host, deployment: roles.scheduler });
    } catch (e) {
      await api?.server.close();
      await s.close();
      throw e;
    }
    log.info(`  metrics:   ${metricsServer.url}/metrics${config.metricsPublic ? "  (public: SLUICE_METRICS_PUBLIC)" : "  (send an API token: Authorization: Bearer …)"}`, { event: "serving metrics", url: `${metricsServer.url}/metrics` });
  }
  // `sluice dev`: the folder is type-checked beside loading, after each change (engine/typeCheckService.ts)
  const typeCheck = roles.scheduler && roles.worker ? devTypeCheck(s, log, err) : null;
  if (roles.scheduler) {
    let initial = true;
    scheduler = new Scheduler(s.engine, s.store, s.engine.clock, {
      dagsDir: config.dagsDir,
      parseTimeoutMs: config.dagImportTimeoutMs,
      moduleCacheDir: dagModuleCacheDir(config.home),
      pausedAtCreation: config.dagsPausedAtCreation,
      onParsed: (e) => {
        if (e.codeError) err.warn(`  warning: ${e.file}: its code cannot be kept for its runs (${e.codeError}); each task imports the file as it is when it starts`, { event: "code not kept", file: e.file, error: e.codeError });
        if (e.error) err.error(`  import error: ${e.file}: ${e.error}`, { event: "import error", file: e.file, error: e.error });
        else if (!initial) log.info(`  reloaded ${e.file}${e.dags.length ? ` (${e.dags.join(", ")})` : " (no DAGs)"}`, { event: "reloaded", file: e.file, dagIds: e.dags });
        typeCheck?.request();
      },
    });
    await scheduler.start();
    typeCheck?.request();
    initial = false;
    schedulerId = await s.store.workers.registerScheduler(s.store.now());
    const dags = (await s.store.dags.list({ activeOnly: true })).filter((d) => scheduler!.dags().some((k) => k.dagId === d.dagId));
    const rows = dags.map((d) => {
      const k = scheduler!.dags().find((x) => x.dagId === d.dagId);
      const runsOn = [
        k?.schedule ? describeSchedule(k.schedule) : k?.assetSchedule ? `assets ${describeAssetSchedule(k.assetSchedule)}` : null,
        k?.events.length ? `events ${k.events.join(", ")}` : null,
      ].filter(Boolean);
      return [d.dagId, runsOn.join("; ") || "manual", iso(d.nextIntervalEnd) ?? "", d.isPaused ? "yes" : ""];
    });
    // text: a table for people; JSON: a record per DAG
    log.banner(`\n${table(["DAG", "SCHEDULE", "NEXT RUN", "PAUSED"], rows)}\n`);
    for (const [dagId, schedule, nextRun, paused] of rows) log.data("dag", { event: "dag", dagId, schedule, nextRun: nextRun || null, paused: paused === "yes" });
    log.info("Trigger a run: npx sluice trigger <dagId>   ·   see runs: npx sluice runs list   ·   stop: Ctrl-C", { event: "scheduler started", dagCount: rows.length });
    s.engine.triggers.onError((e) => err.warn(`  asset trigger: ${e.message}`, { event: "asset trigger error", error: e.message }));
    if (api) printHttp(api.server, log, api.generated ? `${api.token}  (made up for this session; set SLUICE_EVENT_TOKEN to choose one)` : "from SLUICE_EVENT_TOKEN");
  }

  let worker: Worker | null = null;
  if (roles.worker) {
    if (!opts.quiet) progress(s, { withDag: true });
    // `sluice worker` serves the queues it names (default: "default"); `sluice dev` serves them all
    const q = queues ?? (roles.scheduler ? undefined : ["default"]);
    worker = s.newWorker(undefined, { ...(q ? { queues: q } : {}), ...(resources ? { resources } : {}) });
    // A worker that cannot go on (the store failed past its retries, its heartbeat thread died) must not
    // stay up claiming nothing: say why and stop (exit 1), so that a supervisor starts a fresh one.
    worker.failed().catch((e: unknown) => {
      const f = toSluiceError(e);
      err.error(`error [${f.code}]: the worker stopped: ${f.message}; shutting down (exit 1)`, { event: "worker failed", code: f.code, error: f.message });
      process.exitCode = 1;
      process.kill(process.pid, "SIGTERM");
    });
    await worker.start();
    if (!roles.scheduler) {
      log.banner(`  queues:    ${q?.join(", ") ?? "all"}   concurrency: ${config.concurrency}${resources ? `   resources: ${opts.resources}` : ""}`);
      log.info(`  worker ${worker.workerId} started; stop: Ctrl-C (running tasks get ${formatDuration(config.gracePeriodMs)} to finish)`, {
        event: "worker started",
        workerId: worker.workerId,
        queues: q ?? null,
        concurrency: config.concurrency,
        resources: resources ?? null,
        gracePeriodMs: config.gracePeriodMs,
      });
    }
  }
  // Attempts of workers that died in other processes get new attempts within a lease and a sweep.
  const sweep = setInterval(() => void s.engine.sweep().catch(() => undefined), Math.max(1000, Math.floor(config.leaseMs / 2)));
  sweep.unref();
  // callbacks and notifiers that fell due, by any process's transitions (decision 0019)
  s.engine.callbacks.start();
  // a scheduler's row in `sluice status`; its loop does not run user code, so an interval is enough
  const beat = schedulerId ? setInterval(() => void s.store.workers.heartbeatProcess(schedulerId, s.store.now()).catch(() => undefined), config.heartbeatMs) : null;
  beat?.unref();
  s.engine.onRunFinished((runId, state) => {
    void s.store.runs.get(runId).then(
      (r) =>
        r &&
        (state === "success" ? log.info : log.warn)(`run ${runId} of ${r.dagId}: ${colorState(state)}${r.stateReason ? ` (${r.stateReason})` : ""}`, {
          event: "run finished",
          runId,
          dagId: r.dagId,
          state,
          reason: r.stateReason,
        }),
    );
  });

  let handedBack = false;
  await untilSignal(() =>
    err.info(
      `\nstopping${worker?.runningCount ? `: waiting for ${worker.runningCount} running task(s) for up to ${formatDuration(config.gracePeriodMs)}, then handing them back to run elsewhere (again to hand them back now)` : ""}…`,
      { event: "stopping", running: worker?.runningCount ?? 0, gracePeriodMs: config.gracePeriodMs },
    ),
    () => {
      err.warn(`handing back ${worker?.runningCount ?? 0} running task(s) now…`, { event: "handing back", running: worker?.runningCount ?? 0 });
      handedBack = true;
      worker?.handBackNow();
    },
  );
  clearInterval(sweep);
  typeCheck?.stop();
  await s.engine.callbacks.stop();
  if (beat) clearInterval(beat);
  await api?.server.close();
  await metricsServer?.close();
  await scheduler?.stop();
  if (schedulerId) await s.store.workers.stopProcess(schedulerId, s.store.now());
  await worker?.stop({ graceMs: config.gracePeriodMs });
  await s.close();
  // handed back: an in-process task that ignores its abort signal (and keeps a timer) must not keep us up
  if (handedBack) process.exit(130);
}

/**
 * `sluice dev`'s background type check: each error printed once (until it is fixed), and a line when the
 * folder is clean again; the stored set is what the UI shows.
 */
function devTypeCheck(s: Sluice, log: ProcessLogger, err: ProcessLogger): BackgroundTypeCheck {
  let shown = new Set<string>();
  let failed = false;
  return new BackgroundTypeCheck({
    dir: s.config.dagsDir,
    cacheDir: join(s.config.home, "typecheck"),
    store: s.store,
    onResult: (r) => {
      if ("failure" in r) {
        if (!failed) err.warn(`  type check: ${r.failure}`, { event: "type check failed", error: r.failure });
        failed = true;
        return;
      }
      failed = false;
      const now = new Set<string>();
      for (const e of r.errors) {
        const text = formatTypeError(e);
        now.add(text);
        if (!shown.has(text)) err.error(`  type error: ${text}`, { event: "type error", file: e.file, line: e.line, column: e.column, code: e.code, error: e.message });
      }
      if (shown.size > 0 && now.size === 0) log.info("  type check: no errors", { event: "type check clean" });
      shown = now;
    },
  });
}

function parsePort(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new SluiceError("USAGE", `${flag} must be a port number (0: any free port), got "${text}"`);
  return n;
}

function parseQueues(text: string): string[] {
  const queues = text.split(",").map((q) => q.trim()).filter(Boolean);
  const bad = queues.find((q) => !/^[A-Za-z0-9_.-]+$/.test(q));
  if (queues.length === 0 || bad !== undefined) throw new SluiceError("USAGE", `--queues: ${bad === undefined ? "name at least one queue" : `"${bad}" is not a queue name`} (e.g. --queues default,gpu)`);
  return queues;
}


/**
 * The HTTP server of a scheduler: web UI, REST API and `POST /api/v1/events/<name>` (server/http.ts).
 * The events token is SLUICE_EVENT_TOKEN; `sluice dev` makes one up when it is unset and prints it,
 * `sluice scheduler` then serves nothing (a production token belongs in the environment, not in a log;
 * `sluice server` serves the UI and API alone). The default port being taken is a warning; a port asked
 * for with --port is an error.
 */
async function serveApi(
  s: Sluice,
  opts: ServeOptions,
  io: { dev: boolean; err: ProcessLogger },
  startHttp: StartHttp,
): Promise<{ server: HttpServer; token: string; generated: boolean } | null> {
  let token = s.config.eventToken;
  let generated = false;
  if (token === null) {
    if (!io.dev) {
      io.err.warn("  HTTP API off: set SLUICE_EVENT_TOKEN (16+ characters) to serve POST /api/v1/events/<name>", { event: "http off", reason: "SLUICE_EVENT_TOKEN unset" });
      return null;
    }
    token = randomBytes(24).toString("base64url");
    generated = true;
  }
  try {
    const server = await startHttp(s, { eventToken: token, onError: (e) => apiError(io.err, e) });
    return { server, token, generated };
  } catch (e) {
    if (opts.port !== undefined) {
      await s.close();
      throw e;
    }
    io.err.warn(`  HTTP API off: ${(e as Error).message}`, { event: "http off", reason: (e as Error).message });
    return null;
  }
}
