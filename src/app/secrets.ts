/**
 * Operations on connections and variables (docs/decisions/0016-secrets.md). Changing them is the admin's;
 * operators may list, show and test them. Nothing here returns a secret value: a connection's password
 * and extra and a secret variable's value are reported as set or not (`passwordSet: true`), and the
 * before/after of a change (what the audit log records, in the same transaction) shows them as "***".
 *
 * Each change is one store transaction; the audit entry will be written in it (app/audit, another part of
 * issue 12).
 */
import type { JsonValue } from "../core/assets.js";
import { SluiceError } from "../errors.js";
import { checkFields, checkSecretId, type ConnectionFields } from "../secrets/connection.js";
import { Masker, MASK, isSensitiveName } from "../secrets/mask.js";
import { probeConnection, type ProbeResult } from "../secrets/probe.js";
import { rotateKey, type RotationReport } from "../secrets/rotate.js";
import { sealConnection, sealVariable } from "../secrets/rows.js";
import type { Sluice } from "../sluice.js";
import type { ConnectionRow } from "../store/connections.js";
import type { VariableRow } from "../store/variables.js";
import { operation } from "./actor.js";

/** A connection as the API, the CLI and the UI show it: never its secrets, only whether they are set. */
export interface ConnectionView {
  id: string;
  type: string;
  description: string | null;
  host: string | null;
  port: number | null;
  login: string | null;
  schema: string | null;
  passwordSet: boolean;
  extraSet: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What the audit log records of a connection: every field, secrets as "***" (null when unset). */
export interface ConnectionAudit extends Omit<ConnectionView, "passwordSet" | "extraSet" | "createdAt" | "updatedAt"> {
  password: typeof MASK | null;
  extra: typeof MASK | null;
}

export interface VariableView {
  key: string;
  isSecret: boolean;
  description: string | null;
  /** The value of a variable that is not secret; absent for a secret one. */
  value?: JsonValue;
  updatedAt: number;
}

export interface Change<V, A> {
  /** The record after the change (null after a delete). */
  view: V | null;
  before: A | null;
  after: A | null;
}

export function connectionView(r: ConnectionRow): ConnectionView {
  return {
    id: r.connId,
    type: r.connType,
    description: r.description,
    host: r.host,
    port: r.port,
    login: r.login,
    schema: r.schema,
    passwordSet: r.password !== null,
    extraSet: r.extra !== null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

function connectionAudit(r: ConnectionRow | null): ConnectionAudit | null {
  if (!r) return null;
  const { passwordSet, extraSet, createdAt: _c, updatedAt: _u, ...rest } = connectionView(r);
  return { ...rest, password: passwordSet ? MASK : null, extra: extraSet ? MASK : null };
}

export function variableView(r: VariableRow): VariableView {
  return {
    key: r.key,
    isSecret: r.isSecret,
    description: r.description,
    ...(r.isSecret ? {} : { value: JSON.parse(r.value) as JsonValue }),
    updatedAt: r.updatedAt,
  };
}

function variableAudit(r: VariableRow | null): (Omit<VariableView, "updatedAt"> & { value: JsonValue }) | null {
  if (!r) return null;
  const { updatedAt: _u, ...v } = variableView(r);
  return { ...v, value: r.isSecret ? MASK : (v.value as JsonValue) };
}

/**
 * The fields of a change. On update, a password or extra left undefined keeps the stored one (forms show
 * "set", not the value, so they cannot send it back); null clears it.
 */
export type ConnectionInput = Omit<ConnectionFields, "password" | "extra"> & {
  password?: string | null | undefined;
  extra?: Record<string, unknown> | null | undefined;
};

function notFound(id: string): SluiceError {
  return new SluiceError("CONNECTION_NOT_FOUND", `connection "${id}" not found in the metadata store`, { details: { connId: id } });
}

/** Add a connection; CONFLICT when the id is taken (`update` changes one). */
export const addConnection = operation("connections.add", "admin", async (s: Sluice, _actor, input: { id: string; fields: ConnectionInput }, audit): Promise<Change<ConnectionView, ConnectionAudit>> => {
  const id = checkSecretId("connection", input.id);
  const fields = checkFields({ ...input.fields }, `connection "${id}"`);
  const now = s.store.now();
  const row = sealConnection(() => s.secrets.writer(), id, fields, { createdAt: now, updatedAt: now });
  return s.store.tx(async (tx) => {
    if (!(await tx.connections.insert(row))) {
      throw new SluiceError("CONFLICT", `connection "${id}" already exists; change it with \`sluice connections add ${id} --replace …\` or PUT /api/v1/connections/${id}`, { details: { connId: id } });
    }
    const change = { view: connectionView(row), before: null, after: connectionAudit(row) };
    await audit(tx, { target: `connection ${id}`, before: change.before, after: change.after });
    return change;
  });
});

/** Change a connection: every field is replaced, but an undefined password or extra keeps the stored one. */
export const updateConnection = operation("connections.update", "admin", async (s: Sluice, _actor, input: { id: string; fields: ConnectionInput }, audit): Promise<Change<ConnectionView, ConnectionAudit>> => {
  const id = checkSecretId("connection", input.id);
  checkFields({ ...input.fields }, `connection "${id}"`);
  return s.store.tx(async (tx) => {
    const before = await tx.connections.getForUpdate(id);
    if (!before) throw notFound(id);
    const fresh = sealConnection(() => s.secrets.writer(), id, { ...input.fields, password: input.fields.password ?? null, extra: input.fields.extra ?? null }, { createdAt: before.createdAt, updatedAt: s.store.now() });
    // kept secrets stay the very ciphertext stored: nothing is decrypted to be re-encrypted
    const row: ConnectionRow = {
      ...fresh,
      password: input.fields.password === undefined ? before.password : fresh.password,
      extra: input.fields.extra === undefined ? before.extra : fresh.extra,
    };
    await tx.connections.update(row);
    const change = { view: connectionView(row), before: connectionAudit(before), after: connectionAudit(row) };
    await audit(tx, { target: `connection ${id}`, before: change.before, after: change.after });
    return change;
  });
});

export const deleteConnection = operation("connections.delete", "admin", async (s: Sluice, _actor, input: { id: string }, audit): Promise<Change<ConnectionView, ConnectionAudit>> => {
  const id = checkSecretId("connection", input.id);
  return s.store.tx(async (tx) => {
    const before = await tx.connections.getForUpdate(id);
    if (!before || !(await tx.connections.delete(id))) throw notFound(id);
    const change = { view: null, before: connectionAudit(before), after: null };
    await audit(tx, { target: `connection ${id}`, before: change.before, after: null });
    return change;
  });
});

/** The connections of the metadata store (those of the environment and the folder are not listed). */
export const listConnections = operation("connections.list", "operator", async (s: Sluice, _actor, _input: Record<string, never>): Promise<ConnectionView[]> => {
  return (await s.store.connections.list()).map(connectionView);
});

export const showConnection = operation("connections.show", "operator", async (s: Sluice, _actor, input: { id: string }): Promise<ConnectionView> => {
  const row = await s.store.connections.get(checkSecretId("connection", input.id));
  if (!row) throw notFound(input.id);
  return connectionView(row);
});

/**
 * Really connect (postgres, http(s), sqlite), through the same backends a task would use. The result's
 * message is masked: a server's error may quote what it was sent.
 */
export const testConnection = operation("connections.test", "operator", async (s: Sluice, _actor, input: { id: string }): Promise<ProbeResult & { id: string }> => {
  const conn = await s.secrets.connection(input.id);
  const masker = new Masker();
  masker.add(conn.password);
  masker.add(conn.extra);
  masker.add(conn.uri);
  const r = await probeConnection(conn);
  return { id: conn.id, ...r, message: masker.mask(r.message) };
});

/**
 * Create or replace a variable. `isSecret` defaults to the stored variable's, else to whether the key
 * looks sensitive (`api_key`, `db_password`, …: secrets/mask.ts isSensitiveName), as Airflow masks them.
 */
export const setVariable = operation(
  "variables.set",
  "admin",
  async (s: Sluice, _actor, input: { key: string; value: JsonValue; isSecret?: boolean; description?: string | null }, audit): Promise<Change<VariableView, ReturnType<typeof variableAudit>>> => {
    const key = checkSecretId("variable", input.key);
    if (input.value === undefined) throw new SluiceError("INVALID_INPUT", `variable "${key}": a value is required`, { details: { field: "value" } });
    return s.store.tx(async (tx) => {
      const before = await tx.variables.getForUpdate(key);
      const isSecret = input.isSecret ?? before?.isSecret ?? isSensitiveName(key);
      const description = input.description === undefined ? (before?.description ?? null) : input.description;
      const row = sealVariable(() => s.secrets.writer(), key, input.value, isSecret, description, s.store.now());
      await tx.variables.put(row);
      const change = { view: variableView(row), before: variableAudit(before), after: variableAudit(row) };
      await audit(tx, { target: `variable ${key}`, before: change.before, after: change.after });
      return change;
    });
  },
);

export const deleteVariable = operation("variables.delete", "admin", async (s: Sluice, _actor, input: { key: string }, audit): Promise<Change<VariableView, ReturnType<typeof variableAudit>>> => {
  const key = checkSecretId("variable", input.key);
  return s.store.tx(async (tx) => {
    const before = await tx.variables.getForUpdate(key);
    if (!before || !(await tx.variables.delete(key))) throw new SluiceError("VARIABLE_NOT_FOUND", `variable "${key}" not found in the metadata store`, { details: { key } });
    const change = { view: null, before: variableAudit(before), after: null };
    await audit(tx, { target: `variable ${key}`, before: change.before, after: null });
    return change;
  });
});

export const listVariables = operation("variables.list", "operator", async (s: Sluice, _actor, _input: Record<string, never>): Promise<VariableView[]> => {
  return (await s.store.variables.list()).map(variableView);
});

export const getVariable = operation("variables.get", "operator", async (s: Sluice, _actor, input: { key: string }): Promise<VariableView> => {
  const row = await s.store.variables.get(checkSecretId("variable", input.key));
  if (!row) throw new SluiceError("VARIABLE_NOT_FOUND", `variable "${input.key}" not found in the metadata store`, { details: { key: input.key } });
  return variableView(row);
});

/**
 * Re-encrypt every secret row under the primary key (`sluice secrets rotate-key`). Admin: it needs every
 * key. Row by row, each in its own transaction (secrets/rotate.ts).
 */
export const rotateSecrets = operation("secrets.rotateKey", "admin", async (s: Sluice, _actor, _input: Record<string, never>, audit): Promise<RotationReport> => {
  const keys = s.secrets.reader();
  if (!keys) throw new SluiceError("SECRET_KEY", "no secret key is configured (SLUICE_SECRET_KEY, SLUICE_SECRET_KEY_FILE or <home>/secret.key): there is nothing to rotate to");
  const report = await rotateKey(s.store, keys);
  // row by row in their own transactions (so runs go on meanwhile): the entry records the outcome
  await s.store.tx((tx) => audit(tx, { target: "secret key", before: null, after: { ...report } }));
  return report;
});
