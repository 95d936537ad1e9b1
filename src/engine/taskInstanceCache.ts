/**
 * Write-behind cache of task instances for one transaction. Transitions read and change task instances
 * through it; `flush` writes every changed row once, grouping rows with the same change into one UPDATE.
 * With group commit this turns, e.g., 16 tasks finishing into one read and one write of their common
 * downstream join instead of 16 of each.
 */
import { FINISHED_TASK_STATES } from "../core/states.js";
import type { TaskInstanceRecord, TiWrite, Tx } from "../store/store.js";

type Key = Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">;
export type TiChange = Partial<
  Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "tryBase" | "sensorDeadline" | "pokeCount">
>;

/** runId\0taskId\0mapIndex: the key `Effects.readyTis` uses too. */
export const keyOf = (k: Key) => `${k.runId}\0${k.taskId}\0${k.mapIndex}`;
const taskKey = (runId: string, taskId: string) => `${runId}\0${taskId}`;

export class TaskInstanceCache {
  /** Rows read from the store, with pending changes applied. */
  private readonly rows = new Map<string, TaskInstanceRecord>();
  /** Which tasks' rows (all map indexes) are loaded: runId\0taskId -> row keys. */
  private readonly loaded = new Map<string, string[]>();
  private readonly dirty = new Map<string, { key: Key; change: TiChange }>();
  /** Placeholders that an expansion replaced in this transaction (a row object callers may still hold). */
  private readonly replaced = new Set<string>();

  /** `finished`: told of each row written with a final state (the metrics' count, Effects.finishedTi). */
  constructor(private readonly finished?: (runId: string, state: string) => void) {}

  /** All instances of the given tasks, current as of this transaction. */
  async load(tx: Tx, runId: string, taskIds: readonly string[]): Promise<TaskInstanceRecord[]> {
    const missing = taskIds.filter((t) => !this.loaded.has(taskKey(runId, t)));
    if (missing.length) {
      // PostgreSQL: a run's task instances are read and changed under its run lock (Tx.lockRuns)
      await tx.lockRuns([runId]);
      const fetched = await tx.taskInstances.getMany(runId, missing);
      for (const t of missing) this.loaded.set(taskKey(runId, t), []);
      for (const r of fetched) {
        const k = keyOf(r);
        const pending = this.dirty.get(k);
        const row = pending ? { ...r, ...pending.change } : r;
        // a row read alone before (loadOne) keeps its identity: callers may hold it
        const known = this.rows.get(k);
        if (known) Object.assign(known, row);
        else this.rows.set(k, row);
        this.loaded.get(taskKey(runId, r.taskId))!.push(k);
      }
    }
    return taskIds.flatMap((t) => this.loaded.get(taskKey(runId, t))!.map((k) => this.rows.get(k)!));
  }

  /**
   * One instance, current as of this transaction, without loading its task's other instances (a mapped
   * group's per-index dependency: instance i of a 10,000-wide task reads one row, not 10,000). `lock`:
   * read FOR UPDATE when not in the cache (PostgreSQL; see `TxTaskInstanceRows.getOne`).
   */
  async loadOne(tx: Tx, key: Key, lock: boolean): Promise<TaskInstanceRecord | null> {
    const k = keyOf(key);
    const cached = this.rows.get(k);
    if (cached) return cached;
    if (this.loaded.has(taskKey(key.runId, key.taskId))) return null; // its task's rows are all here: there is none
    await tx.lockRuns([key.runId]);
    const r = await tx.taskInstances.getOne(key.runId, key.taskId, key.mapIndex, lock);
    if (!r) return null;
    const pending = this.dirty.get(k);
    const row = pending ? { ...r, ...pending.change } : r;
    this.rows.set(k, row);
    return row;
  }

  /** Record a change (the row need not have been loaded). */
  update(key: Key, change: TiChange): void {
    const k = keyOf(key);
    const row = this.rows.get(k);
    if (row) Object.assign(row, change);
    const d = this.dirty.get(k);
    if (d) Object.assign(d.change, change);
    else this.dirty.set(k, { key: { runId: key.runId, taskId: key.taskId, mapIndex: key.mapIndex }, change: { ...change } });
  }

  /** After a mapped task expanded in the store: forget its placeholder, know its new rows. */
  replaceTask(runId: string, taskId: string, rows: TaskInstanceRecord[]): void {
    // the placeholder too when it was read alone (loadOne)
    for (const k of [...(this.loaded.get(taskKey(runId, taskId)) ?? []), keyOf({ runId, taskId, mapIndex: -1 })]) {
      this.replaced.add(k);
      this.rows.delete(k);
      this.dirty.delete(k);
    }
    const keys = rows.map((r) => {
      const k = keyOf(r);
      this.rows.set(k, r);
      return k;
    });
    this.loaded.set(taskKey(runId, taskId), keys);
  }

  /**
   * Whether `row` is a placeholder an expansion replaced in this transaction: a caller holding it (a list
   * loaded before a mapped group expanded) must act on the task's new instances instead.
   */
  isReplaced(row: Key): boolean {
    return this.replaced.has(keyOf(row));
  }

  /** Whether changes wait to be written. */
  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** The pending changes, a row each; forgets them. */
  take(): TiWrite[] {
    const out: TiWrite[] = [];
    for (const { key, change } of this.dirty.values()) {
      out.push({ key, set: change });
      // counted where the write is issued: once per row and final state, whatever changed it on the way
      if (change.state !== undefined && this.finished && FINISHED_TASK_STATES.has(change.state)) this.finished(key.runId, change.state);
    }
    this.dirty.clear();
    return out;
  }

  /** Write all pending changes (Tx.writeChanges). */
  async flush(tx: Tx): Promise<void> {
    await tx.taskInstances.writeChanges(this.take());
  }

  /**
   * Rows read ahead by the caller (e.g. with other reads of the same round trip): `load` then finds them
   * without a query. They must be current as of this transaction and read under the run's lock.
   */
  prime(runId: string, taskIds: readonly string[], rows: readonly TaskInstanceRecord[]): void {
    const fresh = taskIds.filter((t) => !this.loaded.has(taskKey(runId, t)));
    if (fresh.length === 0) return;
    const want = new Set(fresh);
    for (const t of fresh) this.loaded.set(taskKey(runId, t), []);
    for (const r of rows) {
      if (r.runId !== runId || !want.has(r.taskId)) continue;
      const k = keyOf(r);
      const pending = this.dirty.get(k);
      this.rows.set(k, pending ? { ...r, ...pending.change } : r);
      this.loaded.get(taskKey(runId, r.taskId))!.push(k);
    }
  }

  /** All instances of these tasks when they are loaded already, else null (no query). */
  peek(runId: string, taskIds: readonly string[]): TaskInstanceRecord[] | null {
    if (!taskIds.every((t) => this.loaded.has(taskKey(runId, t)))) return null;
    return taskIds.flatMap((t) => this.loaded.get(taskKey(runId, t))!.map((k) => this.rows.get(k)!));
  }

  /** Know a row as it is now (e.g. returned by an in-place update): later reads and changes start from it. */
  put(row: TaskInstanceRecord): void {
    const k = keyOf(row);
    const pending = this.dirty.get(k);
    const cur = this.rows.get(k);
    const next = pending ? { ...row, ...pending.change } : row;
    if (cur) Object.assign(cur, next);
    else this.rows.set(k, next);
  }

  /** The current rows of these keys (loaded or written here), for claiming what this transaction made ready. */
  current(keys: Iterable<string>): TaskInstanceRecord[] {
    const out: TaskInstanceRecord[] = [];
    for (const k of keys) {
      const r = this.rows.get(k);
      if (r) out.push(r);
    }
    return out;
  }
}
