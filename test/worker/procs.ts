/** Helpers for tests of long-running roles: processes that are killed at the end, and reads of the SQLite file. */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { cliSpawn, sandbox, type Sandbox } from "../helpers.js";

export interface Proc {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

export class Procs {
  private readonly procs: ChildProcess[] = [];
  private readonly boxes: Sandbox[] = [];
  private readonly started: Proc[] = [];

  /** A sandbox with one DAG file; the function gets the path of a file tasks may append marks to. */
  sandbox(dagFile: (marks: string) => string): Sandbox {
    const sb = sandbox("sluice-roles-");
    this.boxes.push(sb);
    sb.write("dag.ts", dagFile(join(sb.dir, "marks")));
    return sb;
  }

  start(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const proc = cliSpawn(sb, args, env);
    this.procs.push(proc);
    let out = "";
    proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    proc.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
    const p = { proc, out: () => out, exited };
    this.started.push(p);
    return p;
  }

  /** Signal every process started so far and wait for them to exit. */
  async stopAll(signal: NodeJS.Signals): Promise<void> {
    const live = this.started.filter((p) => p.proc.exitCode === null && p.proc.signalCode === null);
    for (const p of live) p.proc.kill(signal);
    await Promise.all(live.map((p) => p.exited));
  }

  cleanup(): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const b of this.boxes) b.cleanup();
  }
}

/** Read the sandbox's SQLite file (read-only); [] before it exists or is migrated. */
export function query<T>(sb: Sandbox, text: string, ...params: unknown[]): T[] {
  const file = join(sb.home, "sluice.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(text).all(...params) as T[];
  } catch (e) {
    if (/no such (table|column)/.test((e as Error).message)) return [];
    throw e;
  } finally {
    db.close();
  }
}

export interface AttemptRow {
  attempt_id: number;
  run_id: string;
  task_id: string;
  try_number: number;
  state: string;
  worker_id: string;
  started_at: number;
  ended_at: number | null;
  heartbeat_at: number;
  lease_expires_at: number;
  error_code: string | null;
}

export const attempts = (sb: Sandbox, dagId: string) =>
  query<AttemptRow>(
    sb,
    `select a.attempt_id, a.run_id, a.task_id, a.try_number, a.state, a.worker_id, a.started_at, a.ended_at, a.heartbeat_at, a.lease_expires_at, a.error_code
       from attempts a join runs r on r.run_id = a.run_id where r.dag_id = ? order by a.attempt_id`,
    dagId,
  );

export const runStates = (sb: Sandbox, dagId: string) => query<{ state: string }>(sb, "select state from runs where dag_id = ? order by created_at", dagId).map((r) => r.state);
