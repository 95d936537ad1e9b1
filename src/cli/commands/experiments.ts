/** `sluice experiments list|show` and `sluice runs compare`: what tasks tracked (app/experiments.ts), as tables or --json. */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { compareRuns, experimentPage, listExperiments } from "../../app/experiments.js";
import { SluiceError } from "../../errors.js";
import type { Trial } from "../../store/tracking.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

export function registerExperiments(program: Command, globals: () => GlobalOptions): void {
  const experiments = program.command("experiments").description("experiments: the params, metrics and files tasks tracked (ctx.track), one experiment per DAG by default");
  experiments
    .command("list")
    .description("experiments with their number of tracked runs")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const items = await listExperiments(s, cliActor());
        if (opts.json) return printJson({ items });
        process.stdout.write(`${table(["EXPERIMENT", "RUNS", "LAST RUN", "DAGS"], items.map((e) => [e.experiment, e.runs, iso(e.lastRunAt) ?? "", e.dagIds.join(", ")]))}\n`);
      });
    });
  experiments
    .command("show <name>")
    .description("an experiment's latest runs, one row per trial (task instance that tracked): params and each metric's last value")
    .option("--limit <n>", "runs to show (newest first)", "20")
    .option("--sort <metric>", "order trials by this metric's last value, best first (--asc for lowest first)")
    .option("--asc", "with --sort: lowest first (e.g. a loss)")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean; limit: string; sort?: string; asc?: boolean }) => {
      const opts = { ...globals(), ...o };
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SluiceError("USAGE", `--limit must be a whole number from 1 to 1000, got "${o.limit}"`);
      await withSluice(opts, false, async (s) => {
        const page = await experimentPage(s, cliActor(), name, { limit, after: null });
        const trials = sortTrials(page.trials, o.sort, o.asc === true);
        if (opts.json) return printJson({ experiment: name, runs: page.runs, trials });
        printTrials(trials);
      });
    });
}

export function registerRunsCompare(runs: Command, globals: () => GlobalOptions): void {
  runs
    .command("compare <runIds...>")
    .description("runs side by side: each trial's params and metrics (last value; --json has min, max, points)")
    .option("--json", "print JSON")
    .action(async (runIds: string[], o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const trials = await compareRuns(s, cliActor(), runIds);
        if (opts.json) return printJson({ trials });
        if (trials.length === 0) process.stdout.write("these runs tracked nothing (ctx.track, sluice_track in Python)\n");
        else printTrials(trials);
      });
    });
}

function sortTrials(trials: Trial[], metric: string | undefined, asc: boolean): Trial[] {
  if (!metric) return trials;
  const v = (t: Trial) => t.metrics[metric]?.last;
  // trials without the metric go last either way
  return [...trials].sort((a, b) => {
    const x = v(a);
    const y = v(b);
    if (x === undefined || y === undefined) return (x === undefined ? 1 : 0) - (y === undefined ? 1 : 0);
    return asc ? x - y : y - x;
  });
}

/** One row per trial; a column per param and per metric seen in any of them. */
function printTrials(trials: Trial[]): void {
  const params = [...new Set(trials.flatMap((t) => Object.keys(t.params)))].sort();
  const metrics = [...new Set(trials.flatMap((t) => Object.keys(t.metrics)))].sort();
  const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(6).replace(/\.?0+$/, ""));
  process.stdout.write(
    `${table(
      ["RUN", "TASK", ...params.map((p) => `param:${p}`), ...metrics],
      trials.map((t) => [
        t.runId,
        t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId,
        ...params.map((p) => (p in t.params ? JSON.stringify(t.params[p]) : "")),
        ...metrics.map((m) => (t.metrics[m] ? fmt(t.metrics[m].last) : "")),
      ]),
    )}\n`,
  );
}
