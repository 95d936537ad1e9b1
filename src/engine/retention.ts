/**
 * `sluice db clean`: delete finished runs that ended before a cutoff, in batches of short transactions
 * (so no lock is held for long while schedulers and workers keep going), then their log folders and the
 * artifacts nothing references any more. What is kept, and why: store/retention.ts.
 */
import { rm, stat } from "node:fs/promises";
import { resolve, sep } from "node:path";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { AuditHook } from "../store/audit.js";
import type { Store } from "../store/store.js";
import { deleteFinishedRunBatch, type DeletedRun } from "../store/retention.js";

export interface CleanOptions {
  /** Runs that ended strictly before this time (epoch ms) go. */
  cutoff: number;
  logsDir: string;
  artifacts: ArtifactStore;
  /** Runs per transaction (default 1,000). */
  batchSize?: number;
  /** A person's clean (app/retention): each batch writes its audit entry in its transaction. */
  audit?: AuditHook;
  dryRun?: boolean;
  /**
   * An unreferenced artifact is only removed when it was last put (the artifact stores touch what they
   * deduplicate) longer ago than this, so a worker that is storing the same bytes right now, before its
   * attempt row commits, keeps them. Default 1 hour. The same holds for code bundles.
   */
  artifactGraceMs?: number;
}

export interface CleanResult {
  cutoff: string;
  dryRun: boolean;
  runs: number;
  taskInstances: number;
  attempts: number;
  runAssetEvents: number;
  /** Runs whose tracked params, metrics, tags and artifacts went with them. */
  trackedRuns: number;
  /** Cache entries that pointed at deleted attempts or had expired; 0 on a dry run. */
  cacheEntries: number;
  logDirs: number;
  artifacts: number;
  /** Code bundles no run holds any more and no DAG's current version is (store/dagCode.ts); 0 on a dry run. */
  codeBundles: number;
  batches: number;
}

export async function cleanFinishedRuns(store: Store, opts: CleanOptions): Promise<CleanResult> {
  const cutoff = new Date(opts.cutoff).toISOString();
  if (opts.dryRun) {
    const c = await store.retention.countFinishedRuns(opts.cutoff);
    let logDirs = 0;
    for (const r of c.runList) if (await exists(runLogDir(opts.logsDir, r))) logDirs++;
    return { cutoff, dryRun: true, runs: c.runs, taskInstances: c.taskInstances, attempts: c.attempts, runAssetEvents: c.runAssetEvents, trackedRuns: c.trackedRuns, cacheEntries: 0, logDirs, artifacts: c.artifacts, codeBundles: 0, batches: 0 };
  }
  const result: CleanResult = { cutoff, dryRun: false, runs: 0, taskInstances: 0, attempts: 0, runAssetEvents: 0, trackedRuns: 0, cacheEntries: 0, logDirs: 0, artifacts: 0, codeBundles: 0, batches: 0 };
  const refs = new Set<string>();
  for (;;) {
    const b = await deleteFinishedRunBatch(store, opts.cutoff, opts.batchSize ?? 1000, opts.audit);
    if (b.runs.length === 0) break;
    result.batches++;
    result.runs += b.runs.length;
    result.taskInstances += b.taskInstances;
    result.attempts += b.attempts;
    result.runAssetEvents += b.runAssetEvents;
    result.trackedRuns += b.trackedRuns;
    result.cacheEntries += b.cacheEntries;
    for (const r of b.outputRefs) refs.add(r);
    // files after the commit: a crash between leaves files without rows (harmless), never rows without
    // files. An emptied DAG folder stays: removing it could race a worker that is creating a run folder in it.
    for (const r of b.runs) if (await removeDir(runLogDir(opts.logsDir, r))) result.logDirs++;
  }
  result.cacheEntries += await store.retention.deleteExpiredCacheEntries(store.now());
  const held = await store.retention.referencedOutputRefs([...refs]);
  result.artifacts = await opts.artifacts.removeStale([...refs].filter((r) => !held.has(r)), opts.artifactGraceMs ?? 3_600_000);
  result.codeBundles = await store.dagCode.deleteUnreferenced(store.now() - (opts.artifactGraceMs ?? 3_600_000));
  return result;
}

/** `<logs>/<dag>/<run>` (logs/attemptLog.ts), refusing anything that would leave the logs folder. */
function runLogDir(logsDir: string, r: DeletedRun): string | null {
  const root = resolve(logsDir);
  const dir = resolve(root, r.dagId, r.runId);
  return dir.startsWith(root + sep) && dir !== root && !r.dagId.includes(sep) && !r.runId.includes(sep) ? dir : null;
}

async function exists(path: string | null): Promise<boolean> {
  return path !== null && (await stat(path).then(() => true, () => false));
}

async function removeDir(path: string | null): Promise<boolean> {
  if (!(await exists(path))) return false;
  await rm(path!, { recursive: true, force: true });
  return true;
}
