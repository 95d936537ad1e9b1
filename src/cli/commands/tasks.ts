/** `sluice tasks clear|mark`: make task instances run again, or set their state (Airflow's "clear" and "mark"). */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { clearTasks, markTasks } from "../../app/runs.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

const MARK_STATES = ["success", "failed", "skipped"] as const;

export function mapIndexOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,7}$/.test(raw)) throw new SluiceError("USAGE", `--map-index must be a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** One line per instance: what it was, for a dry run's list and the change's. */
const listed = (instances: { taskId: string; mapIndex: number; state: string }[]) => instances.map((i) => `  ${i.taskId}${i.mapIndex >= 0 ? `[${i.mapIndex}]` : ""} (${i.state})\n`).join("");

/** Registers `sluice tasks …`; returns the `tasks` command (for `tasks note`, cli/commands/notes.ts). */
export function registerTaskCommands(program: Command, globals: () => GlobalOptions): Command {
  const tasks = program.command("tasks").description("task instances of runs");
  tasks
    .command("clear <runId> <taskIds...>")
    .description("clear task instances so they run again, with their full retries (the run is running again)")
    .option("--downstream", "also clear every task downstream of them")
    .option("--upstream", "also clear every task upstream of them")
    .option("--only-failed", "only instances that failed or whose upstream failed")
    .option("--map-index <i>", "only this map index of the named tasks")
    .option("--dry-run", "list what would be cleared; change nothing")
    .option("--json", "print JSON")
    .action(async (runId: string, taskIds: string[], o: { downstream?: boolean; upstream?: boolean; onlyFailed?: boolean; mapIndex?: string; dryRun?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const mapIndex = mapIndexOf(opts.mapIndex);
      await withSluice(opts, false, async (s) => {
        const r = await clearTasks(s, cliActor(), {
          runId,
          taskIds,
          downstream: !!opts.downstream,
          upstream: !!opts.upstream,
          onlyFailed: !!opts.onlyFailed,
          dryRun: !!opts.dryRun,
          ...(mapIndex !== undefined ? { mapIndex } : {}),
        });
        if (opts.json) return printJson({ runId, ...r });
        if (r.dryRun) return void process.stdout.write(r.instances.length ? `would clear ${r.instances.length} task instance(s) of run ${runId}:\n${listed(r.instances)}` : `nothing to clear in run ${runId}\n`);
        process.stdout.write(`cleared ${r.cleared.join(", ")} in run ${runId}; run them with: npx sluice runs resume ${runId}\n`);
      });
    });
  tasks
    .command("mark <runId> <taskId>")
    .description("set a task's instances to a state without running them (running ones are stopped); waiting downstream tasks are re-evaluated")
    .requiredOption("--state <state>", `the state: ${MARK_STATES.join(", ")}`)
    .option("--downstream", "also mark every task downstream of it")
    .option("--upstream", "also mark every task upstream of it")
    .option("--map-index <i>", "only this map index")
    .option("--dry-run", "list what would change; change nothing")
    .option("--json", "print JSON")
    .action(async (runId: string, taskId: string, o: { state: string; downstream?: boolean; upstream?: boolean; mapIndex?: string; dryRun?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const state = opts.state as (typeof MARK_STATES)[number];
      if (!MARK_STATES.includes(state)) throw new SluiceError("USAGE", `--state must be one of ${MARK_STATES.join(", ")}, got ${JSON.stringify(opts.state)}`);
      const mapIndex = mapIndexOf(opts.mapIndex);
      await withSluice(opts, false, async (s) => {
        const r = await markTasks(s, cliActor(), {
          runId,
          taskId,
          state,
          downstream: !!opts.downstream,
          upstream: !!opts.upstream,
          dryRun: !!opts.dryRun,
          ...(mapIndex !== undefined ? { mapIndex } : {}),
        });
        if (opts.json) return printJson({ runId, dryRun: r.dryRun, marked: r.marked, instances: r.instances, runState: r.run?.state ?? null });
        const verb = r.dryRun ? `would mark ${state}` : `marked ${state}`;
        const what = r.instances.length ? `${verb} ${r.instances.length} task instance(s) of run ${runId}:\n${listed(r.instances)}` : `every matching task instance of run ${runId} is ${state} already\n`;
        process.stdout.write(what + (r.run ? `run ${runId} is ${r.run.state}\n` : ""));
      });
    });
  return tasks;
}
