/**
 * The `sluice` command. The only place that parses arguments; every error ends here as a message and an
 * exit code from the error table (2 for the user's mistakes), never as a bare stack trace.
 */
import { registerRunNote, registerTaskNote } from "./commands/notes.js";
import { registerExperiments, registerRunsCompare } from "./commands/experiments.js";
import { registerModels } from "./commands/models.js";
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { toSluiceError } from "../errors.js";
import type { GlobalOptions } from "./context.js";
import { registerDags, registerDb, registerLogs, registerRuns, registerTasks } from "./commands/read.js";
import { registerResume, registerRun, registerTrigger } from "./commands/run.js";
import { registerServe, type StartHttp, type StartMetrics } from "./commands/serve.js";
import { registerAssets, registerEvents } from "./commands/assets.js";
import { registerBackfill } from "./commands/backfill.js";
import { registerTaskCommands } from "./commands/tasks.js";
import { registerPools } from "./commands/pools.js";
import { registerStatus } from "./commands/status.js";
import { registerUsers } from "./commands/users.js";
import { registerConnections } from "./commands/connections.js";
import { registerSecrets } from "./commands/secrets.js";
import { registerVariables } from "./commands/variables.js";
import { registerGrants } from "./commands/grants.js";
import { registerAudit } from "./commands/audit.js";
import { registerDlq } from "./commands/dlq.js";
import { registerModelServe, type StartModelServer } from "./commands/serveModel.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** `deps`: what the program's entry point (src/main.ts) plugs in. */
export async function main(argv: string[], deps: { startHttp: StartHttp; startMetrics: StartMetrics; startModelServer: StartModelServer }): Promise<number> {
  // `sluice runs list | head`: the reader went away; stop quietly like other Unix tools
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  const program = new Command("sluice")
    .description("Sluice: TypeScript-native workflow orchestrator")
    .version(pkg.version, "-V, --version")
    .option("--dags <dir>", "folder of DAG files, searched recursively (env SLUICE_DAGS; default ./dags)")
    .option("--home <dir>", "where the database, logs and artifacts live (env SLUICE_HOME; default ./.sluice)")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  registerRun(program, globals);
  registerServe(program, globals, deps);
  registerTrigger(program, globals);
  registerBackfill(program, globals);
  registerDags(program, globals);
  const runs = program.command("runs").description("runs of DAGs");
  registerRuns(runs, globals);
  registerResume(runs, globals);
  registerRunsCompare(runs, globals);
  registerRunNote(runs, globals);
  registerExperiments(program, globals);
  registerModels(program, globals);
  registerLogs(program, globals);
  registerTasks(program, globals);
  registerTaskNote(registerTaskCommands(program, globals), globals);
  registerDb(program, globals);
  registerAssets(program, globals);
  registerEvents(program, globals);
  registerStatus(program, globals);
  registerPools(program, globals);
  registerUsers(program, globals);
  registerConnections(program, globals);
  registerVariables(program, globals);
  registerSecrets(program, globals);
  registerGrants(program, globals);
  registerAudit(program, globals);
  registerDlq(program, globals);
  // `sluice models serve` joins the registry's `models` command (list, show, promote…)
  const models = program.commands.find((c) => c.name() === "models") ?? program.command("models").description("the model registry: registered models, their versions and aliases");
  registerModelServe(models, globals, deps);
  for (const c of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) c.exitOverride();

  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are not errors; usage mistakes exit 2
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help" ? 0 : 2;
    }
    const err = toSluiceError(e);
    const json = argv.includes("--json");
    if (json) process.stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
    process.stderr.write(`error [${err.code}]: ${err.message}\n`);
    if (err.code === "INTERNAL" && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n(this is a bug in Sluice; please report it)\n`);
    return err.exitCode;
  }
}
