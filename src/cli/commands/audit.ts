/** `sluice audit list`: the audit log (app/audit), newest first — who changed what, from where, when. */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { listAudit, parseSince } from "../../app/audit.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

export function registerAudit(program: Command, globals: () => GlobalOptions): void {
  const audit = program.command("audit").description("the audit log: every change made by a person or token, with who, when and from where");
  audit
    .command("list")
    .description("audit entries, newest first")
    .option("--user <name>", "only entries by this user (or token owner, or OS account for the CLI)")
    .option("--dag <id>", "only entries about this DAG")
    .option("--action <id>", 'only this action, e.g. "runs.trigger", "auth.login"')
    .option("--since <when>", 'only entries since a duration ago ("24h", "7d") or an ISO date or time')
    .option("--limit <n>", "at most this many entries", "100")
    .option("--json", "print JSON (with before and after)")
    .action(async (o: { user?: string; dag?: string; action?: string; since?: string; limit: string; json?: boolean }) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new SluiceError("USAGE", `--limit must be a whole number from 1 to 100000, got "${o.limit}"`);
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        let since: number | undefined;
        if (o.since !== undefined) {
          try {
            since = parseSince(o.since, s.store.now(), "--since");
          } catch (e) {
            throw new SluiceError("USAGE", (e as Error).message, { cause: e });
          }
        }
        const entries = await listAudit(s, cliActor(), {
          ...(o.user !== undefined ? { actor: o.user } : {}),
          ...(o.dag !== undefined ? { dagId: o.dag } : {}),
          ...(o.action !== undefined ? { action: o.action } : {}),
          ...(since !== undefined ? { since } : {}),
          limit,
        });
        if (o.json) return printJson({ entries });
        if (entries.length === 0) {
          process.stdout.write("no audit entries\n");
          return;
        }
        const rows = entries.map((e) => [iso(e.at), e.actor, e.via, e.ip ?? "", e.action, e.outcome ?? "", e.dagId ?? "", e.runId ?? "", e.target ?? ""].map((c) => printable(c ?? "")));
        process.stdout.write(`${table(["AT", "ACTOR", "VIA", "IP", "ACTION", "OUTCOME", "DAG", "RUN", "TARGET"], rows)}\n`);
      });
    });
}

/**
 * Entries hold text from anyone (the user name of a failed login, a user agent): control characters are
 * shown as "?" so that no entry can move the cursor or recolour the terminal of whoever reads the log.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}
