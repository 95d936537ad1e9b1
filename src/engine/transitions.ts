/**
 * State transitions of task instances and runs, applied inside one store transaction. Finishing a task
 * touches only its direct downstream task instances: each holds counters of how its upstream ended, and
 * its trigger rule is evaluated from them (core/triggerRules). Skips and upstream failures cascade through
 * a work list, so a whole run costs O(edges) however it ends.
 */
import { canRetry, retryDelayMs } from "../core/backoff.js";
import { formatDuration } from "../core/duration.js";
import { nextPokeDelayMs } from "../core/sensors.js";
import type { TaskSpec } from "../core/dagSpec.js";
import { branchKeeps, decisionSkips } from "../core/branching.js";
import { mapLength, mappableList } from "../core/mapping.js";
import type { DeadLetterReason } from "../core/deadLetters.js";
import { deriveRunState, type RunState, type TaskState } from "../core/states.js";
import { evaluateTriggerRule, type UpstreamCounts } from "../core/triggerRules.js";
import type { AttemptEnd, EndedAttempt, NewTaskInstance, TaskInstanceRecord, TiBump, Tx, WaitingAttempt } from "../store/store.js";
import type { AttemptResult } from "../worker/worker.js";
import type { Effects } from "./effects.js";
import { pastGate } from "./pastDeps.js";
import type { SpecIndex } from "./specIndex.js";
import { allUpstreamDone, setupStates } from "./setupTeardown.js";
import { clearSet } from "../core/setupTeardown.js";
import { upstreamCounts } from "./upstreamCounts.js";

/** What the engine needs from outside the transaction. */
export interface TransitionEnv {
  /** The spec of a run's DAG version. */
  specFor(runId: string): Promise<SpecIndex>;
  /** The values of a task's successful outputs in map-index order (undefined where an index failed). */
  loadOutputs(tx: Tx, runId: string, taskId: string): Promise<unknown[]>;
  random(): number;
}

/**
 * A run with no unfinished task instance left gets its final state, from its leaves. The caller holds
 * the run's count at zero: the transaction brought it there, or owns the run.
 */
export async function finishRun(tx: Tx, env: TransitionEnv, fx: Effects, runId: string): Promise<void> {
  const state = tx.knownRun(runId)?.state ?? (await tx.runs.get(runId))?.state;
  if (state !== "running" && state !== "queued") return;
  const idx = await env.specFor(runId);
  // the leaves' rows are often in the cache already (a chain's last task)
  const leaves = fx.tis.peek(runId, idx.leaves)?.map((t) => t.state) ?? (await tx.taskInstances.leafStates(runId, idx.leaves));
  const derived = deriveRunState(leaves);
  // no await on the hot path: only a run of a parking DAG that would fail asks the dead-letter queue
  const runState = derived === "failed" && idx.spec.deadLetter === "park" ? await parkedRunState(tx, idx, runId, derived) : derived;
  await tx.runs.setState(runId, runState, null, tx.now());
  fx.finishedRuns.set(runId, runState);
}

/**
 * A run of a DAG that parks its dead letters (`deadLetter: "park"`) that would fail succeeds when every
 * failed instance in it is parked: the failures (and the upstream_failed instances that follow from them)
 * wait in the dead-letter queue instead of failing the run. One count, only for such runs, only when
 * they would fail. Any other failure (a task marked failed, a run cancelled) fails the run as ever.
 */
async function parkedRunState(tx: Tx, idx: SpecIndex, runId: string, derived: RunState): Promise<RunState> {
  if (derived !== "failed" || idx.spec.deadLetter !== "park") return derived;
  return (await tx.deadLetters.unparkedFailures(runId)) === 0 ? "success" : "failed";
}

/** @internal Fan-in task instances after their in-place changes (Effects.flush): apply their trigger rules, or cascade their skips. */
export async function applyBumped(tx: Tx, env: TransitionEnv, fx: Effects, bumps: readonly (TiBump & { skipMode: "skip_all" | "rules" })[], rows: readonly TaskInstanceRecord[]): Promise<void> {
  const byTask = new Map(bumps.map((b) => [`${b.runId}\0${b.taskId}`, b]));
  const skipped = rows.filter((ti) => byTask.get(`${ti.runId}\0${ti.taskId}`)!.skip);
  for (const ti of skipped) {
    fx.tis.put(ti);
    fx.addUnfinished(ti.runId, -1);
    fx.finishedTi(ti.runId, "skipped"); // skipped in place by the bump's statement, not through the cache
    const task = (await env.specFor(ti.runId)).byId.get(ti.taskId);
    if (task?.callbacks) skippedDue(fx, task, ti);
  }
  for (const runId of new Set(skipped.map((ti) => ti.runId))) {
    const work: Finished[] = skipped.filter((ti) => ti.runId === runId).map((ti) => ({ taskId: ti.taskId, state: "skipped", mode: byTask.get(`${runId}\0${ti.taskId}`)!.skipMode }));
    await cascade(tx, env, fx, await env.specFor(runId), runId, work);
  }
  await decideWaiting(tx, env, fx, rows.filter((ti) => !byTask.get(`${ti.runId}\0${ti.taskId}`)!.skip));
}

/**
 * Apply the trigger rules of waiting task instances to their counters as they are — rows this
 * transaction holds locked (an in-place update returned them, or it read them FOR UPDATE) — and cascade
 * what follows. Returns how many were decided (ran, skipped or failed upstream).
 */
export async function decideWaiting(tx: Tx, env: TransitionEnv, fx: Effects, rows: readonly TaskInstanceRecord[]): Promise<number> {
  let decided = 0;
  const work = new Map<string, Finished[]>();
  for (const ti of rows) {
    if (ti.state !== "none") continue;
    fx.tis.put(ti);
    const idx = await env.specFor(ti.runId);
    if (decisionOf(idx, ti, ti) !== "wait") decided++;
    let list = work.get(ti.runId);
    if (!list) work.set(ti.runId, (list = []));
    await decide(tx, env, fx, idx, ti.runId, ti, { nSuccess: ti.nSuccess, nFailed: ti.nFailed, nUpstreamFailed: ti.nUpstreamFailed, nSkipped: ti.nSkipped }, list);
  }
  for (const [runId, list] of work) if (list.length) await cascade(tx, env, fx, await env.specFor(runId), runId, list);
  return decided;
}

/**
 * The instances a new run starts with: roots are scheduled at once. A mapped root starts as a placeholder
 * that `startRun` expands in the same transaction.
 */
export function initialTaskInstances(idx: SpecIndex, now: number): NewTaskInstance[] {
  const rows: NewTaskInstance[] = [];
  for (const t of idx.spec.tasks) {
    // a task that depends on the past starts waiting: startRun passes it through the gate
    // one object per row, of one shape (a spread of a shared base made two per task: 100,000-task runs)
    const startsNow = (t.upstream.length === 0 || t.triggerRule === "always") && !t.dependsOnPast && !expandsAtStart(t);
    rows.push({ taskId: t.id, mapIndex: -1, state: startsNow ? "scheduled" : "none", nUpstream: t.upstream.length, readyAt: startsNow ? now : null, priority: t.priority, queue: t.queue });
  }
  return rows;
}

function expandsAtStart(t: TaskSpec): boolean {
  return (t.upstream.length === 0 || t.triggerRule === "always") && !t.dependsOnPast && t.map !== null && t.map.every((m) => "values" in m.source);
}

/**
 * Expand the mapped tasks that start at once (over literal lists), like any other expansion: their
 * downstream tasks then wait for every map index, and an empty list skips the task and tells its
 * downstream tasks so (expanding in `initialTaskInstances` did neither: a join ran after the first map
 * index, and a task after an empty literal map waited forever).
 */
export async function startRun(tx: Tx, env: TransitionEnv, fx: Effects, idx: SpecIndex, runId: string): Promise<void> {
  const work: Finished[] = [];
  for (const t of idx.spec.tasks) {
    if (t.dependsOnPast && (t.upstream.length === 0 || t.triggerRule === "always")) {
      for (const ti of await fx.tis.load(tx, runId, [t.id])) {
        await decide(tx, env, fx, idx, runId, ti, { nSuccess: ti.nSuccess, nFailed: ti.nFailed, nUpstreamFailed: ti.nUpstreamFailed, nSkipped: ti.nSkipped }, work);
      }
    }
    if (!expandsAtStart(t)) continue;
    for (const ti of await fx.tis.load(tx, runId, [t.id])) await expand(tx, env, fx, idx, runId, ti, t, work);
  }
  await cascade(tx, env, fx, idx, runId, work);
}

/** The ends among results (not sensors' pokes), to record with `Tx.endAttempts`. */
export function attemptEnds(results: readonly AttemptResult[]): (AttemptResult & AttemptEnd)[] {
  return results.filter((r): r is AttemptResult & AttemptEnd => r.state !== "up_for_reschedule");
}

/**
 * Record the ends of a group of attempts (and sensors' pokes) and everything that follows from them.
 * `ended`: `Tx.endAttempts` of `attemptEnds(results)`, when the caller issued it already.
 */
export async function applyAttemptResults(tx: Tx, env: TransitionEnv, fx: Effects, results: readonly AttemptResult[], ended?: Promise<Map<number, EndedAttempt>>): Promise<void> {
  if (results.length === 0) return;
  const ends = attemptEnds(results);
  ended ??= ends.length ? tx.attempts.endMany(ends) : Promise.resolve(new Map<number, EndedAttempt>());
  return applyEnded(tx, env, fx, results, ends, await ended);
}

async function applyEnded(tx: Tx, env: TransitionEnv, fx: Effects, results: readonly AttemptResult[], ends: readonly (AttemptResult & AttemptEnd)[], ended: Map<number, EndedAttempt>): Promise<void> {
  // PostgreSQL: lock every run touched here at once, in run-id order (usually already done by the caller)
  await tx.lockRuns([...ended.values()].map((e) => e.runId));
  for (const r of ends) {
    const e = ended.get(r.attemptId);
    if (e) await applyAttemptResult(tx, env, fx, r, e);
    else fx.fenced.push(r.attemptId);
  }
  if (ends.length === results.length) return;
  const pokes = results.filter((r) => r.state === "up_for_reschedule");
  const waiting = await tx.attempts.reschedule(pokes.map((r) => ({ attemptId: r.attemptId, at: r.endedAt })));
  for (const r of pokes) {
    const w = waiting.get(r.attemptId);
    if (w) await applyPoke(tx, env, fx, w, r.attemptId);
    else fx.fenced.push(r.attemptId);
  }
}

/**
 * A sensor's poke found its condition unmet: it waits for its next poke in `up_for_reschedule`, holding no
 * worker slot, or — when this poke came at or after its deadline (first poke + timeout) — it times out:
 * failed with TIMEOUT and no retry (Airflow's AirflowSensorTimeout), or skipped with softFail.
 */
async function applyPoke(tx: Tx, env: TransitionEnv, fx: Effects, w: WaitingAttempt, attemptId: number): Promise<void> {
  const { runId, taskId, mapIndex } = w;
  const idx = await env.specFor(runId);
  const policy = idx.byId.get(taskId)?.sensor;
  const now = tx.now();
  const key = { runId, taskId, mapIndex };
  if (!policy) {
    // only sensors report "not yet"; should another task's code do so, it is an ordinary failure
    const e = await tx.attempts.end({ attemptId, state: "failed", endedAt: now, errorCode: "INTERNAL", errorMessage: `task "${taskId}" is not a sensor but asked to be poked again` });
    if (e) await applyAttemptResult(tx, env, fx, { attemptId, state: "failed", endedAt: now, noRetry: true }, e);
    return;
  }
  const ti = (await fx.tis.load(tx, runId, [taskId])).find((t) => t.mapIndex === mapIndex);
  const deadline = ti?.sensorDeadline ?? w.startedAt + policy.timeoutMs;
  const pokes = (ti?.pokeCount ?? 0) + 1;
  // a promotion gate waiting for a person: its approval may have been decided while this poke ran (the
  // decision found it running, so it could not make it due): then it pokes again at once
  const gate = idx.byId.get(taskId)?.promote?.approval ? await tx.models.approvalOfAttempt(attemptId) : null;
  const decided = gate !== null && gate.state !== "pending";
  if (now >= deadline && !decided) {
    const state: TaskState = policy.softFail ? "skipped" : "failed";
    const end: AttemptEnd = {
      attemptId,
      state: "failed",
      endedAt: now,
      errorCode: "TIMEOUT",
      errorMessage: gate
        ? `promotion gate "${taskId}" timed out: nobody approved or rejected it within ${formatDuration(policy.timeoutMs)}; the alias stays where it was`
        : `sensor "${taskId}" timed out: its condition was not met within ${formatDuration(policy.timeoutMs)} (${pokes} poke${pokes === 1 ? "" : "s"})${policy.softFail ? "; softFail: skipped" : ""}`,
    };
    // a gate's approval that nobody decided is closed with it (no longer listed as pending)
    if (gate) await tx.models.expireApproval(attemptId);
    await tx.attempts.end(end);
    fx.pokeEnds.set(attemptId, end);
    fx.tis.update(key, { state, endedAt: now, readyAt: null, sensorDeadline: deadline, pokeCount: pokes });
    if (state === "failed" && ti) await deadLetter(tx, idx, idx.byId.get(taskId)!, ti, end, "sensor_timeout");
    fx.addUnfinished(runId, -1);
    const task = idx.byId.get(taskId)!;
    if (task.callbacks) fx.callbackDue(task.callbacks, { ...key, tryNumber: ti?.tryNumber ?? 0 }, state === "skipped" ? "skipped" : "failure");
    await cascade(tx, env, fx, idx, runId, [{ taskId, state, mode: "rules" }]);
    return;
  }
  // the last poke happens at the deadline, not up to an interval after it
  const at = decided ? now : Math.min(deadline, now + nextPokeDelayMs(policy, pokes, env.random()));
  fx.tis.update(key, { state: "up_for_reschedule", readyAt: at, sensorDeadline: deadline, pokeCount: pokes });
  fx.retryAt(at);
}

/** What follows from the end of one attempt (already recorded by `endAttempts`). */
async function applyAttemptResult(tx: Tx, env: TransitionEnv, fx: Effects, result: AttemptResult, ended: EndedAttempt): Promise<void> {
  const { runId, taskId, mapIndex, tryNumber, tryBase } = ended;
  const idx = await env.specFor(runId);
  const task = idx.byId.get(taskId);
  if (!task) return; // the run's version has no such task; nothing depends on it
  const now = tx.now();
  const key = { runId, taskId, mapIndex };

  // callbacks (decision 0019) are written only for tasks that have some: the spec says, no query asks
  const due = task.callbacks ? { ...key, tryNumber } : null;
  if (result.state === "success") {
    fx.tis.update(key, { state: "success", endedAt: now });
    fx.addUnfinished(runId, -1);
    if (due) fx.callbackDue(task.callbacks, due, "success");
    if (task.produces?.length) {
      // lineage: in the success's own transaction, so a recorded success always has its asset events
      const at = { dagId: idx.spec.id, runId, taskId, mapIndex, tryNumber, attemptId: result.attemptId, createdAt: now };
      const events = task.produces.map((asset) => ({ ...at, asset, metadata: result.assetMetadata?.[asset] ?? {} }));
      fx.assetEvents += (await tx.assets.recordEvents(events)).length;
    }
    if (task.kind === "short_circuit" && result.proceed === false) {
      await cascade(tx, env, fx, idx, runId, [{ taskId, state: "success", mode: task.respectTriggerRules ? "skip_direct" : "skip_all" }]);
    } else if (task.kind === "branch") {
      // a mapped branch's instance does not skip by itself: its decision is counted (see `branch_each`)
      await cascade(tx, env, fx, idx, runId, [{ taskId, state: "success", mode: task.map ? "branch_each" : "branch", follow: branchKeeps(idx.byId, task, result.follow ?? []) }]);
    } else {
      await cascade(tx, env, fx, idx, runId, [{ taskId, state: "success", mode: "rules" }]);
    }
    return;
  }

  if (result.state === "skipped") {
    // the task skipped itself (SkipTask, skipOnExitCode): no retry; downstream tasks follow their rules
    fx.tis.update(key, { state: "skipped", endedAt: now });
    fx.addUnfinished(runId, -1);
    if (due) fx.callbackDue(task.callbacks, due, "skipped");
    await cascade(tx, env, fx, idx, runId, [{ taskId, state: "skipped", mode: "rules" }]);
    return;
  }

  if (result.state === "interrupted") {
    // handed back by a draining worker: it runs again at once and the try is not counted against its
    // retries (try_base moves past it, as a clear does)
    fx.tis.update(key, { state: "scheduled", readyAt: now, tryBase: tryBase + 1 });
    fx.retryAt(now);
    fx.ready(runId, taskId, mapIndex);
    return;
  }

  // tries count from the last clear (Airflow gives a cleared task its full retries again)
  if (!result.noRetry && canRetry(task.retry, tryNumber - tryBase)) {
    const readyAt = result.retryNow ? now : now + retryDelayMs(task.retry, tryNumber - tryBase, env.random());
    fx.tis.update(key, { state: "up_for_retry", readyAt, endedAt: now });
    fx.retryAt(readyAt);
    if (due) fx.callbackDue(task.callbacks, due, "retry");
    if (readyAt <= now) fx.ready(runId, taskId, mapIndex);
    return;
  }
  fx.tis.update(key, { state: "failed", endedAt: now });
  fx.addUnfinished(runId, -1);
  if (due) fx.callbackDue(task.callbacks, due, "failure");
  // the dead-letter queue: only here, on the last try's failure, never on the success or retry paths
  await deadLetter(tx, idx, task, ended, result, !canRetry(task.retry, tryNumber - tryBase) ? "exhausted" : "non_retryable");
  await cascade(tx, env, fx, idx, runId, [{ taskId, state: "failed", mode: "rules" }]);
}

/** A task with callbacks was skipped (by a trigger rule, a branch, a short-circuit, an empty map). */
function skippedDue(fx: Effects, task: TaskSpec, ti: Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex" | "tryNumber">): void {
  fx.callbackDue(task.callbacks, { runId: ti.runId, taskId: ti.taskId, mapIndex: ti.mapIndex, tryNumber: ti.tryNumber }, "skipped");
}

/**
 * Record a task instance's final failure in the dead-letter queue, in the failure's transaction: the
 * entry exists exactly when the failure does (core/deadLetters.ts; docs/decisions/0020).
 */
async function deadLetter(
  tx: Tx,
  idx: SpecIndex,
  task: TaskSpec,
  ended: Pick<EndedAttempt, "runId" | "taskId" | "mapIndex" | "tryNumber" | "tryBase">,
  end: { attemptId: number; errorCode?: string | null; errorMessage?: string | null },
  reason: DeadLetterReason,
): Promise<void> {
  await tx.deadLetters.insert({
    runId: ended.runId,
    taskId: ended.taskId,
    mapIndex: ended.mapIndex,
    dagId: idx.spec.id,
    attemptId: end.attemptId,
    tryNumber: ended.tryNumber,
    attempts: Math.max(ended.tryNumber - ended.tryBase, 1),
    reason,
    errorCode: end.errorCode ?? null,
    errorMessage: end.errorMessage ?? null,
    inputs: task.inputs,
    parked: idx.spec.deadLetter === "park",
    now: tx.now(),
  });
}

type Finished = {
  taskId: string;
  state: TaskState;
  /**
   * rules: count the end and apply trigger rules; skip_all: skip every descendant; skip_direct: skip direct
   * downstream; branch: skip those not in `follow`; branch_each (an instance of a mapped branch): count a
   * success for those in `follow` and a skip for the others, and let their rules decide.
   */
  mode: "rules" | "skip_all" | "skip_direct" | "branch" | "branch_each";
  /** branch: the direct downstream tasks it keeps, followed or downstream of a followed one (core/branching `branchKeeps`). */
  follow?: Set<string>;
};

/** What an instance of a mapped branch counts for a direct downstream task it did not follow: a skip. */
const NOT_FOLLOWED = { nSuccess: 0, nFailed: 0, nUpstreamFailed: 0, nSkipped: 1 };

async function cascade(tx: Tx, env: TransitionEnv, fx: Effects, idx: SpecIndex, runId: string, work: Finished[]): Promise<void> {
  const now = tx.now();
  // fan-in tasks of a run that other transactions write too: counted into in place (Effects.bump)
  const inPlace = !tx.ownsRun(runId);
  for (let w = 0; w < work.length; w++) {
    const f = work[w]!;
    const task = idx.byId.get(f.taskId)!;
    if (task.downstream.length === 0) continue;
    const skips = (taskId: string) => f.mode === "skip_all" || f.mode === "skip_direct" || (f.mode === "branch" && !f.follow!.has(taskId));
    const ended = {
      nSuccess: f.state === "success" ? 1 : 0,
      nFailed: f.state === "failed" || f.state === "upstream_failed" ? 1 : 0,
      nUpstreamFailed: f.state === "upstream_failed" ? 1 : 0,
      nSkipped: f.state === "skipped" || f.state === "removed" ? 1 : 0,
    };
    const countedFor = (taskId: string) => (f.mode === "branch_each" && !f.follow!.has(taskId) ? NOT_FOLLOWED : ended);
    const direct = inPlace ? task.downstream.filter((d) => !idx.fanIn.has(d)) : task.downstream;
    if (inPlace) {
      for (const d of task.downstream) {
        if (!idx.fanIn.has(d)) continue;
        if (skips(d)) fx.bump(runId, d, {}, f.mode === "skip_all" ? "skip_all" : "rules");
        else fx.bump(runId, d, countedFor(d));
      }
    }
    if (direct.length === 0) continue;
    const rows = await fx.tis.load(tx, runId, direct);
    for (const ti of rows) {
      if (ti.state !== "none") continue; // already decided: later upstream ends do not change it
      if (skips(ti.taskId)) {
        fx.tis.update(ti, { state: "skipped", endedAt: now });
        fx.addUnfinished(runId, -1);
        const skippedTask = idx.byId.get(ti.taskId)!;
        if (skippedTask.callbacks) skippedDue(fx, skippedTask, ti);
        work.push({ taskId: ti.taskId, state: "skipped", mode: f.mode === "skip_all" ? "skip_all" : "rules" });
        continue;
      }
      const counted = countedFor(ti.taskId);
      const counts = {
        nSuccess: ti.nSuccess + counted.nSuccess,
        nFailed: ti.nFailed + counted.nFailed,
        nUpstreamFailed: ti.nUpstreamFailed + counted.nUpstreamFailed,
        nSkipped: ti.nSkipped + counted.nSkipped,
      };
      await decide(tx, env, fx, idx, runId, ti, counts, work);
    }
  }
}

/** What a waiting task instance's trigger rule says of these counters. */
function decisionOf(
  idx: SpecIndex,
  ti: Pick<TaskInstanceRecord, "taskId" | "nUpstream">,
  counts: { nSuccess: number; nFailed: number; nUpstreamFailed: number; nSkipped: number },
  setups?: UpstreamCounts["setups"],
) {
  const down = idx.byId.get(ti.taskId)!;
  return down.upstream.length === 0
    ? "run"
    : evaluateTriggerRule(down.triggerRule, {
        total: ti.nUpstream,
        success: counts.nSuccess,
        failed: counts.nFailed,
        upstreamFailed: counts.nUpstreamFailed,
        skipped: counts.nSkipped,
        ...(setups ? { setups } : {}),
      });
}

/** Whether a waiting task instance's trigger rule decides it (run, skip, upstream_failed) on its counters. */
export function ruleDecides(idx: SpecIndex, ti: TaskInstanceRecord): boolean {
  return ti.state === "none" && decisionOf(idx, ti, ti) !== "wait";
}

/** Apply a waiting task instance's trigger rule to its (new) counters. */
async function decide(
  tx: Tx,
  env: TransitionEnv,
  fx: Effects,
  idx: SpecIndex,
  runId: string,
  ti: TaskInstanceRecord,
  counts: { nSuccess: number; nFailed: number; nUpstreamFailed: number; nSkipped: number },
  work: Finished[],
): Promise<void> {
  const now = tx.now();
  const down = idx.byId.get(ti.taskId)!;
  // a teardown's rule reads its setups' states, once everything before it is done (engine/setupTeardown.ts)
  const setups = down.triggerRule === "all_done_setup_success" && allUpstreamDone(ti, counts) ? await setupStates(tx, fx, idx, runId, down) : undefined;
  const decision = decisionOf(idx, ti, counts, setups);
  switch (decision) {
    case "wait":
      fx.tis.update(ti, counts);
      break;
    case "run":
      // dependsOnPast (engine/pastDeps): held until its instance in the previous run succeeded or was skipped
      if (down.dependsOnPast && !(await pastGate(tx, fx, idx, runId, down))) {
        fx.tis.update(ti, counts);
        break;
      }
      if (down.map && ti.mapIndex === -1) {
        await expand(tx, env, fx, idx, runId, ti, down, work);
      } else {
        fx.tis.update(ti, { ...counts, state: "scheduled", readyAt: now });
        fx.ready(runId, ti.taskId, ti.mapIndex);
      }
      break;
    case "skip":
    case "upstream_failed": {
      const state: TaskState = decision === "skip" ? "skipped" : "upstream_failed";
      fx.tis.update(ti, { ...counts, state, endedAt: now });
      fx.addUnfinished(runId, -1);
      if (state === "skipped" && down.callbacks) skippedDue(fx, down, ti);
      work.push({ taskId: ti.taskId, state, mode: "rules" });
      break;
    }
  }
}

/**
 * Airflow's "clear": the task instances of `taskIds` (and, with `downstream`, of every task after them)
 * wait again and run when their trigger rules are met, with their full retries; the run is running
 * again. Attempt numbers continue (attempts are never rewritten). A running instance's attempt is
 * ended and must be aborted: its id is returned.
 */
export async function clearTasks(
  tx: Tx,
  env: TransitionEnv,
  fx: Effects,
  runId: string,
  taskIds: string[],
  downstream: boolean,
  /** Only this map index of the tasks in `taskIds` (their downstream tasks are cleared whole). */
  mapIndex?: number,
  /** Who cleared (the open dead-letter entries of the cleared instances become `retried` by them). */
  by: string | null = null,
  /** Only the instances this keeps (a clear's scope: core/clearSelection.ts). */
  keep?: (ti: TaskInstanceRecord) => boolean,
): Promise<number[]> {
  await tx.lockRuns([runId]);
  const idx = await env.specFor(runId);
  // with their downstream tasks when asked, and the setups and teardowns they need (core/setupTeardown.ts)
  const set = clearSet(idx.byId, taskIds, downstream);
  const ordered = idx.spec.tasks.filter((t) => set.has(t.id));
  const now = tx.now();
  const aborted: number[] = [];
  const cleared: TaskInstanceRecord[] = [];
  const failed: { taskId: string; mapIndex: number }[] = [];
  for (const t of ordered) {
    for (const ti of await fx.tis.load(tx, runId, [t.id])) {
      if (mapIndex !== undefined && ti.mapIndex !== mapIndex && taskIds.includes(t.id)) continue;
      if (keep && !keep(ti)) continue;
      if (ti.state === "failed") failed.push({ taskId: ti.taskId, mapIndex: ti.mapIndex });
      if ((ti.state === "running" || ti.state === "up_for_reschedule") && ti.attemptId !== null) {
        const errorMessage = ti.state === "running" ? "cleared while running" : "cleared while waiting for its next poke";
        if (await tx.attempts.end({ attemptId: ti.attemptId, state: "failed", endedAt: now, errorCode: "CANCELLED", errorMessage })) {
          aborted.push(ti.attemptId);
        }
      }
      fx.tis.update(ti, {
        state: "none",
        tryBase: ti.tryNumber,
        readyAt: null,
        endedAt: null,
        nSuccess: 0,
        nFailed: 0,
        nUpstreamFailed: 0,
        nSkipped: 0,
        sensorDeadline: null,
        pokeCount: 0,
      });
      cleared.push(ti);
    }
  }
  await fx.tis.flush(tx);
  // a failed instance given a fresh set of retries no longer waits in the dead-letter queue
  if (failed.length) await tx.deadLetters.retryCleared(runId, failed, by, now);
  await tx.runs.reopen(runId);
  const work: Finished[] = [];
  for (const ti of cleared) {
    const task = idx.byId.get(ti.taskId)!;
    // a branch or short-circuit upstream may have decided against this task (its decision is read from its
    // output); without one, one grouped count is enough — a join after 100,000 tasks loads no rows
    const decidedBy = task.upstream.some((u) => {
      const k = idx.byId.get(u)?.kind;
      return k === "branch" || k === "short_circuit";
    });
    if (!decidedBy) {
      const { instances, ...counts } = await upstreamCounts(tx, fx.tis, runId, task.upstream);
      fx.tis.update(ti, { nUpstream: Math.max(instances, task.upstream.length) });
      await decide(tx, env, fx, idx, runId, ti, counts, work);
      continue;
    }
    const upstream = await fx.tis.load(tx, runId, task.upstream);
    let nSuccess = 0;
    let nFailed = 0;
    let nUpstreamFailed = 0;
    let nSkipped = 0;
    const notFollowed = await mappedBranchSkips(tx, env, idx, runId, task, upstream);
    for (const u of upstream) {
      if (u.state === "success" && notFollowed.has(u)) nSkipped++;
      else if (u.state === "success") nSuccess++;
      else if (u.state === "failed" || u.state === "upstream_failed") nFailed++;
      else if (u.state === "skipped" || u.state === "removed") nSkipped++;
      if (u.state === "upstream_failed") nUpstreamFailed++;
    }
    fx.tis.update(ti, { nUpstream: Math.max(upstream.length, task.upstream.length) });
    const skippedBy = await standingSkip(tx, env, idx, runId, task, upstream);
    if (skippedBy) {
      fx.tis.update(ti, { nSuccess, nFailed, nUpstreamFailed, nSkipped, state: "skipped", endedAt: now });
      fx.addUnfinished(runId, -1);
      if (task.callbacks) skippedDue(fx, task, ti);
      work.push({ taskId: ti.taskId, state: "skipped", mode: skippedBy.kind === "short_circuit" && !skippedBy.respectTriggerRules ? "skip_all" : "rules" });
      continue;
    }
    await decide(tx, env, fx, idx, runId, ti, { nSuccess, nFailed, nUpstreamFailed, nSkipped }, work);
  }
  await cascade(tx, env, fx, idx, runId, work);
  return aborted;
}

/**
 * The finished branch or short-circuit among `task`'s direct upstream whose recorded decision skips it, if
 * any: a cleared task that such a decision skipped is skipped again while the decision stands (Airflow's
 * NotPreviouslySkippedDep); clearing the branch too makes it decide anew.
 */
async function standingSkip(tx: Tx, env: TransitionEnv, idx: SpecIndex, runId: string, task: TaskSpec, upstream: readonly TaskInstanceRecord[]): Promise<TaskSpec | null> {
  for (const u of upstream) {
    const up = idx.byId.get(u.taskId);
    if (!up || (up.kind !== "branch" && up.kind !== "short_circuit") || up.map || u.state !== "success") continue;
    const [decision] = await env.loadOutputs(tx, runId, up.id);
    if (decisionSkips(idx.byId, up, decision, task.id)) return up;
  }
  return null;
}

/** The finished instances of mapped branches among `upstream` whose recorded decision did not follow `task` (counted as skips on clear). */
async function mappedBranchSkips(tx: Tx, env: TransitionEnv, idx: SpecIndex, runId: string, task: TaskSpec, upstream: readonly TaskInstanceRecord[]): Promise<Set<TaskInstanceRecord>> {
  const skips = new Set<TaskInstanceRecord>();
  const outputs = new Map<string, unknown[]>();
  for (const u of upstream) {
    const up = idx.byId.get(u.taskId);
    if (!up || up.kind !== "branch" || !up.map || u.state !== "success" || u.mapIndex < 0) continue;
    if (!outputs.has(up.id)) outputs.set(up.id, await env.loadOutputs(tx, runId, up.id));
    if (decisionSkips(idx.byId, up, outputs.get(up.id)![u.mapIndex], task.id)) skips.add(u);
  }
  return skips;
}

async function expand(
  tx: Tx,
  env: TransitionEnv,
  fx: Effects,
  idx: SpecIndex,
  runId: string,
  ti: TaskInstanceRecord,
  task: TaskSpec,
  work: Finished[],
): Promise<void> {
  const now = tx.now();
  const lengths: number[] = [];
  // An upstream whose value is missing (it failed, or was marked success without one) makes the mapped
  // task upstream_failed, as Airflow's expand_mapped_task does when its input is "not fully populated" —
  // never a silent skip. A skipped upstream (a branch not taken) skips it: nothing was meant to be mapped.
  let missing: "upstream_failed" | "skipped" | null = null;
  for (const m of task.map!) {
    if ("values" in m.source) {
      lengths.push(m.source.values.length);
      continue;
    }
    const upstreamTask = idx.byId.get(m.source.task)!;
    const states = (await fx.tis.load(tx, runId, [m.source.task])).map((u) => u.state);
    if (states.some((st) => st === "failed" || st === "upstream_failed")) missing = "upstream_failed";
    else if (!upstreamTask.map && states.every((st) => st === "skipped" || st === "removed")) missing ??= "skipped";
    if (missing) continue;
    const outputs = await env.loadOutputs(tx, runId, m.source.task);
    const list = mappableList(upstreamTask.map ? outputs : outputs[0]);
    if (list === null) missing = "upstream_failed";
    else lengths.push(list.length);
  }
  if (missing) {
    fx.tis.update(ti, { state: missing, endedAt: now });
    fx.addUnfinished(runId, -1);
    if (missing === "skipped" && task.callbacks) skippedDue(fx, task, ti);
    work.push({ taskId: ti.taskId, state: missing, mode: "rules" });
    return;
  }
  const n = mapLength(lengths, task.mapMode);
  if (n === 0) {
    fx.tis.update(ti, { state: "skipped", endedAt: now });
    fx.addUnfinished(runId, -1);
    if (task.callbacks) skippedDue(fx, task, ti);
    work.push({ taskId: ti.taskId, state: "skipped", mode: "rules" });
    return;
  }
  await tx.taskInstances.delete(runId, ti.taskId, -1);
  const rows: NewTaskInstance[] = [];
  for (let i = 0; i < n; i++) {
    rows.push({ taskId: ti.taskId, mapIndex: i, state: "scheduled", nUpstream: ti.nUpstream, readyAt: now, priority: ti.priority, queue: ti.queue });
  }
  await tx.taskInstances.insert(runId, rows);
  fx.tis.replaceTask(
    runId,
    ti.taskId,
    rows.map((r) => ({ ...r, runId, tryNumber: 0, tryBase: 0, nSuccess: 0, nFailed: 0, nUpstreamFailed: 0, nSkipped: 0, attemptId: null, startedAt: null, endedAt: null, sensorDeadline: null, pokeCount: 0, corrupt: null, changedBy: null })),
  );
  fx.addUnfinished(runId, n - 1);
  for (const r of rows) fx.ready(runId, r.taskId, r.mapIndex);
  // Downstream instances now wait for n upstream instances instead of one (fan-in tasks: all of them).
  if (n > 1) {
    if (!tx.ownsRun(runId)) {
      for (const d of task.downstream) fx.bump(runId, d, { nUpstream: n - 1 });
    } else {
      for (const d of await fx.tis.load(tx, runId, task.downstream)) {
        if (d.state === "none") fx.tis.update(d, { nUpstream: d.nUpstream + n - 1 });
      }
    }
  }
}

/**
 * End a run before its tasks are done (cancel, run timeout): running attempts fail with `reason`,
 * everything not started is skipped, and the run is failed. Returns the attempts the workers must abort.
 */
export async function failRun(tx: Tx, fx: Effects, runId: string, reason: string, code: "CANCELLED" | "TIMEOUT" | "STALLED" | "CORRUPT_ROW"): Promise<number[]> {
  await tx.lockRuns([runId]);
  const now = tx.now();
  const running = await tx.attempts.running(runId);
  for (const attemptId of running) {
    await tx.attempts.end({ attemptId, state: "failed", endedAt: now, errorCode: code, errorMessage: reason });
  }
  for (const ti of await tx.taskInstances.unfinished(runId)) {
    const state = ti.state === "running" ? "failed" : "skipped";
    await tx.taskInstances.update(ti, { state, endedAt: now, readyAt: null });
    fx.finishedTi(runId, state);
  }
  await tx.runs.addUnfinished(runId, -(await tx.runs.get(runId))!.unfinished);
  await tx.runs.setState(runId, "failed", reason, now);
  return running;
}

/**
 * Airflow's "mark success" / "mark failed" (Operations.markTasks): the instances of `taskId` (every map index,
 * or `mapIndex`) take `state` without running. A live attempt is ended (its id is returned, to abort it).
 * Direct downstream instances still waiting have their counters recomputed from their upstream's current
 * states and their trigger rules applied, so they run, skip or fail upstream as if the task had ended so.
 */
export async function markTasks(
  tx: Tx,
  env: TransitionEnv,
  fx: Effects,
  runId: string,
  taskId: string,
  state: "success" | "failed" | "skipped",
  mapIndex: number | undefined,
): Promise<{ aborted: number[]; marked: number }> {
  const idx = await env.specFor(runId);
  const task = idx.byId.get(taskId)!;
  const now = tx.now();
  const aborted: number[] = [];
  let marked = 0;
  for (const ti of await fx.tis.load(tx, runId, [taskId])) {
    if (mapIndex !== undefined && ti.mapIndex !== mapIndex) continue;
    marked++;
    if (ti.state === state) continue;
    if ((ti.state === "running" || ti.state === "up_for_reschedule") && ti.attemptId !== null) {
      if (await tx.attempts.end({ attemptId: ti.attemptId, state: "failed", endedAt: now, errorCode: "CANCELLED", errorMessage: `marked ${state} by a user` })) {
        aborted.push(ti.attemptId);
      }
    }
    const wasFinished = ti.state === "success" || ti.state === "failed" || ti.state === "skipped" || ti.state === "upstream_failed" || ti.state === "removed";
    // a finished instance keeps its end (its duration stays the attempt's, not the time until the mark)
    fx.tis.update(ti, { state, endedAt: wasFinished && ti.endedAt !== null ? ti.endedAt : now, readyAt: null });
    if (!wasFinished) fx.addUnfinished(runId, -1);
  }
  const work: Finished[] = [];
  for (const d of await fx.tis.load(tx, runId, task.downstream)) {
    if (d.state !== "none") continue;
    const { instances: _, ...counts } = await upstreamCounts(tx, fx.tis, runId, idx.byId.get(d.taskId)!.upstream);
    await decide(tx, env, fx, idx, runId, d, counts, work);
  }
  await cascade(tx, env, fx, idx, runId, work);
  return { aborted, marked };
}

/**
 * After a mark: a run with nothing left unfinished gets its state derived from its leaves again (marking
 * the failed leaf of a failed run success makes the run a success, as in Airflow).
 */
export async function settleRunState(tx: Tx, env: TransitionEnv, fx: Effects, runId: string): Promise<void> {
  const run = await tx.runs.get(runId);
  if (!run || run.unfinished > 0 || fx.finishedRuns.has(runId)) return;
  const idx = await env.specFor(runId);
  const state = await parkedRunState(tx, idx, runId, deriveRunState(await tx.taskInstances.leafStates(runId, idx.leaves)));
  if (state === run.state) return;
  await tx.runs.setState(runId, state, null, tx.now());
  fx.finishedRuns.set(runId, state);
}
