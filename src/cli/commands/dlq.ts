/**
 * `sluice dlq list|show|retry|discard`: the dead-letter queue (app/deadLetters.ts) — task instances that
 * failed after their last try. Retry gives an instance a fresh set of retries and its run resumes (a
 * running deployment's workers run it, or `sluice runs resume <run>`); discard acknowledges it.
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { bulkDeadLetters, getDeadLetter, listDeadLetters } from "../../app/deadLetters.js";
import { escapeControls } from "../../core/controlChars.js";
import { isDeadLetterState, type DeadLetterState } from "../../core/deadLetters.js";
import { SluiceError } from "../../errors.js";
import type { DeadLetterRecord } from "../../store/deadLetters.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { colorState, iso, printJson, table } from "../format.js";

/** Ids as given on the command line: positive integers, each named when it is not one. */
function parseIds(raw: readonly string[]): number[] {
  return raw.map((r) => {
    if (!/^[1-9][0-9]{0,15}$/.test(r)) throw new SluiceError("USAGE", `dead letter ids are positive whole numbers (see: sluice dlq list), got "${escapeControls(r.slice(0, 50))}"`);
    return Number(r);
  });
}

const instance = (e: DeadLetterRecord) => `${e.taskId}${e.mapIndex >= 0 ? `[${e.mapIndex}]` : ""}`;
/** Task errors are anyone's text: no control character reaches the terminal. */
const oneLine = (text: string | null, max = 80) => {
  const t = escapeControls((text ?? "").replace(/\s+/g, " ").trim());
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

export function registerDlq(program: Command, globals: () => GlobalOptions): void {
  const dlq = program.command("dlq").description("the dead-letter queue: task instances that failed after their last try (retries exhausted, or a non-retryable error)");
  dlq
    .command("list")
    .description("dead letters, newest first")
    .option("--dag <id>", "only this DAG's")
    .option("--run <id>", "only this run's")
    .option("--state <state>", "open (default), retried, discarded or all", "open")
    .option("--limit <n>", "at most this many", "100")
    .option("--json", "print JSON")
    .action(async (o: { dag?: string; run?: string; state: string; limit: string; json?: boolean }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new SluiceError("USAGE", `--limit must be a whole number from 1 to 100000, got "${o.limit}"`);
      let state: DeadLetterState | undefined;
      if (o.state !== "all") {
        if (!isDeadLetterState(o.state)) throw new SluiceError("USAGE", `--state must be open, retried, discarded or all, got "${escapeControls(o.state)}"`);
        state = o.state;
      }
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const entries = await listDeadLetters(s, cliActor(), {
          ...(o.dag !== undefined ? { dagId: o.dag } : {}),
          ...(o.run !== undefined ? { runId: o.run } : {}),
          ...(state !== undefined ? { state } : {}),
          limit,
          after: null,
        });
        if (o.json) return printJson({ deadLetters: entries });
        if (entries.length === 0) {
          process.stdout.write(`no ${state ?? ""}${state ? " " : ""}dead letters\n`);
          return;
        }
        const rows = entries.map((e) => [e.id, colorState(e.state), e.dagId, e.runId, instance(e), e.attempts, `${e.reason}${e.parked ? " (parked)" : ""}`, iso(e.createdAt), oneLine(`${e.errorCode ? `${e.errorCode}: ` : ""}${e.errorMessage ?? ""}`)]);
        process.stdout.write(`${table(["ID", "STATE", "DAG", "RUN", "TASK", "ATTEMPTS", "REASON", "AT", "ERROR"], rows)}\n`);
      });
    });
  dlq
    .command("show <id>")
    .description("one dead letter: its instance, last error, attempts and inputs")
    .option("--json", "print JSON")
    .action(async (raw: string, o: { json?: boolean }) => {
      const [id] = parseIds([raw]);
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const e = await getDeadLetter(s, cliActor(), id!);
        if (o.json) return printJson(e);
        const inputs = Object.entries(e.inputs.inputs).map(([name, task]) => `${name} <- output of task ${task}`);
        const lines = [
          `dead letter ${e.id}: ${e.state}${e.resolvedBy ? ` by ${e.resolvedBy} at ${iso(e.resolvedAt)}` : ""}`,
          `  DAG:       ${e.dagId}`,
          `  run:       ${e.runId}`,
          `  task:      ${instance(e)}`,
          `  reason:    ${e.reason}${e.parked ? " (parked: the run did not fail for it)" : ""}`,
          `  attempts:  ${e.attempts} (last: try ${e.tryNumber}, attempt id ${e.attemptId ?? "none"})`,
          `  at:        ${iso(e.createdAt)}`,
          `  error:     ${e.errorCode ?? ""}${e.errorCode && e.errorMessage ? ": " : ""}${escapeControls(e.errorMessage ?? "")}`,
          `  inputs:    ${inputs.length ? inputs.join(", ") : "none"}`,
          `  log:       sluice logs ${e.runId} ${e.taskId}${e.mapIndex >= 0 ? ` --map-index ${e.mapIndex}` : ""}`,
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      });
    });
  for (const action of ["retry", "discard"] as const) {
    dlq
      .command(`${action} <ids...>`)
      .description(
        action === "retry"
          ? "retry dead letters: each instance and its downstream get a fresh set of retries and the run resumes (a running deployment runs it; or: sluice runs resume <run>)"
          : "discard dead letters: acknowledged, kept (state discarded) for history; their runs are left as they are",
      )
      .option("--json", "print JSON")
      .action(async (raw: string[], o: { json?: boolean }) => {
        const ids = parseIds(raw);
        await withSluice({ ...globals(), ...o }, false, async (s) => {
          const out = await bulkDeadLetters(s, cliActor(), action, ids);
          const failed = out.filter((r) => !r.ok);
          if (o.json) {
            printJson({ results: out.map((r) => (r.ok ? { id: r.id, ok: true, entry: r.entry } : { id: r.id, ok: false, error: r.error.toJSON() })) });
          } else {
            for (const r of out) {
              if (r.ok) process.stdout.write(`dead letter ${r.id} ${action === "retry" ? "retried" : "discarded"}: run ${r.entry.runId} task ${instance(r.entry)}${action === "retry" ? " (the run is running again)" : ""}\n`);
            }
          }
          for (const r of failed) process.stderr.write(`error [${r.error.code}]: ${r.error.message}\n`);
          // some ids failed: the exit code of the worst of them (a user's mistake is 2)
          if (failed.length) process.exitCode = Math.max(...failed.map((r) => r.error.exitCode));
        });
      });
  }
}
