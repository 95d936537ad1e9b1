/**
 * Trigger rules with Airflow's semantics (airflow/ti_deps/deps/trigger_rule_dep.py), evaluated from
 * counters kept on the waiting task instance. A task is decided as soon as its rule's outcome is known —
 * e.g. `all_success` becomes `upstream_failed` on the first failed parent, `one_success` starts on the
 * first success — so finishing a task costs O(its direct downstream tasks), never a scan.
 */

export const TRIGGER_RULES = [
  "all_success",
  "all_failed",
  "all_done",
  "all_skipped",
  "one_success",
  "one_failed",
  "one_done",
  "none_failed",
  "none_failed_min_one_success",
  "none_skipped",
  "always",
  "all_done_setup_success",
] as const;
export type TriggerRule = (typeof TRIGGER_RULES)[number];

/** How the direct upstream task instances of one waiting task instance have ended so far. */
export interface UpstreamCounts {
  /** Number of upstream task instances (a mapped upstream counts once per map index once expanded). */
  total: number;
  success: number;
  /** failed plus upstream_failed (Airflow treats both as failures for every rule but one_done). */
  failed: number;
  /** How many of `failed` are upstream_failed (one_done counts only real failures, like Airflow). */
  upstreamFailed?: number;
  skipped: number;
  /**
   * all_done_setup_success only: the upstream instances that are setup tasks, and how many of them
   * succeeded and were skipped (read when every upstream is done; absent: no setup upstream).
   */
  setups?: { total: number; success: number; skipped: number };
}

export type TriggerDecision = "wait" | "run" | "skip" | "upstream_failed";

export function evaluateTriggerRule(rule: TriggerRule, c: UpstreamCounts): TriggerDecision {
  // Airflow: a task without upstream tasks passes whatever its rule (one_* would otherwise see "all done,
  // none succeeded/failed" and skip).
  if (c.total <= 0) return "run";
  const done = c.success + c.failed + c.skipped;
  const allDone = done >= c.total;
  switch (rule) {
    case "always":
      return "run";
    case "all_success":
      if (c.failed > 0) return "upstream_failed";
      if (c.skipped > 0) return "skip";
      return allDone ? "run" : "wait";
    case "all_failed":
      if (c.success > 0 || c.skipped > 0) return "skip";
      return allDone ? "run" : "wait";
    case "all_done":
      return allDone ? "run" : "wait";
    case "all_skipped":
      if (c.success > 0 || c.failed > 0) return "skip";
      return allDone ? "run" : "wait";
    case "one_success":
      if (c.success > 0) return "run";
      if (!allDone) return "wait";
      return c.skipped === c.total ? "skip" : "upstream_failed";
    case "one_failed":
      if (c.failed > 0) return "run";
      return allDone ? "skip" : "wait";
    case "one_done":
      if (c.success > 0 || c.failed - (c.upstreamFailed ?? 0) > 0) return "run";
      return allDone ? "skip" : "wait";
    case "none_failed":
      if (c.failed > 0) return "upstream_failed";
      return allDone ? "run" : "wait";
    case "none_failed_min_one_success":
      if (c.failed > 0) return "upstream_failed";
      if (!allDone) return "wait";
      return c.total > 0 && c.skipped === c.total ? "skip" : "run";
    case "none_skipped":
      if (c.skipped > 0) return "skip";
      return allDone ? "run" : "wait";
    case "all_done_setup_success":
      // a teardown's rule: it runs once everything before it is done, whatever happened to the work, as
      // long as one of its setups succeeded; every setup skipped skips it, none succeeded fails it upstream
      if (!allDone) return "wait";
      if (c.setups && c.setups.total > 0 && c.setups.skipped >= c.setups.total) return "skip";
      if (c.setups && c.setups.total > 0 && c.setups.success === 0) return "upstream_failed";
      return "run";
  }
}

export function isTriggerRule(v: unknown): v is TriggerRule {
  return typeof v === "string" && (TRIGGER_RULES as readonly string[]).includes(v);
}
