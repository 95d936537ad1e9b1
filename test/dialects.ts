/**
 * Run the same tests on SQLite and on PostgreSQL. PostgreSQL tests each get a fresh schema (created and
 * dropped here), so test files run in parallel against one server.
 *
 * Without a reachable PostgreSQL (SLUICE_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
 * the PostgreSQL tests are skipped, and scripts/test.js prints one line saying so — unless
 * SLUICE_REQUIRE_PG=1 (CI), which makes them run and fail.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { after, before } from "node:test";
import pg from "pg";

export const PG_URL = process.env["SLUICE_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
const REQUIRE_PG = process.env["SLUICE_REQUIRE_PG"] === "1";

/** Whether a PostgreSQL server (or a pooler in front of one) answers at `url`. */
export async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on("error", () => undefined);
  try {
    await c.connect();
    await c.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether PostgreSQL is reachable (probed once per test file). */
export const pgReachable: boolean = await canConnect(PG_URL);

/**
 * The `skip` option of a PostgreSQL test: false when it must run (reachable, or SLUICE_REQUIRE_PG=1),
 * true otherwise — and then it is counted for scripts/test.js's one-line notice.
 */
export function pgSkip(count = 1): boolean {
  if (pgReachable || REQUIRE_PG) return false;
  const log = process.env["SLUICE_PG_SKIP_LOG"];
  if (log) appendFileSync(log, `${PG_URL}\n`.repeat(count));
  else if (!warned) {
    warned = true;
    console.log(`PostgreSQL not reachable at ${redact(PG_URL)}: skipping PostgreSQL tests; set SLUICE_REQUIRE_PG=1 to fail instead`);
  }
  return true;
}
let warned = false;

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface PgSchema {
  /** A database URL into the schema; its application_name names the schema too (to find its backends). */
  url: string;
  schema: string;
  /** Terminate every backend of this schema's processes (simulated connection loss). */
  terminateBackends(): Promise<number>;
  drop(): Promise<void>;
}

/** A fresh, empty schema for one test (Sluice creates it on open and migrates it). */
export async function freshSchema(): Promise<PgSchema> {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const sep = PG_URL.includes("?") ? "&" : "?";
  const url = `${PG_URL}${sep}schema=${schema}&application_name=sluice_${schema}`;
  return {
    url,
    schema,
    terminateBackends: () =>
      admin(async (c) => {
        const r = await c.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()", [`sluice_${schema}`]);
        return r.rowCount ?? 0;
      }),
    drop: () => admin(async (c) => void (await c.query(`drop schema if exists "${schema}" cascade`))),
  };
}

export type DialectName = "sqlite" | "postgres";

export interface Dialect {
  name: DialectName;
  /** The `skip` option for tests of this dialect. */
  skip: boolean;
  /** A fresh database: a SQLite file under `dir`, or a PostgreSQL schema. */
  fresh(dir: string): Promise<{ url: string; cleanup(): Promise<void> }>;
}

let sqliteN = 0;

/**
 * Inside a `describe` per dialect: a fresh database for the suite, made before its tests and dropped after
 * them (nothing when the dialect is skipped). Returns its URL's getter, valid once the tests run.
 */
export function suiteDatabase(d: Dialect, dir: string): () => string {
  let db: { url: string; cleanup(): Promise<void> } | null = null;
  before(async () => {
    if (!d.skip) db = await d.fresh(dir);
  });
  after(async () => {
    await db?.cleanup();
  });
  return () => db!.url;
}

/** SQLite, then PostgreSQL; `tests` is how many PostgreSQL tests a skip counts. */
export function dialects(tests = 1): Dialect[] {
  return [
    { name: "sqlite", skip: false, fresh: async (dir) => ({ url: `sqlite:${dir}/db-${process.pid}-${sqliteN++}.sqlite`, cleanup: async () => undefined }) },
    {
      name: "postgres",
      skip: pgSkip(tests),
      fresh: async () => {
        const s = await freshSchema();
        return { url: s.url, cleanup: () => s.drop() };
      },
    },
  ];
}

/** Rows of `text` read in `schema` over a connection of its own (outside any store: what the test sees). */
export async function querySchema<T>(schema: PgSchema, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: schema.url.replace(/[?&]schema=[^&]*/, "").replace(/[?&]application_name=[^&]*/, "") });
  c.on("error", () => undefined);
  await c.connect();
  try {
    await c.query(`set search_path = "${schema.schema}"`);
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface FleetEngine {
  newWorker(): { start(): Promise<void>; stop(): Promise<void> };
  close(): Promise<void>;
}

/**
 * `count` engines on one fresh PostgreSQL schema, each with a started worker, as separate processes would
 * be (call inside a describe: its before/after start them and then stop, close and drop everything).
 * `fleet.engines` and `fleet.url` are set once the suite's before hook ran.
 */
export function pgFleet<E extends FleetEngine>(count: number, open: (url: string) => Promise<E>): { engines: E[]; url: string } {
  const fleet = { engines: [] as E[], url: "" };
  let schema: PgSchema | null = null;
  const workers: ReturnType<E["newWorker"]>[] = [];
  before(async () => {
    schema = await freshSchema();
    fleet.url = schema.url;
    for (let i = 0; i < count; i++) fleet.engines.push(await open(schema.url));
    for (const e of fleet.engines) {
      const w = e.newWorker() as ReturnType<E["newWorker"]>;
      await w.start();
      workers.push(w);
    }
  });
  after(async () => {
    for (const w of workers) await w.stop();
    for (const e of fleet.engines) await e.close();
    await schema?.drop();
  });
  return fleet;
}
