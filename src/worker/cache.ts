/**
 * Caching across runs in the worker (issue 15, item 1): an attempt of a task with `cache` computes its key
 * (core/cache.ts) after its inputs are resolved, and reuses a stored success's output instead of running;
 * a normal success becomes the entry for its key. docs/decisions/0029-caching.md.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { cacheExpiresAt, cacheKey } from "../core/cache.js";
import { canonicalBytes } from "../core/canonical.js";
import { SluiceError } from "../errors.js";
import type { CacheSpec, TaskSpec } from "../core/dagSpec.js";
import type { TaskImpl } from "../dsl/dag.js";
import type { TaskContext } from "../dsl/types.js";
import type { AttemptLog } from "../logs/attemptLog.js";
import { isSecretParamValue } from "../secrets/params.js";
import type { ClaimedAttempt } from "../store/store.js";
import type { AttemptResult, WorkerHost } from "./host.js";

/** A cached task's spec and its key for this attempt. */
export interface AttemptCache {
  spec: CacheSpec;
  key: string;
}

/**
 * The key of this attempt, or null when it runs uncached: the task has no `cache`, or its `cacheKey`
 * threw (the log says why; a broken key function must not fail the task, nor reuse a wrong output).
 */
export async function attemptCacheKey(
  a: ClaimedAttempt,
  task: TaskSpec,
  impl: TaskImpl,
  dagFile: string,
  inputs: Record<string, unknown>,
  ctx: TaskContext<unknown>,
  log: AttemptLog,
): Promise<AttemptCache | null> {
  const spec = task.cache;
  if (!spec) return null;
  let custom: string | null = null;
  if (impl.cacheKey) {
    try {
      custom = String(impl.cacheKey(inputs, ctx));
    } catch (e) {
      // written, not held back like a note: the person asking why it ran again must find this
      log.system("warn", `cache: cacheKey threw (${e instanceof Error ? e.message : String(e)}); running uncached`);
      return null;
    }
  }
  const code = custom === null ? await codeOf(impl, dagFile) : "";
  const encoded = custom === null ? canonicalInputs(inputs, task.id) : new Uint8Array();
  // a secret param is stored encrypted per run (a new ciphertext every run) and must not leave a hash of
  // its value behind: it counts as present, not by value (rotating a token does not invalidate the cache)
  const params = Object.fromEntries(Object.entries(a.params).map(([k, v]) => [k, isSecretParamValue(v) ? { secret: true } : v]));
  return { spec, key: cacheKey({ dagId: a.dagId, taskId: task.id, spec, code, inputs: encoded, params, custom }) };
}

/**
 * The result of a cache hit for `c`, or null (a miss, or the run was triggered with noCache). The output is
 * shared with the source attempt — the same inline bytes or the same artifact ref, never a copy.
 */
export async function cacheHit(host: WorkerHost, a: ClaimedAttempt, c: AttemptCache, log: AttemptLog): Promise<AttemptResult | null> {
  if (await host.store.cache.runNoCache(a.runId)) {
    log.note("cache: not looked up (run triggered with no-cache)");
    return null;
  }
  const hit = await host.store.cache.lookup(a.dagId, a.taskId, c.key, host.clock.now());
  if (!hit) return null;
  await host.store.cache.markCached(a.attemptId, hit.attemptId);
  // written, not held back: a hit that ran nothing must say where its output came from
  log.system("info", `cache hit: reused attempt ${hit.attemptId} (run ${hit.runId})`);
  return { attemptId: a.attemptId, state: "success", endedAt: host.clock.now(), outputInline: hit.inline, outputRef: hit.ref, outputSize: hit.size };
}

/** After a normal success: this attempt becomes the entry for its key. */
export async function storeCacheEntry(host: WorkerHost, a: ClaimedAttempt, c: AttemptCache): Promise<void> {
  const now = host.clock.now();
  await host.store.cache.put({ dagId: a.dagId, taskId: a.taskId, key: c.key, attemptId: a.attemptId, createdAt: now, expiresAt: cacheExpiresAt(c.spec, now) });
}

/** The task's code as far as the key is concerned; a Python script's content is read now (it may change between runs). */
async function codeOf(impl: TaskImpl, dagFile: string): Promise<string> {
  if (impl.kind === "fn") return impl.fn.toString();
  const args = typeof impl.args === "function" ? impl.args.toString() : JSON.stringify(impl.args);
  if (impl.kind === "shell") return `shell\0${impl.command}\0${args}`;
  if (impl.script === null) return `python -m\0${impl.module ?? ""}\0${args}`;
  const script = await readFile(resolve(dirname(dagFile), impl.script), "utf8").catch(() => "");
  return `python\0${impl.script}\0${script}\0${args}`;
}

/**
 * The inputs as canonical bytes (core/canonical.ts), not as outputs are stored: V8's encoding of equal
 * values can differ with the process's history, which made a hit a matter of luck.
 */
function canonicalInputs(inputs: Record<string, unknown>, taskId: string): Uint8Array {
  try {
    return canonicalBytes(inputs);
  } catch (e) {
    throw new SluiceError("SERIALIZATION", `task "${taskId}" inputs cannot be hashed for its cache key (${e instanceof Error ? e.message : String(e)}); pass plain data`, { cause: e });
  }
}
