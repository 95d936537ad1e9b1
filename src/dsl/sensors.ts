/**
 * Ready-made pokes for `d.sensor`: a file or glob appears, an HTTP endpoint answers as expected, a SQL query
 * returns a row. Each is an async function `(inputs, ctx) => false | { done: true, value }`, like any poke
 * an author writes. This module is part of the light authoring entry: what is heavy (the glob library, the
 * SQLite driver) is imported inside the poke, on a worker, never when a DAG file is loaded.
 *
 * @example
 * import { dag, fileExists, httpOk, sqlRow } from "sluice";
 * export default dag("reports", (d) => {
 *   const files = d.sensor("orders", { poke: fileExists("incoming/orders-*.csv"), pokeInterval: "1m", timeout: "6h" });
 *   const api = d.sensor("api_up", { poke: httpOk("http://localhost:8080/health", { bodyIncludes: "ok" }) });
 *   const batch = d.sensor("batch", { poke: sqlRow({ database: "sqlite:state.db", query: "select id from batches where day = ?", params: ["2026-01-01"] }) });
 *   const wh = d.sensor("wh", { poke: sqlRow({ connection: "warehouse", query: "select 1 from loads where day = $1", params: ["2026-01-01"] }) });
 *   const partner = d.sensor("partner", { poke: httpOk("partner_api", { path: "/health" }) }); // a connection id
 *   d.task("report", { inputs: { files, batch }, after: [api] }, async ({ files, batch }) => ({ files: files.length, batch }));
 * });
 */
import { stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { SluiceError, isSluiceError } from "../errors.js";
import { pgClientConfig } from "../secrets/connection.js";
import { outbound, type OutboundResponse } from "./outbound.js";
import type { Poke, TaskContext } from "./types.js";

const POKE_LABEL = Symbol.for("sluice.pokeLabel");

function labelled<T>(label: string, fn: Poke<T>): Poke<T> {
  Object.defineProperty(fn, POKE_LABEL, { value: label });
  return fn;
}

/**
 * What a ready-made poke checks (`fileExists("data/*.csv")`), or null for the author's own function. It is
 * the sensor's `command` in its spec: shown by `sluice dags show`, and part of the DAG version (the pokes'
 * code is the same whatever they check, so the version must see the arguments).
 * @internal
 */
export function pokeLabel(fn: unknown): string | null {
  const label = typeof fn === "function" ? (fn as unknown as Record<symbol, unknown>)[POKE_LABEL] : undefined;
  return typeof label === "string" ? label : null;
}

/** Relative paths resolve from the DAG file's folder (the working directory for a DAG defined in code). */
function resolvePath(ctx: Pick<TaskContext<unknown>, "dagFile">, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.dagFile ? dirname(ctx.dagFile) : process.cwd(), path);
}

const GLOB_CHARS = /[*?[\]{}()!+@]/;

/**
 * Done when the path exists, or when a glob pattern (`*`, `**`, `?`, `[…]`, `{a,b}`) matches at least
 * one file. Relative to the DAG file's folder, or absolute. The output is the matched absolute paths,
 * sorted.
 *
 * @example
 * const files = d.sensor("wait_csv", { poke: fileExists("incoming/*.csv"), pokeInterval: "30s" });
 */
export function fileExists(globOrPath: string): Poke<string[]> {
  if (typeof globOrPath !== "string" || globOrPath.length === 0) {
    throw new SluiceError("INVALID_DAG", `fileExists: give a path or a glob pattern, e.g. fileExists("incoming/*.csv")`);
  }
  return labelled(`fileExists(${JSON.stringify(globOrPath)})`, async (_inputs, ctx) => {
    const abs = resolvePath(ctx, globOrPath);
    const parts = abs.split(sep);
    const first = parts.findIndex((p) => GLOB_CHARS.test(p));
    if (first < 0) {
      const found = await stat(abs).then(
        () => true,
        () => false,
      );
      return found ? { done: true, value: [abs] } : false;
    }
    // the static folder in front of the first wildcard is where the search starts
    const cwd = parts.slice(0, first).join(sep) || sep;
    const { glob } = await import("tinyglobby");
    const files = await glob(parts.slice(first).join("/"), { cwd, absolute: true, onlyFiles: true, dot: false });
    return files.length > 0 ? { done: true, value: files.map((f) => resolve(f)).sort() } : false;
  });
}

export interface HttpOkOptions {
  /** The expected status: a number, or a predicate. Default: any 2xx. */
  status?: number | ((status: number) => boolean);
  /** Done only when the body contains this text. */
  bodyIncludes?: string;
  /** Default "GET". */
  method?: string;
  headers?: Record<string, string>;
  /** A request body (e.g. for POST). */
  body?: string;
  /** One request's time limit; a request that takes longer counts as "not yet". Default 30 s. */
  requestTimeoutMs?: number;
  /** With a connection id: the path after the connection's URL (its schema), e.g. "/health". */
  path?: string;
}

/**
 * An http(s) connection as a request: `<type>://<host>:<port>/<schema><path>`, basic auth from its login
 * and password, headers from its extra's `headers` object (then the sensor's own).
 */
async function connectionTarget(ctx: TaskContext<unknown>, id: string, options: HttpOkOptions): Promise<{ url: string; headers: Record<string, string> }> {
  const c = await ctx.connection(id);
  if (c.type !== "http" && c.type !== "https") throw new SluiceError("TASK_FAILED", `httpOk: connection "${id}" is of type "${c.type}", not http or https`);
  const base = `${c.type}://${c.host ?? "localhost"}${c.port !== null ? `:${c.port}` : ""}${c.schema ? `/${c.schema}` : ""}`;
  const path = options.path ? (options.path.startsWith("/") || base.endsWith("/") ? options.path : `/${options.path}`) : "";
  const headers: Record<string, string> = {};
  const extraHeaders = c.extra["headers"];
  if (extraHeaders && typeof extraHeaders === "object" && !Array.isArray(extraHeaders)) {
    for (const [k, v] of Object.entries(extraHeaders)) if (typeof v === "string") headers[k] = v;
  }
  if (c.login !== null || c.password !== null) headers["authorization"] = `Basic ${Buffer.from(`${c.login ?? ""}:${c.password ?? ""}`).toString("base64")}`;
  return { url: `${base}${path}`, headers: { ...headers, ...(options.headers ?? {}) } };
}

const CONNECTION_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

function checkConnectionId(sensor: string, id: string): string {
  if (!CONNECTION_ID.test(id)) throw new SluiceError("INVALID_DAG", `${sensor}: ${JSON.stringify(id)} is not a URL (http://…) nor a connection id (letters, digits, "_", "-" and ".")`);
  return id;
}

/**
 * Done when the endpoint answers with the expected status (default any 2xx) and, with `bodyIncludes`, a
 * body containing that text. An unreachable server, a timed-out request or another answer mean "not yet"
 * (logged); the output is `{ status, body }` of the answer that satisfied it.
 *
 * @example
 * d.sensor("api_ready", { poke: httpOk("http://localhost:8080/health", { status: 200, bodyIncludes: '"ok"' }), pokeInterval: "10s" });
 */
export function httpOk(urlOrConnection: string, options: HttpOkOptions = {}): Poke<{ status: number; body: string }> {
  // a connection id (no "://"): its URL, credentials and headers are resolved when the poke runs
  const connection = typeof urlOrConnection === "string" && CONNECTION_ID.test(urlOrConnection) ? urlOrConnection : null;
  const url = urlOrConnection;
  if (connection === null) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SluiceError("INVALID_DAG", `httpOk: ${JSON.stringify(url)} is not a URL; use e.g. "http://localhost:8080/health", or a connection id`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new SluiceError("INVALID_DAG", `httpOk: ${JSON.stringify(url)} is not an http(s) URL`);
    }
  } else if (options.path !== undefined && typeof options.path !== "string") {
    throw new SluiceError("INVALID_DAG", `httpOk: "path" must be a string, e.g. "/health"`);
  }
  const method = (options.method ?? "GET").toUpperCase();
  const expected = options.status;
  const statusOk = (s: number) => (expected === undefined ? s >= 200 && s < 300 : typeof expected === "number" ? s === expected : expected(s));
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  // the label names what is checked, never the headers (they often carry credentials)
  const shown = connection === null ? url : `connection ${connection}${options.path ?? ""}`;
  return labelled(`httpOk(${method} ${shown}${expected === undefined ? "" : `, status ${typeof expected === "number" ? expected : expected.toString()}`}${options.bodyIncludes === undefined ? "" : `, body includes ${JSON.stringify(options.bodyIncludes)}`})`, async (_inputs, ctx) => {
    let res: OutboundResponse;
    const target = connection === null ? { url, headers: options.headers ?? {} } : await connectionTarget(ctx, connection, options);
    try {
      // under the egress policy (core/egress.ts): never the cloud's metadata service, checked at connect time
      res = await outbound(target.url, {
        method,
        headers: target.headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // a refused address will not become allowed by waiting: fail the sensor, naming it
      if (isSluiceError(e, "EGRESS_DENIED")) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      ctx.log.info("%s %s: no answer (%s); poking again later", method, shown, cause?.code ?? cause?.message ?? (e as Error).message);
      return false;
    }
    if (!statusOk(res.status)) {
      ctx.log.info("%s %s: status %d; poking again later", method, shown, res.status);
      return false;
    }
    if (options.bodyIncludes !== undefined && !res.body.includes(options.bodyIncludes)) {
      ctx.log.info("%s %s: status %d, but the body does not include %j; poking again later", method, shown, res.status, options.bodyIncludes);
      return false;
    }
    return { done: true, value: { status: res.status, body: res.body } };
  });
}

export interface SqlRowOptions {
  /** A query that returns rows (SELECT …); done when it returns at least one. */
  query: string;
  /** Positional (`?`) or named (`@name`, `:name`, `$name`) parameters. */
  params?: readonly unknown[] | Record<string, unknown>;
  /**
   * `sqlite:<file>`: a SQLite file, relative to the DAG file's folder or absolute, opened read-only.
   * Or give `connection` instead.
   */
  database?: string;
  /**
   * A connection id (`sluice connections add`): a sqlite connection (its file), or a postgres one (its
   * host, port, login, password and database; the query's parameters as $1, $2, …).
   */
  connection?: string;
}

/**
 * Done when the query returns a row; the output is that (first) row. A database file that does not exist
 * yet means "not yet"; a query error fails the poke (and is retried if the sensor has retries).
 *
 * @example
 * const batch = d.sensor("batch_loaded", {
 *   poke: sqlRow<{ id: number }>({ database: "sqlite:../state/etl.db", query: "select id from batches where day = ?", params: ["2026-01-01"] }),
 * });
 */
export function sqlRow<Row = Record<string, unknown>>(options: SqlRowOptions): Poke<Row> {
  const { query, database, connection } = options ?? ({} as SqlRowOptions);
  if (typeof query !== "string" || query.trim() === "") throw new SluiceError("INVALID_DAG", `sqlRow: give a "query", e.g. "select 1 from batches where day = ?"`);
  if (connection !== undefined) {
    if (database !== undefined) throw new SluiceError("INVALID_DAG", `sqlRow: give "database" or "connection", not both`);
    if (typeof connection !== "string") throw new SluiceError("INVALID_DAG", `sqlRow: "connection" must be a connection id`);
    return sqlRowOfConnection<Row>(checkConnectionId("sqlRow", connection), query, options.params ?? []);
  }
  if (typeof database !== "string") throw new SluiceError("INVALID_DAG", `sqlRow: give a "database", e.g. "sqlite:state.db", or a "connection"`);
  if (/^postgres(ql)?:\/\//.test(database)) {
    // a URL in a DAG file would put its password in the code: PostgreSQL is reached through a connection
    throw new SluiceError("INVALID_DAG", `sqlRow: give PostgreSQL as a connection, not a URL: \`sluice connections add <id> --uri-file -\`, then sqlRow({ connection: "<id>", query })`);
  }
  if (!database.startsWith("sqlite:")) {
    throw new SluiceError("INVALID_DAG", `sqlRow: database ${JSON.stringify(database)} is not supported; use "sqlite:<file>" (relative to the DAG file's folder, or absolute)`);
  }
  const file = database.slice("sqlite:".length).replace(/^\/\//, "");
  if (file === "") throw new SluiceError("INVALID_DAG", `sqlRow: "sqlite:" needs a file name, e.g. "sqlite:state.db"`);
  const params = options.params ?? [];
  return labelled(`sqlRow(${database}, ${JSON.stringify(query)})`, async (_inputs, ctx) => sqliteRow<Row>(ctx, resolvePath(ctx, file), query, params));
}

/** sqlRow over a connection: SQLite (its file) or PostgreSQL, resolved when the poke runs. */
function sqlRowOfConnection<Row>(id: string, query: string, params: readonly unknown[] | Record<string, unknown>): Poke<Row> {
  return labelled(`sqlRow(connection ${id}, ${JSON.stringify(query)})`, async (_inputs, ctx) => {
    const c = await ctx.connection(id);
    if (c.type === "sqlite") {
      const file = c.host ?? (c.schema ? `/${c.schema.replace(/^\/+/, "")}` : null);
      if (!file) throw new SluiceError("TASK_FAILED", `sqlRow: sqlite connection "${id}" names no file (sqlite:///absolute/path.db)`);
      return sqliteRow<Row>(ctx, file, query, params);
    }
    if (c.type !== "postgres" && c.type !== "postgresql") throw new SluiceError("TASK_FAILED", `sqlRow: connection "${id}" is of type "${c.type}"; sqlRow reads sqlite and postgres connections`);
    if (!Array.isArray(params)) throw new SluiceError("TASK_FAILED", `sqlRow: on PostgreSQL, give "params" as a list ($1, $2, …)`);
    const { default: pg } = await import("pg");
    const client = new pg.Client(pgClientConfig(c, 10_000));
    client.on("error", () => undefined);
    try {
      await client.connect();
      const r = await client.query(query, params as unknown[]);
      return r.rows.length === 0 ? false : { done: true, value: r.rows[0] as Row };
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}

async function sqliteRow<Row>(ctx: TaskContext<unknown>, path: string, query: string, params: readonly unknown[] | Record<string, unknown>): Promise<false | { done: true; value: Row }> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) {
    ctx.log.info("%s does not exist yet; poking again later", path);
    return false;
  }
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const stmt = db.prepare(query);
    if (!stmt.reader) throw new SluiceError("TASK_FAILED", `sqlRow: the query must return rows (a SELECT), got: ${query}`);
    const row = (Array.isArray(params) ? stmt.get(...(params as unknown[])) : stmt.get(params)) as Row | undefined;
    return row === undefined ? false : { done: true, value: row };
  } finally {
    db.close();
  }
}
