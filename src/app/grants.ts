/**
 * Operations on grants (per-DAG access, app/access.ts): list, add, delete — the admin's. Each change is
 * one store transaction that returns the grant before and after (the audit log records them in that same
 * transaction). A selector that matches no registered DAG is allowed — DAGs may be added later — and
 * answered with a warning; a malformed selector, an unknown user or token, or an unknown role is
 * INVALID_INPUT / NOT_FOUND naming the field, and nothing is written.
 */
import { checkRole } from "../auth/auth.js";
import { parseSelector, selects } from "../core/grants.js";
import { SluiceError } from "../errors.js";
import type { GrantRecord } from "../store/grants.js";
import type { Store } from "../store/store.js";
import { operation } from "./actor.js";

export type GrantsStore = Pick<Store, "grants" | "users" | "apiTokens" | "dags" | "tx">;

export interface AddGrantInput {
  /** Exactly one of user and token. */
  user?: string;
  /** An API token's id (as `sluice tokens list` shows it). */
  token?: string;
  role: string;
  /** `dag:<glob>` | `tag:<tag>` | `owner:<name>`. */
  selector: string;
}

export interface GrantChange {
  before: GrantRecord | null;
  after: GrantRecord | null;
  /** E.g. the selector matches no registered DAG yet. */
  warnings: string[];
}

export const listGrants = operation("grants.list", "admin", async (store: GrantsStore, _actor, input: { user?: string; token?: string }): Promise<GrantRecord[]> => {
  if (input.user !== undefined && input.token !== undefined) throw new SluiceError("INVALID_INPUT", "user, token: give one or neither", { details: { field: "token" } });
  if (input.user !== undefined) return store.grants.list([{ kind: "user", principal: input.user }]);
  if (input.token !== undefined) return store.grants.list([{ kind: "token", principal: input.token }]);
  return store.grants.list();
});

export const addGrant = operation("grants.add", "admin", async (store: GrantsStore, actor, input: AddGrantInput): Promise<GrantChange & { grant: GrantRecord }> => {
  if ((input.user === undefined) === (input.token === undefined)) {
    throw new SluiceError("INVALID_INPUT", "user, token: name exactly one principal: a user (--user) or an API token id (--token)", { details: { field: input.user === undefined ? "user" : "token" } });
  }
  const role = checkRole(input.role);
  const selector = parseSelector(input.selector, "selector");
  const kind = input.user !== undefined ? "user" : "token";
  const principal = (input.user ?? input.token)!;
  const meta = await store.dags.accessMeta();
  const warnings = meta.some((m) => selects(selector, m)) ? [] : [`selector ${input.selector} matches no registered DAG (yet): the grant applies to DAGs it selects once they are registered`];
  const grant = await store.tx(async (tx) => {
    if (kind === "user" && !(await tx.users.get(principal))) throw new SluiceError("NOT_FOUND", `user: no user "${principal}"`, { details: { field: "user", username: principal } });
    if (kind === "token") {
      const t = await tx.apiTokens.get(principal);
      if (!t) throw new SluiceError("NOT_FOUND", `token: no API token with id "${principal}" (sluice tokens list shows the ids)`, { details: { field: "token", tokenId: principal } });
      if (t.scope !== null) throw new SluiceError("INVALID_INPUT", `token: "${principal}" is an event token (scope ${t.scope}); it sends events only and cannot be granted a role`, { details: { field: "token" } });
    }
    const g = await tx.grants.insert({ principalKind: kind, principal, role, selector: input.selector, now: tx.now(), createdBy: actor.name });
    if (!g) throw new SluiceError("CONFLICT", `${kind} "${principal}" already has ${role} on ${input.selector}`, { details: { field: "selector" } });
    return g;
  });
  return { grant, before: null, after: grant, warnings };
});

export const deleteGrant = operation("grants.delete", "admin", async (store: GrantsStore, _actor, input: { id: number }): Promise<GrantChange> => {
  return store.tx(async (tx) => {
    const before = await tx.grants.get(input.id);
    if (!before || !(await tx.grants.delete(input.id))) throw new SluiceError("NOT_FOUND", `no grant with id ${input.id} (sluice grants list shows them)`, { details: { grantId: input.id } });
    return { before, after: null, warnings: [] };
  });
});
