/**
 * A real Sluice deployment in the test process, as `sluice dev` assembles it: store on a SQLite file,
 * scheduler watching a DAG folder, optionally a worker, and the HTTP server on port 0. Plus a small
 * client that keeps a session cookie and its CSRF token.
 */
import Database from "better-sqlite3";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DagCodeLoader } from "../../dist/engine/codeLoader.js";
import { Scheduler } from "../../dist/engine/scheduler.js";
import { startHttp, type HttpServer } from "../../dist/server/http.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import type { Worker } from "../../dist/worker/worker.js";
import type { Sandbox } from "../helpers.js";

export const ADMIN_PASSWORD = "admin-password-for-tests";

export interface Deployment {
  s: Sluice;
  http: HttpServer;
  url: string;
  scheduler: Scheduler;
  worker: Worker | null;
  stop(): Promise<void>;
}

/** `databaseUrl`: another store than the sandbox's SQLite file (a PostgreSQL schema, test/dialects.ts). */
export async function deploy(sb: Sandbox, opts: { worker?: boolean; eventToken?: string; databaseUrl?: string; env?: Record<string, string> } = {}): Promise<Deployment> {
  const config = loadConfig(
    { home: sb.home, dags: sb.dags, port: 0, host: "127.0.0.1", ...(opts.databaseUrl !== undefined ? { databaseUrl: opts.databaseUrl } : {}) },
    { SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD, SLUICE_LEASE_MS: "5000", ...opts.env },
  );
  const s = await Sluice.open(config, { loadDags: false });
  const code = new DagCodeLoader(s.store);
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  const scheduler = new Scheduler(s.engine, s.store, s.engine.clock, { dagsDir: config.dagsDir });
  await scheduler.start();
  // callbacks run here as in `sluice dev` (their log lines are the tests' to read, not stderr's)
  s.engine.callbacks.configure({ log: () => undefined });
  s.engine.callbacks.start();
  let worker: Worker | null = null;
  if (opts.worker !== false) {
    worker = s.newWorker();
    await worker.start();
  }
  const http = await startHttp(s, { eventToken: opts.eventToken ?? null, ui: false, onError: (e) => process.stderr.write(`server error [${e.code}]: ${e.message}\n${(e.cause as Error | undefined)?.stack ?? ""}\n`) });
  return {
    s,
    http,
    url: http.url,
    scheduler,
    worker,
    async stop() {
      await http.close();
      await scheduler.stop();
      await worker?.stop();
      await s.close();
    },
  };
}

export interface Reply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** A client with an optional session (cookie + CSRF token) or bearer token. */
export class Client {
  cookie: string | null = null;
  csrf: string | null = null;
  bearer: string | null = null;

  constructor(readonly url: string) {}

  async login(username: string, password: string): Promise<Reply> {
    const r = await this.call("POST", "/api/v1/auth/login", { username, password });
    if (r.status === 200) {
      this.cookie = sessionCookie(r.headers);
      this.csrf = r.json.csrfToken;
    }
    return r;
  }

  /** `body` as a string is sent as is (malformed JSON tests); objects as JSON. */
  async call(method: string, path: string, body?: unknown, opts: { csrf?: boolean; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.cookie) headers["Cookie"] = `sluice_session=${this.cookie}`;
    if (this.bearer) headers["Authorization"] = `Bearer ${this.bearer}`;
    if (this.csrf && opts.csrf !== false && method !== "GET") headers["X-CSRF-Token"] = this.csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}) });
    const newCookie = sessionCookie(res.headers);
    if (newCookie !== null && this.cookie !== null) this.cookie = newCookie;
    if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      await res.body?.cancel();
      return { status: res.status, json: null, text: "", headers: res.headers };
    }
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (downloads)
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  get(path: string) {
    return this.call("GET", path);
  }
  post(path: string, body?: unknown, opts?: { csrf?: boolean }) {
    return this.call("POST", path, body, opts);
  }
}

function sessionCookie(h: Headers): string | null {
  const set = h.getSetCookie?.() ?? [];
  for (const c of set) {
    const m = /^sluice_session=([^;]*)/.exec(c);
    if (m) return m[1] || null;
  }
  return null;
}

/**
 * Everything the store holds, as one hash per table (sessions and token use-times excluded: reading
 * through a token records when it was used, by design).
 */
export function storeSnapshot(home: string): Record<string, string> {
  const db = new Database(join(home, "sluice.db"), { readonly: true });
  try {
    const tables = (db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").all() as { name: string }[]).map((t) => t.name);
    const out: Record<string, string> = {};
    for (const t of tables) {
      if (t === "sessions" || t === "workers") continue;
      const rows = db.prepare(`select * from "${t}"`).all() as Record<string, unknown>[];
      const norm = rows.map((r) => {
        const copy = { ...r };
        if (t === "api_tokens") delete copy["last_used_at"];
        return JSON.stringify(copy, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
      });
      norm.sort();
      out[t] = createHash("sha256").update(norm.join("\n")).digest("hex");
    }
    return out;
  } finally {
    db.close();
  }
}
