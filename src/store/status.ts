/**
 * The state of a deployment at a glance (`sluice status`, `GET /api/v1/status`: `store.status.deployment`): its schedulers and workers, the depth of each queue, and the pools in use.
 */
import { sql, type Kysely } from "kysely";
import type { Capacity } from "../core/resources.js";
import { poolUsage, type PoolUsage } from "./capacity.js";
import type { Database } from "./schema.js";

export interface ProcessStatus {
  id: string;
  role: "scheduler" | "worker";
  host: string;
  pid: number;
  /** running | draining (SIGTERM, finishing its tasks) | unresponsive (no heartbeat for `staleAfterMs`). */
  state: "running" | "draining" | "unresponsive";
  startedAt: number;
  lastHeartbeatAt: number;
  /** Workers: the queues served ("*": all), slots, declared capacity, running task instances. */
  queues: string[];
  concurrency: number;
  resources: Capacity | null;
  running: number;
}

export interface QueueStatus {
  queue: string;
  /** Task instances ready to run now (claimable). */
  ready: number;
  running: number;
  /** Live workers serving it (serving every queue counts). */
  workers: number;
}

export interface DeploymentStatus {
  at: number;
  schedulers: ProcessStatus[];
  workers: ProcessStatus[];
  queues: QueueStatus[];
  pools: PoolUsage[];
}

/** @internal Constructed by the Store (`store.status`) and by each transaction (`tx.status`). */
export class StatusQueries {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * @example
   * const status = await store.status.deployment(store.now(), { staleAfterMs: 3 * config.leaseMs });
   * status.queues; // [{ queue: "default", ready: 12, running: 32, workers: 1 }, ...]
   */
  async deployment(now: number, opts: { staleAfterMs: number }): Promise<DeploymentStatus> {
    const rows = await this.db
      .selectFrom("workers")
      .select(["worker_id", "role", "hostname", "pid", "state", "started_at", "heartbeat_at", "queues", "concurrency", "resources"])
      .where("state", "in", ["running", "draining"])
      .orderBy("role")
      .orderBy("hostname")
      .orderBy("started_at")
      .execute();
    const runningByWorker = new Map(
      (
        await this.db
          .selectFrom("attempts")
          .select(["worker_id", (eb) => eb.fn.countAll<number>().as("n")])
          .where(sql<boolean>`state = 'running'`)
          .groupBy("worker_id")
          .execute()
      ).map((r) => [r.worker_id, Number(r.n)]),
    );
    const procs: ProcessStatus[] = rows.map((r) => ({
      id: r.worker_id,
      role: r.role === "scheduler" ? "scheduler" : "worker",
      host: r.hostname,
      pid: r.pid,
      state: now - r.heartbeat_at > opts.staleAfterMs ? "unresponsive" : r.state === "draining" ? "draining" : "running",
      startedAt: r.started_at,
      lastHeartbeatAt: r.heartbeat_at,
      queues: r.queues ? r.queues.split(",") : [],
      concurrency: r.concurrency,
      resources: r.resources ? (JSON.parse(r.resources) as Capacity) : null,
      running: runningByWorker.get(r.worker_id) ?? 0,
    }));
    const workers = procs.filter((p) => p.role === "worker");
  
    const ready = await this.db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select(["ti.queue", (eb) => eb.fn.countAll<number>().as("n")])
      .where(sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`)
      .where("ti.ready_at", "<=", now)
      .where("r.state", "=", "running")
      .groupBy("ti.queue")
      .execute();
    const running = await this.db
      .selectFrom("attempts as a")
      .innerJoin("task_instances as ti", (j) => j.onRef("ti.run_id", "=", "a.run_id").onRef("ti.task_id", "=", "a.task_id").onRef("ti.map_index", "=", "a.map_index"))
      .select(["ti.queue", (eb) => eb.fn.countAll<number>().as("n")])
      .where(sql<boolean>`a.state = 'running'`)
      .groupBy("ti.queue")
      .execute();
    const names = new Set<string>(["default", ...ready.map((r) => r.queue), ...running.map((r) => r.queue), ...workers.flatMap((w) => w.queues.filter((q) => q !== "*"))]);
    const queues: QueueStatus[] = [...names].sort().map((queue) => ({
      queue,
      ready: Number(ready.find((r) => r.queue === queue)?.n ?? 0),
      running: Number(running.find((r) => r.queue === queue)?.n ?? 0),
      workers: workers.filter((w) => w.state !== "unresponsive" && (w.queues.includes(queue) || w.queues.includes("*"))).length,
    }));
  
    return { at: now, schedulers: procs.filter((p) => p.role === "scheduler"), workers, queues, pools: await poolUsage(this.db, now) };
  }
}
