/**
 * Free space where this process writes logs, artifacts and (on SQLite) the database: its home folder.
 * A full disk fails attempts (DISK_FULL) but leaves the process up; health and status say so, so that
 * an operator (or a probe) sees why work fails before reading an attempt's error.
 */
import { statfs } from "node:fs/promises";

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
