/**
 * The DAG code this process can run: the DAGs it loaded at start, and — for `sluice dev` and `sluice
 * server`, which leave the DAGs folder to the scheduler — versions loaded on demand through the code
 * loader (the scheduler's folder).
 */
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { LoadedDag } from "./dagLoader.js";

export type CodeLoader = (dagId: string, version: string) => Promise<LoadedDag | undefined>;

export class DagCode {
  /** DAGs of the scheduler's folder loaded through the code loader (`ensure`), for the HTTP API. */
  private readonly loadedOnDemand = new Map<string, LoadedDag>();

  constructor(
    private readonly store: Store,
    /** The DAGs whose code this process loaded at start. */
    private readonly dags: ReadonlyMap<string, LoadedDag>,
    private loadCode: CodeLoader | null,
  ) {}

  setLoader(fn: CodeLoader): void {
    this.loadCode = fn;
  }

  /** A DAG loaded at start only (triggered runs prefer it to the registered version). */
  local(dagId: string): LoadedDag | undefined {
    return this.dags.get(dagId);
  }

  /** A DAG this process knows (loaded at start, or through `ensure`); DAG_NOT_FOUND names the known ones. */
  get(dagId: string): LoadedDag {
    const d = this.dags.get(dagId) ?? this.loadedOnDemand.get(dagId);
    if (!d) {
      const known = [...this.dags.keys()].sort();
      throw new SluiceError(
        "DAG_NOT_FOUND",
        `no DAG with id "${dagId}"${known.length ? `; known DAGs: ${known.join(", ")}` : "; no DAGs were loaded (check --dags)"}`,
        { details: { dagId } },
      );
    }
    return d;
  }

  /**
   * Make `get` know a DAG this process did not load itself: its latest registered version's code is
   * loaded through the code loader. A no-op for DAGs loaded at start.
   */
  async ensure(dagId: string): Promise<void> {
    if (this.dags.has(dagId) || !this.loadCode) return;
    const row = await this.store.dags.get(dagId);
    if (!row || !row.isActive) return;
    const loaded = await this.loadCode(dagId, row.version);
    if (loaded && loaded.dag.version === row.version) this.loadedOnDemand.set(dagId, loaded);
  }

  /** The code of one version of a DAG, for a task to run: the loaded DAG, else the code loader's. */
  async forVersion(dagId: string, version: string): Promise<LoadedDag | undefined> {
    return this.dags.get(dagId) ?? (await this.loadCode?.(dagId, version));
  }
}
