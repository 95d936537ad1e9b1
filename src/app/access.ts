/**
 * Per-DAG access: THE answer to "what role does this actor have on this DAG" (docs/decisions/0016).
 *
 * An actor's role on a DAG is the highest of its global role and the roles of its grants that select the
 * DAG (`dag:<glob>`, `tag:<tag>`, `owner:<name>` — by the DAG's registered current version); an API
 * token's is capped by its owner's on that DAG (core/grants.ts has the policy, with table tests). A user
 * whose global role is `none` sees and does only what grants give, as Airflow's users with DAG-level
 * permissions only; self-service (their password, their tokens, /auth/me) needs no role.
 *
 * Everything is loaded at most once per actor, and an actor lives for one request: the actor's grants
 * (one query, the token's and its owner's together) and, when a grant selects by tag or owner or a list
 * is filtered, every DAG's id, tags and owner (one query). Filtering a list of 1,000 DAGs costs two
 * queries, not 1,000. An actor whose global role suffices pays nothing (the CLI's admin, global viewers
 * reading).
 *
 * **Not readable means not found.** An object of a DAG the actor may not read (the DAG, its runs, task
 * instances, attempts, logs, outputs, backfills) answers exactly as a missing one would — the same 404
 * and message — never 403, so that its existence is not revealed. 403 is for what the actor can see but
 * lacks the role to change.
 */
import { highestRole, needsMeta, roleOnDag, type AccessSubject, type DagMeta } from "../core/grants.js";
import { roleAtLeast, type GlobalRole, type Role } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import type { DagAccessMeta } from "../store/dags.js";
import type { Store } from "../store/store.js";
import type { Actor } from "./actor.js";

export type AccessStore = Pick<Store, "grants" | "dags">;

/** Who an HTTP actor is for access: a user, or an API token (with its own role and its owner's). */
export type AccessWho = { kind: "user"; username: string; role: GlobalRole } | { kind: "token"; id: string; username: string; role: GlobalRole; ownerRole: GlobalRole };

/** The grants and DAG metadata of one actor, loaded on first need (one request). */
export class DagAccess {
  #subject?: Promise<AccessSubject>;
  #meta?: Promise<Map<string, DagAccessMeta>>;

  constructor(
    private readonly store: AccessStore,
    private readonly who: AccessWho,
  ) {}

  /** The actor's grants (and a token's owner's) in one query. */
  subject(): Promise<AccessSubject> {
    return (this.#subject ??= (async () => {
      const w = this.who;
      const of = w.kind === "user" ? [{ kind: "user" as const, principal: w.username }] : [{ kind: "token" as const, principal: w.id }, { kind: "user" as const, principal: w.username }];
      const all = await this.store.grants.list(of);
      const userGrants = all.filter((g) => g.principalKind === "user");
      if (w.kind === "user") return { kind: "user", role: w.role, grants: userGrants };
      return { kind: "token", role: w.role, grants: all.filter((g) => g.principalKind === "token"), owner: { role: w.ownerRole, grants: userGrants } };
    })());
  }

  /** Every registered DAG's id, tags, owner and file, in one query. */
  meta(): Promise<Map<string, DagAccessMeta>> {
    return (this.#meta ??= this.store.dags.accessMeta().then((rows) => new Map(rows.map((r) => [r.dagId, r]))));
  }

  async roleOn(dagId: string): Promise<GlobalRole> {
    const subject = await this.subject();
    const needs = needsMeta(subject.grants) || (subject.kind === "token" && needsMeta(subject.owner.grants));
    const meta: DagMeta = (needs ? (await this.meta()).get(dagId) : undefined) ?? { dagId, tags: [], owner: null };
    return roleOnDag(subject, meta);
  }
}

/** The actor's role on a DAG: global role and grants (a token capped by its owner). */
export async function roleOn(actor: Actor, dagId: string): Promise<GlobalRole> {
  if (!actor.access) return actor.role;
  return actor.access.roleOn(dagId);
}

/** DAG_NOT_FOUND as for a DAG that does not exist (the default "not readable" answer). */
export function dagNotReadable(dagId: string): SluiceError {
  return new SluiceError("DAG_NOT_FOUND", `DAG "${dagId}" not found`, { details: { dagId } });
}

/**
 * Throws unless the actor has `need` on the DAG: `notFound()` (the caller's own not-found error for the
 * object asked for, so that the answer is the same as for a missing one) when it may not even read the
 * DAG, FORBIDDEN naming the role when it may read but not do this.
 */
export async function requireRoleOn(actor: Actor, dagId: string, need: Role, notFound: () => SluiceError = () => dagNotReadable(dagId)): Promise<void> {
  if (roleAtLeast(actor.role, need)) return;
  const role = await roleOn(actor, dagId);
  if (!roleAtLeast(role, "viewer")) throw notFound();
  if (!roleAtLeast(role, need)) {
    // no grant raised it: the global role is what falls short, as the operation's own check says it
    const why = role === actor.role ? `this needs the ${need} role; ${actor.name} is ${role}` : `this needs the ${need} role on DAG "${dagId}"; ${actor.name} is ${role} there`;
    throw new SluiceError("FORBIDDEN", why, { details: { dagId } });
  }
}

/** Whether the actor may read the DAG (lists filter by it). */
export async function canRead(actor: Actor, dagId: string): Promise<boolean> {
  return roleAtLeast(await roleOn(actor, dagId), "viewer");
}

/**
 * The ids of the registered DAGs on which the actor has `need`, or null when it has it on every DAG (its
 * global role suffices: no filter). Two queries at most, whatever the number of DAGs.
 */
export async function dagIdsWith(actor: Actor, need: Role = "viewer"): Promise<string[] | null> {
  if (roleAtLeast(actor.role, need)) return null;
  if (!actor.access) return [];
  const access = actor.access;
  const subject = await access.subject();
  if (!roleAtLeast(highestRole(subject), need)) return [];
  const out: string[] = [];
  for (const m of (await access.meta()).values()) if (roleAtLeast(roleOnDag(subject, m), need)) out.push(m.dagId);
  return out;
}

/** Keep the items whose DAG the actor may read (`need`: default viewer). */
export async function filterByDag<T>(actor: Actor, items: readonly T[], dagOf: (item: T) => string, need: Role = "viewer"): Promise<T[]> {
  const ids = await dagIdsWith(actor, need);
  if (ids === null) return [...items];
  const access = actor.access;
  if (!access) return [];
  const allowed = new Set(ids);
  const registered = await access.meta();
  // a DAG that is no longer registered has no tags or owner: its id alone decides
  const out: T[] = [];
  for (const item of items) {
    const d = dagOf(item);
    if (allowed.has(d) || (!registered.has(d) && roleAtLeast(await access.roleOn(d), need))) out.push(item);
  }
  return out;
}

/**
 * Whether the actor holds `need` anywhere (globally or through a grant): what lets it call a per-DAG
 * route at all (the route then checks the DAG). A scoped event token holds nothing.
 */
export async function holdsAnywhere(actor: Actor, need: GlobalRole): Promise<boolean> {
  if (roleAtLeast(actor.role, need)) return true;
  if (!actor.access) return false;
  return roleAtLeast(highestRole(await actor.access.subject()), need);
}
