/**
 * A connection, as Airflow users know it (docs/decisions/0016-secrets.md): a typed record — type, host,
 * port, login, password, schema, extra JSON — written as fields or as one URI
 * `type://login:password@host:port/schema?key=value`, whose parts are percent-encoded and whose query
 * parameters become `extra` (or `__extra__=<JSON>` for an extra that is not flat strings, as Airflow's).
 *
 * A URI that does not parse says which part is wrong (INVALID_CONNECTION), and never repeats the URI itself:
 * it holds the password.
 */
import { SluiceError } from "../errors.js";

/** What a task gets from `ctx.connection(id)`: plain data (it crosses to child processes as is). */
export interface Connection {
  readonly id: string;
  /** "postgres", "http", "sqlite", … (lower case). */
  readonly type: string;
  readonly description: string | null;
  readonly host: string | null;
  readonly port: number | null;
  readonly login: string | null;
  readonly password: string | null;
  /** The database (Airflow's `schema`), or the path for http(s). */
  readonly schema: string | null;
  readonly extra: Readonly<Record<string, unknown>>;
  /** The whole connection as one URI (what shell and Python tasks get in SLUICE_CONN_<ID>). */
  readonly uri: string;
}

/**
 * node-postgres client settings for a postgres connection (the sqlRow sensor, `sluice connections test`):
 * its host (default localhost), port (5432), login, password and database (`schema`).
 */
export function pgClientConfig(c: Pick<Connection, "host" | "port" | "login" | "password" | "schema">, connectionTimeoutMillis: number) {
  return {
    host: c.host ?? "localhost",
    port: c.port ?? 5432,
    ...(c.login !== null ? { user: c.login } : {}),
    ...(c.password !== null ? { password: c.password } : {}),
    ...(c.schema !== null ? { database: c.schema } : {}),
    connectionTimeoutMillis,
  };
}

/** The fields of a connection, without its id (what a URI, a JSON document or a form gives). */
export interface ConnectionFields {
  type: string;
  description?: string | null;
  host?: string | null;
  port?: number | null;
  login?: string | null;
  password?: string | null;
  schema?: string | null;
  extra?: Record<string, unknown> | null;
}

/** Connection ids and variable keys: what is safe as a file name and as (part of) a variable name. */
export const SECRET_ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkSecretId(kind: "connection" | "variable", id: unknown): string {
  if (typeof id !== "string" || !SECRET_ID_PATTERN.test(id)) {
    throw new SluiceError(
      kind === "connection" ? "INVALID_CONNECTION" : "INVALID_INPUT",
      `${kind} ${kind === "connection" ? "id" : "key"} ${JSON.stringify(id)} is invalid; use letters, digits, "_", "-" and "." (at most 200, not starting with "-" or ".")`,
      { details: { field: kind === "connection" ? "id" : "key" } },
    );
  }
  return id;
}

/** The environment variable of a connection or variable: `SLUICE_CONN_<ID>`, upper-cased, `-` and `.` as `_`. */
export function envName(kind: "connection" | "variable", id: string): string {
  return `${kind === "connection" ? "SLUICE_CONN_" : "SLUICE_VAR_"}${id.toUpperCase().replace(/[-.]/g, "_")}`;
}

const bad = (part: string, why: string): SluiceError =>
  new SluiceError("INVALID_CONNECTION", `connection URI: ${part}: ${why}`, { details: { field: part } });

function decode(part: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw bad(part, `bad percent-encoding (a "%" must be followed by two hex digits; write a literal "%" as %25)`);
  }
}

/**
 * Parse an Airflow-style connection URI. `type://` is required; every other part is optional
 * (`sqlite:///path/to/file.db`, `http://example.com`).
 */
export function parseConnectionUri(uri: string): ConnectionFields {
  if (typeof uri !== "string" || uri.trim() === "") throw bad("uri", "empty");
  const text = uri.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (!m) {
    throw bad("type", /^[^:/]*:\/\//.test(text) ? `the type (scheme) must start with a letter and hold only letters, digits, "+", "-" and "."` : `it must start with <type>://, e.g. postgres://user:pass@host:5432/db`);
  }
  // Airflow writes types with "_" as "-" in URIs (google-cloud-platform → google_cloud_platform)
  const type = m[1]!.toLowerCase().replace(/-/g, "_");
  let rest = m[2]!;
  if (/\s/.test(rest)) throw bad("uri", "it contains whitespace; percent-encode it (a space is %20)");
  const hash = rest.indexOf("#");
  if (hash >= 0) throw bad("fragment", `"#" is not allowed; percent-encode it as %23 (in a password, say)`);
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : "";

  let login: string | null = null;
  let password: string | null = null;
  let hostPort = authority;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    hostPort = authority.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const rawLogin = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (rawLogin.includes("@")) throw bad("login", `"@" must be percent-encoded as %40`);
    login = rawLogin === "" ? null : decode("login", rawLogin);
    if (colon >= 0) {
      const rawPassword = userinfo.slice(colon + 1);
      if (rawPassword.includes("@")) throw bad("password", `"@" must be percent-encoded as %40`);
      password = rawPassword === "" ? null : decode("password", rawPassword);
    }
  }

  let host: string | null;
  let port: number | null = null;
  let rawPort: string | null = null;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw bad("host", `an IPv6 address must end with "]"`);
    host = hostPort.slice(0, close + 1);
    const after = hostPort.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) throw bad("host", `only ":<port>" may follow an IPv6 address`);
      rawPort = after.slice(1);
    }
  } else {
    const colon = hostPort.lastIndexOf(":");
    if (colon >= 0) {
      rawPort = hostPort.slice(colon + 1);
      hostPort = hostPort.slice(0, colon);
    }
    if (hostPort.includes(":")) throw bad("host", `it holds a ":"; percent-encode it, or write an IPv6 address in [brackets]`);
    host = hostPort === "" ? null : decode("host", hostPort);
  }
  if (rawPort !== null && rawPort !== "") {
    if (!/^\d{1,5}$/.test(rawPort) || Number(rawPort) < 1 || Number(rawPort) > 65535) {
      throw bad("port", `${JSON.stringify(rawPort.length > 20 ? `${rawPort.slice(0, 20)}…` : rawPort)} is not a port number (1-65535)`);
    }
    port = Number(rawPort);
  }

  const schema = path === "" ? null : decode("schema", path);
  const extra = parseQuery(query);
  return { type, host, port, login, password, schema, extra: Object.keys(extra).length ? extra : null };
}

function parseQuery(query: string): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  if (query === "") return extra;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode("query", (eq >= 0 ? pair.slice(0, eq) : pair).replace(/\+/g, " "));
    const value = eq >= 0 ? decode(`query parameter "${key}"`, pair.slice(eq + 1).replace(/\+/g, " ")) : "";
    if (key === "") throw bad("query", `a parameter has no name ("=${value ? "…" : ""}")`);
    if (key === "__extra__") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        throw bad("query parameter \"__extra__\"", "it is not JSON");
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw bad("query parameter \"__extra__\"", "it must be a JSON object");
      Object.assign(extra, parsed);
      continue;
    }
    const prev = extra[key];
    // a repeated parameter becomes a list, as Airflow's parse_qs would make it
    extra[key] = prev === undefined ? value : Array.isArray(prev) ? [...(prev as unknown[]), value] : [prev, value];
  }
  return extra;
}

const enc = (s: string) => encodeURIComponent(s);

/** The URI of a connection's fields: `parseConnectionUri(formatConnectionUri(f))` gives `f` back. */
export function formatConnectionUri(f: ConnectionFields): string {
  let uri = `${f.type.replace(/_/g, "-")}://`;
  if (f.login != null || f.password != null) {
    uri += f.login != null ? enc(f.login) : "";
    if (f.password != null) uri += `:${enc(f.password)}`;
    uri += "@";
  }
  if (f.host != null) uri += f.host.startsWith("[") ? f.host : enc(f.host);
  if (f.port != null) uri += `:${f.port}`;
  if (f.schema != null) uri += `/${f.schema.split("/").map(enc).join("/")}`;
  const extra = f.extra ?? {};
  const keys = Object.keys(extra);
  if (keys.length) {
    const flat = keys.every((k) => typeof extra[k] === "string" && k !== "__extra__");
    uri += flat ? `?${keys.map((k) => `${enc(k)}=${enc(extra[k] as string)}`).join("&")}` : `?__extra__=${enc(JSON.stringify(extra))}`;
  }
  return uri;
}

/**
 * Fields from a JSON document (the env and folder backends' other form, and the REST body): Airflow's
 * names (`conn_type`, `schema`) and Sluice's (`type`); `extra` as an object or a JSON string.
 */
export function connectionFromJson(doc: unknown, where: string): ConnectionFields {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new SluiceError("INVALID_CONNECTION", `${where}: a connection must be a JSON object or a URI`);
  const o = doc as Record<string, unknown>;
  const str = (name: string): string | null => {
    const v = o[name];
    if (v === undefined || v === null || v === "") return null;
    if (typeof v !== "string") throw new SluiceError("INVALID_CONNECTION", `${where}: "${name}" must be a string`, { details: { field: name } });
    return v;
  };
  const type = str("type") ?? str("conn_type") ?? str("connType");
  if (!type) throw new SluiceError("INVALID_CONNECTION", `${where}: "type" (or "conn_type") is required, e.g. "postgres"`, { details: { field: "type" } });
  let port: number | null = null;
  if (o["port"] !== undefined && o["port"] !== null && o["port"] !== "") {
    port = Number(o["port"]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SluiceError("INVALID_CONNECTION", `${where}: "port" must be a port number (1-65535)`, { details: { field: "port" } });
  }
  let extra: Record<string, unknown> | null = null;
  const rawExtra = o["extra"];
  if (rawExtra !== undefined && rawExtra !== null && rawExtra !== "") {
    let parsed: unknown = rawExtra;
    if (typeof rawExtra === "string") {
      try {
        parsed = JSON.parse(rawExtra) as unknown;
      } catch {
        throw new SluiceError("INVALID_CONNECTION", `${where}: "extra" is not JSON`, { details: { field: "extra" } });
      }
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new SluiceError("INVALID_CONNECTION", `${where}: "extra" must be a JSON object`, { details: { field: "extra" } });
    extra = parsed as Record<string, unknown>;
  }
  return checkFields(
    { type, description: str("description"), host: str("host"), port, login: str("login"), password: str("password"), schema: str("schema"), extra },
    where,
  );
}

/** A URI or a JSON document (`{` first), as the env and folder backends accept. */
export function connectionFromText(text: string, where: string): ConnectionFields {
  const t = text.trim();
  if (t.startsWith("{")) {
    let doc: unknown;
    try {
      doc = JSON.parse(t);
    } catch (e) {
      throw new SluiceError("INVALID_CONNECTION", `${where}: not JSON (${(e as Error).message}) and not a URI`);
    }
    return connectionFromJson(doc, where);
  }
  try {
    return parseConnectionUri(t);
  } catch (e) {
    if (e instanceof SluiceError) throw new SluiceError(e.code, `${where}: ${e.message}`, { details: { ...e.details } });
    throw e;
  }
}

/** Checks what every form shares: a type name. */
export function checkFields(f: ConnectionFields, where: string): ConnectionFields {
  if (!/^[a-z][a-z0-9_+.]*$/.test(f.type)) {
    throw new SluiceError("INVALID_CONNECTION", `${where}: type ${JSON.stringify(f.type)} is invalid; use lower-case letters, digits and "_" (postgres, http, sqlite, …)`, { details: { field: "type" } });
  }
  return f;
}

/** The task's view of a connection (with its URI). */
export function toConnection(id: string, f: ConnectionFields): Connection {
  const c = {
    id,
    type: f.type,
    description: f.description ?? null,
    host: f.host ?? null,
    port: f.port ?? null,
    login: f.login ?? null,
    password: f.password ?? null,
    schema: f.schema ?? null,
    extra: f.extra ?? {},
  };
  return { ...c, uri: formatConnectionUri(c) };
}
