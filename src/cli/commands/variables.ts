/**
 * `sluice variables set|get|list|delete`: JSON values tasks read with ctx.variable(key), as admin on the
 * store (app/secrets.ts). A secret variable's value comes from a file or standard input, never from argv,
 * and is never printed.
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { deleteVariable, getVariable, listVariables, setVariable, type VariableView } from "../../app/secrets.js";
import type { JsonValue } from "../../core/assets.js";
import { SluiceError } from "../../errors.js";
import { isSensitiveName } from "../../secrets/mask.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";
import { readSource } from "./connections.js";

function parseValue(text: string, where: string, asString: boolean): JsonValue {
  if (asString) return text.replace(/\r?\n$/, "");
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new SluiceError("USAGE", `${where} is not JSON; a variable holds JSON (quote a string: '"text"', or pass --string to store the text as a string)`);
  }
}

const shown = (v: VariableView) => (v.isSecret ? "*** (secret)" : JSON.stringify(v.value));

export function registerVariables(program: Command, globals: () => GlobalOptions): void {
  const vars = program.command("variables").description("JSON variables tasks read with ctx.variable(key) (also SLUICE_VAR_<KEY> and SLUICE_SECRETS_DIR); secret ones encrypted at rest");
  vars
    .command("set <key> [value]")
    .description("create or replace a variable; the JSON value from the argument (not for secrets), --value-file, or standard input")
    .option("--value-file <file>", "read the value from a file (- : standard input)")
    .option("--string", "store the text as a JSON string (no quotes needed)")
    .option("--secret", "encrypt it and never show it (default for keys that look sensitive: *password*, *token*, *api_key*, …)")
    .option("--no-secret", "store it in the clear even if the key looks sensitive")
    .option("--description <text>")
    .option("--json", "print JSON")
    .action(async (key: string, value: string | undefined, o: { valueFile?: string; string?: boolean; secret?: boolean; description?: string; json?: boolean }) => {
      if (value !== undefined && o.valueFile !== undefined) throw new SluiceError("USAGE", "give the value as an argument or with --value-file, not both");
      // with both --secret and --no-secret declared, commander leaves it undefined when neither is given
      const isSecret = o.secret;
      if (value !== undefined && (isSecret === true || (isSecret === undefined && isSensitiveName(key)))) {
        throw new SluiceError("USAGE", `variable "${key}" is secret: its value must come from --value-file <file> or standard input, not the command line (visible in \`ps\` and shell history)`);
      }
      const text = value ?? (await readSource(o.valueFile ?? "-", o.valueFile !== undefined ? "--value-file" : "standard input"));
      const where = value !== undefined ? "the value" : o.valueFile !== undefined && o.valueFile !== "-" ? `the value in ${o.valueFile}` : "the value on standard input";
      const parsed = parseValue(text, where, !!o.string);
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const r = await setVariable(s, cliActor(), { key, value: parsed, ...(isSecret !== undefined ? { isSecret } : {}), ...(o.description !== undefined ? { description: o.description } : {}) });
        if (o.json) printJson(r.view);
        else process.stdout.write(`variable ${key} set${r.view!.isSecret ? " (secret, encrypted)" : ""}\n`);
      });
    });
  vars
    .command("get <key>")
    .description("a variable's JSON value (a secret one is never shown)")
    .option("--json", "print JSON")
    .action(async (key: string, o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const v = await getVariable(s, cliActor(), { key });
        if (o.json) printJson(v);
        else if (v.isSecret) process.stdout.write(`variable ${key} is secret: its value is set and never shown\n`);
        else process.stdout.write(`${JSON.stringify(v.value, null, 2)}\n`);
      });
    });
  vars
    .command("list")
    .description("variables in the metadata store (secret values never shown)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const list = await listVariables(s, cliActor(), {});
        if (o.json) return printJson({ variables: list });
        const clip = (t: string) => (t.length > 60 ? `${t.slice(0, 59)}…` : t);
        process.stdout.write(`${table(["KEY", "VALUE", "DESCRIPTION", "UPDATED"], list.map((v) => [v.key, clip(shown(v)), v.description ?? "", iso(v.updatedAt) ?? ""]))}\n`);
      });
    });
  vars
    .command("delete <key>")
    .description("delete a variable from the metadata store")
    .action(async (key: string) => {
      await withSluice(globals(), false, async (s) => {
        await deleteVariable(s, cliActor(), { key });
        process.stdout.write(`variable ${key} deleted\n`);
      });
    });
}
