/**
 * `sluice backfill <dagId> --from D --to D`: runs for a scheduled DAG's past data intervals, driven in this
 * process with a progress bar (plain lines when stderr is not a terminal); `backfill resume|cancel|list|show`.
 * Ctrl-C (or SIGTERM) cancels the backfill: no new runs start, running ones finish (again: exit now).
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { cancelBackfill, createBackfill, planBackfill } from "../../app/backfills.js";
import { formatDuration } from "../../core/duration.js";
import { parseBackfillDate, parseReprocess, type IntervalAction } from "../../core/backfill.js";
import { backfillSummary, describeBackfill, requireBackfill, scheduleOf, scheduleTimezone, type BackfillDriver, type BackfillHooks, type BackfillPlan, type BackfillSummary } from "../../engine/backfill.js";
import { SluiceError } from "../../errors.js";
import { type BackfillCounts, type BackfillRecord } from "../../store/backfills.js";
import { explainMissingDag, withSluice, type GlobalOptions } from "../context.js";
import { colorState, iso, printJson, table } from "../format.js";

interface CreateOptions extends GlobalOptions {
  from: string;
  to: string;
  reprocess: string;
  maxActive?: string;
  runBackwards?: boolean;
  dryRun?: boolean;
  concurrency?: string;
}

export function registerBackfill(program: Command, globals: () => GlobalOptions): void {
  const backfill = program
    .command("backfill")
    .description("run a scheduled DAG for past data intervals: sluice backfill <dagId> --from <date> --to <date>");
  backfill
    .command("create <dagId>", { isDefault: true })
    .description("create a backfill and drive it in this process (exit 0 when every run succeeded, 1 otherwise); the same command again resumes it")
    .requiredOption("--from <date>", "first logical date (ISO 8601; without an offset, in the DAG's timezone)")
    .requiredOption("--to <date>", "last logical date (inclusive)")
    .option("--reprocess <behaviour>", "intervals that already have a run: missing (leave them), failed (re-run failed ones), all (re-run every one)", "missing")
    .option("--max-active <n>", "runs of the backfill active at once (default 10)")
    .option("--run-backwards", "latest intervals first")
    .option("--dry-run", "print the intervals and what would happen to each; create nothing")
    .option("--concurrency <n>", "task instances to run at once in this process")
    .option("--json", "print the result as JSON")
    .action(async (dagId: string, o: CreateOptions) => {
      const opts = { ...globals(), ...o };
      process.exitCode = await withSluice(opts, true, async (s) => {
        const loaded = s.bag.dags.get(dagId) ?? explainMissingDag(s, dagId);
        const tz = scheduleTimezone(scheduleOf(loaded.dag.spec, dagId));
        const reprocess = parseReprocess(opts.reprocess);
        const maxActive = opts.maxActive === undefined ? undefined : positiveInt(opts.maxActive, "--max-active");
        const from = parseBackfillDate(opts.from, "--from", tz, "earlier");
        const to = parseBackfillDate(opts.to, "--to", tz, "later");
        const req = { dagId, from, to, reprocess, ...(maxActive !== undefined ? { maxActive } : {}), runBackwards: !!opts.runBackwards };
        if (opts.dryRun) {
          printPlan(await planBackfill(s, cliActor(), req), !!opts.json);
          return 0;
        }
        const view = opts.json ? null : new ProgressView();
        const hooks: BackfillHooks = view ? view.hooks() : { onDriver: cancellable };
        const { backfill: created, resumed } = await createBackfill(s, cliActor(), req);
        hooks.onStart?.(created, resumed);
        const summary = await s.driveBackfill(created.backfillId, { hooks });
        view?.end();
        report(summary, !!opts.json);
        return summary.state === "success" ? 0 : 1;
      });
    });
  backfill
    .command("resume <backfillId>")
    .description("continue a backfill whose process stopped (a crash, kill -9) in this process")
    .option("--concurrency <n>", "task instances to run at once in this process")
    .option("--json", "print the result as JSON")
    .action(async (id: string, o: { json?: boolean; concurrency?: string }) => {
      const opts = { ...globals(), ...o };
      process.exitCode = await withSluice(opts, true, async (s) => {
        const b = await requireBackfill(s.store, backfillIdOf(id));
        if (b.state === "running" && !s.bag.dags.has(b.dagId)) explainMissingDag(s, b.dagId);
        const view = opts.json ? null : new ProgressView();
        const summary = await s.resumeBackfill(b.backfillId, { hooks: view ? view.hooks() : { onDriver: cancellable } });
        view?.end();
        report(summary, !!opts.json);
        return summary.state === "success" ? 0 : 1;
      });
    });
  backfill
    .command("cancel <backfillId>")
    .description("cancel a running backfill (from any process): no more of its runs start; running ones finish")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const b = await cancelBackfill(s, cliActor(), { backfillId: backfillIdOf(id) });
        const counts = await s.store.backfills.counts(b.backfillId);
        if (opts.json) return printJson({ backfillId: b.backfillId, dagId: b.dagId, state: b.state, running: counts.active, notStarted: counts.pending });
        process.stdout.write(
          `backfill ${b.backfillId} of ${b.dagId} cancelled: ${counts.pending} interval(s) will not start${counts.active ? `; ${counts.active} running run(s) finish` : ""}\n`,
        );
      });
    });
  backfill
    .command("list")
    .description("backfills, newest first")
    .option("--dag <dagId>", "only this DAG's")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (o: { dag?: string; limit: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const list = await s.store.backfills.list({ ...(opts.dag ? { dagId: opts.dag } : {}), limit: positiveInt(opts.limit, "--limit") });
        const rows = await Promise.all(list.map(async (b) => ({ ...backfillJson(b), counts: await s.store.backfills.counts(b.backfillId) })));
        if (opts.json) return printJson({ backfills: rows });
        process.stdout.write(
          `${table(
            ["ID", "DAG", "STATE", "FROM", "TO", "REPROCESS", "DONE", "FAILED", "CREATED"],
            rows.map((b) => [
              b.backfillId,
              b.dagId,
              colorState(b.state),
              b.from,
              b.to,
              b.reprocess,
              `${b.counts.succeeded + b.counts.failed}/${b.counts.planned}`,
              b.counts.failed,
              b.createdAt,
            ]),
          )}\n`,
        );
      });
    });
  backfill
    .command("show <backfillId>")
    .description("a backfill's intervals: what it did with each and the state of its run")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const summary = await backfillSummary(s.store, backfillIdOf(id));
        if (opts.json) return printJson(summaryJson(summary));
        const out = (t: string) => process.stdout.write(`${t}\n`);
        out(`backfill ${summary.backfillId} of ${summary.dagId}: ${colorState(summary.state)}${summary.stateReason ? ` (${summary.stateReason})` : ""}`);
        out(`  ${describeBackfill(summary)}`);
        out("");
        out(
          table(
            ["LOGICAL DATE", "ACTION", "RUN", "STATE"],
            summary.intervals.map((i) => [iso(i.logicalDate), ACTION_WORDS[i.action], i.runId, i.runState ? colorState(i.runState) : i.action === "create" || i.action === "reprocess" ? "not started" : ""]),
          ),
        );
      });
    });
}

const ACTION_WORDS: Readonly<Record<IntervalAction, string>> = {
  create: "create",
  reprocess: "reprocess",
  skip_exists: "skip (run exists)",
  skip_in_flight: "skip (run in flight)",
};

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(n) || n < 1) throw new SluiceError("USAGE", `${flag} must be a whole number ≥ 1, got "${text}"`);
  return n;
}

function backfillIdOf(text: string): number {
  if (!/^\d+$/.test(text)) throw new SluiceError("USAGE", `a backfill id is a number (see: sluice backfill list), got "${text}"`);
  return Number(text);
}

function printPlan(plan: BackfillPlan, json: boolean): void {
  const counts = { create: 0, reprocess: 0, skip_exists: 0, skip_in_flight: 0 };
  for (const i of plan.intervals) counts[i.action]++;
  if (json) {
    printJson({
      dagId: plan.dagId,
      from: iso(plan.from),
      to: iso(plan.to),
      reprocess: plan.reprocess,
      intervals: plan.intervals.map((i) => ({
        logicalDate: iso(i.start),
        dataIntervalEnd: iso(i.end),
        runId: i.existing?.runId ?? null,
        state: i.existing?.state ?? null,
        action: i.action,
      })),
      incomplete: plan.incomplete,
      counts,
    });
    return;
  }
  process.stdout.write(
    `${table(
      ["LOGICAL DATE", "DATA INTERVAL END", "RUN", "STATE", "ACTION"],
      plan.intervals.map((i) => [iso(i.start), iso(i.end), i.existing?.runId ?? "", i.existing ? colorState(i.existing.state) : "", ACTION_WORDS[i.action]]),
    )}\n`,
  );
  const skipped = counts.skip_exists + counts.skip_in_flight;
  process.stdout.write(
    `dry run: ${plan.intervals.length} interval(s) of ${plan.dagId}; would create ${counts.create} run(s), re-run ${counts.reprocess}, skip ${skipped}${plan.incomplete ? `; ${plan.incomplete} interval(s) not ended yet are left to the scheduler` : ""}. Nothing was created.\n`,
  );
}

function backfillJson(b: BackfillRecord) {
  return {
    backfillId: b.backfillId,
    dagId: b.dagId,
    state: b.state,
    stateReason: b.stateReason,
    from: iso(b.from)!,
    to: iso(b.to)!,
    reprocess: b.reprocess,
    maxActive: b.maxActive,
    runBackwards: b.runBackwards,
    createdAt: iso(b.createdAt),
    endedAt: iso(b.endedAt),
  };
}

function summaryJson(s: BackfillSummary) {
  return {
    backfillId: s.backfillId,
    dagId: s.dagId,
    state: s.state,
    stateReason: s.stateReason,
    from: iso(s.from),
    to: iso(s.to),
    reprocess: s.reprocess,
    maxActive: s.maxActive,
    counts: s.counts,
    intervals: s.intervals.map((i) => ({ logicalDate: iso(i.logicalDate), dataIntervalEnd: iso(i.intervalEnd), action: i.action, runId: i.runId, state: i.runState })),
  };
}

function report(summary: BackfillSummary, json: boolean): void {
  if (json) return printJson(summaryJson(summary));
  const c = summary.counts;
  const out = (t: string) => process.stdout.write(`${t}\n`);
  const skipped = c.skipped ? `, ${c.skipped} skipped (a run exists or is in flight)` : "";
  if (summary.state === "cancelled") {
    out(
      `backfill ${summary.backfillId} of ${summary.dagId}: ${summary.state}${summary.stateReason ? ` (${summary.stateReason})` : ""} — ${c.succeeded} run(s) succeeded, ${c.failed} failed, ${c.pending} not started${c.active ? `, ${c.active} still running` : ""}${skipped}`,
    );
  } else {
    out(`backfill ${summary.backfillId} of ${summary.dagId}: ${colorState(summary.state)} — ${c.succeeded} run(s) succeeded, ${c.failed} failed${skipped}`);
  }
  const failed = summary.intervals.filter((i) => i.runState === "failed");
  for (const i of failed.slice(0, 20)) out(`  failed: ${iso(i.logicalDate)}  run ${i.runId}   (see why: npx sluice runs show ${i.runId})`);
  if (failed.length > 20) out(`  … and ${failed.length - 20} more (npx sluice backfill show ${summary.backfillId})`);
}

let signalTarget: BackfillDriver | null = null;
let signals = 0;

/** SIGINT/SIGTERM once: cancel the backfill and let running runs finish; twice: exit now. */
function cancellable(driver: BackfillDriver): void {
  if (signalTarget === null) {
    const onSignal = (name: string) => {
      signals++;
      const d = signalTarget;
      if (signals === 1 && d) {
        process.stderr.write(
          `\n${name}: cancelling backfill ${d.backfillId}: no new runs start; waiting for the running ones to finish (again to exit now — they stay resumable: npx sluice runs resume <runId>)\n`,
        );
        d.cancel(`cancelled by ${name}`);
      } else {
        process.exit(130);
      }
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
  }
  signalTarget = driver;
}

/** A progress bar on a terminal (stderr), plain lines otherwise. */
class ProgressView {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();
  private lastLine = "";
  private drawn = false;
  private b: BackfillRecord | null = null;

  hooks() {
    return {
      onStart: (b: BackfillRecord, resumed: boolean) => {
        this.b = b;
        this.line(`${resumed ? "resuming" : "created"} backfill ${b.backfillId} of ${b.dagId}: ${describeBackfill(b)}  (cancel: Ctrl-C, or npx sluice backfill cancel ${b.backfillId})`);
      },
      onProgress: (c: BackfillCounts, b: BackfillRecord) => this.progress(c, b),
      onRunFinished: (run: { runId: string; state: string; logicalDate: number }) => {
        if (run.state !== "success") this.line(`  ✗ ${iso(run.logicalDate)}  run ${run.runId} ${run.state}`);
      },
      onDriver: cancellable,
    };
  }

  private progress(c: BackfillCounts, b: BackfillRecord): void {
    this.b = b;
    const done = c.succeeded + c.failed;
    if (this.tty) {
      const width = 30;
      const filled = c.planned ? Math.round((done / c.planned) * width) : width;
      const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
      const text = `backfill ${b.backfillId} [${bar}] ${done}/${c.planned} runs · ${c.active} running · ${c.failed} failed · ${formatDuration(Date.now() - this.started)}${b.state === "cancelled" ? " · cancelling" : ""}`;
      process.stderr.write(`\r\x1b[2K${text}`);
      this.drawn = true;
      return;
    }
    const text = `${done}/${c.planned} runs done (${c.failed} failed)${c.active ? `, ${c.active} running` : ""}${b.state === "cancelled" ? ", cancelled" : ""}`;
    if (text !== this.lastLine) {
      this.lastLine = text;
      process.stderr.write(`${text}\n`);
    }
  }

  private line(t: string): void {
    if (this.tty && this.drawn) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`${t}\n`);
    this.drawn = false;
  }

  end(): void {
    if (this.tty && this.drawn) process.stderr.write("\n");
    this.drawn = false;
  }
}
