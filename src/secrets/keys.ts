/**
 * The keyring of this process, loaded once from `config.secretKey` (docs/decisions/0016-secrets.md): a
 * reader that finds no key configured gets null (it fails closed only if it meets a secret row), a writer
 * creates the key file the first time (mode 0600). A failure to load is not remembered: the next call
 * reports it again rather than a stale null.
 */
import { Keyring, type KeySource } from "./keyring.js";

const loaded = new Map<string, Keyring>();

export function processKeyring(src: KeySource, opts: { create: boolean }): Keyring | null {
  const id = JSON.stringify([src.keys ?? null, src.file, src.generated]);
  const hit = loaded.get(id);
  if (hit) return hit;
  const k = Keyring.load(src, opts);
  if (k) loaded.set(id, k);
  return k;
}
