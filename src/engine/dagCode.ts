/**
 * The DAG code this process can run: the DAGs it loaded at start, and — for `sluice dev` and `sluice
 * server`, which leave the DAGs folder to the scheduler — versions loaded on demand through the code
 * loader (the scheduler's folder). A task of a run created with a code bundle (decision 0017, item 7)
 * runs that bundle's code, whatever the files hold now.
 */
import type { Dag } from "../dsl/dag.js";
import { SluiceError } from "../errors.js";
import { bundleUrl, cacheBundle, importBundle } from "../executors/bundleImport.js";
import { secretInCode, tryBundleDagFile, type DagBundle } from "../executors/dagBundle.js";
import type { Store } from "../store/store.js";
import type { LoadedDag } from "./dagLoader.js";
import { processLog } from "../logs/processLog.js";

/** A task's code: the DAG, its file, and the module a child process imports for it (null: the file). */
export type TaskCode = LoadedDag & { moduleUrl: string | null };

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

  /** Bundles of the DAGs loaded at start, made when a run is first created from them. */
  private readonly localBundles = new Map<string, Promise<DagBundle | null>>();

  /**
   * The code bundle a run created from the DAG this process loaded at start records (`sluice run`,
   * `sluice trigger`): its file bundled now, once per process. Null for a DAG not loaded here, or with
   * no file, or whose file does not bundle (its runs import the file as it is then; said once).
   */
  localBundle(dagId: string, version: string): Promise<DagBundle | null> {
    const local = this.dags.get(dagId);
    if (!local?.file || local.dag.version !== version) return Promise.resolve(null);
    let p = this.localBundles.get(dagId);
    if (!p) {
      p = tryBundleDagFile(local.file).then((b) => {
        const why = "error" in b ? b.error : secretInCode(b, [local.dag]);
        if (why !== null) {
          processLog("stderr").warn(`sluice: cannot keep the code of DAG "${dagId}" for its runs (${why}); its tasks import ${local.file} as it is when they start`, { event: "code not kept", dagId, file: local.file });
          return null;
        }
        return b as DagBundle;
      });
      this.localBundles.set(dagId, p);
    }
    return p;
  }

  /** Local bundles written to the cache folder (for child processes), by hash: their URLs. */
  private readonly cachedLocal = new Map<string, Promise<string | null>>();

  private cachedLocalBundle(b: DagBundle, file: string): Promise<string | null> {
    let p = this.cachedLocal.get(b.hash);
    if (!p) {
      // an unwritable cache folder is no reason to fail a task: its process imports the file then
      p = cacheBundle(b.hash, b.code).then(() => bundleUrl(b.hash, file), () => null);
      this.cachedLocal.set(b.hash, p);
    }
    return p;
  }

  /** Bundles imported by this process: their DAGs by id (null: the store has no such bundle). */
  private readonly bundles = new Map<string, Promise<Map<string, Dag> | null>>();

  /**
   * The code of a task of a run, for it to run: the run's code bundle when it has one (`codeHash`),
   * else the DAG loaded at start, else the code loader's (the version's file as it is now).
   */
  async forVersion(dagId: string, version: string, codeHash: string | null): Promise<TaskCode | undefined> {
    const local = this.dags.get(dagId);
    if (codeHash !== null) {
      // the DAG this process loaded is the run's own code when the run was made from it here
      const mine = local && this.localBundles.has(dagId) ? await this.localBundles.get(dagId) : null;
      // a child process imports the same code as a bundle: plain JavaScript, one version, a warm process's key
      if (local && mine?.hash === codeHash) return { ...local, moduleUrl: await this.cachedLocalBundle(mine, local.file) };
      const file = local?.file ?? (await this.store.dags.getVersion(dagId, version))?.file;
      if (file) {
        const dag = (await this.bundle(codeHash, file))?.get(dagId);
        if (dag) return { dag, file, moduleUrl: bundleUrl(codeHash, file) };
      }
    }
    if (local) return { ...local, moduleUrl: null };
    const loaded = await this.loadCode?.(dagId, version);
    return loaded && { ...loaded, moduleUrl: null };
  }

  /**
   * Import the code runs will ask for now (`sluice worker` at start, before it registers), so the first
   * task of a run starts at once instead of after an import: the bundles of the active DAGs' current
   * versions, and the bundles of the folder's other DAG files as they are now (what `sluice trigger`
   * makes of them: the same bytes, the same hash). Returns the files that do not bundle (to import as
   * files). A bundle that fails is left for its first task to report.
   */
  async preload(files: readonly string[]): Promise<Set<string>> {
    const registered = new Set<string>();
    for (const c of await this.store.dags.currentCode()) {
      if (c.codeHash === null) continue;
      registered.add(c.file);
      await this.bundle(c.codeHash, c.file).catch(() => undefined);
    }
    const unbundled = new Set<string>();
    for (const file of files) {
      if (registered.has(file)) continue;
      const b = await tryBundleDagFile(file);
      if ("error" in b) {
        unbundled.add(file);
        continue;
      }
      if (this.bundles.has(b.hash)) continue;
      const p = cacheBundle(b.hash, b.code).then(() => this.importBundled(b.hash, file));
      p.catch(() => this.bundles.delete(b.hash));
      this.bundles.set(b.hash, p);
      await p.catch(() => undefined);
    }
    return unbundled;
  }

  private bundle(hash: string, file: string): Promise<Map<string, Dag> | null> {
    let p = this.bundles.get(hash);
    if (!p) {
      p = this.importBundle(hash, file);
      // a failed import is tried again by the next task (the store may have been unreachable)
      p.catch(() => this.bundles.delete(hash));
      this.bundles.set(hash, p);
    }
    return p;
  }

  private async importBundle(hash: string, file: string): Promise<Map<string, Dag> | null> {
    const code = await this.store.dagCode.get(hash);
    if (code === null) {
      // deleted by retention (a run older than its bundle's keep rule: docs) or a corrupt row: the file it is
      processLog("stderr").warn(`sluice: code bundle ${hash.slice(0, 12)} of ${file} is not in the database; its tasks import the file as it is now`, { event: "code bundle missing", hash, file });
      return null;
    }
    await cacheBundle(hash, code);
    return this.importBundled(hash, file);
  }

  private async importBundled(hash: string, file: string): Promise<Map<string, Dag>> {
    const result = await importBundle(hash, file);
    if ("error" in result) throw new SluiceError("DAG_IMPORT", `cannot import the code of ${file} kept for this run (bundle ${hash.slice(0, 12)}): ${result.error}`);
    return new Map(result.dags.map((d) => [d.id, d]));
  }
}
