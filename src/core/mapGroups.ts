/**
 * Mapped task groups (`d.mapGroup`) with Airflow's semantics (airflow/models/taskinstance.py
 * `get_relevant_upstream_map_indexes`, airflow/ti_deps/deps/trigger_rule_dep.py `_is_relevant_upstream`):
 *
 * - every task of the group is a mapped task over the group's lists: all of them have as many instances
 *   as the group has elements, created together when the group expands;
 * - instance i of a task depends only on instance i of its upstream tasks *in the same group*: it becomes
 *   ready when they are done, and its trigger rule counts only them (and, whole, its upstream tasks
 *   outside the group) — depth-first execution;
 * - a task outside the group downstream of a task inside it depends on every instance (a reduce: it gets
 *   the list of their outputs in map-index order);
 * - an upstream instance that was never expanded (map index -1: decided before the group expanded) is
 *   relevant to every instance, as in Airflow.
 */
import type { TaskSpec } from "./dagSpec.js";

/** Whether instance i of `downstream` depends on instance i of `upstream` only (both in one mapped group). */
export function perIndex(upstream: Pick<TaskSpec, "mapGroup">, downstream: Pick<TaskSpec, "mapGroup">): boolean {
  return upstream.mapGroup !== undefined && upstream.mapGroup === downstream.mapGroup;
}
