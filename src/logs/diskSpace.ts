/**
 * Free space where this process writes logs, artifacts and (on SQLite) the database: its home folder.
 * A full disk fails attempts (DISK_FULL) but leaves the process up; health and status say so, so that
 * an operator (or a probe) sees why work fails before reading an attempt's error. A SQLite database on a
 * full disk holds a long-running process's writes until space is freed (Store diskFull "wait").
 */
import { statfs } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";

/** Below this much free space the disk is reported full: a chatty task fills the rest in seconds. */
const FULL_BELOW_BYTES = 64 * 1024 * 1024;

export interface DiskSpace {
  state: "ok" | "full" | "unknown";
  freeBytes: number | null;
  totalBytes: number | null;
}

export async function diskSpace(dir: string): Promise<DiskSpace> {
  try {
    const s = await statfs(dir);
    const free = s.bavail * s.bsize;
    // a small disk (a test's tmpfs) is full when almost nothing of it is left
    const full = free < Math.min(FULL_BELOW_BYTES, (s.blocks * s.bsize) / 20);
    return { state: full ? "full" : "ok", freeBytes: free, totalBytes: s.blocks * s.bsize };
  } catch {
    // the home does not exist yet (nothing written), or the platform has no statfs
    return { state: "unknown", freeBytes: null, totalBytes: null };
  }
}

/** What a process knows of its store's disk (Store: dialect, location, waitingForDiskSpace). */
export interface StoreDisk {
  dialect: string;
  location: string;
  waitingForDiskSpace: boolean;
}

export interface ProcessDisks {
  /** "full" when the home or the SQLite database's disk is full, or this process's writes wait for space. */
  state: DiskSpace["state"];
  home: DiskSpace;
  /** SQLite kept outside the home (SLUICE_DATABASE_URL): its folder's disk; null otherwise. */
  database: (DiskSpace & { dir: string }) | null;
  /** This process's database writes wait for space (only a long-running process's store waits). */
  writesWaiting: boolean;
}

/**
 * The disks this process writes to. A SQLite database on another disk than the home fills on its own,
 * and then every write of the store fails, not just logs: health and status must see that disk too.
 */
export async function processDisks(home: string, store: StoreDisk): Promise<ProcessDisks> {
  const homeDisk = await diskSpace(home);
  const dbDir = store.dialect === "sqlite" && store.location !== ":memory:" ? dirname(resolve(store.location)) : null;
  const database = dbDir && !isInside(dbDir, resolve(home)) ? { dir: dbDir, ...(await diskSpace(dbDir)) } : null;
  const full = store.waitingForDiskSpace || homeDisk.state === "full" || database?.state === "full";
  return { state: full ? "full" : homeDisk.state, home: homeDisk, database, writesWaiting: store.waitingForDiskSpace };
}

function isInside(dir: string, root: string): boolean {
  const r = relative(root, dir);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
}
