/**
 * Entry point of a DAG processor child process (see dagProcessor.ts): imports DAG files one by one and
 * reports each file's DAGs (serialisable specs, versions, default params) as soon as it is parsed, so a
 * file that hangs costs only itself.
 */
import { validateWithSchema } from "../core/standardSchema.js";
import { secretInCode, tryBundleDagFile } from "../executors/dagBundle.js";
import { loadDagFile } from "../executors/dagFile.js";
import { sweepModuleCache } from "../executors/dagModuleCache.js";
import type { ParsedDag, ProcessorMessage, ProcessorRequest } from "./dagProcessor.js";

function send(m: ProcessorMessage): Promise<void> {
  return new Promise((resolve, reject) => process.send!(m, undefined, {}, (e) => (e ? reject(e) : resolve())));
}

process.once("message", ({ files, cacheDir }: ProcessorRequest) => {
  void (async () => {
    for (const file of files) {
      await send({ type: "start", file });
      const result = await loadDagFile(file, cacheDir ? { cacheDir } : {});
      if ("error" in result) {
        await send({ type: "file", file, dags: [], error: { message: result.error, line: result.line } });
        continue;
      }
      const dags: ParsedDag[] = [];
      for (const dag of result.dags) {
        let defaultParams: Record<string, unknown> | null = {};
        let paramsError: string | null = null;
        if (dag.paramsSchema) {
          // what a scheduled run gets: the schema's defaults (a param without one makes scheduled runs impossible)
          const checked = await validateWithSchema(dag.paramsSchema, {});
          if (checked.ok) defaultParams = JSON.parse(JSON.stringify(checked.value ?? {})) as Record<string, unknown>;
          else {
            defaultParams = null;
            paramsError = checked.issues.map((i) => (i.path ? `param "${i.path}": ${i.message}` : i.message)).join("; ");
          }
        }
        dags.push({ dagId: dag.id, version: dag.version, spec: dag.spec, defaultParams, paramsError });
      }
      // bundled after the import, so a file that does not import reports that, not a bundling error
      const bundled = dags.length ? await tryBundleDagFile(file) : null;
      const secret = bundled && !("error" in bundled) ? secretInCode(bundled, result.dags) : null;
      const code = secret ? { error: secret } : bundled;
      await send({ type: "file", file, dags, error: null, ...(code === null ? {} : "error" in code ? { code: null, codeError: code.error } : { code }) });
    }
    // a long-running scheduler may never run a command that loads the folder: keep its cache bounded too
    if (cacheDir) await sweepModuleCache(cacheDir);
  })().finally(() => process.disconnect());
});
