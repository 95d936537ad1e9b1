/**
 * The processes of a deployment as the store sees them: workers (registered by `Store.registerWorker`)
 * and schedulers, one table (`workers`, with a role) so `sluice status` lists them all. Each heartbeats
 * its row; a row whose heartbeat is older than a few leases belongs to a process that is gone.
 */
import type { Kysely } from "kysely";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Capacity } from "../core/resources.js";
import type { Database } from "./schema.js";

/** @internal Constructed by the Store (`store.workers`) and by each transaction (`tx.workers`). */
export class WorkerRows {
  constructor(private readonly db: Kysely<Database>) {}

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

  /** A scheduler's (or any process row's) heartbeat. */
  async heartbeatProcess(id: string, now: number): Promise<void> {
    await this.db.updateTable("workers").set({ heartbeat_at: now }).where("worker_id", "=", id).where("state", "=", "running").execute();
  }

  /** The process stopped cleanly. */
  async stopProcess(id: string, now: number): Promise<void> {
    await this.db.updateTable("workers").set({ state: "stopped", heartbeat_at: now }).where("worker_id", "=", id).execute();
  }

  /** A worker draining after SIGTERM: it claims nothing more (`sluice status` shows it). */
  async markDraining(id: string): Promise<void> {
    await this.db.updateTable("workers").set({ state: "draining" }).where("worker_id", "=", id).where("state", "=", "running").execute();
  }
}
