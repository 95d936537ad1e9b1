/**
 * `sluice secrets rotate-key`: re-encrypt every secret under the primary key (the first configured):
 * connections' passwords and extras, secret variables, and runs' secret params.
 *
 * Rotating a key: put the new key first in SLUICE_SECRET_KEY (or the key file), keep the old ones after
 * it, restart the processes, run this, then drop the old keys. Each row is re-encrypted in its own short
 * transaction (read under a row lock, decrypt with whichever configured key made it, encrypt under the
 * primary, write back only if the row is unchanged), so runs that read secrets meanwhile never wait long
 * and always read a ciphertext one of their keys opens — the old one until the row is rewritten, the new
 * one after. A row already under the primary key is skipped: running it twice does nothing the second
 * time. A row that no configured key decrypts stops the rotation with SECRET_KEY (nothing is half-written:
 * the rows done stay done, and a rerun continues).
 */
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { Keyring } from "./keyring.js";
import { isSecretParamValue, secretParamAad } from "./params.js";
import { extraAad, passwordAad, variableAad } from "./rows.js";

export interface RotationReport {
  keyId: string;
  connections: { rotated: number; current: number };
  variables: { rotated: number; current: number };
  /** Runs whose secret params (secrets/params.ts) were re-encrypted / were already under the key. */
  params: { rotated: number; current: number };
}

export async function rotateKey(store: Store, keys: Keyring): Promise<RotationReport> {
  const report: RotationReport = { keyId: keys.primaryId, connections: { rotated: 0, current: 0 }, variables: { rotated: 0, current: 0 }, params: { rotated: 0, current: 0 } };
  const reseal = (ct: string | null, aad: string): string | null => (ct === null || keys.isCurrent(ct) ? ct : keys.encrypt(keys.decrypt(ct, aad), aad));

  for (const id of await store.connections.idsWithSecrets()) {
    const changed = await store.tx(async (tx) => {
      const row = await tx.connections.getForUpdate(id);
      if (!row) return false; // deleted meanwhile
      const next = { password: reseal(row.password, passwordAad(id)), extra: reseal(row.extra, extraAad(id)) };
      if (next.password === row.password && next.extra === row.extra) return false;
      if (!(await tx.connections.replaceCiphertexts(id, row, next))) throw new SluiceError("CONFLICT", `connection "${id}" changed during its rotation; run rotate-key again`);
      return true;
    });
    report.connections[changed ? "rotated" : "current"]++;
  }

  for (const key of await store.variables.secretKeys()) {
    const changed = await store.tx(async (tx) => {
      const row = await tx.variables.getForUpdate(key);
      if (!row || !row.isSecret || keys.isCurrent(row.value)) return false;
      const next = keys.encrypt(keys.decrypt(row.value, variableAad(key)), variableAad(key));
      if (!(await tx.variables.replaceCiphertext(key, row.value, next))) throw new SluiceError("CONFLICT", `variable "${key}" changed during its rotation; run rotate-key again`);
      return true;
    });
    report.variables[changed ? "rotated" : "current"]++;
  }
  // secret params: one compare-and-set update of the run's params each (they hold the ciphertexts inline)
  for (const { runId, params } of await store.runs.withSecretParams()) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(params) as Record<string, unknown>;
    } catch {
      continue; // a corrupt row is reported by the readers of runs, not here
    }
    let changed = false;
    for (const [name, v] of Object.entries(parsed)) {
      if (!isSecretParamValue(v) || keys.isCurrent(v.$secret)) continue;
      parsed[name] = { $secret: keys.encrypt(keys.decrypt(v.$secret, secretParamAad(runId, name)), secretParamAad(runId, name)) };
      changed = true;
    }
    if (changed && !(await store.runs.replaceParams(runId, params, JSON.stringify(parsed)))) {
      throw new SluiceError("CONFLICT", `the params of run "${runId}" changed during their rotation; run rotate-key again`);
    }
    report.params[changed ? "rotated" : "current"]++;
  }
  return report;
}
