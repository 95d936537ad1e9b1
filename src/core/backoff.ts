/**
 * Delay before the next attempt of a failed task. Airflow's knobs: a base `retryDelay`, optional
 * exponential growth, a `maxRetryDelay` cap; plus jitter as a fraction of the delay taken off at random
 * (so synchronised failures do not retry in lock-step).
 */
export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  retryDelayMs: number;
  backoff: "fixed" | "exponential";
  maxRetryDelayMs: number | null;
  /** 0..1: the delay is multiplied by a random factor in [1 - jitter, 1]. */
  jitter: number;
}

/**
 * @param failedTry the try number (1-based) that just failed
 * @param random a number in [0, 1); injected so that tests are deterministic
 */
export function retryDelayMs(policy: RetryPolicy, failedTry: number, random: number): number {
  let delay = policy.retryDelayMs;
  if (policy.backoff === "exponential") {
    // 2^(n-1) grows past any sane cap quickly; clamp the exponent so the number stays finite.
    delay = policy.retryDelayMs * 2 ** Math.min(Math.max(failedTry - 1, 0), 40);
  }
  if (policy.maxRetryDelayMs !== null) delay = Math.min(delay, policy.maxRetryDelayMs);
  if (policy.jitter > 0) delay = delay * (1 - policy.jitter * Math.min(Math.max(random, 0), 1));
  return Math.max(0, Math.round(delay));
}

/** Whether another attempt is allowed after try number `failedTry` failed. */
export function canRetry(policy: Pick<RetryPolicy, "retries">, failedTry: number): boolean {
  return failedTry < policy.retries + 1;
}
