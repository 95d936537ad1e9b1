/** `sluice runs note` and `sluice tasks note`: a person's note on a run or a task instance (Airflow's notes). */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { setNote } from "../../app/runs.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";
import { mapIndexOf } from "./tasks.js";

interface NoteOptions {
  clear?: boolean;
  json?: boolean;
}

/** The note's text: the words given, or nothing with --clear (never both, never neither). */
function noteText(words: string[], o: NoteOptions): string {
  if (o.clear && words.length) throw new SluiceError("USAGE", "give either the note's text or --clear, not both");
  if (!o.clear && words.length === 0) throw new SluiceError("USAGE", "give the note's text (or --clear to remove the note)");
  return o.clear ? "" : words.join(" ");
}

function report(where: string, r: { note: string | null }, json: boolean | undefined): void {
  if (json) return printJson(r);
  process.stdout.write(r.note === null ? `removed the note of ${where}\n` : `noted ${where}\n`);
}

export function registerRunNote(runs: Command, globals: () => GlobalOptions): void {
  runs
    .command("note <runId> [text...]")
    .description("set the run's note (markdown, shown in the run page and `runs show`); --clear removes it")
    .option("--clear", "remove the note")
    .option("--json", "print JSON")
    .action(async (runId: string, words: string[], o: NoteOptions) => {
      const opts = { ...globals(), ...o };
      const note = noteText(words, opts);
      await withSluice(opts, false, async (s) => report(`run ${runId}`, await setNote(s, cliActor(), { runId, note }), opts.json));
    });
}

export function registerTaskNote(tasks: Command, globals: () => GlobalOptions): void {
  tasks
    .command("note <runId> <taskId> [text...]")
    .description("set a task instance's note (markdown); --clear removes it")
    .option("--map-index <i>", "the instance of a mapped task")
    .option("--clear", "remove the note")
    .option("--json", "print JSON")
    .action(async (runId: string, taskId: string, words: string[], o: NoteOptions & { mapIndex?: string }) => {
      const opts = { ...globals(), ...o };
      const note = noteText(words, opts);
      const mapIndex = mapIndexOf(opts.mapIndex);
      await withSluice(opts, false, async (s) =>
        report(`task ${taskId}${mapIndex !== undefined ? `[${mapIndex}]` : ""} of run ${runId}`, await setNote(s, cliActor(), { runId, taskId, note, ...(mapIndex !== undefined ? { mapIndex } : {}) }), opts.json),
      );
    });
}
