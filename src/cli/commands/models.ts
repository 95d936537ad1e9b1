/**
 * `sluice models list|show|promote|rollback|approvals|approve|reject`: the model registry (app/models.ts),
 * as tables or --json. Returns the `models` command so that other subcommands (`serve`) attach to it.
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { decideApproval, listApprovals, listModels, promoteModel, rollbackModel, showModel } from "../../app/models.js";
import type { ApprovalState } from "../../store/models.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(6).replace(/\.?0+$/, ""));
const metricsText = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${fmt(v)}`)
    .join(" ");

export function registerModels(program: Command, globals: () => GlobalOptions): Command {
  const models = program.command("models").description("the model registry: versions registered by tasks (ctx.models.register), aliases, promotion gates' approvals");
  models
    .command("list")
    .description("models with their latest version and aliases")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const items = await listModels(s, cliActor(), undefined);
        if (opts.json) return printJson({ items });
        if (items.length === 0) return void process.stdout.write("no models yet: a task registers one with ctx.models.register(name, { artifact, flavor, metrics })\n");
        const aliases = (a: Record<string, number>) =>
          Object.entries(a)
            .map(([k, v]) => `${k}→v${v}`)
            .join(", ");
        process.stdout.write(`${table(["MODEL", "LATEST", "ALIASES", "UPDATED"], items.map((m) => [m.name, m.latestVersion, aliases(m.aliases), iso(m.updatedAt) ?? ""]))}\n`);
      });
    });
  models
    .command("show <name>")
    .description("a model's versions (metrics, lineage), aliases with their history, and pending approvals")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const m = await showModel(s, cliActor(), { name });
        if (opts.json) return printJson(m);
        const held = new Map<number, string[]>();
        for (const [a, v] of Object.entries(m.aliases)) held.set(v, [...(held.get(v) ?? []), a]);
        process.stdout.write(`model ${m.name}\n\n`);
        process.stdout.write(
          `${table(
            ["VERSION", "ALIASES", "METRICS", "FRAMEWORK", "RUN", "TASK", "CREATED"],
            m.versions.map((v) => [v.version, (held.get(v.version) ?? []).join(", "), metricsText(v.metrics), v.framework ?? "", v.runId, v.mapIndex >= 0 ? `${v.taskId}[${v.mapIndex}]` : v.taskId, iso(v.createdAt) ?? ""]),
          )}\n`,
        );
        if (m.history.length) {
          process.stdout.write(`\nalias history (newest first)\n`);
          process.stdout.write(`${table(["WHEN", "ALIAS", "FROM", "TO", "KIND", "BY", "REASON"], m.history.map((h) => [iso(h.at) ?? "", h.alias, h.fromVersion ?? "—", h.toVersion, h.kind, h.actor, h.reason ?? ""]))}\n`);
        }
        const pending = m.approvals.filter((a) => a.state === "pending");
        if (pending.length) {
          process.stdout.write(`\npending approvals (sluice models approve|reject <id>)\n`);
          printApprovals(pending);
        }
      });
    });
  models
    .command("promote <name> <version>")
    .description("point an alias of a model at one of its versions (recorded in the alias's history)")
    .requiredOption("--alias <alias>", "the alias to move: champion, production, …")
    .option("--reason <text>", "why (kept in the history)")
    .option("--json", "print JSON")
    .action(async (name: string, version: string, o: { alias: string; reason?: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const r = await promoteModel(s, cliActor(), { name, version, alias: o.alias, reason: o.reason ?? null });
        if (opts.json) return printJson(r);
        process.stdout.write(r.moved ? `${name}@${o.alias}: version ${r.fromVersion ?? "none"} → ${r.toVersion}\n` : `${name}@${o.alias} already holds version ${r.toVersion}\n`);
      });
    });
  models
    .command("rollback <name>")
    .description("move an alias back to its previous holder (undoes its latest move; again to go further back)")
    .requiredOption("--alias <alias>", "the alias to move back")
    .option("--reason <text>", "why (kept in the history)")
    .option("--json", "print JSON")
    .action(async (name: string, o: { alias: string; reason?: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const r = await rollbackModel(s, cliActor(), { name, alias: o.alias, reason: o.reason ?? null });
        if (opts.json) return printJson(r);
        process.stdout.write(`${name}@${o.alias}: version ${r.fromVersion ?? "none"} → ${r.toVersion} (rolled back)\n`);
      });
    });
  models
    .command("approvals")
    .description("promotion gates' approvals: pending ones (default), or --state approved|rejected|expired|all")
    .option("--state <state>", "pending, approved, rejected, expired or all", "pending")
    .option("--model <name>", "only this model's")
    .option("--json", "print JSON")
    .action(async (o: { state: string; model?: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const items = await listApprovals(s, cliActor(), { state: o.state as ApprovalState | "all", ...(o.model ? { name: o.model } : {}) });
        if (opts.json) return printJson({ items });
        if (items.length === 0) return void process.stdout.write(`no ${o.state === "all" ? "" : `${o.state} `}approvals\n`);
        printApprovals(items);
      });
    });
  for (const decision of ["approve", "reject"] as const) {
    models
      .command(`${decision} <id>`)
      .description(decision === "approve" ? "approve a gate's promotion: the waiting gate moves the alias at once" : "reject a gate's promotion: the gate is skipped and the alias stays")
      .option("--comment <text>", "why (kept with the decision)")
      .option("--json", "print JSON")
      .action(async (id: string, o: { comment?: string; json?: boolean }) => {
        const opts = { ...globals(), ...o };
        await withSluice(opts, false, async (s) => {
          const a = await decideApproval(s, cliActor(), { id, decision, comment: o.comment ?? null });
          if (opts.json) return printJson(a);
          process.stdout.write(`approval #${a.id} ${a.state}: ${a.name} version ${a.version} → ${a.alias}\n`);
        });
      });
  }
  return models;
}

function printApprovals(items: { id: number; name: string; alias: string; version: number; fromVersion: number | null; state: string; runId: string; taskId: string; requestedAt: number; decidedBy: string | null }[]): void {
  process.stdout.write(
    `${table(
      ["ID", "MODEL", "ALIAS", "CANDIDATE", "CHAMPION", "STATE", "RUN", "GATE", "ASKED", "DECIDED BY"],
      items.map((a) => [a.id, a.name, a.alias, a.version, a.fromVersion ?? "—", a.state, a.runId, a.taskId, iso(a.requestedAt) ?? "", a.decidedBy ?? ""]),
    )}\n`,
  );
}
