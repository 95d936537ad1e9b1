/**
 * Secret params (docs/decisions/0016-secrets.md): the params a DAG names in `secretParams` are stored in the
 * run's params encrypted, as `{ "$secret": "<ciphertext>" }`, with `param:<runId>:<name>` as additional
 * authenticated data (a ciphertext copied onto another run or param does not decrypt there). They are
 * decrypted only for the task that runs, and every reader for people (API, UI, CLI) shows `***`.
 *
 * The value is encrypted as its JSON text, so a secret param may be any JSON value.
 */
import { SluiceError } from "../errors.js";
import type { Keyring } from "./keyring.js";
import { MASK, type Masker } from "./mask.js";

/** The stored form of a secret param's value. */
export interface SecretParamValue {
  $secret: string;
}

export function isSecretParamValue(v: unknown): v is SecretParamValue {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { $secret?: unknown }).$secret === "string";
}

export function secretParamAad(runId: string, name: string): string {
  return `param:${runId}:${name}`;
}

/** Whether any of `names` has a value in `params` (only then is a key needed). */
export function hasSecretParams(params: Record<string, unknown>, names: readonly string[]): boolean {
  return names.some((n) => params[n] !== undefined);
}

/** `params` with the values of `names` encrypted for run `runId` (values already encrypted are kept: a run found again by key). */
export function encryptSecretParams(params: Record<string, unknown>, names: readonly string[], runId: string, keyring: Keyring): Record<string, unknown> {
  const out = { ...params };
  for (const name of names) {
    const v = out[name];
    if (v === undefined || isSecretParamValue(v)) continue;
    out[name] = { $secret: keyring.encrypt(JSON.stringify(v), secretParamAad(runId, name)) } satisfies SecretParamValue;
  }
  return out;
}

/**
 * The plain params of run `runId` for its task: each `{ $secret }` value decrypted (SECRET_KEY when there is
 * no key or it does not decrypt: fail closed) and registered with the attempt's masker. `keyring` is asked
 * for only when a secret value is there.
 */
export function decryptSecretParams(params: Record<string, unknown>, runId: string, keyring: () => Keyring | null, masker: Masker): Record<string, unknown> {
  const names = Object.keys(params).filter((k) => isSecretParamValue(params[k]));
  if (names.length === 0) return params;
  const keys = keyring();
  if (!keys) {
    throw new SluiceError("SECRET_KEY", `run "${runId}" has secret params (${names.join(", ")}) but no secret key is configured (SLUICE_SECRET_KEY, SLUICE_SECRET_KEY_FILE or <home>/secret.key)`);
  }
  const out = { ...params };
  for (const name of names) {
    const text = keys.decrypt((params[name] as SecretParamValue).$secret, secretParamAad(runId, name));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new SluiceError("SECRET_KEY", `the secret param "${name}" of run "${runId}" decrypted to text that is not JSON (a corrupt row?)`, { cause: e });
    }
    masker.add(value);
    out[name] = value;
  }
  return out;
}

/** `params` as people see them: every secret value (stored `{ $secret }`, or a plain one named in `names`) as `***`. */
export function redactSecretParams(params: Record<string, unknown>, names: readonly string[] = []): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(params)) {
    if (isSecretParamValue(v) || (names.includes(k) && v !== undefined)) (out ??= { ...params })[k] = MASK;
  }
  return out ?? params;
}

