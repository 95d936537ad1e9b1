/**
 * Sensors, the pure part: what a poke's result means and when the next poke is due. Airflow's semantics
 * (BaseSensorOperator in reschedule mode): `pokeInterval` between pokes, a `timeout` counted from the first
 * poke (retries do not restart it), `softFail` turns the timeout into a skip, and `exponentialBackoff`
 * grows the interval (capped by `maxWait`). The engine applies them in engine/transitions.ts.
 */
import { SluiceError } from "../errors.js";

/** A sensor task's policy, recorded in its TaskSpec (`sensor`). */
export interface SensorPolicy {
  /** Wait between pokes (the base of the backoff). */
  pokeIntervalMs: number;
  /** The sensor fails with TIMEOUT (skips, with softFail) when a poke finds the condition unmet this long after its first poke. */
  timeoutMs: number;
  softFail: boolean;
  exponentialBackoff: boolean;
  /** Cap of the interval with exponential backoff (Airflow's `max_wait`). */
  maxWaitMs: number | null;
}

/** Airflow's defaults: poke every 60 s, time out after 7 days. */
export const DEFAULT_POKE_INTERVAL_MS = 60_000;
export const DEFAULT_SENSOR_TIMEOUT_MS = 7 * 86_400_000;

export type PokeOutcome = { done: false } | { done: true; value: unknown };

/**
 * What a poke returned: `true` (done; the output is `true`), `false` (poke again), or `{ done, value? }`
 * (Airflow's PokeReturnValue: the output is `value`, or `true` without one). Anything else is the
 * author's mistake and fails the attempt with a message that says what to return.
 */
export function pokeOutcome(taskId: string, returned: unknown): PokeOutcome {
  if (returned === true) return { done: true, value: true };
  if (returned === false) return { done: false };
  if (typeof returned === "object" && returned !== null && typeof (returned as { done?: unknown }).done === "boolean") {
    const r = returned as { done: boolean; value?: unknown };
    if (!r.done) return { done: false };
    return { done: true, value: "value" in r ? r.value : true };
  }
  throw new SluiceError(
    "TASK_FAILED",
    `sensor "${taskId}": its poke returned ${describe(returned)}; return true when the condition is met, false to poke again, or { done, value }`,
  );
}

function describe(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (typeof v === "object") return "an object without a boolean `done`";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Wait after poke number `pokes` (1-based) found the condition unmet. Fixed: `pokeIntervalMs`. Exponential
 * (Airflow's `_get_next_poke_interval`): a minimum of `pokeIntervalMs * 2^(pokes - 2)` plus up to the same
 * again at random — intervals in [i/2, i), [i, 2i), [2i, 4i), … — capped by `maxWaitMs`. The engine also
 * caps it at the sensor's deadline, so that the last poke happens at the timeout and not after it.
 *
 * @param random a number in [0, 1) (Airflow hashes the task and poke instead; injected for tests)
 */
export function nextPokeDelayMs(policy: Pick<SensorPolicy, "pokeIntervalMs" | "exponentialBackoff" | "maxWaitMs">, pokes: number, random: number): number {
  let delay = policy.pokeIntervalMs;
  if (policy.exponentialBackoff) {
    const min = Math.max(1, policy.pokeIntervalMs * 2 ** Math.min(Math.max(pokes - 2, -1), 40));
    delay = min + min * Math.min(Math.max(random, 0), 0.999999);
  }
  if (policy.maxWaitMs !== null) delay = Math.min(delay, policy.maxWaitMs);
  return Math.max(1, Math.floor(delay));
}
