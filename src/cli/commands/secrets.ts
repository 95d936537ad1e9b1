/** `sluice secrets rotate-key`: re-encrypt every secret row under the first configured key (secrets/rotate.ts). */
import type { Command } from "commander";
import { rotateSecrets } from "../../app/secrets.js";
import { cliActor } from "../../app/actor.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

export function registerSecrets(program: Command, globals: () => GlobalOptions): void {
  const secrets = program.command("secrets").description("the keys that encrypt connections and secret variables at rest");
  secrets
    .command("rotate-key")
    .description(
      "re-encrypt every secret under the first key of SLUICE_SECRET_KEY (or the key file); keep the old keys after it until this has run, then drop them",
    )
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const r = await rotateSecrets(s, cliActor(), {});
        if (o.json) return printJson(r);
        const total = r.connections.rotated + r.variables.rotated + r.params.rotated;
        process.stdout.write(
          `re-encrypted ${total} secret row${total === 1 ? "" : "s"} under key ${r.keyId}: ` +
            `${r.connections.rotated} connection(s), ${r.variables.rotated} variable(s), ${r.params.rotated} run(s) with secret params; ` +
            `${r.connections.current + r.variables.current + r.params.current} already under it\n` +
            `every secret is now under key ${r.keyId}: the other keys can be removed from the configuration\n`,
        );
      });
    });
}
