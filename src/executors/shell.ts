import { resolve, dirname } from "node:path";
import { DEFAULT_SKIP_EXIT_CODE } from "../core/taskSignals.js";
import { SluiceError } from "../errors.js";
import type { Executor, TaskRun } from "./executor.js";
import { declaredSecretEnv, exitError, runLogged, taskEnv } from "./subprocess.js";

/** Runs a program (or a /bin/sh script with `shell: true`); the output is the last line of stdout. */
export const shellExecutor: Executor = {
  async run(r: TaskRun): Promise<unknown> {
    const impl = r.impl;
    if (impl.kind !== "shell") throw new SluiceError("INTERNAL", `task "${r.task.id}" is not a shell task`);
    const args = typeof impl.args === "function" ? await impl.args(r.inputs, r.ctx) : impl.args;
    if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
      throw new SluiceError("TASK_FAILED", `task "${r.task.id}": args must be a list of strings`);
    }
    const cwd = resolve(dirname(r.dagFile), impl.cwd ?? ".");
    const what = `task "${r.task.id}" (${impl.command})`;
    const env = { ...taskEnv(r, impl.env), ...(await declaredSecretEnv(r)) };
    const { exitCode, lastStdoutLine } = impl.shell
      ? await runLogged("/bin/sh", ["-c", [impl.command, ...args].join(" ")], { cwd, env, log: r.log, signal: r.ctx.signal, what })
      : await runLogged(impl.command, args, { cwd, env, log: r.log, signal: r.ctx.signal, what });
    if (exitCode !== 0) throw exitError(what, exitCode, r.task.skipOnExitCode ?? [DEFAULT_SKIP_EXIT_CODE]);
    return lastStdoutLine;
  },
};
