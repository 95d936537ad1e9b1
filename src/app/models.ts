/**
 * The model registry as people use it (issue 15, item 3): list and show models, versions with their
 * lineage, promote and roll back aliases, list and decide promotion gates' approvals. Reads need the
 * viewer role, moves and decisions the operator role — globally: a model is not one DAG's (several DAGs
 * may register versions of it). Every move and decision writes its audit entry in its transaction. The CLI
 * and the REST routes call these; SQL in store/models.ts, rules in core/promotion.ts.
 */
import { checkAlias, checkModelName, checkVersion } from "../core/promotion.js";
import type { ModelVersionRecord } from "../core/models.js";
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import { modelNotFound, versionNotFound, type AliasHistoryEntry, type ApprovalRecord, type ApprovalState, type ModelSummary } from "../store/models.js";
import { operation } from "./actor.js";

export interface ModelDetail extends ModelSummary {
  versions: (ModelVersionRecord & { artifactSize: number })[];
  history: AliasHistoryEntry[];
  approvals: ApprovalRecord[];
}

/** At most this many characters in a reason or a comment. */
const MAX_TEXT = 2000;

function text(field: string, v: unknown): string | null {
  if (v === undefined || v === null || v === "") return null;
  if (typeof v !== "string") throw new SluiceError("INVALID_INPUT", `${field} must be a string`, { details: { field } });
  if (v.length > MAX_TEXT) throw new SluiceError("INVALID_INPUT", `${field} is longer than ${MAX_TEXT} characters`, { details: { field } });
  return v;
}

export const listModels = operation("models.list", "viewer", async (s: Sluice): Promise<ModelSummary[]> => s.store.models.list());

/** A model with its versions (newest first), aliases, alias history and approvals (newest first). */
export const showModel = operation("models.show", "viewer", async (s: Sluice, _actor, input: { name: string }): Promise<ModelDetail> => {
  const name = checkModelName("model", input.name);
  const m = await s.store.models.get(name);
  if (!m) throw modelNotFound(name);
  const [versions, history, approvals] = await Promise.all([s.store.models.versions(name), s.store.models.aliasHistory(name, undefined, 200), s.store.models.approvals({ name, limit: 100 })]);
  return { ...m, versions, history, approvals };
});

/** One version with its lineage: the run that registered it (null once retention removed it) and its inputs. */
export const showModelVersion = operation("models.version", "viewer", async (s: Sluice, _actor, input: { name: string; version: number | string }) => {
  const name = checkModelName("model", input.name);
  const version = checkVersion("version", input.version);
  if (!(await s.store.models.get(name))) throw modelNotFound(name);
  const v = await s.store.models.version(name, version);
  if (!v) throw versionNotFound(name, version);
  const run = await s.store.runs.get(v.runId);
  const aliases = Object.entries((await s.store.models.get(name))!.aliases)
    .filter(([, held]) => held === version)
    .map(([a]) => a);
  return { ...v, aliases, run: run ? { runId: run.runId, dagId: run.dagId, state: run.state, createdAt: run.createdAt } : null };
});

/**
 * Point `alias` at `version` (a person's promotion, MLflow's set_registered_model_alias). An unknown model
 * or version: NOT_FOUND, nothing written.
 */
export const promoteModel = operation(
  "models.promote",
  "operator",
  async (s: Sluice, actor, input: { name: string; version: number | string; alias: string; reason?: string | null }, audit) => {
    const name = checkModelName("model", input.name);
    const version = checkVersion("version", input.version);
    const alias = checkAlias("alias", input.alias);
    const reason = text("reason", input.reason);
    return s.store.tx(async (tx) => {
      const r = await tx.models.moveAlias({ name, alias, version, actor: actor.name, reason, kind: "promote" });
      if (r.moved) await audit(tx, { target: `${name}@${alias}`, before: { version: r.fromVersion }, after: { version: r.toVersion, reason } });
      return { name, alias, ...r };
    });
  },
);

/** Move `alias` back to its previous holder (an undo of its latest move not yet undone). */
export const rollbackModel = operation("models.rollback", "operator", async (s: Sluice, actor, input: { name: string; alias: string; reason?: string | null }, audit) => {
  const name = checkModelName("model", input.name);
  const alias = checkAlias("alias", input.alias);
  const reason = text("reason", input.reason);
  return s.store.tx(async (tx) => {
    if (!(await tx.models.get(name))) throw modelNotFound(name);
    const r = await tx.models.rollback({ name, alias, actor: actor.name, reason });
    await audit(tx, { target: `${name}@${alias}`, before: { version: r.fromVersion }, after: { version: r.toVersion, reason } });
    return { name, alias, ...r };
  });
});

/** Approvals, newest first: pending ones by default. */
export const listApprovals = operation("models.approvals", "viewer", async (s: Sluice, _actor, input: { state?: ApprovalState | "all"; name?: string } = {}) => {
  const state = input.state ?? "pending";
  if (!["pending", "approved", "rejected", "expired", "all"].includes(state)) throw new SluiceError("INVALID_INPUT", `state must be pending, approved, rejected, expired or all, got "${state}"`, { details: { field: "state" } });
  return s.store.models.approvals({ ...(state === "all" ? {} : { state }), ...(input.name ? { name: checkModelName("model", input.name) } : {}) });
});

/** Approve or reject a gate's approval; the waiting gate wakes at once and moves the alias, or is skipped. */
export const decideApproval = operation("models.decide", "operator", async (s: Sluice, actor, input: { id: number | string; decision: "approve" | "reject"; comment?: string | null }, audit) => {
  const id = typeof input.id === "string" && /^\d+$/.test(input.id) ? Number(input.id) : input.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) throw new SluiceError("INVALID_INPUT", `approval id must be a whole number ≥ 1, got ${JSON.stringify(input.id)}`, { details: { field: "id" } });
  if (input.decision !== "approve" && input.decision !== "reject") throw new SluiceError("INVALID_INPUT", `decision must be "approve" or "reject"`, { details: { field: "decision" } });
  const comment = text("comment", input.comment);
  return s.engine.decideApproval(id, { state: input.decision === "approve" ? "approved" : "rejected", by: actor.name, comment }, audit);
});
