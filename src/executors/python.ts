import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { validateWithSchema } from "../core/standardSchema.js";
import { DEFAULT_SKIP_EXIT_CODE } from "../core/taskSignals.js";
import { SluiceError } from "../errors.js";
import type { Executor, TaskRun } from "./executor.js";
import { declaredSecretEnv, exitError, runLogged, taskEnv } from "./subprocess.js";

/**
 * Runs a Python script or module. Protocol: the inputs arrive as JSON on stdin and in the file named by
 * $SLUICE_INPUTS; the script writes its result as JSON to the file named by $SLUICE_OUTPUT (no file: the
 * output is null). `params` and the run's context are in $SLUICE_CONTEXT as JSON.
 */
export const pythonExecutor: Executor = {
  async run(r: TaskRun): Promise<unknown> {
    const impl = r.impl;
    if (impl.kind !== "python") throw new SluiceError("INTERNAL", `task "${r.task.id}" is not a python task`);
    const base = dirname(r.dagFile);
    const python = impl.python ?? r.python;
    const args = typeof impl.args === "function" ? await impl.args(r.inputs, r.ctx) : impl.args;
    const argv = impl.script ? [resolve(base, impl.script), ...args] : ["-m", impl.module!, ...args];
    const dir = await mkdtemp(join(tmpdir(), "sluice-py-"));
    const what = `task "${r.task.id}" (${python} ${impl.script ?? `-m ${impl.module}`})`;
    try {
      const inputsJson = JSON.stringify(r.inputs, jsonReplacer) ?? "{}";
      const inputsFile = join(dir, "inputs.json");
      const outputFile = join(dir, "output.json");
      await writeFile(inputsFile, inputsJson);
      const context = {
        runId: r.ctx.runId,
        dagId: r.ctx.dagId,
        taskId: r.ctx.taskId,
        mapIndex: r.ctx.mapIndex,
        attempt: r.ctx.attempt,
        logicalDate: r.ctx.logicalDate.toISOString(),
        dataInterval: { start: r.ctx.dataInterval.start.toISOString(), end: r.ctx.dataInterval.end.toISOString() },
        params: r.ctx.params,
      };
      const { exitCode } = await runLogged(python, argv, {
        cwd: resolve(base, impl.cwd ?? "."),
        env: {
          ...taskEnv(r, impl.env),
          ...(await declaredSecretEnv(r)),
          SLUICE_INPUTS: inputsFile,
          SLUICE_OUTPUT: outputFile,
          SLUICE_CONTEXT: JSON.stringify(context, jsonReplacer),
          PYTHONUNBUFFERED: "1",
        },
        stdinText: inputsJson,
        log: r.log,
        signal: r.ctx.signal,
        what,
      });
      if (exitCode !== 0) throw exitError(what, exitCode, r.task.skipOnExitCode ?? [DEFAULT_SKIP_EXIT_CODE]);
      let text: string;
      try {
        text = await readFile(outputFile, "utf8");
      } catch {
        return null;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new SluiceError("TASK_FAILED", `${what} wrote invalid JSON to $SLUICE_OUTPUT: ${(e as Error).message}`);
      }
      if (impl.output) {
        const checked = await validateWithSchema(impl.output, value);
        if (!checked.ok) {
          throw new SluiceError(
            "TASK_FAILED",
            `${what} returned output that does not match its schema: ${checked.issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`,
          );
        }
        value = checked.value;
      }
      return value;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  return v;
}
