/**
 * The only place that reads the environment. Returns one validated, typed configuration; command-line
 * flags (parsed in cli/) override the environment.
 */
import { resolve, join } from "node:path";
import { z } from "zod";
import { SluiceError } from "./errors.js";
import type { KeySource } from "./secrets/keyring.js";
import { DEFAULT_MAX_LOG_BYTES } from "./logs/attemptLog.js";
import { egressPolicy, type EgressPolicy } from "./core/egress.js";
import { DEFAULT_POOL_LIMITS, type ProcessPoolLimits } from "./core/processReuse.js";
import type { LogFormat, LogLevel } from "./logs/processLog.js";

export interface SluiceConfig {
  /** Where the database (by default), logs and artifacts live. */
  home: string;
  /** Folder searched recursively for DAG files. */
  dagsDir: string;
  databaseUrl: string;
  /**
   * A URL straight to PostgreSQL for the LISTEN connection, when `databaseUrl` goes through a transaction
   * pooler (`?pgbouncer=true`); null: such a process polls (SLUICE_DATABASE_DIRECT_URL).
   */
  databaseDirectUrl: string | null;
  logsDir: string;
  artifactsDir: string;
  /**
   * Where outputs above the inline limit go: "files" under artifactsDir, or "database" (every host reads
   * them). null: the database on PostgreSQL, files on SQLite (SLUICE_ARTIFACTS).
   */
  artifacts: "database" | "files" | null;
  /** Where task logs go: "files" under logsDir, or "database"; null: as for artifacts (SLUICE_LOGS). */
  logs: "database" | "files" | null;
  /** Outputs larger than this many bytes go to the artifact store instead of the database. */
  inlineOutputLimit: number;
  /** What one attempt may write to its log (SLUICE_MAX_LOG_BYTES): past it, a marker and nothing more. */
  maxLogBytes: number;
  /** Task instances one worker runs at once. */
  concurrency: number;
  busyTimeoutMs: number;
  /** PostgreSQL: query connections per process (LISTEN/NOTIFY takes one more). */
  dbPoolSize: number;
  /**
   * SQLite on a full disk: a long-running process (worker, scheduler, dev, server) waits for space and
   * goes on; a command (and a program embedding Sluice) fails with DISK_FULL, the run resumable.
   */
  diskFull: "fail" | "wait";
  leaseMs: number;
  heartbeatMs: number;
  python: string;
  /**
   * Warm processes of `isolation: "process"` (executors/childPool.ts): attempts per process
   * (SLUICE_PROCESS_MAX_ATTEMPTS, default 100), resident memory in MB above which one is replaced
   * (SLUICE_PROCESS_MAX_RSS_MB, default 1024), how long an idle one is kept (SLUICE_PROCESS_IDLE_MS,
   * default 60 s; 0: a new process for every attempt).
   */
  processPool: ProcessPoolLimits;
  /** The bearer token of `POST /api/v1/events/<name>`; null: unset (`sluice dev` then makes one up). */
  eventToken: string | null;
  /** Where `sluice dev` and `sluice scheduler` serve the HTTP API (port 0: any free port). */
  port: number;
  host: string;
  /**
   * How long importing one DAG file may take (SLUICE_DAG_IMPORT_TIMEOUT_MS): the scheduler's DAG processor
   * reports a slower file as an import error, the CLI stops with that error instead of hanging.
   */
  dagImportTimeoutMs: number;
  /** New DAGs start paused (SLUICE_DAGS_PAUSED_AT_CREATION=true): unpause each deliberately. */
  dagsPausedAtCreation: boolean;
  /** A ready task instance nothing can run fails after this long (SLUICE_QUEUED_TIMEOUT_MS; 0: never). */
  queuedTimeoutMs: number;
  /** SLUICE_PUBLIC_URL: the address users open (the same-origin check, the cookie's Secure flag), or null. */
  publicUrl: string | null;
  /** SLUICE_TRUST_PROXY: X-Forwarded-Proto/-Host come from our own reverse proxy and are believed. */
  trustProxy: boolean;
  /** SLUICE_HTTP_ALLOW / SLUICE_HTTP_DENY: where Sluice's own outbound HTTP may go (core/egress.ts). */
  egress: EgressPolicy;
  /** SIGTERM: how long a worker lets running tasks finish before it hands them back (SLUICE_GRACE_MS). */
  gracePeriodMs: number;
  /**
   * SLUICE_METRICS_PUBLIC=1: `GET /metrics` answers without credentials (a scraper inside a trusted
   * network); otherwise it needs an API token (or session) of a user with the viewer role.
   */
  metricsPublic: boolean;
  /** The first admin's password when the store has no users yet; null: one is generated and printed once. */
  adminPassword: string | null;
  /**
   * The environment every task process (shell, Python, `isolation: "process"`) starts from: a fixed list of
   * harmless variables plus what SLUICE_TASK_ENV_ALLOW names — never Sluice's own (SLUICE_*), which hold
   * the database URL, tokens and passwords. See taskEnvironment().
   */
  taskEnv: Record<string, string>;
  /**
   * Where the keys that encrypt secrets at rest come from (secrets/keyring.ts): SLUICE_SECRET_KEY, else
   * SLUICE_SECRET_KEY_FILE, else `<home>/secret.key` (generated when first needed).
   */
  secretKey: KeySource;
  /** A folder of secret files, one per connection or variable (the shape of a mounted Kubernetes secret). */
  secretsDir: string | null;
  /**
   * The environment backend of connections and variables: every SLUICE_CONN_<ID> and SLUICE_VAR_<KEY>
   * (secrets/backends.ts). Like every SLUICE_* variable they never reach a task process by inheritance.
   */
  secretsEnv: Record<string, string>;
  /**
   * OpenTelemetry tracing (docs/operations.md, Tracing): null (off, the default) unless the standard OTEL_*
   * variables ask for it — an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp|console.
   */
  tracing: TracingConfig | null;
  /**
   * How long-running roles write their own logs (SLUICE_LOG_FORMAT, --log-format): "text" (the default,
   * terminal or not) or "json" (one object a line: set it in containers). logs/processLog.ts.
   */
  logFormat: LogFormat;
  /** The least level of those logs that is written (SLUICE_LOG_LEVEL, --log-level; default info). */
  logLevel: LogLevel;
}

/** Where this process's spans go. The OTLP exporter reads its headers and timeouts (OTEL_EXPORTER_OTLP_*) itself. */
export interface TracingConfig {
  exporter: "otlp" | "console";
  /** The OTLP/HTTP (JSON) traces URL, e.g. http://collector:4318/v1/traces. */
  url: string;
  serviceName: string;
}

const intFrom = (min: number) => z.coerce.number().int().min(min);
const flag = z.enum(["true", "false", "1", "0"], { message: "must be true or false" }).transform((v) => v === "true" || v === "1");

const envSchema = z.object({
  SLUICE_HOME: z.string().min(1).optional(),
  SLUICE_DAGS: z.string().min(1).optional(),
  SLUICE_DATABASE_URL: z.string().min(1).optional(),
  SLUICE_DATABASE_DIRECT_URL: z.string().min(1).optional(),
  SLUICE_INLINE_OUTPUT_LIMIT: intFrom(0).optional(),
  SLUICE_MAX_LOG_BYTES: intFrom(1024).optional(),
  SLUICE_ARTIFACTS: z.enum(["database", "files"]).optional(),
  SLUICE_LOGS: z.enum(["database", "files"]).optional(),
  SLUICE_CONCURRENCY: intFrom(1).optional(),
  SLUICE_DB_BUSY_TIMEOUT_MS: intFrom(0).optional(),
  SLUICE_DB_POOL_SIZE: intFrom(1).optional(),
  SLUICE_LEASE_MS: intFrom(1000).optional(),
  SLUICE_HEARTBEAT_MS: intFrom(100).optional(),
  SLUICE_PYTHON: z.string().min(1).optional(),
  SLUICE_PROCESS_MAX_ATTEMPTS: intFrom(1).optional(),
  SLUICE_PROCESS_MAX_RSS_MB: intFrom(1).optional(),
  SLUICE_PROCESS_IDLE_MS: intFrom(0).optional(),
  SLUICE_EVENT_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  SLUICE_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  SLUICE_HOST: z.string().min(1).optional(),
  SLUICE_GRACE_MS: intFrom(0).optional(),
  SLUICE_METRICS_PUBLIC: flag.optional(),
  SLUICE_DAG_IMPORT_TIMEOUT_MS: intFrom(100).optional(),
  SLUICE_DAGS_PAUSED_AT_CREATION: flag.optional(),
  SLUICE_QUEUED_TIMEOUT_MS: intFrom(0).optional(),
  SLUICE_PUBLIC_URL: z
    .string()
    .refine((v) => /^https?:\/\/[^/]+\/?$/.test(v) && URL.canParse(v), "must be the server's address, e.g. https://sluice.example.com")
    .optional(),
  SLUICE_TRUST_PROXY: flag.optional(),
  SLUICE_HTTP_ALLOW: z.string().optional(),
  SLUICE_HTTP_DENY: z.string().optional(),
  SLUICE_ADMIN_PASSWORD: z.string().min(8, "must be at least 8 characters").optional(),
  SLUICE_TASK_ENV_ALLOW: z.string().optional(),
  SLUICE_SECRET_KEY: z.string().optional(),
  SLUICE_SECRET_KEY_FILE: z.string().min(1).optional(),
  SLUICE_SECRETS_DIR: z.string().min(1).optional(),
  SLUICE_LOG_FORMAT: z.enum(["text", "json"]).optional(),
  SLUICE_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).optional(),
});

/**
 * PostgreSQL connections a process of each role opens for queries (SLUICE_DB_POOL_SIZE overrides), besides
 * one LISTEN connection — and, for a worker, one of its heartbeat thread. A worker settles and claims in one
 * transaction at a time; a scheduler and a server answer requests and tick side by side. docs/deploy.md
 * has the arithmetic of a deployment's budget.
 */
export const POOL_SIZE_BY_ROLE = { cli: 3, worker: 3, scheduler: 5, server: 5, dev: 10 } as const;
export type ProcessRole = keyof typeof POOL_SIZE_BY_ROLE;

export interface ConfigOverrides {
  /** What this process is (its database pool size); absent: an embedding program, as `dev`. */
  role?: ProcessRole | undefined;
  home?: string | undefined;
  dags?: string | undefined;
  databaseUrl?: string | undefined;
  concurrency?: number | undefined;
  port?: number | undefined;
  host?: string | undefined;
  gracePeriodMs?: number | undefined;
  logFormat?: LogFormat | undefined;
  logLevel?: LogLevel | undefined;
}

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): SluiceConfig {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith("SLUICE_") && v !== "")));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SluiceError("CONFIG", `environment variable ${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const home = resolve(cwd, overrides.home ?? e.SLUICE_HOME ?? ".sluice");
  // 32 like Airflow's default parallelism; it also sets how many task ends one commit can group
  const concurrency = overrides.concurrency ?? e.SLUICE_CONCURRENCY ?? 32;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new SluiceError("USAGE", `--concurrency must be a whole number ≥ 1`);
  const leaseMs = e.SLUICE_LEASE_MS ?? 30_000;
  return {
    home,
    dagsDir: resolve(cwd, overrides.dags ?? e.SLUICE_DAGS ?? "dags"),
    databaseUrl: overrides.databaseUrl ?? e.SLUICE_DATABASE_URL ?? `sqlite:${join(home, "sluice.db")}`,
    databaseDirectUrl: e.SLUICE_DATABASE_DIRECT_URL ?? null,
    logsDir: join(home, "logs"),
    artifactsDir: join(home, "artifacts"),
    artifacts: e.SLUICE_ARTIFACTS ?? null,
    logs: e.SLUICE_LOGS ?? null,
    inlineOutputLimit: e.SLUICE_INLINE_OUTPUT_LIMIT ?? 256 * 1024,
    maxLogBytes: e.SLUICE_MAX_LOG_BYTES ?? DEFAULT_MAX_LOG_BYTES,
    concurrency,
    busyTimeoutMs: e.SLUICE_DB_BUSY_TIMEOUT_MS ?? 5000,
    // small: N processes × (pool + 1 LISTEN) must fit PostgreSQL's max_connections (100 by default)
    dbPoolSize: e.SLUICE_DB_POOL_SIZE ?? POOL_SIZE_BY_ROLE[overrides.role ?? "dev"],
    diskFull: overrides.role === undefined || overrides.role === "cli" ? "fail" : "wait",
    leaseMs,
    heartbeatMs: e.SLUICE_HEARTBEAT_MS ?? Math.max(100, Math.floor(leaseMs / 3)),
    python: e.SLUICE_PYTHON ?? "python3",
    processPool: {
      maxAttempts: e.SLUICE_PROCESS_MAX_ATTEMPTS ?? DEFAULT_POOL_LIMITS.maxAttempts,
      maxRssMb: e.SLUICE_PROCESS_MAX_RSS_MB ?? DEFAULT_POOL_LIMITS.maxRssMb,
      idleMs: e.SLUICE_PROCESS_IDLE_MS ?? DEFAULT_POOL_LIMITS.idleMs,
    },
    eventToken: e.SLUICE_EVENT_TOKEN ?? null,
    port: overrides.port ?? e.SLUICE_PORT ?? 8080,
    // loopback by default: serving on every interface is a choice (`--host 0.0.0.0`)
    host: overrides.host ?? e.SLUICE_HOST ?? "127.0.0.1",
    // Kubernetes sends SIGKILL 30 s after SIGTERM by default: set terminationGracePeriodSeconds above this
    gracePeriodMs: overrides.gracePeriodMs ?? e.SLUICE_GRACE_MS ?? 30_000,
    metricsPublic: e.SLUICE_METRICS_PUBLIC ?? false,
    dagImportTimeoutMs: e.SLUICE_DAG_IMPORT_TIMEOUT_MS ?? 30_000,
    dagsPausedAtCreation: e.SLUICE_DAGS_PAUSED_AT_CREATION ?? false,
    queuedTimeoutMs: e.SLUICE_QUEUED_TIMEOUT_MS ?? 600_000,
    publicUrl: e.SLUICE_PUBLIC_URL ?? null,
    trustProxy: e.SLUICE_TRUST_PROXY ?? false,
    egress: egressPolicy({ allow: e.SLUICE_HTTP_ALLOW ?? null, deny: e.SLUICE_HTTP_DENY ?? null }),
    adminPassword: e.SLUICE_ADMIN_PASSWORD ?? null,
    taskEnv: taskEnvironment(env, parseEnvAllow(e.SLUICE_TASK_ENV_ALLOW ?? "")),
    secretKey: e.SLUICE_SECRET_KEY_FILE
      ? { keys: e.SLUICE_SECRET_KEY ?? null, file: resolve(cwd, e.SLUICE_SECRET_KEY_FILE), generated: false }
      : { keys: e.SLUICE_SECRET_KEY ?? null, file: join(home, "secret.key"), generated: true },
    secretsDir: e.SLUICE_SECRETS_DIR ? resolve(cwd, e.SLUICE_SECRETS_DIR) : null,
    secretsEnv: Object.fromEntries(
      Object.entries(env).filter((kv): kv is [string, string] => (kv[0].startsWith("SLUICE_CONN_") || kv[0].startsWith("SLUICE_VAR_")) && kv[1] !== undefined),
    ),
    tracing: tracingConfig(env),
    logFormat: overrides.logFormat ?? e.SLUICE_LOG_FORMAT ?? "text",
    logLevel: overrides.logLevel ?? e.SLUICE_LOG_LEVEL ?? "info",
  };
}

/**
 * Tracing from the standard OpenTelemetry variables: off unless an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT) or OTEL_TRACES_EXPORTER names an
 * exporter; OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off whatever else is set. Only
 * OTLP over HTTP with JSON is shipped: another protocol is a CONFIG error rather than silence.
 */
export function tracingConfig(env: NodeJS.ProcessEnv): TracingConfig | null {
  const get = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : null;
  };
  if (get("OTEL_SDK_DISABLED")?.toLowerCase() === "true") return null;
  const tracesEndpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
  const exporters = (get("OTEL_TRACES_EXPORTER") ?? (tracesEndpoint || endpoint ? "otlp" : "none")).split(",").map((x) => x.trim().toLowerCase());
  if (exporters.includes("none")) return null;
  const exporter = exporters[0]!;
  if (exporters.length > 1 || (exporter !== "otlp" && exporter !== "console")) {
    throw new SluiceError("CONFIG", `environment variable OTEL_TRACES_EXPORTER: "${exporters.join(",")}" is not supported; use otlp, console or none`);
  }
  const protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? get("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (exporter === "otlp" && protocol !== null && protocol !== "http/json") {
    throw new SluiceError("CONFIG", `environment variable OTEL_EXPORTER_OTLP_PROTOCOL: "${protocol}" is not supported; Sluice exports OTLP over HTTP as JSON (http/json), which every collector accepts on port 4318`);
  }
  // the spec's rule: the signal-specific URL is used as it is; the general one gets /v1/traces appended
  const url = tracesEndpoint ?? (endpoint ? `${endpoint.replace(/\/+$/, "")}/v1/traces` : "http://localhost:4318/v1/traces");
  if (!URL.canParse(url)) throw new SluiceError("CONFIG", `environment variable ${tracesEndpoint ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT"}: "${url}" is not a URL`);
  return { exporter, url, serviceName: get("OTEL_SERVICE_NAME") ?? "sluice" };
}

/**
 * What a task process may inherit without being named: what programs need to find themselves, their
 * locale, time zone, temporary folder and TLS roots. Nothing that usually carries a credential (proxies
 * can: allow them by name). `LC_*` is a prefix.
 */
const TASK_ENV_BASE = [
  "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "TMP", "TEMP", "TERM",
  "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
];

/** `NAME,PREFIX_*` → patterns; Sluice's own variables cannot be allowed (they are its secrets). */
function parseEnvAllow(list: string): string[] {
  const names = list.split(",").map((n) => n.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*\*?$|^\*$/.test(n)) {
      throw new SluiceError("CONFIG", `environment variable SLUICE_TASK_ENV_ALLOW: "${n}" is not a variable name or a PREFIX_* pattern`);
    }
    if (n.toUpperCase().startsWith("SLUICE_")) {
      throw new SluiceError("CONFIG", `environment variable SLUICE_TASK_ENV_ALLOW: "${n}" is one of Sluice's own variables; tasks never see those (set the value in the task's env option instead)`);
    }
  }
  return names;
}

/**
 * The clean environment of a task process: the base list and the operator's patterns, matched against
 * `env`; a SLUICE_* variable never, whatever the patterns say.
 */
export function taskEnvironment(env: NodeJS.ProcessEnv, allow: readonly string[] = []): Record<string, string> {
  const patterns = [...TASK_ENV_BASE, ...allow];
  const matches = (name: string) =>
    patterns.some((p) => (p === "*" ? true : p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name.toUpperCase().startsWith("SLUICE_")) continue;
    if (matches(name)) out[name] = value;
  }
  return out;
}
