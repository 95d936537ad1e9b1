/**
 * Operations on users and API tokens. Managing users is the admin's; anyone may manage their own tokens
 * and password, and an admin anyone's. Someone else's token is "not found" rather than "forbidden" to a
 * non-admin: the ids of others' tokens stay unconfirmed.
 */
import type { Auth } from "../auth/auth.js";
import { checkPassword } from "../auth/passwords.js";
import { roleAtLeast, type GlobalRole } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import type { ApiTokenRecord, UserRecord } from "../store/auth.js";
import { operation, requireRole, type Actor } from "./actor.js";

export const listUsers = operation("users.list", "admin", async (auth: Auth, _actor, _input: Record<string, never>): Promise<UserRecord[]> => auth.listUsers());

export const createUser = operation("users.create", "admin", async (auth: Auth, _actor, input: { username: string; password: string; role: string }): Promise<UserRecord> => {
  return auth.createUser(input.username, input.password, input.role);
});

/** Change a user's role and/or password; a new password ends their sessions. The last admin stays admin. */
export const updateUser = operation("users.update", "admin", async (auth: Auth, _actor, input: { username: string; role?: string; password?: string }): Promise<UserRecord> => {
  await auth.requireUser(input.username);
  // both checked before either is written: a bad password must not leave the role changed
  if (input.password !== undefined) checkPassword(input.password);
  if (input.role !== undefined) await auth.setRole(input.username, input.role);
  if (input.password !== undefined) await auth.setPassword(input.username, input.password);
  return auth.requireUser(input.username);
});

/** Delete a user: their sessions end and their tokens are revoked. The last admin stays. */
export const deleteUser = operation("users.delete", "admin", async (auth: Auth, _actor, input: { username: string }): Promise<void> => {
  await auth.deleteUser(input.username);
});

/** Change your own password, proving the current one (every session of yours ends). Any user, even one with role none. */
export const changeOwnPassword = operation("users.changeOwnPassword", "none", async (auth: Auth, actor, input: { current: string; password: string }): Promise<void> => {
  if (!(await auth.checkCredentials(actor.name, input.current))) throw new SluiceError("FORBIDDEN", "current: the current password is wrong", { details: { field: "current" } });
  checkPassword(input.password);
  await auth.setPassword(actor.name, input.password);
});

/**
 * A new API token (returned once; stored hashed) for `username`, default the actor's own: a token for
 * someone else is the admin's. Its role is at most the highest its owner has (default that); with a
 * `scope` (`events:<glob>`) it is an event token that may only send matching events.
 */
export const createToken = operation(
  "tokens.create",
  "none",
  async (
    auth: Auth,
    actor,
    input: { name: string; role?: string; username?: string; scope?: string },
  ): Promise<{ id: string; name: string; role: GlobalRole; token: string; username: string; scope: string | null }> => {
    const username = input.username ?? actor.name;
    if (username !== actor.name) requireRole(actor, "admin");
    const t = await auth.createToken(username, input.name, input.role, input.scope);
    return { ...t, username };
  },
);

/** API tokens (never the tokens themselves): your own; an admin's: everyone's, or one user's. */
export const listTokens = operation("tokens.list", "none", async (auth: Auth, actor, input: { username?: string }): Promise<ApiTokenRecord[]> => {
  if (isAdmin(actor)) return auth.listTokens(input.username);
  if (input.username !== undefined && input.username !== actor.name) requireRole(actor, "admin");
  return auth.listTokens(actor.name);
});

/** Revoke an API token by id: your own; an admin: anyone's. */
export const revokeToken = operation("tokens.revoke", "none", async (auth: Auth, actor, input: { id: string }): Promise<void> => {
  const t = await auth.getToken(input.id);
  if (!t || (t.username !== actor.name && !isAdmin(actor))) throw new SluiceError("NOT_FOUND", `token "${input.id}" not found`, { details: { tokenId: input.id } });
  await auth.revokeToken(t.tokenId);
});

const isAdmin = (actor: Actor) => roleAtLeast(actor.role, "admin");
