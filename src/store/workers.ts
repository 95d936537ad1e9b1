/**
 * The processes of a deployment as the store sees them: workers (registered by `Store.registerWorker`)
 * and schedulers, one table (`workers`, with a role) so `sluice status` lists them all. Each heartbeats
 * its row; a row whose heartbeat is older than a few leases belongs to a process that is gone.
 */
import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Capacity } from "../core/resources.js";
import type { StoreContext } from "./aggregates.js";
import { lockCapacity } from "./claims.js";
import type { Database } from "./schema.js";
import { execText, marks, PG_NOW_MS } from "./sqlText.js";

export interface WorkerInfo {
  workerId: string;
  queues: string[];
  concurrency: number;
}

/** @internal Constructed by the Store (`store.workers`) and by each transaction (`tx.workers`). */
export class WorkerRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /**
   * The workers alive now (heartbeat within `staleMs`, lease time): what they serve and declare, for why a
   * task cannot start (core/waiting.ts).
   */
  async live(staleMs: number): Promise<{ queues: string[] | null; resources: Capacity | null }[]> {
    const now = this.ctx.leaseNow();
    const r = await execText<{ queues: string | null; resources: string | null }>(
      this.db,
      this.ctx.dialect,
      `select queues, resources from workers where role = 'worker' and state = 'running' and heartbeat_at >= ${now.expr} - ?`,
      [...now.params, staleMs],
    );
    return r.rows.map((w) => ({ queues: w.queues ? w.queues.split(",") : null, resources: parseCapacityJson(w.resources) }));
  }

  /** A worker's declared capacity (`sluice worker --resources`), for `sluice status`. */
  async declareResources(workerId: string, resources: Capacity): Promise<void> {
    await this.db.updateTable("workers").set({ resources: JSON.stringify(resources) }).where("worker_id", "=", workerId).execute();
  }

  /** Register a scheduler process; returns its id. */
  async registerScheduler(now: number): Promise<string> {
    const id = `s-${randomBytes(5).toString("hex")}`;
    await this.db
      .insertInto("workers")
      .values({ worker_id: id, role: "scheduler", hostname: hostname(), pid: process.pid, queues: "", concurrency: 0, started_at: now, heartbeat_at: now, state: "running", resources: null })
      .execute();
    return id;
  }

  /**
   * A scheduler's heartbeat. A row marked dead while its process lives (a sweep that mistook it for a
   * lost worker — its own sweep did, listRunningOnHost — or a process stalled past the stale limit) is
   * running again with it, so `sluice status` never loses a live scheduler for good; a stopped row stays
   * stopped.
   */
  async heartbeatProcess(id: string, now: number): Promise<void> {
    await this.db.updateTable("workers").set({ heartbeat_at: now, state: "running" }).where("worker_id", "=", id).where("state", "in", ["running", "dead"]).execute();
  }

  /** The process stopped cleanly. */
  async stopProcess(id: string, now: number): Promise<void> {
    await this.db.updateTable("workers").set({ state: "stopped", heartbeat_at: now }).where("worker_id", "=", id).execute();
  }

  /** A worker draining after SIGTERM: it claims nothing more (`sluice status` shows it). */
  async markDraining(id: string): Promise<void> {
    await this.db.updateTable("workers").set({ state: "draining" }).where("worker_id", "=", id).where("state", "=", "running").execute();
  }

  // ---- workers and leases ----------------------------------------------------------------------------

  /**
   * Register a worker as live. Its concurrency joins the total that PostgreSQL claims count on (claims.ts):
   * the change waits for the claims under way, as do stopping, reviving and burying one.
   */
  async register(w: WorkerInfo): Promise<void> {
    const startedAt = this.ctx.now();
    // heartbeat_at is lease time (the database's on PostgreSQL), like attempts' heartbeats
    const now = this.ctx.leaseNow();
    await this.ctx.inTx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(
        `insert into workers (worker_id, hostname, pid, queues, concurrency, started_at, heartbeat_at, state)
         values (?, ?, ?, ?, ?, ?, ${now.expr}, 'running')`,
        [w.workerId, this.ctx.hostname, process.pid, w.queues.join(","), w.concurrency, startedAt, ...now.params],
      );
    });
  }

  async stop(workerId: string): Promise<void> {
    const now = this.ctx.leaseNow();
    await this.ctx.inTx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(`update workers set state = 'stopped', heartbeat_at = ${now.expr} where worker_id = ?`, [...now.params, workerId]);
    });
  }

  /**
   * A worker the sweep buried (its heartbeats had stopped for a while) turned out to be alive: it counts
   * again before it claims again.
   */
  async revive(workerId: string): Promise<void> {
    const now = this.ctx.leaseNow();
    await this.ctx.inTx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(`update workers set state = 'running', heartbeat_at = ${now.expr} where worker_id = ? and state in ('dead', 'running')`, [...now.params, workerId]);
    });
  }

  /**
   * PostgreSQL: workers whose heartbeats stopped more than `staleMs` ago (in database time) and that hold
   * no running attempt any more (their leases expired and the sweep failed them) are dead: their
   * concurrency stops counting. Returns their ids.
   */
  async buryStale(staleMs: number): Promise<string[]> {
    if (this.ctx.dialect !== "postgres") return [];
    const stale = `state in ('running', 'draining') and role = 'worker' and heartbeat_at < ${PG_NOW_MS} - ?
                   and not exists (select 1 from attempts a where a.worker_id = workers.worker_id and a.state = 'running')`;
    const found = await execText<{ worker_id: string }>(this.db, this.ctx.dialect, `select worker_id from workers where ${stale}`, [staleMs]);
    if (found.rows.length === 0) return [];
    return this.ctx.inTx(async (tx) => {
      await lockCapacity(tx);
      const r = await tx.send<{ worker_id: string }>(`update workers set state = 'dead' where ${stale} returning worker_id`, [staleMs]);
      return r.rows.map((x) => x.worker_id);
    });
  }

  /**
   * Renew the leases of a worker's running attempts. Returns the ids among `attemptIds` that are no
   * longer this worker's live attempts (cancelled, timed out by a sweep, or taken over): the worker must
   * abort them.
   */
  async heartbeat(workerId: string, attemptIds: number[], leaseMs: number): Promise<number[]> {
    const now = this.ctx.leaseNow();
    await execText(this.db, this.ctx.dialect, `update workers set heartbeat_at = ${now.expr} where worker_id = ?`, [...now.params, workerId]);
    if (attemptIds.length === 0) return [];
    // Fencing: only this worker's attempts that are still running are renewed. One that was cancelled,
    // expired and swept, or taken over is missing from the result, and the worker aborts it.
    const renewed = await execText<{ attempt_id: number }>(this.db, this.ctx.dialect, 
      `update attempts set heartbeat_at = ${now.expr}, lease_expires_at = ${now.expr} + ?
        where attempt_id in (${marks(attemptIds.length)}) and worker_id = ? and state = ?
        returning attempt_id`,
      [...now.params, ...now.params, leaseMs, ...attemptIds, workerId, "running"], // BY_ID_STATE
    );
    const alive = new Set(renewed.rows.map((r) => Number(r.attempt_id)));
    return attemptIds.filter((id) => !alive.has(id));
  }

  /** Workers on this host that registered as running: to detect ones whose process died. */
  async listRunningOnHost(): Promise<{ workerId: string; pid: number }[]> {
    const rows = await this.db
      .selectFrom("workers")
      .select(["worker_id", "pid"])
      .where("hostname", "=", this.ctx.hostname)
      .where("state", "=", "running")
      // schedulers too have a row with their pid, but no attempts to lose: a scheduler's own sweep found
      // its row (its id not a local worker's) and marked itself dead, so `sluice status` lost it
      .where("role", "=", "worker")
      .execute();
    return rows.map((r) => ({ workerId: r.worker_id, pid: r.pid }));
  }

  async markDead(workerIds: string[]): Promise<void> {
    if (workerIds.length === 0) return;
    await this.db.updateTable("workers").set({ state: "dead" }).where("worker_id", "in", workerIds).execute();
  }
}

/** A worker's declared capacity column; unreadable (a poison row) counts as undeclared, not as an error. */
function parseCapacityJson(text: string | null): Capacity | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as Capacity;
  } catch {
    return null;
  }
}
