/**
 * Grants and event-token scopes in the store (migration 0013), and per-DAG access over a real store, on
 * SQLite and PostgreSQL: grants go with their user or token; tags and owners come from the registered
 * version (also for versions saved before 0013); filtering 1,000 DAGs costs two queries, not 1,000.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { dagIdsWith, filterByDag, requireRoleOn } from "../../src/app/access.js";
import { actorOf } from "../../src/app/actor.js";
import { dag } from "../../src/dsl/dag.js";
import { fillVersionMeta } from "../../src/store/migrations/0013_grants.js";
import { Store } from "../../src/store/store.js";
import { dialects } from "../dialects.js";
import { sandbox, storeDb } from "../helpers.js";

const sb = sandbox("sluice-grants-store-");
after(() => sb.cleanup());

const mk = (id: string, tags: string[], owner: string | undefined) => dag(id, { tags, ...(owner ? { owner } : {}) }, (d) => void d.task("t", async () => 1));

async function register(store: Store, d: ReturnType<typeof mk>) {
  await store.tx(async (tx) => {
    await tx.dags.saveVersion(d.id, d.version, d.spec, `/dags/${d.id}.ts`);
    await tx.dags.upsert({ dagId: d.id, file: `/dags/${d.id}.ts`, version: d.version, schedule: null, defaultParams: null, paramsError: null, now: 1 });
  });
}

for (const d of dialects(3)) {
  describe(`grants on ${d.name}`, { skip: d.skip }, () => {
    test("grants and scopes round-trip; a duplicate is refused; grants go with their user or token", async () => {
      const db = await d.fresh(sb.dir);
      const store = await Store.open({ url: db.url });
      try {
        await store.users.insert({ username: "ana", passwordHash: "x", role: "none", now: 1 });
        await store.apiTokens.insert({ tokenId: "tok1", tokenHash: "h1", name: "ci", username: "ana", role: "operator", now: 1 });
        await store.apiTokens.insert({ tokenId: "tok2", tokenHash: "h2", name: "feed", username: "ana", role: "none", scope: "events:orders.*", now: 1 });
        assert.equal((await store.apiTokens.get("tok2"))?.scope, "events:orders.*");
        assert.equal((await store.apiTokens.byHash("h1"))?.userRole, "none");
        const g1 = await store.tx((tx) => tx.grants.insert({ principalKind: "user", principal: "ana", role: "viewer", selector: "dag:etl_*", now: 5, createdBy: "root" }));
        assert.ok(g1);
        assert.deepEqual({ ...g1, grantId: 0 }, { grantId: 0, principalKind: "user", principal: "ana", role: "viewer", selector: "dag:etl_*", createdAt: 5, createdBy: "root" });
        assert.equal(await store.grants.insert({ principalKind: "user", principal: "ana", role: "viewer", selector: "dag:etl_*", now: 6, createdBy: "root" }), null, "duplicate");
        await store.grants.insert({ principalKind: "token", principal: "tok1", role: "operator", selector: "tag:finance", now: 7, createdBy: "root" });
        await store.grants.insert({ principalKind: "user", principal: "bob", role: "admin", selector: "owner:bob", now: 8, createdBy: "root" });
        assert.deepEqual((await store.grants.list([{ kind: "token", principal: "tok1" }, { kind: "user", principal: "ana" }])).map((g) => g.selector), ["dag:etl_*", "tag:finance"]);
        assert.equal((await store.grants.list()).length, 3);
        assert.deepEqual(await store.grants.list([]), []);
        // revoking the token takes its grants; deleting the user takes hers and her tokens'
        await store.apiTokens.insert({ tokenId: "tok3", tokenHash: "h3", name: "x", username: "ana", role: "viewer", now: 1 });
        await store.grants.insert({ principalKind: "token", principal: "tok3", role: "viewer", selector: "dag:x", now: 9, createdBy: "root" });
        assert.ok(await store.apiTokens.delete("tok3"));
        assert.equal((await store.grants.list([{ kind: "token", principal: "tok3" }])).length, 0);
        assert.ok(await store.users.delete("ana"));
        assert.deepEqual((await store.grants.list()).map((g) => g.principal), ["bob"]);
        assert.ok(await store.grants.delete((await store.grants.list())[0]!.grantId));
        assert.equal(await store.grants.delete(424242), false);
      } finally {
        await store.close();
        await db.cleanup();
      }
    });

    test("tags and owner come from the current version, also for versions saved before 0013", async () => {
      const db = await d.fresh(sb.dir);
      const store = await Store.open({ url: db.url });
      try {
        await register(store, mk("etl_a", ["finance", "daily"], "ana"));
        await register(store, mk("ops_b", [], undefined));
        assert.deepEqual(
          (await store.dags.accessMeta()).map((m) => [m.dagId, m.tags, m.owner]),
          [
            ["etl_a", ["finance", "daily"], "ana"],
            ["ops_b", [], null],
          ],
        );
        // a new version with other tags: the registered one counts
        await register(store, mk("etl_a", ["ops"], "bob"));
        assert.deepEqual((await store.dags.accessMeta())[0], { dagId: "etl_a", file: "/dags/etl_a.ts", tags: ["ops"], owner: "bob" });
        // rows from before 0013 (no tags column values) are filled from their spec
        await storeDb(store).updateTable("dag_versions").set({ tags: null, owner: null }).execute();
        await fillVersionMeta(storeDb(store) as never, d.name);
        assert.deepEqual((await store.dags.accessMeta()).map((m) => [m.dagId, m.tags, m.owner]), [
          ["etl_a", ["ops"], "bob"],
          ["ops_b", [], null],
        ]);
      } finally {
        await store.close();
        await db.cleanup();
      }
    });

    test("access over 1,000 DAGs: two queries per request, whatever the count; grants by id glob, tag and owner", async () => {
      const db = await d.fresh(sb.dir);
      const store = await Store.open({ url: db.url });
      try {
        const n = 1000;
        await store.tx(async (tx) => {
          for (let i = 0; i < n; i++) {
            const x = mk(`d${String(i).padStart(4, "0")}`, i % 10 === 0 ? ["finance"] : [], i % 100 === 1 ? "ana" : undefined);
            await tx.dags.saveVersion(x.id, x.version, x.spec, null);
            await tx.dags.upsert({ dagId: x.id, file: `/dags/${x.id}.ts`, version: x.version, schedule: null, defaultParams: null, paramsError: null, now: 1 });
          }
        });
        await store.users.insert({ username: "ana", passwordHash: "x", role: "none", now: 1 });
        for (const selector of ["dag:d000?", "tag:finance", "owner:ana"]) await store.grants.insert({ principalKind: "user", principal: "ana", role: "viewer", selector, now: 1, createdBy: "root" });
        await store.grants.insert({ principalKind: "user", principal: "ana", role: "operator", selector: "dag:d0001", now: 1, createdBy: "root" });
        const calls = { grants: 0, meta: 0 };
        const counting = {
          grants: { list: (...a: Parameters<Store["grants"]["list"]>) => (calls.grants++, store.grants.list(...a)) },
          dags: { accessMeta: () => (calls.meta++, store.dags.accessMeta()) },
        } as unknown as Pick<Store, "grants" | "dags">;
        const actor = actorOf({ username: "ana", role: "none", via: "session" }, counting);
        const items = Array.from({ length: n }, (_, i) => ({ dagId: `d${String(i).padStart(4, "0")}` }));
        const seen = await filterByDag(actor, items, (x) => x.dagId);
        // d0000-d0009 by glob, every tenth by tag, d0001, d0101, … by owner
        const expected = items.filter((_, i) => i < 10 || i % 10 === 0 || i % 100 === 1).map((x) => x.dagId);
        assert.deepEqual(seen.map((x) => x.dagId), expected);
        assert.deepEqual(await dagIdsWith(actor, "operator"), ["d0001"]);
        await requireRoleOn(actor, "d0001", "operator");
        await assert.rejects(requireRoleOn(actor, "d0002", "operator"), /operator role on DAG "d0002"; ana is viewer there/);
        await assert.rejects(requireRoleOn(actor, "d0011", "viewer"), (e: Error & { code?: string }) => e.code === "DAG_NOT_FOUND");
        assert.deepEqual(calls, { grants: 1, meta: 1 }, "one query of grants and one of DAG metadata for the whole request");
        // a global viewer reading costs none
        const viewer = actorOf({ username: "vic", role: "viewer", via: "session" }, counting);
        assert.equal((await filterByDag(viewer, items, (x) => x.dagId)).length, n);
        assert.deepEqual(calls, { grants: 1, meta: 1 });
      } finally {
        await store.close();
        await db.cleanup();
      }
    });
  });
}
