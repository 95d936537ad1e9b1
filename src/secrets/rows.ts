/**
 * Between a connection's or variable's fields and its stored row: the secret parts (a connection's
 * password and extra, a secret variable's value) are encrypted here with the value's place as additional
 * authenticated data (`connection:<id>:password`, `connection:<id>:extra`, `variable:<key>`), so the
 * store only ever holds ciphertexts and one moved to another row does not decrypt there.
 */
import type { JsonValue } from "../core/assets.js";
import { SluiceError } from "../errors.js";
import type { ConnectionRow } from "../store/connections.js";
import type { VariableRow } from "../store/variables.js";
import type { ConnectionFields } from "./connection.js";
import type { Keyring } from "./keyring.js";

export const passwordAad = (id: string) => `connection:${id}:password`;
export const extraAad = (id: string) => `connection:${id}:extra`;
export const variableAad = (key: string) => `variable:${key}`;

/** The row of a connection: password and extra encrypted (a keyring is needed only when one is set). */
export function sealConnection(keys: () => Keyring, id: string, f: ConnectionFields, times: { createdAt: number; updatedAt: number }): ConnectionRow {
  const extra = f.extra && Object.keys(f.extra).length ? f.extra : null;
  return {
    connId: id,
    connType: f.type,
    description: f.description ?? null,
    host: f.host ?? null,
    port: f.port ?? null,
    login: f.login ?? null,
    password: f.password != null && f.password !== "" ? keys().encrypt(f.password, passwordAad(id)) : null,
    schema: f.schema ?? null,
    extra: extra ? keys().encrypt(JSON.stringify(extra), extraAad(id)) : null,
    ...times,
  };
}

/** The fields of a stored connection, decrypted; SECRET_KEY when a secret part does not decrypt. */
export function openConnection(keys: () => Keyring | null, row: ConnectionRow): ConnectionFields {
  const need = (): Keyring => keys() ?? noKey(`connection "${row.connId}"`);
  return {
    type: row.connType,
    description: row.description,
    host: row.host,
    port: row.port,
    login: row.login,
    password: row.password === null ? null : need().decrypt(row.password, passwordAad(row.connId)),
    schema: row.schema,
    extra: row.extra === null ? null : (JSON.parse(need().decrypt(row.extra, extraAad(row.connId))) as Record<string, unknown>),
  };
}

export function sealVariable(keys: () => Keyring, key: string, value: JsonValue, isSecret: boolean, description: string | null, updatedAt: number): VariableRow {
  const text = JSON.stringify(value);
  return { key, value: isSecret ? keys().encrypt(text, variableAad(key)) : text, isSecret, description, updatedAt };
}

export function openVariable(keys: () => Keyring | null, row: VariableRow): JsonValue {
  const text = row.isSecret ? (keys() ?? noKey(`variable "${row.key}"`)).decrypt(row.value, variableAad(row.key)) : row.value;
  return JSON.parse(text) as JsonValue;
}

function noKey(what: string): never {
  throw new SluiceError("SECRET_KEY", `${what} holds an encrypted value, but no secret key is configured: set SLUICE_SECRET_KEY or SLUICE_SECRET_KEY_FILE (the key it was written with)`);
}
