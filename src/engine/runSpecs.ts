/**
 * The spec of each run's DAG version, indexed (engine/specIndex). Versions are immutable, so an entry
 * never goes stale; a run is mapped to its version when it is created here or first looked up.
 */
import type { DagSpec } from "../core/dagSpec.js";
import { SluiceError } from "../errors.js";
import type { Store, Tx } from "../store/store.js";
import { indexSpec, type SpecIndex } from "./specIndex.js";

export class RunSpecs {
  /** `dagId@version` -> spec index. */
  private readonly versions = new Map<string, SpecIndex>();
  /** runId -> `dagId@version`. */
  private readonly runVersions = new Map<string, string>();
  private readonly loads = new Map<string, Promise<SpecIndex>>();

  constructor(private readonly store: Store) {}

  /** The spec of a run's DAG version when this process has it at hand (no query). */
  cached(runId: string): SpecIndex | undefined {
    const key = this.runVersions.get(runId);
    return key ? this.versions.get(key) : undefined;
  }

  /**
   * Remember a run's version. Run creation does it before its transaction: the transitions in it look
   * the spec up, and a miss would query outside the transaction.
   */
  remember(runId: string, dagId: string, version: string): void {
    this.runVersions.set(runId, `${dagId}@${version}`);
  }

  /** The spec of the DAG version a run was created with. */
  async of(runId: string): Promise<SpecIndex> {
    const idx = this.cached(runId);
    if (idx) return idx;
    // A worker that has just claimed dozens of a new run's tasks asks for its spec once per task, all at
    // once: one load serves them (a 10,000-task spec is a megabyte of JSON to fetch and parse).
    let loading = this.loads.get(runId);
    if (!loading) {
      loading = this.load(runId).finally(() => this.loads.delete(runId));
      this.loads.set(runId, loading);
    }
    return loading;
  }

  /**
   * The spec of a run inside a transaction: cached, or read through the transaction itself (a read
   * through the store would wait for the connection the transaction holds, on SQLite for ever).
   */
  async inTx(tx: Tx, runId: string): Promise<SpecIndex> {
    const idx = this.cached(runId);
    if (idx) return idx;
    const run = await tx.runs.get(runId);
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
    const stored = await tx.dags.getVersion(run.dagId, run.dagVersion);
    if (!stored) throw new SluiceError("DB_CORRUPT", `run "${runId}" refers to DAG version ${run.dagVersion} of "${run.dagId}", which is not in the database`);
    this.remember(runId, run.dagId, run.dagVersion);
    return this.index(run.dagId, run.dagVersion, () => stored.spec);
  }

  /** The index of a DAG version, built from `spec` the first time it is asked for. */
  index(dagId: string, version: string, spec: () => DagSpec): SpecIndex {
    const key = `${dagId}@${version}`;
    let idx = this.versions.get(key);
    if (!idx) {
      idx = indexSpec(spec());
      this.versions.set(key, idx);
    }
    return idx;
  }

  private async load(runId: string): Promise<SpecIndex> {
    const run = await this.store.runs.get(runId);
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
    this.remember(runId, run.dagId, run.dagVersion);
    const cached = this.versions.get(`${run.dagId}@${run.dagVersion}`);
    if (cached) return cached;
    const stored = await this.store.dags.getVersion(run.dagId, run.dagVersion);
    if (!stored) throw new SluiceError("DB_CORRUPT", `run "${runId}" refers to DAG version ${run.dagVersion} of "${run.dagId}", which is not in the database`);
    return this.index(run.dagId, run.dagVersion, () => stored.spec);
  }
}
