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
 *   d.task("report", { inputs: { files, batch }, after: [api] }, async ({ files, batch }) => ({ files: files.length, batch }));
 * });
 */
import { stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { SluiceError } from "../errors.js";
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
}

/**
 * Done when the endpoint answers with the expected status (default any 2xx) and, with `bodyIncludes`, a
 * body containing that text. An unreachable server, a timed-out request or another answer mean "not yet"
 * (logged); the output is `{ status, body }` of the answer that satisfied it.
 *
 * @example
 * d.sensor("api_ready", { poke: httpOk("http://localhost:8080/health", { status: 200, bodyIncludes: '"ok"' }), pokeInterval: "10s" });
 */
export function httpOk(url: string, options: HttpOkOptions = {}): Poke<{ status: number; body: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SluiceError("INVALID_DAG", `httpOk: ${JSON.stringify(url)} is not a URL; use e.g. "http://localhost:8080/health"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new SluiceError("INVALID_DAG", `httpOk: ${JSON.stringify(url)} is not an http(s) URL`);
  }
  const method = (options.method ?? "GET").toUpperCase();
  const expected = options.status;
  const statusOk = (s: number) => (expected === undefined ? s >= 200 && s < 300 : typeof expected === "number" ? s === expected : expected(s));
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  // the label names what is checked, never the headers (they often carry credentials)
  return labelled(`httpOk(${method} ${url}${expected === undefined ? "" : `, status ${typeof expected === "number" ? expected : expected.toString()}`}${options.bodyIncludes === undefined ? "" : `, body includes ${JSON.stringify(options.bodyIncludes)}`})`, async (_inputs, ctx) => {
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, {
        method,
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.body !== undefined ? { body: options.body } : {}),
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
      });
      body = await res.text();
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      ctx.log.info("%s %s: no answer (%s); poking again later", method, url, cause?.code ?? cause?.message ?? (e as Error).message);
      return false;
    }
    if (!statusOk(res.status)) {
      ctx.log.info("%s %s: status %d; poking again later", method, url, res.status);
      return false;
    }
    if (options.bodyIncludes !== undefined && !body.includes(options.bodyIncludes)) {
      ctx.log.info("%s %s: status %d, but the body does not include %j; poking again later", method, url, res.status, options.bodyIncludes);
      return false;
    }
    return { done: true, value: { status: res.status, body } };
  });
}

export interface SqlRowOptions {
  /** A query that returns rows (SELECT …); done when it returns at least one. */
  query: string;
  /** Positional (`?`) or named (`@name`, `:name`, `$name`) parameters. */
  params?: readonly unknown[] | Record<string, unknown>;
  /**
   * `sqlite:<file>`: a SQLite file, relative to the DAG file's folder or absolute, opened read-only.
   * PostgreSQL URLs need PostgreSQL support (issue 4), which this build does not have yet.
   */
  database: string;
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
  const { query, database } = options ?? ({} as SqlRowOptions);
  if (typeof query !== "string" || query.trim() === "") throw new SluiceError("INVALID_DAG", `sqlRow: give a "query", e.g. "select 1 from batches where day = ?"`);
  if (typeof database !== "string") throw new SluiceError("INVALID_DAG", `sqlRow: give a "database", e.g. "sqlite:state.db"`);
  if (/^postgres(ql)?:\/\//.test(database)) {
    throw new SluiceError("INVALID_DAG", `sqlRow: PostgreSQL databases need PostgreSQL support (issue 4), which this build does not have yet; use a SQLite file ("sqlite:<file>")`);
  }
  if (!database.startsWith("sqlite:")) {
    throw new SluiceError("INVALID_DAG", `sqlRow: database ${JSON.stringify(database)} is not supported; use "sqlite:<file>" (relative to the DAG file's folder, or absolute)`);
  }
  const file = database.slice("sqlite:".length).replace(/^\/\//, "");
  if (file === "") throw new SluiceError("INVALID_DAG", `sqlRow: "sqlite:" needs a file name, e.g. "sqlite:state.db"`);
  const params = options.params ?? [];
  return labelled(`sqlRow(${database}, ${JSON.stringify(query)})`, async (_inputs, ctx) => {
    const path = resolvePath(ctx, file);
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
  });
}
