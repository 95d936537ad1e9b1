/**
 * `sluice users create|list|delete|set-password` and `sluice tokens create|list|revoke`: the same
 * operations as the REST API's (app/users), on the store directly, as admin (for the first setup and for
 * scripts on the server host). Passwords come from --password-stdin or a prompt, never from argv
 * (argv is visible to every user of the host in `ps`).
 */
import type { Command } from "commander";
import { createInterface } from "node:readline";
import { cliActor } from "../../app/actor.js";
import { createToken, createUser, deleteUser, listTokens, listUsers, revokeToken, updateUser } from "../../app/users.js";
import { Auth } from "../../auth/auth.js";
import { SluiceError } from "../../errors.js";
import { Store } from "../../store/store.js";
import { configFrom, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

async function withAuth<T>(opts: GlobalOptions, fn: (auth: Auth) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  const store = await Store.open({ url: config.databaseUrl, busyTimeoutMs: config.busyTimeoutMs });
  try {
    return await fn(new Auth(store));
  } finally {
    await store.close();
  }
}

/** The password from stdin (first line), or asked for on a terminal without echo. */
async function readPassword(fromStdin: boolean, prompt: string): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    let text = "";
    for await (const chunk of process.stdin) text += String(chunk);
    const line = text.split(/\r?\n/)[0] ?? "";
    if (!line) throw new SluiceError("USAGE", "no password on standard input (--password-stdin reads its first line)");
    return line;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  // hide what is typed: readline echoes through _writeToOutput
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.includes(prompt)) process.stderr.write(prompt);
  };
  try {
    return await new Promise<string>((resolve) => rl.question(prompt, resolve));
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}

export function registerUsers(program: Command, globals: () => GlobalOptions): void {
  const users = program.command("users").description("users of the web UI and REST API (roles: admin, operator, viewer; none: only what grants give)");
  users
    .command("create <username>")
    .description("create a user; the password is read from a prompt or --password-stdin")
    .option("--role <role>", "admin, operator, viewer, or none (only what `sluice grants` give)", "viewer")
    .option("--password-stdin", "read the password from the first line of standard input")
    .option("--json", "print JSON")
    .action(async (username: string, o: { role: string; passwordStdin?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const password = await readPassword(!!o.passwordStdin, `password for ${username}: `);
      await withAuth(opts, async (auth) => {
        const u = await createUser(auth, cliActor(), { username, password, role: o.role });
        if (o.json) printJson({ username: u.username, role: u.role, createdAt: u.createdAt });
        else process.stdout.write(`created user ${u.username} (${u.role})\n`);
      });
    });
  users
    .command("list")
    .description("list users")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withAuth({ ...globals(), ...o }, async (auth) => {
        const list = await listUsers(auth, cliActor(), {});
        if (o.json) return printJson(list.map((u) => ({ username: u.username, role: u.role, createdAt: u.createdAt })));
        process.stdout.write(`${table(["USER", "ROLE", "CREATED"], list.map((u) => [u.username, u.role, iso(u.createdAt) ?? ""]))}\n`);
      });
    });
  users
    .command("delete <username>")
    .description("delete a user: their sessions end and their API tokens are revoked")
    .action(async (username: string) => {
      await withAuth(globals(), async (auth) => {
        await deleteUser(auth, cliActor(), { username });
        process.stdout.write(`deleted user ${username}\n`);
      });
    });
  users
    .command("set-password <username>")
    .description("set a user's password (ends every session of theirs)")
    .option("--password-stdin", "read the password from the first line of standard input")
    .action(async (username: string, o: { passwordStdin?: boolean }) => {
      const password = await readPassword(!!o.passwordStdin, `new password for ${username}: `);
      await withAuth(globals(), async (auth) => {
        await updateUser(auth, cliActor(), { username, password });
        process.stdout.write(`password of ${username} changed; their sessions have ended\n`);
      });
    });

  const tokens = program.command("tokens").description("API tokens for scripts (Authorization: Bearer <token>)");
  tokens
    .command("create <name>")
    .description("create an API token; it is printed once and stored only as a hash")
    .requiredOption("--user <username>", "the user the token acts for")
    .option("--role <role>", "at most the highest role the user has (default: that)")
    .option("--scope <scope>", "events:<name glob>: an event token that may only send matching events (POST /api/v1/events/<name>) and reads nothing")
    .option("--json", "print JSON")
    .action(async (name: string, o: { user: string; role?: string; scope?: string; json?: boolean }) => {
      await withAuth({ ...globals(), ...o }, async (auth) => {
        const t = await createToken(auth, cliActor(), { name, username: o.user, ...(o.role !== undefined ? { role: o.role } : {}), ...(o.scope !== undefined ? { scope: o.scope } : {}) });
        if (o.json) return printJson({ id: t.id, name: t.name, username: o.user, role: t.role, scope: t.scope, token: t.token });
        process.stdout.write(`${t.token}\n`);
        const what = t.scope ? `scope ${t.scope}` : t.role;
        process.stderr.write(`token ${t.id} "${t.name}" for ${o.user} (${what}); shown once — store it now. Revoke: sluice tokens revoke ${t.id}\n`);
      });
    });
  tokens
    .command("list")
    .description("list API tokens (never the tokens themselves)")
    .option("--user <username>", "only this user's")
    .option("--json", "print JSON")
    .action(async (o: { user?: string; json?: boolean }) => {
      await withAuth({ ...globals(), ...o }, async (auth) => {
        const list = await listTokens(auth, cliActor(), o.user !== undefined ? { username: o.user } : {});
        const rows = list.map((t) => ({ id: t.tokenId, name: t.name, username: t.username, role: t.role, scope: t.scope, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt }));
        if (o.json) return printJson(rows);
        process.stdout.write(
          `${table(["ID", "NAME", "USER", "ROLE", "SCOPE", "CREATED", "LAST USED"], rows.map((t) => [t.id, t.name, t.username, t.role, t.scope ?? "", iso(t.createdAt) ?? "", iso(t.lastUsedAt) ?? ""]))}\n`,
        );
      });
    });
  tokens
    .command("revoke <id>")
    .description("revoke an API token by its id")
    .action(async (id: string) => {
      await withAuth(globals(), async (auth) => {
        await revokeToken(auth, cliActor(), { id });
        process.stdout.write(`revoked token ${id}\n`);
      });
    });
}
