/**
 * Per-DAG access as a pure policy (docs/decisions/0016-secrets.md): what a grant's selector picks, what
 * an event token's scope allows, and the role a principal has on one DAG. app/access.ts loads the
 * grants and DAG metadata and asks these functions; nothing here does I/O.
 *
 * Globs: `*` is any run of characters (dots too: `events:orders.*` matches `orders.created.eu`), `?` one
 * character; everything else is literal. Matching is case-sensitive, as DAG ids and event names are.
 */
import { SluiceError } from "../errors.js";

type Role = "viewer" | "operator" | "admin";
type GlobalRole = Role | "none";

export type SelectorKind = "dag" | "tag" | "owner";
export const SELECTOR_KINDS: readonly SelectorKind[] = ["dag", "tag", "owner"];

export interface Selector {
  kind: SelectorKind;
  /** A glob of DAG ids (dag), or a tag or owner name compared exactly. */
  value: string;
}

/** What a selector is compared with: a DAG's id and its current version's tags and owner. */
export interface DagMeta {
  dagId: string;
  tags: readonly string[];
  owner: string | null;
}

/** A grant as the policy needs it. */
export interface GrantRule {
  role: Role;
  selector: string;
}

const VALUE = /^[A-Za-z0-9_*?][A-Za-z0-9_.:@*?-]{0,199}$/;
const GLOB_VALUE = /^[A-Za-z0-9_.:@*?-]{1,200}$/;

/** `dag:<glob>` | `tag:<tag>` | `owner:<name>`; INVALID_INPUT naming `field` otherwise. */
export function parseSelector(text: string, field = "selector"): Selector {
  const i = text.indexOf(":");
  const kind = (i < 0 ? "" : text.slice(0, i)) as SelectorKind;
  const value = i < 0 ? "" : text.slice(i + 1);
  if (!SELECTOR_KINDS.includes(kind)) {
    throw new SluiceError("INVALID_INPUT", `${field}: ${JSON.stringify(text)} is not a selector; use dag:<id glob>, tag:<tag> or owner:<name> (e.g. dag:etl_*)`, { details: { field } });
  }
  const ok = kind === "dag" ? GLOB_VALUE.test(value) : VALUE.test(value) && !/[*?]/.test(value);
  if (!ok) {
    const what = kind === "dag" ? "a glob of DAG ids (letters, digits, _ . : @ - and the wildcards * ?)" : `a ${kind} name (letters, digits, _ . : @ -; no wildcards)`;
    throw new SluiceError("INVALID_INPUT", `${field}: ${JSON.stringify(text)}: after "${kind}:" comes ${what}`, { details: { field } });
  }
  return { kind, value };
}

const globCache = new Map<string, RegExp>();

/** The glob as an anchored regular expression (`*` any run, `?` one character). */
export function globRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    re = new RegExp(`^${body}$`, "s");
    if (globCache.size > 1000) globCache.clear();
    globCache.set(glob, re);
  }
  return re;
}

export function selects(selector: Selector, dag: DagMeta): boolean {
  switch (selector.kind) {
    case "dag":
      return globRegExp(selector.value).test(dag.dagId);
    case "tag":
      return dag.tags.includes(selector.value);
    case "owner":
      return dag.owner === selector.value;
  }
}

/** Whether any selector of these grants needs the DAG's tags or owner (else the id alone decides). */
export function needsMeta(grants: readonly GrantRule[]): boolean {
  return grants.some((g) => !g.selector.startsWith("dag:"));
}

const RANK: Record<GlobalRole, number> = { none: 0, viewer: 1, operator: 2, admin: 3 };
const max = (a: GlobalRole, b: GlobalRole): GlobalRole => (RANK[a] >= RANK[b] ? a : b);
const min = (a: GlobalRole, b: GlobalRole): GlobalRole => (RANK[a] <= RANK[b] ? a : b);

/** The highest of `global` and the roles of the grants that select the DAG. */
export function grantedRole(global: GlobalRole, grants: readonly GrantRule[], dag: DagMeta): GlobalRole {
  let role = global;
  for (const g of grants) {
    if (role === "admin") break;
    if (RANK[g.role] > RANK[role] && selects(parseSelector(g.selector), dag)) role = g.role;
  }
  return role;
}

/** Who asks: a user, or an API token (capped by its owner's access, which may change after it was made). */
export type AccessSubject =
  | { kind: "user"; role: GlobalRole; grants: readonly GrantRule[] }
  | { kind: "token"; role: GlobalRole; grants: readonly GrantRule[]; owner: { role: GlobalRole; grants: readonly GrantRule[] } };

/**
 * The role of a subject on one DAG. A user: the highest of its global role and its grants that select
 * the DAG. A token: the same over its own role and grants, but never more than its owner has on that DAG
 * (a token cannot outrank the person who made it, whatever was granted to it).
 */
export function roleOnDag(subject: AccessSubject, dag: DagMeta): GlobalRole {
  const own = grantedRole(subject.role, subject.grants, dag);
  return subject.kind === "user" ? own : min(own, grantedRole(subject.owner.role, subject.owner.grants, dag));
}

/** The global role of a subject (no grant counts): what routes that are not about one DAG need. */
export function globalRole(subject: AccessSubject): GlobalRole {
  return subject.kind === "user" ? subject.role : min(subject.role, subject.owner.role);
}

/** The highest role a subject has anywhere (its global role or any grant): what lets a per-DAG route be called at all. */
export function highestRole(subject: AccessSubject): GlobalRole {
  const best = (role: GlobalRole, grants: readonly GrantRule[]) => grants.reduce<GlobalRole>((r, g) => max(r, g.role), role);
  const own = best(subject.role, subject.grants);
  return subject.kind === "user" ? own : min(own, best(subject.owner.role, subject.owner.grants));
}

// ---- event tokens ---------------------------------------------------------------------------------------

/** `events:<name-glob>`, the scope of a token that may only send matching events. */
export function parseScope(text: string, field = "scope"): { events: string } {
  const m = /^events:(.+)$/.exec(text);
  if (!m || !/^[A-Za-z0-9_.:*?-]{1,200}$/.test(m[1]!)) {
    throw new SluiceError("INVALID_INPUT", `${field}: ${JSON.stringify(text)} is not a scope; the only scope is events:<event-name glob> (e.g. events:orders.*)`, { details: { field } });
  }
  return { events: m[1]! };
}

export function scopeAllowsEvent(scope: string, eventName: string): boolean {
  return globRegExp(parseScope(scope).events).test(eventName);
}
