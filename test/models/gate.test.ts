/**
 * Promotion gates (`d.promote`) through the engine, on a real SQLite file and a real PostgreSQL schema.
 * Without approval: no champion passes; a worse candidate fails the gate with every metric, candidate,
 * champion and threshold in its message and leaves the alias; a better one moves it. With approval: the
 * gate waits in up_for_reschedule holding no worker slot (a worker with ONE slot runs another DAG to its
 * end meanwhile); an approval wakes it — its next poke was due in two days, so only the decision can have
 * woken it — and the alias moves, recorded with who decided; a rejection skips the gate and what follows,
 * and the alias stays where it was.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { cliActor } from "../../dist/app/actor.js";
import { decideApproval, listApprovals } from "../../dist/app/models.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-models-gate-");
after(() => sb.cleanup());

sb.write("spam.ts", `export function load() { return { predict: (rows: unknown[]) => rows.map(() => 0) }; }\n`);
sb.write(
  "gates.ts",
  `import { dag } from "sluice";
import { z } from "zod";
const params = z.object({ accuracy: z.number(), latency: z.number().default(50) });
const train = (model: string) => async (_i: unknown, ctx: any) =>
  ctx.models.register(model, { artifact: Buffer.from("w" + ctx.params.accuracy), flavor: { module: "./spam.ts" }, metrics: { accuracy: ctx.params.accuracy, latency_p95: ctx.params.latency } });
export const auto = dag("auto_gate", { params }, (d) => {
  const m = d.task("train", train("spam"));
  d.promote("gate", { model: "spam", candidate: m, alias: "champion", compare: { accuracy: { notWorseBy: 0.005 }, latency_p95: { max: 120 } } });
});
export const approved = dag("approved_gate", { params }, (d) => {
  const m = d.task("train", train("churn"));
  const g = d.promote("gate", { model: "churn", candidate: m, alias: "champion", compare: { accuracy: { notWorseBy: 0.01 } }, approval: { timeout: "2d" } });
  d.task("deploy", { inputs: { g } }, async ({ g }) => g);
});
export const other = dag("other", (d) => {
  d.task("work", async () => "done");
});
`,
);

for (const d of dialects(2)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4", SLUICE_CONCURRENCY: "1" }));

    test("no champion passes; a worse candidate fails naming each metric and leaves the alias; a better one moves it", async () => {
      const s = await open();
      try {
        assert.deepEqual(s.bag.errors, []);
        const r1 = await s.run("auto_gate", { params: { accuracy: 0.9 } });
        assert.equal(r1.state, "success");
        assert.equal((await s.store.models.resolve("spam", "champion"))?.version, 1);
        assert.deepEqual((await s.engine.loadOutputs(r1.runId, "gate"))[0], { name: "spam", alias: "champion", version: 1, previous: null, moved: true, approvalId: null });

        const r2 = await s.run("auto_gate", { params: { accuracy: 0.89, latency: 130 } });
        assert.equal(r2.state, "failed");
        const [a] = await s.store.attempts.list(r2.runId, "gate");
        const msg = a!.errorMessage ?? "";
        assert.match(msg, /model "spam" version 2 fails the gate for alias "champion" \(champion: version 1\)/);
        assert.match(msg, /FAIL accuracy: candidate 0\.89, champion 0\.9, threshold ≥ champion − 0\.005 \(0\.895\)/);
        assert.match(msg, /FAIL latency_p95: candidate 130, champion 50, threshold ≤ 120/);
        assert.equal((await s.store.models.resolve("spam", "champion"))?.version, 1, "the alias stays");

        const r3 = await s.run("auto_gate", { params: { accuracy: 0.897 } });
        assert.equal(r3.state, "success");
        assert.equal((await s.store.models.resolve("spam", "champion"))?.version, 3);
        const h = await s.store.models.aliasHistory("spam", "champion");
        assert.deepEqual(
          h.map((e) => [e.fromVersion, e.toVersion, e.kind, e.actor]),
          [
            [1, 3, "gate", "gate auto_gate/gate"],
            [null, 1, "gate", "gate auto_gate/gate"],
          ],
        );
      } finally {
        await s.close();
      }
    });

    test("an approval gate waits holding no worker slot; approve moves the alias at once, reject skips it and keeps the alias", async () => {
      const s = await open();
      assert.equal(s.config.concurrency, 1, "one worker slot");
      const w = s.newWorker();
      await w.start();
      try {
        // v1 becomes champion through an approval
        const run1 = await s.engine.createRun("approved_gate", { params: { accuracy: 0.8 } });
        const pending = async () => (await listApprovals(s, cliActor(), {})).filter((x) => x.runId === run1.runId);
        await waitFor(async () => (await pending()).length === 1, 30_000, "the gate to ask for an approval");
        const ask = (await pending())[0]!;
        assert.deepEqual([ask.name, ask.alias, ask.version, ask.fromVersion, ask.state], ["churn", "champion", 1, null, "pending"]);
        await waitFor(async () => (await s.store.taskInstances.list(run1.runId)).find((t) => t.taskId === "gate")?.state === "up_for_reschedule", 30_000, "the gate to wait");
        const gateTi = (await s.store.taskInstances.list(run1.runId)).find((t) => t.taskId === "gate")!;
        assert.ok(gateTi.readyAt! - Date.now() > 86_400_000, "its next poke is a day or more away: only the decision can wake it");

        // the worker has one slot: another DAG runs to its end while the gate waits
        const other = await s.engine.createRun("other");
        await waitFor(async () => (await s.store.runs.get(other.runId))?.state === "success", 30_000, "another run on the one slot");
        assert.equal(await s.store.models.resolve("churn", "champion"), null, "nothing moved before the decision");

        const decided = await decideApproval(s, { ...cliActor(), name: "ann" }, { id: ask.id, decision: "approve", comment: "looks good" });
        assert.equal(decided.state, "approved");
        await waitFor(async () => (await s.store.runs.get(run1.runId))?.state === "success", 30_000, "the approved gate's run to succeed");
        assert.equal((await s.store.models.resolve("churn", "champion"))?.version, 1);
        const [move] = await s.store.models.aliasHistory("churn", "champion");
        assert.equal(move!.actor, "ann");
        assert.match(move!.reason ?? "", new RegExp(`approval #${ask.id}.*looks good`));
        const decidedRow = await s.store.models.approval(ask.id);
        assert.equal(decidedRow?.decidedBy, "ann");
        assert.ok((decidedRow?.decidedAt ?? 0) > 0);
        // deciding twice is refused
        await assert.rejects(decideApproval(s, cliActor(), { id: ask.id, decision: "reject" }), (e: Error & { code?: string }) => e.code === "CONFLICT");

        // v2 is rejected: the gate and deploy are skipped, the run succeeds, the alias stays at v1
        const run2 = await s.engine.createRun("approved_gate", { params: { accuracy: 0.85 } });
        await waitFor(async () => (await listApprovals(s, cliActor(), {})).some((x) => x.runId === run2.runId), 30_000, "the second approval");
        const ask2 = (await listApprovals(s, cliActor(), {})).find((x) => x.runId === run2.runId)!;
        await waitFor(async () => (await s.store.taskInstances.list(run2.runId)).find((t) => t.taskId === "gate")?.state === "up_for_reschedule", 30_000, "the gate to wait");
        await decideApproval(s, { ...cliActor(), name: "bob" }, { id: ask2.id, decision: "reject", comment: "not now" });
        await waitFor(async () => ["success", "failed"].includes((await s.store.runs.get(run2.runId))?.state ?? ""), 30_000, "the rejected gate's run to end");
        const tis = await s.store.taskInstances.list(run2.runId);
        assert.equal(tis.find((t) => t.taskId === "gate")?.state, "skipped");
        assert.equal(tis.find((t) => t.taskId === "deploy")?.state, "skipped");
        const [gateAttempt] = await s.store.attempts.list(run2.runId, "gate");
        assert.match(gateAttempt!.errorMessage ?? "", /approval #\d+ was rejected by bob: not now; alias "champion" of model "churn" stays at version 1/);
        assert.equal((await s.store.models.resolve("churn", "champion"))?.version, 1, "a rejection leaves the alias");
        assert.equal((await s.store.models.aliasHistory("churn", "champion")).length, 1);
        assert.deepEqual(await listApprovals(s, cliActor(), {}), [], "nothing pending");
        await assert.rejects(decideApproval(s, cliActor(), { id: 999_999, decision: "approve" }), (e: Error & { code?: string }) => e.code === "NOT_FOUND");
      } finally {
        await w.stop();
        await s.close();
      }
    });
  });
}
