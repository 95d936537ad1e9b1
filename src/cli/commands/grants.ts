/**
 * `sluice grants add|list|delete`: per-DAG access (app/grants), on the store directly, as admin. A
 * selector that matches no registered DAG is a warning on stderr, not an error.
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { addGrant, deleteGrant, listGrants } from "../../app/grants.js";
import { SluiceError } from "../../errors.js";
import type { GrantRecord } from "../../store/grants.js";
import { Store } from "../../store/store.js";
import { configFrom, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  const store = await Store.open({ url: config.databaseUrl, busyTimeoutMs: config.busyTimeoutMs });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const json = (g: GrantRecord) => ({
  id: g.grantId,
  ...(g.principalKind === "user" ? { user: g.principal } : { token: g.principal }),
  role: g.role,
  selector: g.selector,
  createdAt: g.createdAt,
  createdBy: g.createdBy,
});

export function registerGrants(program: Command, globals: () => GlobalOptions): void {
  const grants = program.command("grants").description("per-DAG access: a role on the DAGs a selector picks, for a user or an API token");
  grants
    .command("add")
    .description("grant a user (--user) or an API token (--token) a role on DAGs: --dags 'dag:etl_*' | 'tag:finance' | 'owner:ana'")
    .option("--user <username>", "the user")
    .option("--token <id>", "the API token's id (sluice tokens list)")
    .requiredOption("--role <role>", "viewer, operator or admin (on the selected DAGs)")
    // `--dags <selector>` is read as the program's --dags option (commander gives it to the program
    // wherever it stands): taken from there; --selector says the same without the clash
    .option("--selector <selector>", "the same as --dags <selector>: dag:<id glob> | tag:<tag> | owner:<name>")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; token?: string; role: string; selector?: string; json?: boolean }) => {
      const { dags: selectorFlag, ...g } = globals();
      const selector = o.selector ?? selectorFlag;
      if (selector === undefined) throw new SluiceError("USAGE", "grants add: --dags <selector> is required: dag:<id glob> | tag:<tag> | owner:<name> (e.g. --dags 'dag:etl_*')");
      await withStore({ ...g, ...o }, async (store) => {
        const r = await addGrant(store, cliActor(), { role: o.role, selector, ...(o.user !== undefined ? { user: o.user } : {}), ...(o.token !== undefined ? { token: o.token } : {}) });
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        if (o.json) return printJson({ ...json(r.grant), warnings: r.warnings });
        const who = r.grant.principalKind === "user" ? `user ${r.grant.principal}` : `token ${r.grant.principal}`;
        process.stdout.write(`grant ${r.grant.grantId}: ${who} is ${r.grant.role} on ${r.grant.selector}\n`);
      });
    });
  grants
    .command("list")
    .description("list grants")
    .option("--user <username>", "only this user's")
    .option("--token <id>", "only this token's")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; token?: string; json?: boolean }) => {
      await withStore({ ...globals(), ...o }, async (store) => {
        const list = await listGrants(store, cliActor(), { ...(o.user !== undefined ? { user: o.user } : {}), ...(o.token !== undefined ? { token: o.token } : {}) });
        if (o.json) return printJson(list.map(json));
        process.stdout.write(
          `${table(
            ["ID", "PRINCIPAL", "ROLE", "DAGS", "CREATED", "BY"],
            list.map((g) => [String(g.grantId), `${g.principalKind === "user" ? "user" : "token"}:${g.principal}`, g.role, g.selector, iso(g.createdAt) ?? "", g.createdBy]),
          )}\n`,
        );
      });
    });
  grants
    .command("delete <id>")
    .description("delete a grant by its id")
    .action(async (raw: string) => {
      if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new SluiceError("USAGE", `grants delete: the id must be a positive integer (sluice grants list shows them), got ${JSON.stringify(raw)}`);
      await withStore(globals(), async (store) => {
        const r = await deleteGrant(store, cliActor(), { id: Number(raw) });
        process.stdout.write(`deleted grant ${raw} (${r.before!.principalKind} ${r.before!.principal}: ${r.before!.role} on ${r.before!.selector})\n`);
      });
    });
}
