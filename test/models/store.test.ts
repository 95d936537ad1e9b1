/**
 * The model registry's store (store/models.ts) on a real SQLite file and a real PostgreSQL schema: version
 * numbers per name (consecutive under concurrent registrations through several connections), aliases and
 * their history, resolve, rollback as an undo stack, unknown models and versions refused with nothing
 * written, and an approval decided exactly once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ManualClock } from "../../src/core/clock.js";
import type { NewModelVersion } from "../../src/store/models.js";
import { Store } from "../../src/store/store.js";
import { dialects, suiteDatabase } from "../dialects.js";

const dir = mkdtempSync(join(tmpdir(), "sluice-models-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const version = (name: string, over: Partial<NewModelVersion> = {}): NewModelVersion => ({
  name,
  artifactRef: "sha256:abc",
  artifactSize: 3,
  flavor: { kind: "js", module: "models/spam.ts", export: "load" },
  framework: "test",
  signature: { inputs: { type: "object", properties: { text: { type: "string" } } }, outputs: null },
  metrics: { accuracy: 0.9 },
  params: { depth: 3 },
  description: null,
  dagId: "train",
  dagVersion: "v1",
  runId: "run-1",
  taskId: "fit",
  mapIndex: -1,
  attemptId: 7,
  inputEvents: [{ id: 1, asset: "emails", dagId: "ingest", runId: "run-0", createdAt: 5 }],
  ...over,
});

for (const d of dialects(5)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const url = suiteDatabase(d, dir);
    const open = () => Store.open({ url: url(), poolSize: 4, clock: new ManualClock(1_000) });

    test("versions are 1, 2, 3 per name, with their record and lineage; resolve follows an alias", async () => {
      const s = await open();
      try {
        const v1 = await s.models.register(version("spam"));
        const v2 = await s.models.register(version("spam", { metrics: { accuracy: 0.95 } }));
        const other = await s.models.register(version("churn"));
        assert.deepEqual([v1.version, v2.version, other.version], [1, 2, 1]);
        const got = await s.models.version("spam", 2);
        assert.equal(got?.metrics["accuracy"], 0.95);
        assert.deepEqual(got?.flavor, { kind: "js", module: "models/spam.ts", export: "load" });
        assert.deepEqual(got?.inputEvents, [{ id: 1, asset: "emails", dagId: "ingest", runId: "run-0", createdAt: 5 }]);
        assert.equal(got?.attemptId, 7);
        assert.equal(await s.models.resolve("spam", "champion"), null);
        await s.models.moveAlias({ name: "spam", alias: "champion", version: 1, actor: "ann", reason: "first", kind: "promote" });
        assert.equal((await s.models.resolve("spam", "champion"))?.version, 1);
        const list = await s.models.list();
        assert.deepEqual(
          list.map((m) => [m.name, m.latestVersion, m.aliases]),
          [
            ["churn", 1, {}],
            ["spam", 2, { champion: 1 }],
          ],
        );
      } finally {
        await s.close();
      }
    });

    test("concurrent registrations of one name through several connections get consecutive numbers", async () => {
      // two stores stand for two processes on PostgreSQL; SQLite's driver is synchronous, so two stores in
      // one process would block each other's event loop: one store, whose write transactions queue
      const stores = d.name === "postgres" ? await Promise.all([open(), open()]) : [await open()];
      try {
        const got = await Promise.all(Array.from({ length: 24 }, (_, i) => stores[i % stores.length]!.models.register(version("race"))));
        assert.deepEqual(
          got.map((v) => v.version).sort((a, b) => a - b),
          Array.from({ length: 24 }, (_, i) => i + 1),
        );
        assert.equal((await stores[0]!.models.get("race"))?.latestVersion, 24);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    test("alias moves record history; rollback undoes moves one by one; unknown model or version writes nothing", async () => {
      const s = await open();
      try {
        for (let i = 0; i < 3; i++) await s.models.register(version("hist"));
        for (const v of [1, 2, 3]) await s.models.moveAlias({ name: "hist", alias: "champion", version: v, actor: "ann", reason: `to ${v}`, kind: "promote" });
        // the same holder again: no move, no history row
        const same = await s.models.moveAlias({ name: "hist", alias: "champion", version: 3, actor: "ann", reason: null, kind: "promote" });
        assert.equal(same.moved, false);
        const r1 = await s.models.rollback({ name: "hist", alias: "champion", actor: "bob", reason: "bad" });
        assert.deepEqual([r1.fromVersion, r1.toVersion], [3, 2]);
        const r2 = await s.models.rollback({ name: "hist", alias: "champion", actor: "bob", reason: null });
        assert.deepEqual([r2.fromVersion, r2.toVersion], [2, 1]);
        await assert.rejects(s.models.rollback({ name: "hist", alias: "champion", actor: "bob", reason: null }), (e: Error & { code?: string }) => e.code === "CONFLICT" && /nothing to roll back/.test(e.message));
        const h = await s.models.aliasHistory("hist", "champion");
        assert.deepEqual(
          h.map((e) => [e.fromVersion, e.toVersion, e.kind, e.actor]),
          [
            [2, 1, "rollback", "bob"],
            [3, 2, "rollback", "bob"],
            [2, 3, "promote", "ann"],
            [1, 2, "promote", "ann"],
            [null, 1, "promote", "ann"],
          ],
        );
        await assert.rejects(s.models.moveAlias({ name: "nope", alias: "champion", version: 1, actor: "ann", reason: null, kind: "promote" }), (e: Error & { code?: string }) => e.code === "NOT_FOUND" && /no model named "nope"/.test(e.message));
        await assert.rejects(s.models.moveAlias({ name: "hist", alias: "challenger", version: 9, actor: "ann", reason: null, kind: "promote" }), (e: Error & { code?: string }) => e.code === "NOT_FOUND" && /no version 9/.test(e.message));
        await assert.rejects(s.models.rollback({ name: "hist", alias: "challenger", actor: "ann", reason: null }), (e: Error & { code?: string }) => e.code === "NOT_FOUND");
        assert.equal(await s.models.resolve("hist", "challenger"), null);
        assert.equal((await s.models.aliasHistory("hist")).length, 5, "nothing written by the refused moves");
        // expectFrom: a move conditional on the holder refuses when it moved meanwhile
        await assert.rejects(s.models.moveAlias({ name: "hist", alias: "champion", version: 3, actor: "gate", reason: null, kind: "gate", expectFrom: 2 }), (e: Error & { code?: string }) => e.code === "CONFLICT");
        assert.equal((await s.models.resolve("hist", "champion"))?.version, 1);
      } finally {
        await s.close();
      }
    });

    test("an approval is requested once per gate attempt and decided exactly once", async () => {
      const s = await open();
      try {
        const req = { name: "spam", alias: "champion", version: 2, fromVersion: 1, comparison: { passed: true, championVersion: 1, checks: [] }, dagId: "train", runId: "run-9", taskId: "gate", mapIndex: -1, attemptId: 99, requestedAt: 1_000, expiresAt: null };
        const a = await s.models.requestApproval(req);
        const again = await s.models.requestApproval(req);
        assert.equal(a.id, again.id);
        assert.equal(a.state, "pending");
        assert.deepEqual((await s.models.approvals({ state: "pending" })).map((x) => x.id), [a.id]);
        const [first, second] = await Promise.all([s.models.decide(a.id, { state: "approved", by: "ann", comment: "ok" }), s.models.decide(a.id, { state: "rejected", by: "bob", comment: null })]);
        assert.equal([first, second].filter((x) => x !== null).length, 1, "exactly one decision counts");
        const now = await s.models.approval(a.id);
        assert.ok(now && now.state !== "pending" && now.decidedBy !== null && now.decidedAt === 1_000);
        assert.deepEqual(await s.models.approvals({ state: "pending" }), []);
      } finally {
        await s.close();
      }
    });
  });
}
