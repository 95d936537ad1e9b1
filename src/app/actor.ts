/**
 * Who performs an operation, and the rule that checks it. Every operation of the application layer is
 * one `operation(...)`: a function of (context, actor, input) with the least role it needs. The CLI and
 * the HTTP routes call the same functions, so validation and authorisation are written once; the route
 * table takes its `access` from `op.role`, so the HTTP check and this one cannot drift apart.
 *
 * An operation on one DAG (trigger, cancel, clear, mark, pause, backfills) names it with `dag`: its role
 * is then needed on that DAG (global role or a grant: app/access.ts), not globally.
 */
import { userInfo } from "node:os";
import type { Principal } from "../auth/auth.js";
import { roleAtLeast, type GlobalRole } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import { DagAccess, holdsAnywhere, requireRoleOn } from "./access.js";

export interface Actor {
  /** How the request came: a user's browser session, an API token, or the CLI on a host of the store. */
  via: "session" | "token" | "cli";
  /** The user (session, token) or the operating-system account that ran the CLI. */
  name: string;
  /** The global role (a token's: the lower of its own and its owner's). */
  role: GlobalRole;
  /** Its grants, loaded on first need (app/access.ts); absent: the global role is its role on every DAG (the CLI). */
  access?: DagAccess;
}

/** The actor of an authenticated HTTP request (one per request: what it loads is cached for that request). */
export function actorOf(p: Principal, store: Pick<Store, "grants" | "dags">): Actor {
  const who = p.token
    ? ({ kind: "token", id: p.token.id, username: p.username, role: p.token.role, ownerRole: p.token.ownerRole } as const)
    : ({ kind: "user", username: p.username, role: p.role } as const);
  return { via: p.via, name: p.username, role: p.role, access: new DagAccess(store, who) };
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
  return { via: "cli", name, role: "admin" };
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
 */
export function operation<C, I, O>(
  id: string,
  role: GlobalRole,
  fn: (ctx: C, actor: Actor, input: I) => Promise<O>,
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
    return fn(ctx, actor, input);
  };
  return Object.assign(op, { id, role, perDag: dag !== undefined });
}
