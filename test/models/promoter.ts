/**
 * A child process of concurrency.test.ts: promotes alias "champion" of model "race" `n` times to random
 * versions through the app layer (the code path of the CLI and the API), and prints each outcome as a JSON
 * line. Usage: node --import tsx promoter.ts <databaseUrl> <home> <who> <n> <versions>
 */
import { cliActor } from "../../dist/app/actor.js";
import { promoteModel } from "../../dist/app/models.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";

const [url, home, who, n, versions] = process.argv.slice(2) as [string, string, string, string, string];
const s = await Sluice.open(loadConfig({ home, databaseUrl: url }, { SLUICE_DB_POOL_SIZE: "2" }), { loadDags: false });
try {
  for (let i = 0; i < Number(n); i++) {
    const version = 1 + Math.floor(Math.random() * Number(versions));
    const r = await promoteModel(s, { ...cliActor(), name: who }, { name: "race", version, alias: "champion", reason: `${who}-${i}` });
    process.stdout.write(`${JSON.stringify({ reason: `${who}-${i}`, from: r.fromVersion, to: r.toVersion, moved: r.moved })}\n`);
  }
} finally {
  await s.close();
}
