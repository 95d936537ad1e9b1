/** `sluice run`, `sluice runs resume`, `sluice dev`: drive runs in this process, with live progress. */
import { redactSecretParams } from "../../secrets/params.js";
import { relative, resolve } from "node:path";
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { auditHook } from "../../app/auditEntry.js";
import { triggerRun } from "../../app/runs.js";
import { isFinished, TASK_STATES } from "../../core/states.js";
import { SluiceError } from "../../errors.js";
import type { RunSummary, Sluice } from "../../sluice.js";
import type { Worker } from "../../worker/worker.js";
import { colorState, table } from "../format.js";
import { progress } from "../progress.js";
import { coerceParams } from "../params.js";
import { explainMissingDag, withSluice, type GlobalOptions } from "../context.js";
import { runLogsHint } from "../../logs/logStore.js";

interface RunOptions extends GlobalOptions {
  param: string[];
  idempotencyKey?: string;
  logicalDate?: string;
  concurrency?: string;
  /** commander's --no-cache: false when given. */
  cache?: boolean;
}

export function registerRun(program: Command, globals: () => GlobalOptions): void {
  program
    .command("run <dagId>")
    .description("run a DAG once, to completion, in this process (exit 0 on success, 1 on failure)")
    .option("-p, --param <key=value>", "a param (repeatable); JSON values are parsed", collect, [])
    .option("--idempotency-key <key>", "the same key never creates a second run")
    .option("--logical-date <date>", "the run's logical date (ISO 8601); default now")
    .option("--concurrency <n>", "task instances to run at once")
    .option("--no-cache", "reuse no cached task result: cached tasks run and refresh their entries")
    .option("--json", "print the result as JSON")
    .action(async (dagId: string, o: RunOptions) => {
      const opts = { ...globals(), ...o };
      process.exitCode = await withSluice(opts, true, async (s) => {
        const loaded = s.bag.dags.get(dagId) ?? explainMissingDag(s, dagId);
        await requireDeploymentDag(s, dagId);
        const params = await coerceParams(loaded.dag.paramsSchema, opts.param);
        const logicalDate = opts.logicalDate === undefined ? undefined : parseDate(opts.logicalDate);
        const live = opts.json ? null : progress(s);
        const summary = await s.run(
          dagId,
          // a person's run like `sluice trigger`: audited as runs.trigger, the run records who
          { params, audit: auditHook(cliActor(), triggerRun.id), ...(logicalDate ? { logicalDate } : {}), ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}), ...(opts.cache === false ? { noCache: true } : {}) },
          {
            onCreated: (run) => live?.line(`run ${run.runId} of ${dagId} started (logs: ${runLogsHint(s.engine.logs, dagId, run.runId)})`),
            onWorker: (w) => interruptible(w),
          },
        );
        live?.stop();
        report(s, summary, !!opts.json);
        return summary.state === "success" ? 0 : 1;
      });
    });
}

export function registerResume(runs: Command, globals: () => GlobalOptions): void {
  runs
    .command("resume <runId>")
    .description("continue an unfinished run in this process (after a crash or an interrupt)")
    .option("--concurrency <n>", "task instances to run at once")
    .option("--json", "print the result as JSON")
    .action(async (runId: string, o: { json?: boolean; concurrency?: string }) => {
      const opts = { ...globals(), ...o };
      process.exitCode = await withSluice(opts, true, async (s) => {
        const run = await s.store.runs.get(runId);
        if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
        if (!s.bag.dags.has(run.dagId)) explainMissingDag(s, run.dagId);
        const live = opts.json ? null : progress(s);
        live?.line(`resuming run ${runId} of ${run.dagId}`);
        const summary = await s.drive(runId, { onWorker: (w) => interruptible(w) });
        live?.stop();
        report(s, summary, !!opts.json);
        return summary.state === "success" ? 0 : 1;
      });
    });
}

export function registerTrigger(program: Command, globals: () => GlobalOptions): void {
  program
    .command("trigger <dagId>")
    .description("create a run for a running deployment (`sluice dev` or `sluice worker` runs it); prints its id")
    .option("-p, --param <key=value>", "a param (repeatable); JSON values are parsed", collect, [])
    .option("--idempotency-key <key>", "the same key never creates a second run (the existing run is returned)")
    .option("--logical-date <date>", "the run's logical date (ISO 8601); default now")
    .option("--no-cache", "reuse no cached task result: cached tasks run and refresh their entries")
    .option("--json", "print JSON")
    .action(async (dagId: string, o: RunOptions) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, true, async (s) => {
        const loaded = s.bag.dags.get(dagId) ?? explainMissingDag(s, dagId);
        await requireDeploymentDag(s, dagId);
        const params = await coerceParams(loaded.dag.paramsSchema, opts.param);
        const logicalDate = opts.logicalDate === undefined ? undefined : parseDate(opts.logicalDate);
        const run = await triggerRun(s, cliActor(), {
          dagId,
          params,
          ...(logicalDate ? { logicalDate } : {}),
          ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
          ...(opts.cache === false ? { noCache: true } : {}),
        });
        if (opts.json) process.stdout.write(`${JSON.stringify({ runId: run.runId, dagId, state: run.state, logicalDate: new Date(run.logicalDate).toISOString(), params: redactSecretParams(run.params) }, null, 2)}\n`);
        else process.stdout.write(`${run.runId}\n`);
      });
    });
}

/**
 * One rule for `trigger` (decision 0026): a run is of a DAG its deployment knows. When the store holds a
 * deployment's DAGs (registered by its scheduler from its DAGs folder) and this DAG is not one of them —
 * the DAG is in this --dags folder only — the run would execute (the code travels with it) yet be of a DAG
 * the API and UI cannot show (DAG_NOT_FOUND). It is refused instead, saying where the DAG must go.
 */
async function requireDeploymentDag(s: Sluice, dagId: string): Promise<void> {
  if (await s.store.dags.get(dagId)) return;
  const registered = (await s.store.dags.list()).filter((d) => d.isActive);
  const here = resolve(s.bag.dir);
  const inHere = (file: string | null) => file !== null && !relative(here, resolve(file)).startsWith("..");
  // no DAGs registered, or some from this folder: this store is this folder's (its scheduler registers the rest)
  if (registered.length === 0 || registered.some((d) => inHere(d.file))) return;
  throw new SluiceError(
    "DAG_NOT_FOUND",
    `DAG "${dagId}" (in ${s.bag.dir}) is not one of the deployment's DAGs in ${s.store.location} (it has ${registered.length}: ${registered
      .slice(0, 5)
      .map((d) => d.dagId)
      .join(", ")}${registered.length > 5 ? ", …" : ""}); put its file in the deployment's DAGs folder (its scheduler registers it), or run it here with: sluice run ${dagId} --dags ${s.bag.dir}`,
    { details: { dagId } },
  );
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v];
}

function parseDate(text: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new SluiceError("USAGE", `--logical-date "${text}" is not a date; use ISO 8601, e.g. 2026-01-31T00:00:00Z`);
  return d;
}

let interruptTarget: Worker | null = null;
let interrupts = 0;

/**
 * Ctrl-C once: stop taking new tasks and let running ones finish; twice: hand the running ones back
 * (recorded as interrupted, their tries not counted) and exit once that is recorded; three times: exit
 * now. The run stays resumable. One handler per process, aimed at the worker currently driving a run.
 */
function interruptible(worker: Worker): void {
  if (interruptTarget === null) {
    process.on("SIGINT", () => {
      interrupts++;
      const w = interruptTarget;
      if (interrupts === 1 && w) {
        process.stderr.write(`\nstopping: waiting for ${w.runningCount} running task(s); Ctrl-C again to hand them back and exit. Continue later with: sluice runs resume <runId>\n`);
        void w.stop().then(() => process.exit(130));
      } else if (interrupts === 2 && w) {
        process.stderr.write(`handing back ${w.runningCount} running task(s)…\n`);
        setTimeout(() => process.exit(130), 10_000).unref(); // the store does not answer: the lease will do
        w.handBackNow();
      } else {
        process.exit(130);
      }
    });
  }
  interruptTarget = worker;
}


/**
 * A run's result in a size that does not grow with the run: counts by state and the failed task
 * instances (a 100,000-task run printed 600,000 lines). `runs show` and the API page the instances.
 * `--json`: the summary (RunSummary) on one line; its `tasks` list only a run of at most SUMMARY_TASKS.
 */
function report(s: Sluice, summary: RunSummary, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  const counts = TASK_STATES.flatMap((st) => (summary.counts[st] ? [`${summary.counts[st]} ${colorState(st)}`] : []));
  process.stdout.write(`${summary.total} task instance${summary.total === 1 ? "" : "s"}: ${counts.join(", ")}\n`);
  if (summary.failed.length) {
    const rows = summary.failed.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, colorState(t.state), t.attempts]);
    process.stdout.write(`${table(["TASK", "STATE", "ATTEMPTS"], rows)}\n`);
    const more = (summary.counts.failed ?? 0) - summary.failed.length;
    if (more > 0) process.stdout.write(`… and ${more} more failed: npx sluice runs show ${summary.runId}\n`);
  }
  const unfinished = TASK_STATES.reduce((n, st) => n + (isFinished(st) ? 0 : (summary.counts[st] ?? 0)), 0);
  process.stdout.write(
    `run ${summary.runId} of ${summary.dagId}: ${colorState(summary.state)}${summary.stateReason ? ` (${summary.stateReason})` : ""}${unfinished ? `, ${unfinished} unfinished` : ""}\n`,
  );
  if (summary.state !== "success") process.stdout.write(`see why: npx sluice runs show ${summary.runId}   (logs: ${runLogsHint(s.engine.logs, summary.dagId, summary.runId)})\n`);
}
