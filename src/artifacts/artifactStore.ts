/**
 * Task outputs above the inline limit, content-addressed: the reference is the SHA-256 of the bytes, so
 * the same bytes are stored once, which makes caching and lineage cheap. Two stores: files on this host
 * (SQLite, one machine) and the database (PostgreSQL: every worker on every host reads what another
 * wrote; store/artifacts.ts). Object storage can implement the same interface.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, utimes, writeFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { SluiceError } from "../errors.js";

export interface ArtifactStore {
  /** Where the bytes live, for banners and messages (a folder, or "the database"). */
  readonly location: string;
  /** Store bytes; returns their hash (the reference). */
  put(bytes: Uint8Array): Promise<string>;
  get(ref: string): Promise<Buffer>;
  has(ref: string): Promise<boolean>;
  /**
   * `sluice db clean`: remove these artifacts (which no attempt references any more) unless they were
   * put again within `graceMs` — a worker storing the same bytes right now, before its attempt row
   * commits, keeps them. Returns how many went.
   */
  removeStale(refs: readonly string[], graceMs: number): Promise<number>;
}

export const ARTIFACT_REF = /^[0-9a-f]{64}$/;

export function artifactRef(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Files on this host: `<root>/<aa>/<sha256>`, written to a temporary file renamed into place (a crash never leaves half an artifact under its hash). */
export class LocalArtifactStore implements ArtifactStore {
  /** `now`: wall-clock ms, compared with file times (tests move it). */
  constructor(readonly root: string, private readonly now: () => number = Date.now) {}

  get location(): string {
    return this.root;
  }

  private pathOf(ref: string): string {
    if (!ARTIFACT_REF.test(ref)) throw new SluiceError("INTERNAL", `invalid artifact reference ${JSON.stringify(ref)}`);
    return join(this.root, ref.slice(0, 2), ref);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const ref = artifactRef(bytes);
    const path = this.pathOf(ref);
    try {
      await stat(path);
      // already stored (content-addressed). Touch it: `sluice db clean` only removes an unreferenced
      // artifact whose file time is old, so bytes re-put for an attempt not yet committed survive it.
      const now = new Date();
      await utimes(path, now, now);
      return ref;
    } catch {
      // not there yet (or removed just now by a clean: write it again)
    }
    await mkdir(join(this.root, ref.slice(0, 2)), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(tmp, bytes, { flush: true });
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return ref;
  }

  async get(ref: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(ref));
    } catch (e) {
      throw new SluiceError("INTERNAL", `artifact ${ref} is missing from ${this.root}`, { cause: e });
    }
  }

  async has(ref: string): Promise<boolean> {
    return stat(this.pathOf(ref)).then(() => true, () => false);
  }

  async removeStale(refs: readonly string[], graceMs: number): Promise<number> {
    const oldEnough = this.now() - graceMs;
    let removed = 0;
    for (const ref of refs) {
      if (!ARTIFACT_REF.test(ref)) continue;
      const path = this.pathOf(ref);
      const st = await stat(path).catch(() => null);
      if (!st || st.mtimeMs > oldEnough) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}
