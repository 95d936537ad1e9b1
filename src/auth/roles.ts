/** Roles, lowest first: viewer reads, operator also acts on DAGs and runs, admin also manages users. */
import type { Role } from "../store/auth.js";

export type { Role };
export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

const rank = (r: Role) => ROLES.indexOf(r);

export function roleAtLeast(have: Role, need: Role): boolean {
  return rank(have) >= rank(need);
}

export function lowerRole(a: Role, b: Role): Role {
  return rank(a) <= rank(b) ? a : b;
}
