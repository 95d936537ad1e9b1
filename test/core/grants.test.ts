/** The per-DAG access policy (core/grants.ts) as tables: selectors, globs, scopes, roles of users and tokens. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { globalRole, grantedRole, highestRole, parseScope, parseSelector, roleOnDag, scopeAllowsEvent, selects, type AccessSubject, type DagMeta } from "../../src/core/grants.js";

const A: DagMeta = { dagId: "etl_orders", tags: ["finance", "daily"], owner: "ana" };
const B: DagMeta = { dagId: "ml.train", tags: [], owner: null };

test("selectors: what each picks", () => {
  const table: [string, typeof A, boolean][] = [
    ["dag:etl_orders", A, true],
    ["dag:etl_*", A, true],
    ["dag:etl_", A, false],
    ["dag:*", B, true],
    ["dag:ml.*", B, true],
    ["dag:ml?train", B, true], // ? is one character
    ["dag:ml.train", { ...B, dagId: "mlxtrain" }, false], // the dot is literal
    ["dag:ETL_*", A, false], // case-sensitive
    ["tag:finance", A, true],
    ["tag:fin", A, false],
    ["tag:finance", B, false],
    ["owner:ana", A, true],
    ["owner:ana", B, false],
  ];
  for (const [sel, dag, expected] of table) assert.equal(selects(parseSelector(sel), dag), expected, `${sel} on ${dag.dagId}`);
});

test("selectors and scopes: malformed ones name the field", () => {
  for (const bad of ["etl_*", "dags:x", "dag:", "tag:", "tag:fin*", "owner:a b", "dag:a/b", ":x", "owner:*"]) {
    assert.throws(() => parseSelector(bad, "dags"), (e: Error & { code?: string; details?: Record<string, unknown> }) => e.code === "INVALID_INPUT" && e.details?.["field"] === "dags" && e.message.startsWith("dags: "), bad);
  }
  for (const bad of ["events:", "orders.*", "event:orders", "events:a b", "events:a/b"]) {
    assert.throws(() => parseScope(bad), (e: Error & { code?: string }) => e.code === "INVALID_INPUT", bad);
  }
  assert.deepEqual(parseScope("events:orders.*"), { events: "orders.*" });
  assert.equal(scopeAllowsEvent("events:orders.*", "orders.created.eu"), true);
  assert.equal(scopeAllowsEvent("events:orders.*", "billing.x"), false);
  assert.equal(scopeAllowsEvent("events:orders.*", "orders"), false);
  assert.equal(scopeAllowsEvent("events:*", "anything"), true);
});

test("roles: the highest of the global role and the grants that select the DAG; a token never above its owner", () => {
  const g = (role: "viewer" | "operator" | "admin", selector: string) => ({ role, selector });
  const user = (role: AccessSubject["role"], grants: { role: "viewer" | "operator" | "admin"; selector: string }[]): AccessSubject => ({ kind: "user", role, grants });
  const table: [string, AccessSubject, typeof A, string][] = [
    ["no grant: the global role", user("viewer", []), A, "viewer"],
    ["none and no grant", user("none", []), A, "none"],
    ["a grant raises", user("none", [g("operator", "tag:finance")]), A, "operator"],
    ["a grant that does not select", user("none", [g("operator", "tag:finance")]), B, "none"],
    ["a grant never lowers", user("admin", [g("viewer", "dag:*")]), A, "admin"],
    ["the highest of several", user("viewer", [g("operator", "owner:ana"), g("admin", "dag:etl_*"), g("viewer", "tag:daily")]), A, "admin"],
    [
      "a token: own role and grants, capped by the owner's on the DAG",
      { kind: "token", role: "viewer", grants: [g("admin", "dag:*")], owner: { role: "viewer", grants: [g("operator", "tag:finance")] } },
      A,
      "operator",
    ],
    ["the same token on B: the owner is viewer there", { kind: "token", role: "viewer", grants: [g("admin", "dag:*")], owner: { role: "viewer", grants: [g("operator", "tag:finance")] } }, B, "viewer"],
    ["a token of a demoted owner", { kind: "token", role: "operator", grants: [], owner: { role: "none", grants: [] } }, A, "none"],
  ];
  for (const [what, subject, dag, expected] of table) assert.equal(roleOnDag(subject, dag), expected, what);
  const tok: AccessSubject = { kind: "token", role: "operator", grants: [g("admin", "dag:x")], owner: { role: "viewer", grants: [g("operator", "dag:y")] } };
  assert.equal(globalRole(tok), "viewer");
  assert.equal(highestRole(tok), "operator");
  assert.equal(grantedRole("none", [], B), "none");
});
