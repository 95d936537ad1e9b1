/**
 * Every metric Sluice exposes (docs/metrics.md lists them; decision 0018), defined once, through prom-client.
 *
 * Two kinds, kept apart because they are counted in different places:
 * - **Process metrics** (this registry, `metrics`): what this process did — counters and histograms
 *   incremented in memory where it happens (the engine after a commit, the worker as attempts start and
 *   end, the store around each transaction). No query, no I/O: the hot path pays an increment. Summed
 *   across processes by Prometheus (`sum by (dag, state) (rate(...))`).
 * - **Deployment gauges** (`deploymentRegistry`): what the store holds now — ready and running work,
 *   active runs, live processes. Read by aggregate queries at scrape time (store/gauges.ts) and set just
 *   before the text is rendered (`exposition`), only by processes that serve the API or schedule: never
 *   by `sluice worker`, so N workers do not read the same numbers N times.
 *
 * Labels are bounded: DAG ids, queues, pools, states, outcomes — never run ids, task ids or map indexes.
 * This module is a bottom layer (eslint.config.js): it imports nothing of Sluice, so the store may use it.
 */
import { createRequire } from "node:module";
import type * as Prom from "prom-client";

// prom-client's entry loads all of it — the push gateway, cluster aggregation, the default metrics: 45–130
// ms of CPU on this machine. Every CLI command opens the store, which imports this module, so it loads the
// four classes it uses (~3 ms), and the default metrics only in a process that serves /metrics.
const load = createRequire(import.meta.url);
const Registry = load("prom-client/lib/registry") as typeof Prom.Registry;
const Counter = load("prom-client/lib/counter") as typeof Prom.Counter;
const Gauge = load("prom-client/lib/gauge") as typeof Prom.Gauge;
const Histogram = load("prom-client/lib/histogram") as typeof Prom.Histogram;

const registry = new Registry();

let workerCounts: () => { running: number; slots: number } = () => ({ running: 0, slots: 0 });

/** How the worker gauges are read at scrape time: worker/worker.ts sums its started workers. */
export function countWorkersWith(read: () => { running: number; slots: number }): void {
  workerCounts = read;
}

/** Durations of user tasks: from 10 ms to 4 h. */
const TASK_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400];
/** Waits and loop and transaction times: from a millisecond to half an hour. */
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800];
const TX_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/**
 * The process metrics, one object so that metrics a later feature will increment (callbacks,
 * notifications, deadline misses) are defined and exposed (at zero) before it lands.
 */
/**
 * Whether this process records its metrics: from when it serves /metrics (collectRuntimeMetrics, called
 * as /metrics is mounted, before any work starts). A process nobody can scrape — `sluice run`, the bench,
 * an embedding program — checks this one flag on its hot paths and pays nothing else: prom-client's
 * observe validates and hashes its labels per call (~15 µs per chained task in chain-1000's profile).
 */
export const recording = { on: false };

export const metrics = {
  runsFinished: new Counter({
    name: "sluice_runs_finished_total",
    help: "Runs this process brought to a final state, by DAG and state (success, failed)",
    labelNames: ["dag", "state"] as const,
    registers: [registry],
  }),
  taskInstancesFinished: new Counter({
    name: "sluice_task_instances_finished_total",
    help: "Task instances this process brought to a final state (success, failed, skipped, upstream_failed, removed), by DAG and state",
    labelNames: ["dag", "state"] as const,
    registers: [registry],
  }),
  taskDuration: new Histogram({
    name: "sluice_task_duration_seconds",
    help: "Wall time of the attempts this process's workers ran, from claim to end, by DAG and how the attempt ended",
    labelNames: ["dag", "state"] as const,
    buckets: TASK_BUCKETS,
    registers: [registry],
  }),
  queueWait: new Histogram({
    name: "sluice_task_queue_wait_seconds",
    help: "Time a task instance was ready (due) before this process's worker claimed it, by queue",
    labelNames: ["queue"] as const,
    buckets: WAIT_BUCKETS,
    registers: [registry],
  }),
  claims: new Counter({
    name: "sluice_claims_total",
    help: "Claims this process's workers made, by result: claimed (got at least one attempt) or empty",
    labelNames: ["result"] as const,
    registers: [registry],
  }),
  attemptsClaimed: new Counter({
    name: "sluice_attempts_claimed_total",
    help: "Attempts this process's workers claimed, by queue",
    labelNames: ["queue"] as const,
    registers: [registry],
  }),
  // read from the workers at scrape time (`countWorkersWith`), not moved up and down per task
  workerRunning: new Gauge({
    name: "sluice_worker_running_attempts",
    help: "Attempts this process's workers are running now",
    registers: [registry],
    collect() {
      this.set(workerCounts().running);
    },
  }),
  workerSlots: new Gauge({
    name: "sluice_worker_slots",
    help: "Attempts this process's workers may run at once (their concurrency)",
    registers: [registry],
    collect() {
      this.set(workerCounts().slots);
    },
  }),
  leaseLosses: new Counter({
    name: "sluice_lease_losses_total",
    help: "Attempts this process's workers stopped because their lease was lost (cancelled, or expired and taken over)",
    registers: [registry],
  }),
  schedulerLoop: new Histogram({
    name: "sluice_scheduler_loop_seconds",
    help: "Duration of one scheduler loop (create due runs, evaluate asset triggers, arm the next wake-up)",
    buckets: WAIT_BUCKETS,
    registers: [registry],
  }),
  txDuration: new Histogram({
    name: "sluice_db_transaction_seconds",
    help: "Duration of one try of a store transaction, by outcome (commit, rollback)",
    labelNames: ["outcome"] as const,
    buckets: TX_BUCKETS,
    registers: [registry],
  }),
  txRetries: new Counter({
    name: "sluice_db_transaction_retries_total",
    help: "Store transactions run again after a retryable failure (PostgreSQL), by reason: conflict (deadlock, serialization, capacity locks) or connection",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  // engine/callbacks.ts counts each try of a callback (a notifier's in `notifications`); engine/transaction
  // counts deadline misses once their transaction committed
  callbacks: new Counter({
    name: "sluice_callbacks_total",
    help: "Tries of task and run callbacks (other than notifiers) this process ran, by outcome (sent: done; failed: threw or timed out)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  notifications: new Counter({
    name: "sluice_notifications_total",
    help: "Tries of notifiers (webhook, slack, email) this process ran, by outcome (sent, failed)",
    labelNames: ["outcome"] as const,
    registers: [registry],
  }),
  deadlineMisses: new Counter({
    name: "sluice_deadline_misses_total",
    help: "Deadlines (Airflow's deadline alerts, once SLAs) this process recorded as missed, by DAG",
    labelNames: ["dag"] as const,
    registers: [registry],
  }),
};

// A counter with labels shows no series until its first increment: give the reserved ones and the
// outcomes a zero each, so that `rate()` and alerts see them from the start.
for (const outcome of ["sent", "failed"]) {
  metrics.callbacks.labels(outcome).inc(0);
  metrics.notifications.labels(outcome).inc(0);
}
for (const result of ["claimed", "empty"]) metrics.claims.labels(result).inc(0);
for (const reason of ["conflict", "connection"]) metrics.txRetries.labels(reason).inc(0);

/** What the store holds now (store/gauges.ts reads it at scrape time). */
export interface DeploymentGauges {
  /** Task instances due and claimable now (the autoscaling signal), by queue and pool. */
  ready: { queue: string; pool: string; count: number }[];
  /** Attempts running now, by queue and pool. */
  running: { queue: string; pool: string; count: number }[];
  /** Runs not finished (queued, running), by DAG and state. */
  activeRuns: { dagId: string; state: string; count: number }[];
  /** Schedulers and workers with a live row, by role. */
  processes: { role: string; count: number }[];
  /** Open entries of the dead-letter queue, by DAG. */
  deadLetters: { dagId: string; count: number }[];
}

const deploymentRegistry = new Registry();
/**
 * Whether the last scrape could read the store. Kept out of `deployment` (which is reset per scrape): a
 * store that cannot be read must not fail the scrape, or the process's own metrics would go with it.
 */
const storeUp = new Gauge({
  name: "sluice_store_up",
  help: "1 when this scrape read the deployment gauges from the store, 0 when the store could not be read (they are then absent)",
  registers: [deploymentRegistry],
});
const deployment = {
  ready: new Gauge({
    name: "sluice_ready_task_instances",
    help: "Task instances due and claimable now, by queue and pool (scale workers on this); read from the store at scrape time",
    labelNames: ["queue", "pool"] as const,
    registers: [deploymentRegistry],
  }),
  running: new Gauge({
    name: "sluice_running_attempts",
    help: "Attempts running now in the whole deployment, by queue and pool; read from the store at scrape time",
    labelNames: ["queue", "pool"] as const,
    registers: [deploymentRegistry],
  }),
  activeRuns: new Gauge({
    name: "sluice_active_runs",
    help: "Runs not finished, by DAG and state (queued, running); read from the store at scrape time",
    labelNames: ["dag", "state"] as const,
    registers: [deploymentRegistry],
  }),
  deadLetters: new Gauge({
    name: "sluice_dead_letters_open",
    help: "Open entries of the dead-letter queue (task instances that failed for good and wait for retry or discard), by DAG; read from the store at scrape time",
    labelNames: ["dag"] as const,
    registers: [deploymentRegistry],
  }),
  processes: new Gauge({
    name: "sluice_live_processes",
    help: "Schedulers and workers registered and not stopped, by role; read from the store at scrape time",
    labelNames: ["role"] as const,
    registers: [deploymentRegistry],
  }),
};

let defaults = false;

/**
 * The process's own runtime metrics too (prom-client's defaults: CPU, memory, event loop lag, GC): started
 * by the processes that serve /metrics, not by embedding programs and tests that never scrape.
 */
export function collectRuntimeMetrics(): void {
  recording.on = true;
  if (defaults) return;
  defaults = true;
  const collectDefaultMetrics = load("prom-client/lib/defaultMetrics") as typeof Prom.collectDefaultMetrics;
  collectDefaultMetrics({ register: registry });
}

/** One render at a time: the deployment gauges are reset and set for each, and two must not interleave. */
let rendering: Promise<unknown> = Promise.resolve();

/**
 * The Prometheus text of this process's metrics and, given `read`, of the deployment gauges it returns
 * (one read per scrape).
 * @example
 * const text = await exposition(() => readGauges(store)); // server/metrics.ts
 */
export function exposition(read?: () => Promise<DeploymentGauges>): Promise<string> {
  const next = rendering.then(async () => {
    const own = await registry.metrics();
    if (!read) return own;
    for (const gauge of Object.values(deployment)) gauge.reset();
    let g: DeploymentGauges;
    try {
      g = await read();
      storeUp.set(1);
    } catch {
      storeUp.set(0);
      g = { ready: [], running: [], activeRuns: [], processes: [], deadLetters: [] };
    }
    for (const r of g.ready) deployment.ready.labels(r.queue, r.pool).set(r.count);
    for (const r of g.running) deployment.running.labels(r.queue, r.pool).set(r.count);
    for (const r of g.activeRuns) deployment.activeRuns.labels(r.dagId, r.state).set(r.count);
    for (const r of g.processes) deployment.processes.labels(r.role).set(r.count);
    for (const r of g.deadLetters) deployment.deadLetters.labels(r.dagId).set(r.count);
    const theirs = await deploymentRegistry.metrics();
    return own.endsWith("\n") ? own + theirs : `${own}\n${theirs}`;
  });
  rendering = next.catch(() => undefined);
  return next;
}

/** The content type of `exposition`'s text (Prometheus text format 0.0.4). */
export const CONTENT_TYPE = registry.contentType;
