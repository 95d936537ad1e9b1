/**
 * `ctx.connection(id)` and `ctx.variable(key)` of one attempt: resolved through the worker's backends
 * when the task asks (lazily), every secret value fed to the attempt's masker before the task sees it, and
 * a failure naming the task, the id and the backends searched.
 */
import type { JsonValue } from "../core/assets.js";
import { SluiceError, isSluiceError } from "../errors.js";
import type { Connection } from "./connection.js";
import type { Masker } from "./mask.js";
import type { TaskSecrets } from "./secrets.js";

export interface AttemptSecrets {
  connection(id: string): Promise<Connection>;
  variable<T = JsonValue>(key: string, fallback?: T): Promise<T>;
}

export function attemptSecrets(secrets: TaskSecrets | undefined, masker: Masker, who: { dagId: string; taskId: string }): AttemptSecrets {
  const where = `task "${who.taskId}" of DAG "${who.dagId}"`;
  const fail = (e: unknown): never => {
    if (isSluiceError(e)) throw new SluiceError(e.code, `${where}: ${e.message}`, { cause: e, details: { ...e.details, dagId: who.dagId, taskId: who.taskId } });
    throw e;
  };
  return {
    async connection(id: string): Promise<Connection> {
      if (!secrets) throw new SluiceError("CONNECTION_NOT_FOUND", `${where}: connection "${id}" not found; this worker has no secrets backends`);
      const c = await secrets.connection(id).catch(fail);
      masker.add(c.password);
      masker.add(c.uri);
      if (Object.keys(c.extra).length) masker.add(c.extra);
      return c;
    },
    async variable<T = JsonValue>(key: string, ...fallback: [T?]): Promise<T> {
      try {
        if (!secrets) throw new SluiceError("VARIABLE_NOT_FOUND", `variable "${key}" not found; this worker has no secrets backends`);
        const v = await secrets.variable(key);
        if (v.secret) masker.add(v.value);
        return v.value as T;
      } catch (e) {
        if (fallback.length && isSluiceError(e, "VARIABLE_NOT_FOUND")) return fallback[0] as T;
        return fail(e);
      }
    },
  };
}
