/**
 * `sluice connections add|list|show|delete|test`: the operations of app/secrets.ts on the store, as admin
 * (the CLI holds the database's credentials). Secret parts — the password, the extra, a URI holding a
 * password — come from standard input or a file, never from argv (visible to every user in `ps`).
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { addConnection, deleteConnection, listConnections, showConnection, testConnection, updateConnection, type ConnectionInput, type ConnectionView } from "../../app/secrets.js";
import { SluiceError } from "../../errors.js";
import { connectionFromText, parseConnectionUri } from "../../secrets/connection.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

let stdinUsed: string | null = null;

/** The text of a file, or of standard input for "-" (which can be read once). */
export async function readSource(path: string, flag: string): Promise<string> {
  if (path === "-") {
    if (stdinUsed) throw new SluiceError("USAGE", `${flag} -: standard input is already read by ${stdinUsed}`);
    stdinUsed = flag;
    let text = "";
    for await (const chunk of process.stdin) text += String(chunk);
    return text;
  }
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new SluiceError("USAGE", `${flag}: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** A secret from a file or stdin: without the final line break an editor or `echo` adds. */
const stripEol = (s: string) => s.replace(/\r?\n$/, "");

interface AddOptions {
  uri?: string;
  uriFile?: string;
  type?: string;
  host?: string;
  port?: string;
  login?: string;
  schema?: string;
  description?: string;
  passwordStdin?: boolean;
  passwordFile?: string;
  extraFile?: string;
  replace?: boolean;
  json?: boolean;
}

async function inputOf(id: string, o: AddOptions): Promise<ConnectionInput> {
  const fieldFlags = (["type", "host", "port", "login", "schema"] as const).filter((k) => o[k] !== undefined);
  let fields: ConnectionInput;
  if (o.uri !== undefined || o.uriFile !== undefined) {
    if (o.uri !== undefined && o.uriFile !== undefined) throw new SluiceError("USAGE", "give --uri or --uri-file, not both");
    if (fieldFlags.length) throw new SluiceError("USAGE", `--${fieldFlags[0]} cannot be combined with a URI: put it in the URI`);
    if (o.uri !== undefined) {
      const parsed = parseConnectionUri(o.uri);
      // the URI is in argv (and the shell's history): a password there is refused, not silently stored
      if (parsed.password != null) throw new SluiceError("USAGE", `--uri holds a password, which the command line would expose; pass the URI with --uri-file <file> or --uri-file - (standard input)`);
      fields = parsed;
    } else {
      fields = connectionFromText(await readSource(o.uriFile!, "--uri-file"), o.uriFile === "-" ? "the URI on standard input" : `the URI in ${o.uriFile}`);
    }
  } else {
    if (o.type === undefined) throw new SluiceError("USAGE", `connection "${id}": give --type (with --host, --port, …), or the whole connection with --uri-file`);
    let port: number | null = null;
    if (o.port !== undefined) {
      port = Number(o.port);
      if (!/^\d+$/.test(o.port) || port < 1 || port > 65535) throw new SluiceError("USAGE", `--port must be a port number (1-65535), got "${o.port}"`);
    }
    fields = { type: o.type.toLowerCase(), host: o.host ?? null, port, login: o.login ?? null, schema: o.schema ?? null };
  }
  if (o.description !== undefined) fields.description = o.description;
  if (o.passwordStdin && o.passwordFile !== undefined) throw new SluiceError("USAGE", "give --password-stdin or --password-file, not both");
  if (o.passwordStdin || o.passwordFile !== undefined) {
    if (fields.password != null) throw new SluiceError("USAGE", "the URI already holds a password; give it once");
    const text = o.passwordStdin ? (await readSource("-", "--password-stdin")).split(/\r?\n/)[0]! : stripEol(await readSource(o.passwordFile!, "--password-file"));
    if (text === "") throw new SluiceError("USAGE", o.passwordStdin ? "no password on standard input (--password-stdin reads its first line)" : `--password-file ${o.passwordFile} is empty`);
    fields.password = text;
  }
  if (o.extraFile !== undefined) {
    let extra: unknown;
    try {
      extra = JSON.parse(await readSource(o.extraFile, "--extra-file"));
    } catch (e) {
      if (e instanceof SluiceError) throw e;
      throw new SluiceError("USAGE", `--extra-file: the extra is not JSON (${(e as Error).message})`);
    }
    if (typeof extra !== "object" || extra === null || Array.isArray(extra)) throw new SluiceError("USAGE", "--extra-file: the extra must be a JSON object");
    fields.extra = { ...(fields.extra ?? {}), ...(extra as Record<string, unknown>) };
  }
  return fields;
}

function describe(c: ConnectionView): string {
  const rows: [string, string][] = [
    ["id", c.id],
    ["type", c.type],
    ["host", c.host ?? ""],
    ["port", c.port === null ? "" : String(c.port)],
    ["login", c.login ?? ""],
    ["password", c.passwordSet ? "(set)" : "(none)"],
    ["schema", c.schema ?? ""],
    ["extra", c.extraSet ? "(set)" : "(none)"],
    ["description", c.description ?? ""],
    ["updated", iso(c.updatedAt) ?? ""],
  ];
  return rows.map(([k, v]) => `${k.padEnd(12)}${v}`).join("\n");
}

export function registerConnections(program: Command, globals: () => GlobalOptions): void {
  const conns = program
    .command("connections")
    .description("connections tasks read with ctx.connection(id) (also SLUICE_CONN_<ID> and SLUICE_SECRETS_DIR); passwords encrypted at rest");
  conns
    .command("add <id>")
    .description("add a connection from a URI (type://login:password@host:port/schema?k=v) or from fields; secrets from stdin or a file")
    .option("--uri-file <file>", "the URI (or a JSON object) from a file; - reads standard input")
    .option("--uri <uri>", "the URI, when it holds no password")
    .option("--type <type>", "postgres, http, https, sqlite, …")
    .option("--host <host>")
    .option("--port <port>")
    .option("--login <login>")
    .option("--schema <schema>", "the database (or the path of an http connection)")
    .option("--description <text>")
    .option("--password-stdin", "read the password from the first line of standard input")
    .option("--password-file <file>", "read the password from a file")
    .option("--extra-file <file>", "the extra JSON object from a file (- : standard input)")
    .option("--replace", "replace the connection if it exists (a password or extra not given is kept)")
    .option("--json", "print JSON")
    .action(async (id: string, o: AddOptions) => {
      const input = await inputOf(id, o);
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const exists = o.replace ? (await s.store.connections.get(id)) !== null : false;
        const r = exists ? await updateConnection(s, cliActor(), { id, fields: input }) : await addConnection(s, cliActor(), { id, fields: input });
        if (o.json) printJson(r.view);
        else process.stdout.write(`connection ${id} ${exists ? "replaced" : "added"} (${r.view!.type}${r.view!.passwordSet ? ", password encrypted" : ""})\n`);
      });
    });
  conns
    .command("list")
    .description("connections in the metadata store (never their passwords)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const list = await listConnections(s, cliActor(), {});
        if (o.json) return printJson({ connections: list });
        process.stdout.write(
          `${table(
            ["ID", "TYPE", "HOST", "PORT", "LOGIN", "SCHEMA", "PASSWORD", "DESCRIPTION"],
            list.map((c) => [c.id, c.type, c.host ?? "", c.port ?? "", c.login ?? "", c.schema ?? "", c.passwordSet ? "set" : "", c.description ?? ""]),
          )}\n`,
        );
      });
    });
  conns
    .command("show <id>")
    .description("one connection's fields (the password and extra only as set or not)")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const c = await showConnection(s, cliActor(), { id });
        if (o.json) printJson(c);
        else process.stdout.write(`${describe(c)}\n`);
      });
    });
  conns
    .command("delete <id>")
    .description("delete a connection from the metadata store")
    .action(async (id: string) => {
      await withSluice(globals(), false, async (s) => {
        await deleteConnection(s, cliActor(), { id });
        process.stdout.write(`connection ${id} deleted\n`);
      });
    });
  conns
    .command("test <id>")
    .description("connect for real (postgres, http, https, sqlite), looked up like a task would; exit 1 if it fails")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const r = await testConnection(s, cliActor(), { id });
        if (o.json) printJson(r);
        else process.stdout.write(`connection ${id}: ${r.message} (${r.ms} ms)\n`);
        if (r.ok === false) process.exitCode = 1;
      });
    });
}
