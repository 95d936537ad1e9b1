/**
 * Task code for a worker that did not load the DAGs folder itself (`sluice dev`, `sluice worker`): the
 * file a DAG version came from is imported when a task of it must run, and imported afresh once the file
 * has changed — so edits reach the next attempt without a restart. Only for runs that keep no code
 * bundle (created before migration 0016, or from a file that does not bundle): the others import their
 * own bundle (DagCode.forVersion), whatever the file holds now.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Store } from "../store/store.js";
import { loadDagFile } from "../executors/dagFile.js";
import type { LoadedDag } from "./dagLoader.js";
import { SluiceError } from "../errors.js";

export class DagCodeLoader {
  private readonly byDag = new Map<string, LoadedDag>();
  /** The content hash each file had when it was last imported. */
  private readonly imported = new Map<string, string>();
  /** Imports under way, by file and content hash: tasks starting together share one import. */
  private readonly importing = new Map<string, Promise<void>>();
  private imports = 0;

  constructor(
    private readonly store: Store,
    /** Where compiled DAG modules are kept (executors/dagModuleCache.ts); default: the per-user temp folder. */
    private readonly cacheDir?: string,
  ) {}

  /** Loads under way, by DAG and version: the tasks a worker claimed at once share one import. */
  private readonly loading = new Map<string, Promise<LoadedDag | undefined>>();

  load(dagId: string, version: string): Promise<LoadedDag | undefined> {
    const cached = this.byDag.get(dagId);
    if (cached && cached.dag.version === version) return Promise.resolve(cached);
    const key = `${dagId}\0${version}`;
    let p = this.loading.get(key);
    if (!p) {
      p = this.loadNow(dagId, version).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  private async loadNow(dagId: string, version: string): Promise<LoadedDag | undefined> {
    const cached = this.byDag.get(dagId);
    if (cached && cached.dag.version === version) return cached;
    const file = (await this.store.dags.getVersion(dagId, version))?.file ?? cached?.file;
    if (!file) return undefined;
    await this.refresh(file);
    // read again after the awaits: a concurrent import may have replaced what was cached
    return this.byDag.get(dagId);
  }

  /**
   * Import these DAG files now (`sluice worker` at start, before it registers): the first
   * task of a run then starts at once, instead of after its file's import — TypeScript's loader and the
   * DAG's construction cost a second or more for a large DAG. A file that fails to import is left for
   * its first task to report (the scheduler reports it as an import error too).
   */
  async preload(files: Iterable<string>): Promise<void> {
    for (const file of files) await this.refresh(file).catch(() => undefined);
  }

  /** Import `file` again if its content changed since it was last imported. */
  private async refresh(file: string): Promise<void> {
    // by content, not mtime: two writes within a second keep one mtime on some file systems
    const hash = await readFile(file).then((b) => createHash("sha1").update(b).digest("hex"), () => null);
    if (hash === null || this.imported.get(file) === hash) return;
    const key = `${file}\0${hash}`;
    let pending = this.importing.get(key);
    if (!pending) {
      pending = (async () => {
        const result = await loadDagFile(file, { fresh: ++this.imports, ...(this.cacheDir ? { cacheDir: this.cacheDir } : {}) });
        if ("error" in result) throw new SluiceError("DAG_IMPORT", `cannot import ${file}: ${result.error}`);
        this.imported.set(file, hash);
        for (const dag of result.dags) this.byDag.set(dag.id, { dag, file });
      })().finally(() => this.importing.delete(key));
      this.importing.set(key, pending);
    }
    await pending;
  }
}
