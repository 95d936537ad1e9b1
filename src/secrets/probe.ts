/**
 * `sluice connections test`: really connect, for the types this process can reach by itself — PostgreSQL
 * (`pg`), HTTP(S) (fetch), SQLite (better-sqlite3 opening the file read-only). Other types have no test
 * here; the result says so rather than pretending.
 */
import { outbound } from "../dsl/outbound.js";
import { isAbsolute } from "node:path";
import { pgClientConfig, type Connection } from "./connection.js";

export interface ProbeResult {
  /** true: connected; false: failed; null: no test for this type. */
  ok: boolean | null;
  message: string;
  ms: number;
}

const TIMEOUT_MS = 10_000;

export async function probeConnection(c: Connection): Promise<ProbeResult> {
  const start = performance.now();
  const done = (ok: boolean | null, message: string): ProbeResult => ({ ok, message, ms: Math.round(performance.now() - start) });
  try {
    switch (c.type) {
      case "postgres":
      case "postgresql": {
        const { default: pg } = await import("pg");
        const client = new pg.Client(pgClientConfig(c, TIMEOUT_MS));
        client.on("error", () => undefined);
        try {
          await client.connect();
          const r = await client.query<{ v: string }>("select version() as v");
          return done(true, `connected: ${String(r.rows[0]?.v ?? "").split(",")[0]}`);
        } finally {
          await client.end().catch(() => undefined);
        }
      }
      case "http":
      case "https": {
        const url = httpUrl(c);
        const headers: Record<string, string> = {};
        if (c.login !== null || c.password !== null) headers["authorization"] = `Basic ${Buffer.from(`${c.login ?? ""}:${c.password ?? ""}`).toString("base64")}`;
        // under the egress policy: a connection must not make the server fetch the cloud's metadata
        const res = await outbound(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
        const ok = res.status >= 200 && res.status < 300;
        return done(ok, `${ok ? "answered" : "failed"}: HTTP ${res.status} from ${c.host ?? ""}`);
      }
      case "sqlite": {
        const file = sqliteFile(c);
        if (!file) return done(false, "failed: a sqlite connection needs a file: sqlite:///absolute/path.db (or the path as its host)");
        const { default: Database } = await import("better-sqlite3");
        const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
        try {
          db.prepare("select count(*) from sqlite_master").get();
          return done(true, `opened ${file}`);
        } finally {
          db.close();
        }
      }
      default:
        return done(null, `there is no test for connections of type "${c.type}" (tests exist for postgres, http, https and sqlite)`);
    }
  } catch (e) {
    const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
    const why = err.cause?.code ?? err.cause?.message ?? err.code ?? "";
    return done(false, `failed: ${err.message}${why && !err.message.includes(why) ? ` (${why})` : ""}`);
  }
}

/** The URL an http(s) connection points at: scheme, host, port and the schema as the path (no credentials). */
export function httpUrl(c: Connection): string {
  const host = c.host ?? "localhost";
  return `${c.type}://${host}${c.port !== null ? `:${c.port}` : ""}/${c.schema ?? ""}`;
}

/** The file of a sqlite connection: its host (Airflow's way) or its path (`sqlite:///abs/file.db`). */
export function sqliteFile(c: Connection): string | null {
  if (c.host) return c.host;
  if (c.schema) return isAbsolute(c.schema) ? c.schema : `/${c.schema}`;
  return null;
}
