/**
 * SQL of the model registry (migration 0029): models, their versions (with lineage), aliases, the history
 * of every alias move, and the approvals promotion gates wait for. `store.models` / `tx.models`. The rules
 * (names, gate verdicts, rollback targets) are core/promotion.ts's; here only reads, locks and writes.
 *
 * Concurrency. Every write that must be serial per model — a new version number, an alias move with its
 * history row — first updates (or locks) the model's row in `models`: on PostgreSQL the row lock makes
 * concurrent registrations and moves of one model wait for each other, so version numbers have no gaps
 * or duplicates and each history row's `from` is the holder the move replaced. SQLite's write
 * transactions are serial already.
 */
import type { Kysely, Selectable } from "kysely";
import type { ModelFlavor, ModelInputEvent, ModelSignature, ModelVersionRecord } from "../core/models.js";
import { rollbackTarget, type AliasMove, type GateComparison } from "../core/promotion.js";
import { SluiceError } from "../errors.js";
import type { StoreContext } from "./aggregates.js";
import type { Database, ModelApprovalsTable, ModelVersionsTable } from "./schema.js";

/** What registering a version records (its number is given out here). */
export type NewModelVersion = Omit<ModelVersionRecord, "version" | "createdAt" | "inputEvents"> & { artifactSize: number; inputEvents: ModelInputEvent[] };

export interface ModelSummary {
  name: string;
  latestVersion: number;
  createdAt: number;
  updatedAt: number;
  aliases: Record<string, number>;
}

export interface AliasHolder {
  alias: string;
  version: number;
  updatedAt: number;
}

export interface AliasHistoryEntry {
  id: number;
  name: string;
  alias: string;
  fromVersion: number | null;
  toVersion: number;
  kind: AliasMove["kind"];
  actor: string;
  reason: string | null;
  at: number;
}

export type ApprovalState = "pending" | "approved" | "rejected" | "expired";

export interface ApprovalRecord {
  id: number;
  name: string;
  alias: string;
  version: number;
  fromVersion: number | null;
  comparison: GateComparison;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  attemptId: number;
  state: ApprovalState;
  requestedAt: number;
  expiresAt: number | null;
  decidedBy: string | null;
  decidedAt: number | null;
  comment: string | null;
}

export type NewApproval = Omit<ApprovalRecord, "id" | "state" | "decidedBy" | "decidedAt" | "comment">;

const versionRecord = (r: Selectable<ModelVersionsTable>): ModelVersionRecord & { artifactSize: number } => ({
  name: r.name,
  version: r.version,
  artifactRef: r.artifact_ref,
  artifactSize: Number(r.artifact_size),
  flavor: JSON.parse(r.flavor) as ModelFlavor,
  framework: r.framework,
  signature: r.signature === null ? null : (JSON.parse(r.signature) as ModelSignature),
  metrics: JSON.parse(r.metrics) as Record<string, number>,
  params: JSON.parse(r.params) as Record<string, unknown>,
  description: r.description,
  dagId: r.dag_id,
  dagVersion: r.dag_version,
  runId: r.run_id,
  taskId: r.task_id,
  mapIndex: r.map_index,
  attemptId: Number(r.attempt_id),
  createdAt: Number(r.created_at),
  inputEvents: JSON.parse(r.input_events) as ModelInputEvent[],
});

const approvalRecord = (r: Selectable<ModelApprovalsTable>): ApprovalRecord => ({
  id: Number(r.id),
  name: r.name,
  alias: r.alias,
  version: r.version,
  fromVersion: r.from_version,
  comparison: JSON.parse(r.comparison) as GateComparison,
  dagId: r.dag_id,
  runId: r.run_id,
  taskId: r.task_id,
  mapIndex: r.map_index,
  attemptId: Number(r.attempt_id),
  state: r.state as ApprovalState,
  requestedAt: Number(r.requested_at),
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  decidedBy: r.decided_by,
  decidedAt: r.decided_at === null ? null : Number(r.decided_at),
  comment: r.comment,
});

const historyEntry = (r: Selectable<Database["model_alias_history"]>): AliasHistoryEntry => ({
  id: Number(r.id),
  name: r.name,
  alias: r.alias,
  fromVersion: r.from_version,
  toVersion: r.to_version,
  kind: r.kind as AliasMove["kind"],
  actor: r.actor,
  reason: r.reason,
  at: Number(r.at),
});

export const modelNotFound = (name: string) => new SluiceError("NOT_FOUND", `no model named "${name}" (sluice models list shows the models)`, { details: { model: name } });
export const versionNotFound = (name: string, version: number) =>
  new SluiceError("NOT_FOUND", `model "${name}" has no version ${version} (sluice models show ${name} lists its versions)`, { details: { model: name, version } });

export class ModelRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /**
   * Register the next version of `v.name` (the model is created with its first version). The number is
   * `models.latest_version + 1`, incremented in place: concurrent registrations of one name wait on that
   * row (PostgreSQL) and get consecutive numbers.
   */
  register(v: NewModelVersion): Promise<ModelVersionRecord> {
    return this.ctx.inTx((tx) => tx.models.insertVersion(v));
  }

  /** @internal `register` inside its transaction (this object is the transaction's). */
  async insertVersion(v: NewModelVersion): Promise<ModelVersionRecord> {
    {
      const db = this.db;
      const now = this.ctx.now();
      await db.insertInto("models").values({ name: v.name, latest_version: 0, created_at: now, updated_at: now }).onConflict((oc) => oc.column("name").doNothing()).execute();
      const row = await db
        .updateTable("models")
        .set((eb) => ({ latest_version: eb("latest_version", "+", 1), updated_at: now }))
        .where("name", "=", v.name)
        .returning("latest_version")
        .executeTakeFirstOrThrow();
      const version = Number(row.latest_version);
      await db
        .insertInto("model_versions")
        .values({
          name: v.name,
          version,
          artifact_ref: v.artifactRef,
          artifact_size: v.artifactSize,
          flavor: JSON.stringify(v.flavor),
          framework: v.framework,
          signature: v.signature === null ? null : JSON.stringify(v.signature),
          metrics: JSON.stringify(v.metrics),
          params: JSON.stringify(v.params),
          description: v.description,
          dag_id: v.dagId,
          dag_version: v.dagVersion,
          run_id: v.runId,
          task_id: v.taskId,
          map_index: v.mapIndex,
          attempt_id: v.attemptId,
          input_events: JSON.stringify(v.inputEvents),
          created_at: now,
        })
        .execute();
      const { artifactSize: _size, ...rest } = v;
      return { ...rest, version, createdAt: now };
    }
  }

  /** Every model with its latest version number and its aliases, by name. */
  async list(): Promise<ModelSummary[]> {
    const models = await this.db.selectFrom("models").selectAll().orderBy("name").execute();
    const aliases = await this.db.selectFrom("model_aliases").select(["name", "alias", "version"]).orderBy("name").orderBy("alias").execute();
    const byName = new Map<string, Record<string, number>>();
    for (const a of aliases) (byName.get(a.name) ?? byName.set(a.name, {}).get(a.name)!)[a.alias] = a.version;
    return models.map((m) => ({ name: m.name, latestVersion: m.latest_version, createdAt: Number(m.created_at), updatedAt: Number(m.updated_at), aliases: byName.get(m.name) ?? {} }));
  }

  /** One model (null: none by that name). */
  async get(name: string): Promise<ModelSummary | null> {
    const m = await this.db.selectFrom("models").selectAll().where("name", "=", name).executeTakeFirst();
    if (!m) return null;
    const aliases: Record<string, number> = {};
    for (const a of await this.aliases(name)) aliases[a.alias] = a.version;
    return { name: m.name, latestVersion: m.latest_version, createdAt: Number(m.created_at), updatedAt: Number(m.updated_at), aliases };
  }

  /** A model's versions, newest first. */
  async versions(name: string): Promise<(ModelVersionRecord & { artifactSize: number })[]> {
    return (await this.db.selectFrom("model_versions").selectAll().where("name", "=", name).orderBy("version", "desc").execute()).map(versionRecord);
  }

  async version(name: string, version: number): Promise<(ModelVersionRecord & { artifactSize: number }) | null> {
    const r = await this.db.selectFrom("model_versions").selectAll().where("name", "=", name).where("version", "=", version).executeTakeFirst();
    return r ? versionRecord(r) : null;
  }

  /** The versions a run registered (lineage from a run). */
  async byRun(runId: string): Promise<ModelVersionRecord[]> {
    return (await this.db.selectFrom("model_versions").selectAll().where("run_id", "=", runId).orderBy("name").orderBy("version").execute()).map(versionRecord);
  }

  async aliases(name: string): Promise<AliasHolder[]> {
    const rows = await this.db.selectFrom("model_aliases").selectAll().where("name", "=", name).orderBy("alias").execute();
    return rows.map((r) => ({ alias: r.alias, version: r.version, updatedAt: Number(r.updated_at) }));
  }

  /**
   * The version `alias` of `name` points at, or null: one primary-key join (a model server asks this
   * whenever it checks for a move).
   */
  async resolve(name: string, alias: string): Promise<ModelVersionRecord | null> {
    const r = await this.db
      .selectFrom("model_aliases as a")
      .innerJoin("model_versions as v", (j) => j.onRef("v.name", "=", "a.name").onRef("v.version", "=", "a.version"))
      .selectAll("v")
      .where("a.name", "=", name)
      .where("a.alias", "=", alias)
      .executeTakeFirst();
    if (!r) return null;
    const { artifactSize: _size, ...rec } = versionRecord(r);
    return rec;
  }

  /**
   * Point `alias` of `name` at `version`, with its history row, atomically. Throws NOT_FOUND for an unknown
   * model or version, writing nothing. A move to the version the alias already holds writes nothing and
   * returns `moved: false`. `expectFrom` (a gate's approval): the move happens only if the alias still
   * holds that version — otherwise CONFLICT, so an approval given for "v3 replaces v2" never silently
   * replaces a v4 someone promoted meanwhile.
   */
  moveAlias(m: { name: string; alias: string; version: number; actor: string; reason: string | null; kind: AliasMove["kind"]; expectFrom?: number | null }): Promise<{ fromVersion: number | null; toVersion: number; moved: boolean; entry: AliasHistoryEntry | null }> {
    return this.ctx.inTx(async (tx) => {
      const rows = tx.models;
      await rows.lockModel(m.name);
      if (!(await rows.version(m.name, m.version))) throw versionNotFound(m.name, m.version);
      const moved = await rows.move(m);
      // model servers of other processes hear it at commit (PostgreSQL) instead of at their next poll
      if (moved.moved) await tx.notifyWake();
      return moved;
    });
  }

  /**
   * Move `alias` back (core/promotion.ts `rollbackTarget`: an undo stack over its history). NOT_FOUND for
   * an unknown model or an alias never set; CONFLICT when nothing is left to undo.
   */
  rollback(m: { name: string; alias: string; actor: string; reason: string | null }): Promise<{ fromVersion: number | null; toVersion: number; moved: boolean; entry: AliasHistoryEntry | null }> {
    return this.ctx.inTx(async (tx) => {
      const rows = tx.models;
      await rows.lockModel(m.name);
      const history = await rows.aliasHistory(m.name, m.alias);
      if (history.length === 0) throw new SluiceError("NOT_FOUND", `model "${m.name}" has no alias "${m.alias}" to roll back`, { details: { model: m.name, alias: m.alias } });
      const target = rollbackTarget(history);
      if (target === null) throw new SluiceError("CONFLICT", `alias "${m.alias}" of model "${m.name}" has nothing to roll back to: version ${history[0]!.toVersion} was its first holder`, { details: { model: m.name, alias: m.alias } });
      const moved = await rows.move({ ...m, version: target, kind: "rollback" });
      if (moved.moved) await tx.notifyWake();
      return moved;
    });
  }

  /** Moves of an alias (or of all a model's aliases), newest first. */
  async aliasHistory(name: string, alias?: string, limit = 1000): Promise<AliasHistoryEntry[]> {
    let q = this.db.selectFrom("model_alias_history").selectAll().where("name", "=", name);
    if (alias !== undefined) q = q.where("alias", "=", alias);
    return (await q.orderBy("id", "desc").limit(limit).execute()).map(historyEntry);
  }

  /** The model's row, locked to the end of the transaction on PostgreSQL; NOT_FOUND when there is none. */
  /** @internal */
  async lockModel(name: string): Promise<void> {
    let q = this.db.selectFrom("models").select("name").where("name", "=", name);
    if (this.ctx.dialect === "postgres") q = q.forUpdate();
    if (!(await q.executeTakeFirst())) throw modelNotFound(name);
  }

  /** @internal In the transaction that locked the model. */
  async move(m: { name: string; alias: string; version: number; actor: string; reason: string | null; kind: AliasMove["kind"]; expectFrom?: number | null }) {
    const db = this.db;
    const now = this.ctx.now();
    const cur = await db.selectFrom("model_aliases").select("version").where("name", "=", m.name).where("alias", "=", m.alias).executeTakeFirst();
    const from = cur ? cur.version : null;
    if (m.expectFrom !== undefined && m.expectFrom !== from) {
      throw new SluiceError("CONFLICT", `alias "${m.alias}" of model "${m.name}" moved meanwhile: it holds ${from === null ? "no version" : `version ${from}`}, not ${m.expectFrom === null ? "none" : `version ${m.expectFrom}`} as when it was compared`, { details: { model: m.name, alias: m.alias } });
    }
    if (from === m.version) return { fromVersion: from, toVersion: m.version, moved: false, entry: null };
    if (cur) await db.updateTable("model_aliases").set({ version: m.version, updated_at: now }).where("name", "=", m.name).where("alias", "=", m.alias).execute();
    else await db.insertInto("model_aliases").values({ name: m.name, alias: m.alias, version: m.version, updated_at: now }).execute();
    const row = await db
      .insertInto("model_alias_history")
      .values({ name: m.name, alias: m.alias, from_version: from, to_version: m.version, kind: m.kind, actor: m.actor, reason: m.reason, at: now })
      .returningAll()
      .executeTakeFirstOrThrow();
    await db.updateTable("models").set({ updated_at: now }).where("name", "=", m.name).execute();
    return { fromVersion: from, toVersion: m.version, moved: true, entry: historyEntry(row) };
  }

  /** Ask for a decision (idempotent per gate attempt: a second poke finds the first request). */
  async requestApproval(a: NewApproval): Promise<ApprovalRecord> {
    await this.db
      .insertInto("model_approvals")
      .values({
        name: a.name,
        alias: a.alias,
        version: a.version,
        from_version: a.fromVersion,
        comparison: JSON.stringify(a.comparison),
        dag_id: a.dagId,
        run_id: a.runId,
        task_id: a.taskId,
        map_index: a.mapIndex,
        attempt_id: a.attemptId,
        state: "pending",
        requested_at: a.requestedAt,
        expires_at: a.expiresAt,
      })
      .onConflict((oc) => oc.column("attempt_id").doNothing())
      .execute();
    return (await this.approvalOfAttempt(a.attemptId))!;
  }

  async approvalOfAttempt(attemptId: number): Promise<ApprovalRecord | null> {
    const r = await this.db.selectFrom("model_approvals").selectAll().where("attempt_id", "=", attemptId).executeTakeFirst();
    return r ? approvalRecord(r) : null;
  }

  async approval(id: number): Promise<ApprovalRecord | null> {
    const r = await this.db.selectFrom("model_approvals").selectAll().where("id", "=", id).executeTakeFirst();
    return r ? approvalRecord(r) : null;
  }

  /** Approvals, newest first: pending ones (`state`), or a model's. */
  async approvals(o: { state?: ApprovalState; name?: string; limit?: number } = {}): Promise<ApprovalRecord[]> {
    let q = this.db.selectFrom("model_approvals").selectAll();
    if (o.state) q = q.where("state", "=", o.state);
    if (o.name) q = q.where("name", "=", o.name);
    return (await q.orderBy("id", "desc").limit(o.limit ?? 500).execute()).map(approvalRecord);
  }

  /** A gate timed out waiting: its approval, if still pending, is closed as expired. */
  async expireApproval(attemptId: number): Promise<void> {
    await this.db.updateTable("model_approvals").set({ state: "expired", decided_at: this.ctx.now() }).where("attempt_id", "=", attemptId).where("state", "=", "pending").execute();
  }

  /**
   * Record a decision on a pending approval; null when it is not pending any more (decided by someone
   * else first): the conditional update makes exactly one of two concurrent decisions count.
   */
  async decide(id: number, d: { state: "approved" | "rejected"; by: string; comment: string | null }): Promise<ApprovalRecord | null> {
    const r = await this.db
      .updateTable("model_approvals")
      .set({ state: d.state, decided_by: d.by, decided_at: this.ctx.now(), comment: d.comment })
      .where("id", "=", id)
      .where("state", "=", "pending")
      .returningAll()
      .executeTakeFirst();
    return r ? approvalRecord(r) : null;
  }
}
