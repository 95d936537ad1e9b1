/**
 * Who performs an operation, and the rule that checks it. Every operation of the application layer is
 * one `operation(...)`: a function of (context, actor, input) with the least role it needs. The CLI and
 * the HTTP routes call the same functions, so validation and authorisation are written once; the route
 * table takes its `access` from `op.role`, so the HTTP check and this one cannot drift apart.
 */
import { userInfo } from "node:os";
import type { Principal } from "../auth/auth.js";
import { roleAtLeast, type Role } from "../auth/roles.js";
import { SluiceError } from "../errors.js";

export interface Actor {
  /** How the request came: a user's browser session, an API token, or the CLI on a host of the store. */
  via: "session" | "token" | "cli";
  /** The user (session, token) or the operating-system account that ran the CLI. */
  name: string;
  role: Role;
}

/** The actor of an authenticated HTTP request. */
export function actorOf(p: Principal): Actor {
  return { via: p.via, name: p.username, role: p.role };
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

export function requireRole(actor: Actor, need: Role): void {
  if (!roleAtLeast(actor.role, need)) throw new SluiceError("FORBIDDEN", `this needs the ${need} role; ${actor.name} is ${actor.role}`);
}

/** An operation a person performs: call it with its context (a Sluice, or Auth), the actor and the input. */
export interface Operation<C, I, O> {
  (ctx: C, actor: Actor, input: I): Promise<O>;
  /** What the audit log will call it: `<area>.<verb>`. */
  readonly id: string;
  /** The least role that may perform it (some check more, e.g. acting on another user's token). */
  readonly role: Role;
}

/** Declare an operation: its role is checked before `fn` runs, for every caller. */
export function operation<C, I, O>(id: string, role: Role, fn: (ctx: C, actor: Actor, input: I) => Promise<O>): Operation<C, I, O> {
  const op = async (ctx: C, actor: Actor, input: I): Promise<O> => {
    requireRole(actor, role);
    return fn(ctx, actor, input);
  };
  return Object.assign(op, { id, role });
}
