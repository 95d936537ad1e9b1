/**
 * Content-addressed blob store on local disk: `<root>/<aa>/<sha256>`. Writes go to a temporary file that is
 * renamed into place, so a crash never leaves a half-written artifact under its hash. The same bytes are
 * stored once, which makes caching and lineage cheap. Object storage can implement the same interface.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, stat, utimes, writeFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { SluiceError } from "../errors.js";

export interface ArtifactStore {
  /** Store bytes; returns their hash (the reference). */
  put(bytes: Uint8Array): Promise<string>;
  get(ref: string): Promise<Buffer>;
}

const REF = /^[0-9a-f]{64}$/;

export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  private pathOf(ref: string): string {
    if (!REF.test(ref)) throw new SluiceError("INTERNAL", `invalid artifact reference ${JSON.stringify(ref)}`);
    return join(this.root, ref.slice(0, 2), ref);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const ref = createHash("sha256").update(bytes).digest("hex");
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
}
