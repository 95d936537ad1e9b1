/** `sluice tasks clear`: make finished task instances run again (Airflow's "clear"). */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { clearTasks } from "../../app/runs.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

export function registerTaskCommands(program: Command, globals: () => GlobalOptions): void {
  const tasks = program.command("tasks").description("task instances of runs");
  tasks
    .command("clear <runId> <taskIds...>")
    .description("clear task instances so they run again, with their full retries (the run is running again)")
    .option("--downstream", "also clear every task downstream of them")
    .option("--json", "print JSON")
    .action(async (runId: string, taskIds: string[], o: { downstream?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const { cleared } = await clearTasks(s, cliActor(), { runId, taskIds, downstream: !!opts.downstream });
        if (opts.json) return printJson({ runId, cleared });
        process.stdout.write(`cleared ${cleared.join(", ")} in run ${runId}; run them with: npx sluice runs resume ${runId}\n`);
      });
    });
}
