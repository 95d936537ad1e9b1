/** `sluice dags check`: import every DAG file and type-check the folder; errors with file and line, exit 1 if any. */
import type { Command } from "commander";
import { join } from "node:path";
import { findDagFiles, loadDagFolder } from "../../engine/dagLoader.js";
import { DagTypeChecker, formatTypeError } from "../../engine/typeCheck.js";
import { configFrom, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

export function registerDagsCheck(dags: Command, globals: () => GlobalOptions): void {
  dags
    .command("check")
    .description("import every DAG file and type-check them (TypeScript, incrementally): errors with file and line; exit 1 if any")
    .option("--no-types", "import only, skip the type check")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean; types: boolean }) => {
      const opts = { ...globals(), ...o };
      const config = configFrom(opts, "cli");
      const bag = await loadDagFolder(config.dagsDir, { importTimeoutMs: config.dagImportTimeoutMs });
      const typeErrors = o.types ? (await DagTypeChecker.open(config.dagsDir, join(config.home, "typecheck"))).check(await findDagFiles(config.dagsDir)) : [];
      if (opts.json) printJson({ dags: [...bag.dags.keys()].sort(), importErrors: bag.errors, typeErrors });
      else {
        for (const e of bag.errors) process.stderr.write(`import error: ${e.file}${e.line ? `:${e.line}` : ""}: ${e.message}\n`);
        for (const e of typeErrors) process.stderr.write(`${formatTypeError(e)}\n`);
        const problems = bag.errors.length + typeErrors.length;
        process.stdout.write(
          problems === 0
            ? `${bag.dags.size} DAG(s) in ${config.dagsDir}: no import or type errors\n`
            : `${bag.errors.length} import error(s), ${typeErrors.length} type error(s) in ${config.dagsDir}\n`,
        );
      }
      process.exitCode = bag.errors.length || typeErrors.length ? 1 : 0;
    });
}
