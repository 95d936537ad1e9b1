/**
 * An audit entry as the application layer writes it: who (the actor, from where) and which operation,
 * bound into an `AuditHook` that the change's transaction calls with what it saw (store/audit.ts). The
 * before/after it is given are redacted here, once, for every operation: no secret value reaches the log.
 */
import { isSensitiveName } from "../secrets/mask.js";
import type { AuditChange, AuditEntry, AuditHook, AuditVia } from "../store/audit.js";
import type { Actor } from "./actor.js";

export const REDACTED = "***";

/**
 * A copy of `value` with every field whose name looks sensitive (`isSensitiveName`: password, secret,
 * token, key, credential, auth, …) or is listed in `secretFields` replaced by "***", at any depth.
 * Strings, numbers and the like are returned as they are: only a field's name says it is secret.
 */
export function redactSecrets(value: unknown, secretFields: readonly string[] = []): unknown {
  const secret = new Set(secretFields);
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (depth > 20) return REDACTED; // deeper than any record we audit: nothing to learn, nothing to leak
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    if (v instanceof Date) return v.toISOString();
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = x !== undefined && x !== null && (secret.has(k) || isSensitiveName(k)) ? REDACTED : walk(x, depth + 1);
    }
    return out;
  };
  return walk(value, 0);
}

/** The entry of `change` made by `actor` through operation `action`, redacted. */
export function auditEntry(actor: { name: string; via: AuditVia; ip?: string | null; userAgent?: string | null }, action: string, change: AuditChange): AuditEntry {
  return {
    actor: actor.name,
    via: actor.via,
    ip: actor.ip ?? null,
    userAgent: actor.userAgent ?? null,
    action,
    dagId: change.dagId ?? null,
    runId: change.runId ?? null,
    target: change.target ?? null,
    before: change.before === undefined ? null : redactSecrets(change.before, change.secretFields),
    after: change.after === undefined ? null : redactSecrets(change.after, change.secretFields),
    outcome: change.outcome ?? null,
  };
}

/** The hook an operation hands to the transaction of its change: it appends the entry there. */
export function auditHook(actor: Actor | { name: string; via: "system" }, action: string): AuditHook {
  const write = async (tx: Parameters<AuditHook>[0], change: AuditChange) => {
    await tx.audit.append(auditEntry(actor, action, change));
  };
  return Object.assign(write, { actor: actor.name });
}
