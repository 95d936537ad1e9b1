/**
 * A promotion gate's poke (`d.promote`, docs/decisions/0030-model-registry.md). The worker runs it in place
 * of a task function, with the sensor machinery around it: `false` means "wait" — the attempt goes to
 * `up_for_reschedule`, holding no worker slot, until a decision wakes it (app/models.ts) or the approval
 * times out. Each poke reads the store afresh, so a restarted Sluice continues where it was.
 *
 * 1. With an approval already asked by this attempt: pending → wait; rejected → skip (the alias stays);
 *    approved → move the alias, on condition that it still holds the version compared with.
 * 2. Otherwise compare the candidate with the alias's holder (core/promotion.ts); a failed comparison
 *    fails the gate, listing every metric. Passed: ask for an approval and wait, or move the alias now.
 */
import type { TaskSpec } from "../core/dagSpec.js";
import { compareWithChampion, describeComparison } from "../core/promotion.js";
import type { PromotionResult } from "../dsl/types.js";
import { SluiceError } from "../errors.js";
import type { AttemptLog } from "../logs/attemptLog.js";
import type { ClaimedAttempt } from "../store/store.js";
import type { WorkerHost } from "./host.js";

export async function pokeGate(host: WorkerHost, a: ClaimedAttempt, task: TaskSpec, inputs: Record<string, unknown>, log: AttemptLog): Promise<false | { done: true; value: PromotionResult }> {
  const spec = task.promote!;
  const store = host.store;
  const where = `promotion gate "${task.id}"`;
  const cand = await candidateOf(host, a, task, where, spec.model, inputs["candidate"]);
  const record = await store.models.version(cand.name, cand.version);
  if (!record) throw new SluiceError("TASK_FAILED", `${where}: model "${cand.name}" has no version ${cand.version}`, { details: { model: cand.name, version: cand.version } });
  const actorOfGate = `gate ${a.dagId}/${task.id}`;

  if (spec.approval) {
    const asked = await store.models.approvalOfAttempt(a.attemptId);
    if (asked?.state === "pending") {
      log.note(`waiting for approval #${asked.id} (sluice models approve ${asked.id} | reject ${asked.id})`);
      return false;
    }
    if (asked?.state === "rejected") {
      const msg = `${where}: approval #${asked.id} was rejected by ${asked.decidedBy ?? "?"}${asked.comment ? `: ${asked.comment}` : ""}; alias "${spec.alias}" of model "${spec.model}" stays at ${asked.fromVersion === null ? "no version" : `version ${asked.fromVersion}`}`;
      // Airflow's ApprovalOperator: a rejection skips what follows, it is not a failure of the pipeline
      throw new SluiceError("TASK_FAILED", msg, { details: { skipTask: true } });
    }
    if (asked?.state === "approved") {
      const moved = await store.models.moveAlias({
        name: spec.model,
        alias: spec.alias,
        version: cand.version,
        actor: asked.decidedBy ?? actorOfGate,
        reason: `approval #${asked.id} (run ${a.runId}, task ${task.id})${asked.comment ? `: ${asked.comment}` : ""}`,
        kind: "gate",
        expectFrom: asked.fromVersion,
      });
      log.note(`approval #${asked.id} by ${asked.decidedBy ?? "?"}: alias "${spec.alias}" of model "${spec.model}" → version ${cand.version}`);
      return { done: true, value: { name: spec.model, alias: spec.alias, version: cand.version, previous: moved.fromVersion, moved: moved.moved, approvalId: asked.id } };
    }
  }

  const holder = await store.models.resolve(spec.model, spec.alias);
  const cmp = compareWithChampion(spec.compare, record.metrics, holder);
  const verdict = describeComparison(spec.model, spec.alias, cand.version, cmp);
  if (!cmp.passed) throw new SluiceError("TASK_FAILED", `${where}: ${verdict}`, { details: { model: spec.model, alias: spec.alias } });
  log.note(verdict);
  if (holder?.version === cand.version) {
    log.note(`alias "${spec.alias}" already holds version ${cand.version}`);
    return { done: true, value: { name: spec.model, alias: spec.alias, version: cand.version, previous: cand.version, moved: false, approvalId: null } };
  }
  if (spec.approval) {
    const now = host.clock.now();
    const asked = await store.models.requestApproval({
      name: spec.model,
      alias: spec.alias,
      version: cand.version,
      fromVersion: holder?.version ?? null,
      comparison: cmp,
      dagId: a.dagId,
      runId: a.runId,
      taskId: a.taskId,
      mapIndex: a.mapIndex,
      attemptId: a.attemptId,
      requestedAt: now,
      expiresAt: now + spec.approval.timeoutMs,
    });
    log.note(`approval #${asked.id} asked: promote model "${spec.model}" version ${cand.version} to "${spec.alias}" (sluice models approve ${asked.id} | reject ${asked.id})`);
    return false;
  }
  const moved = await store.models.moveAlias({ name: spec.model, alias: spec.alias, version: cand.version, actor: actorOfGate, reason: `run ${a.runId}`, kind: "gate", expectFrom: holder?.version ?? null });
  log.note(`alias "${spec.alias}" of model "${spec.model}" → version ${cand.version}`);
  return { done: true, value: { name: spec.model, alias: spec.alias, version: cand.version, previous: moved.fromVersion, moved: moved.moved, approvalId: null } };
}

/**
 * The candidate: the `{ name, version }` its task returned (what ctx.models.register gives), or — for a
 * task that returned something else (a Python task registering through sluice_track) — the latest version
 * of the model that task registered in this run.
 */
async function candidateOf(host: WorkerHost, a: ClaimedAttempt, task: TaskSpec, where: string, model: string, v: unknown): Promise<{ name: string; version: number }> {
  const c = v as { name?: unknown; version?: unknown } | null;
  if (typeof c !== "object" || c === null || typeof c.name !== "string" || typeof c.version !== "number") {
    const from = task.inputs["candidate"];
    const registered = (await host.store.models.byRun(a.runId)).filter((r) => r.taskId === from && r.name === model);
    const last = registered.at(-1);
    if (last) return { name: last.name, version: last.version };
    throw new SluiceError("TASK_FAILED", `${where}: its candidate task "${from}" registered no version of model "${model}" in this run and returned ${JSON.stringify(v)?.slice(0, 200) ?? String(v)}, not { name, version } (what ctx.models.register returns)`);
  }
  if (c.name !== model) throw new SluiceError("TASK_FAILED", `${where}: the candidate is model "${c.name}", but the gate promotes model "${model}"`);
  return { name: c.name, version: c.version };
}
