/**
 * Who performs an operation, and the rule that checks it. Every operation of the application layer is
 * one `operation(...)`: a function of (context, actor, input) with the least role it needs. The CLI and
 * the HTTP routes call the same functions, so validation and authorisation are written once; the route
 * table takes its `access` from `op.role`, so the HTTP check and this one cannot drift apart.
 *
 * An operation on one DAG (trigger, cancel, clear, mark, pause, backfills) names it with `dag`: its role
 * is then needed on that DAG (global role or a grant: app/access.ts), not globally.
 *
 * ## The audit log (docs/decisions/0016-secrets.md)
 *
 * Every operation that changes something writes exactly one audit entry, in the transaction of the
 * change, so that the two commit or roll back together. `operation` hands `fn` a fourth argument,
 * `audit`: an `AuditHook` already bound to the actor (name, via, ip, user agent) and to the operation's
 * id (the entry's `action`). Call it inside the transaction, after the change is written, with what the
 * transaction saw:
 *
 * ```ts
 * export const setVariable = operation("variables.set", "admin", async (s: Sluice, _actor, input: {...}, audit) =>
 *   s.store.tx(async (tx) => {
 *     const before = await tx.variables.get(input.key);
 *     const after = await tx.variables.put(...);
 *     await audit(tx, { target: input.key, before, after, secretFields: after.isSecret ? ["value"] : [] });
 *     return after;
 *   }),
 * );
 * ```
 *
 * - `before`/`after` are plain JSON-able values (records or views of them); null or absent for a
 *   creation/deletion. Every field whose name looks sensitive (`isSensitiveName`: password, secret, token,
 *   key, credential, auth, …) is replaced by "***" at any depth (app/auditEntry.ts `redactSecrets`); a
 *   field secret whatever its name (a connection's `extra`, a secret variable's `value`) must be named in
 *   `secretFields`. Never pass a secret under an innocent name.
 * - `dagId` and `runId` when the change is about a DAG or a run: readers who are not admins see only
 *   entries about DAGs they may read (app/audit.ts `auditScope`); entries without a DAG are the admins'.
 * - `target`: what else was acted on (a pool, a user, a token id, a connection id, a grant id).
 * - Operations that call the engine or the store pass `audit` down as their optional last argument
 *   (`engine.cancelRun(..., audit)`, `setPool(store, ..., audit)`): they call it in their transaction.
 * - Reads (lists, plans) do not audit. A transaction run again (PostgreSQL conflicts) calls the hook
 *   again: only the entry of the try that commits remains.
 */
import { userInfo } from "node:os";
import type { Principal } from "../auth/auth.js";
import { roleAtLeast, type GlobalRole } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import { DagAccess, holdsAnywhere, requireRoleOn } from "./access.js";
import type { AuditHook } from "../store/audit.js";
import { auditHook } from "./auditEntry.js";

export interface Actor {
  /** How the request came: a user's browser session, an API token, or the CLI on a host of the store. */
  via: "session" | "token" | "cli";
  /** The user (session, token) or the operating-system account that ran the CLI. */
  name: string;
  /** The global role (a token's: the lower of its own and its owner's). */
  role: GlobalRole;
  /** Its grants, loaded on first need (app/access.ts); absent: the global role is its role on every DAG (the CLI). */
  access?: DagAccess;
  /** Where from (audit log): the HTTP client's socket address; null for the CLI. */
  ip?: string | null;
  /** The HTTP client's User-Agent; "cli" for the CLI. */
  userAgent?: string | null;
}

/** Where an HTTP request came from, as the audit log records it. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}

/**
 * The actor of an authenticated HTTP request (one per request: what it loads is cached for that request).
 * `from.ip` is the socket's address: an X-Forwarded-For header is not trusted (a client could name any
 * address), so behind a proxy the proxy's address is recorded.
 */
export function actorOf(p: Principal, store: Pick<Store, "grants" | "dags">, from: RequestOrigin = { ip: null, userAgent: null }): Actor {
  const who = p.token
    ? ({ kind: "token", id: p.token.id, username: p.username, role: p.token.role, ownerRole: p.token.ownerRole } as const)
    : ({ kind: "user", username: p.username, role: p.role } as const);
  return { via: p.via, name: p.username, role: p.role, access: new DagAccess(store, who), ip: from.ip, userAgent: from.userAgent };
}

/**
 * The CLI acts as admin: it opens the store itself, with the database's credentials, so whoever runs it
 * could do anything with SQL anyway; roles guard the HTTP API. It is named after the account that ran it.
 */
export function cliActor(): Actor {
  let name = "cli";
  try {
    name = userInfo().username || name;
  } catch {
    // no passwd entry for this uid (some containers): keep "cli"
  }
  return { via: "cli", name, role: "admin", ip: null, userAgent: "cli" };
}

export function requireRole(actor: Actor, need: GlobalRole): void {
  if (!roleAtLeast(actor.role, need)) throw new SluiceError("FORBIDDEN", `this needs the ${need} role; ${actor.name} is ${actor.role}`);
}

/** An operation a person performs: call it with its context (a Sluice, or Auth), the actor and the input. */
export interface Operation<C, I, O> {
  (ctx: C, actor: Actor, input: I): Promise<O>;
  /** What the audit log will call it: `<area>.<verb>`. */
  readonly id: string;
  /** The least role that may perform it (some check more, e.g. acting on another user's token). */
  readonly role: GlobalRole;
  /** Whether the role is needed on one DAG (the one the input names) rather than globally. */
  readonly perDag: boolean;
}

/** The DAG an operation acts on, and what to answer when the actor may not read it (as if it did not exist). */
export interface DagTarget {
  dagId: string;
  notFound: () => SluiceError;
}

/**
 * Declare an operation: its role is checked before `fn` runs, for every caller — globally, or with `dag`
 * on the DAG it resolves from the input (which throws the not-found error of a missing object itself).
 * `fn` gets `audit`, the hook that writes this operation's entry by this actor inside a transaction (see
 * the top of this file).
 */
export function operation<C, I, O>(
  id: string,
  role: GlobalRole,
  fn: (ctx: C, actor: Actor, input: I, audit: AuditHook) => Promise<O>,
  opts: { dag?: (ctx: C, input: I) => Promise<DagTarget> } = {},
): Operation<C, I, O> {
  const dag = opts.dag;
  const op = async (ctx: C, actor: Actor, input: I): Promise<O> => {
    if (dag && role !== "none") {
      // an actor without the role on any DAG is refused before the DAG is looked up (nothing revealed)
      if (!(await holdsAnywhere(actor, role))) requireRole(actor, role);
      const target = await dag(ctx, input);
      await requireRoleOn(actor, target.dagId, role, target.notFound);
    } else {
      requireRole(actor, role);
    }
    return fn(ctx, actor, input, auditHook(actor, id));
  };
  return Object.assign(op, { id, role, perDag: dag !== undefined });
}
