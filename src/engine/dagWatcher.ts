/**
 * Watches the DAGs folder: new, changed and deleted DAG files are noticed (fs.watch, with a periodic
 * rescan as the fallback for file systems that miss events) and handed to the DAG processor. Only the
 * files that changed are parsed again, so one edit among 1,000 files costs one parse.
 */
import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { isDagFile, listSourceFiles } from "./dagLoader.js";

export interface FolderChanges {
  /** New or modified files. */
  changed: string[];
  removed: string[];
}

export class DagWatcher {
  /** Every source file seen, by its mtime and size: only changed files are read again. */
  private readonly known = new Map<string, Seen>();
  /** The ones that are DAG files. */
  private readonly dagFiles = new Set<string>();
  /** Local modules the DAG files import (their code bundles' inputs): an edit of one is an edit of them. */
  private readonly importedBy = new Map<string, Set<string>>();
  private watcher: FSWatcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private again = false;
  /** Removals whose report failed: reported with the next scan. */
  private readonly unreported: string[] = [];
  readonly dir: string;

  constructor(
    dir: string,
    private readonly onChanges: (c: FolderChanges) => Promise<void>,
    private readonly opts: { rescanMs?: number; debounceMs?: number; onError?: (e: unknown) => void } = {},
  ) {
    this.dir = resolve(dir);
  }

  /** Scan once (every file is new), then keep watching. */
  async start(): Promise<void> {
    await this.scan();
    try {
      this.watcher = watch(this.dir, { recursive: true }, () => this.poke());
      this.watcher.on("error", () => undefined); // the periodic rescan still covers us
    } catch {
      this.watcher = null;
    }
    this.rescanTimer = setInterval(() => this.poke(), this.opts.rescanMs ?? 10_000);
    this.rescanTimer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /**
   * The local modules `dagFile` imports, as its last parse found them: when one of them changes, the DAG
   * file is reported changed too (its code, and so what its next runs get, changed).
   */
  setImports(dagFile: string, imports: readonly string[]): void {
    for (const [m, by] of this.importedBy) if (by.delete(dagFile) && by.size === 0) this.importedBy.delete(m);
    for (const m of imports) {
      let by = this.importedBy.get(m);
      if (!by) this.importedBy.set(m, (by = new Set()));
      by.add(dagFile);
    }
  }

  /** Something changed: rescan soon (events come in bursts while an editor saves). */
  poke(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.scan().catch((e: unknown) => this.opts.onError?.(e));
    }, this.opts.debounceMs ?? 30);
  }

  /** Compare the folder with what is known; report the difference. Serialised: one scan at a time. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        const files = await listSourceFiles(this.dir).catch(() => [] as string[]);
        const seen = new Set(files);
        const changed: string[] = [];
        const removed: string[] = [];
        const helpers: string[] = [];
        for (const f of files) {
          const now = Date.now();
          const st = await stat(f).catch(() => null);
          if (st === null) continue;
          const sig = `${st.mtimeMs}:${st.size}`;
          const prior = this.known.get(f);
          // "racy" signatures (git's term): a file written again within the file system's timestamp
          // granularity of the last look keeps its mtime and maybe its size; its content decides
          const racy = now - st.mtimeMs < RACY_MS;
          const hash = racy || prior?.hash ? await contentHash(f) : null;
          if (prior && prior.sig === sig && (prior.hash === null || prior.hash === hash)) {
            if (!racy && prior.hash) this.known.set(f, { sig, hash: null });
            continue;
          }
          this.known.set(f, { sig, hash: racy ? hash : null });
          if (await isDagFile(f)) {
            this.dagFiles.add(f);
            changed.push(f);
          } else if (this.dagFiles.delete(f)) {
            removed.push(f); // no longer a DAG file
          } else {
            helpers.push(f);
          }
        }

        for (const f of [...this.known.keys()]) {
          if (seen.has(f)) continue;
          this.known.delete(f);
          if (this.dagFiles.delete(f)) removed.push(f);
          else helpers.push(f);
        }
        // a helper module that changed or went: the DAG files importing it are parsed and bundled again
        for (const h of helpers) {
          for (const d of this.importedBy.get(h) ?? []) if (this.dagFiles.has(d) && !changed.includes(d)) changed.push(d);
        }
        for (const f of this.unreported.splice(0)) if (!changed.includes(f) && !removed.includes(f)) removed.push(f);
        if (changed.length || removed.length) {
          try {
            await this.onChanges({ changed, removed });
          } catch (e) {
            // not taken in: forget these files' signatures so that the next scan reports them again
            for (const f of changed) this.known.delete(f);
            this.unreported.push(...removed);
            throw e;
          }
        }
      } while (this.again);
    })().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }
}

interface Seen {
  sig: string;
  /** Content hash, kept while the mtime is too recent to be trusted. */
  hash: string | null;
}

/** Some file systems keep mtimes in whole seconds; two writes within one keep the same mtime. */
const RACY_MS = 2_000;

async function contentHash(file: string): Promise<string | null> {
  return readFile(file).then((b) => createHash("sha1").update(b).digest("hex"), () => null);
}
