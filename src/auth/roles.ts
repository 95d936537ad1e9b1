/**
 * Roles, lowest first: viewer reads, operator also acts on DAGs and runs, admin also manages users.
 * A user's or token's global role may also be `none`: nothing but what its grants give on some DAGs
 * (app/access.ts).
 */
import type { GlobalRole, Role } from "../store/auth.js";

export type { GlobalRole, Role };
export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];
/** The global roles a user or token may have, lowest first. */
export const GLOBAL_ROLES: readonly GlobalRole[] = ["none", ...ROLES];

const rank = (r: GlobalRole) => GLOBAL_ROLES.indexOf(r);

export function roleAtLeast(have: GlobalRole, need: GlobalRole): boolean {
  return rank(have) >= rank(need);
}

export function lowerRole<A extends GlobalRole, B extends GlobalRole>(a: A, b: B): A | B {
  return rank(a) <= rank(b) ? a : b;
}

export function higherRole<A extends GlobalRole, B extends GlobalRole>(a: A, b: B): A | B {
  return rank(a) >= rank(b) ? a : b;
}
