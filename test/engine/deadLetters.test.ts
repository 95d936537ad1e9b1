/**
 * The dead-letter queue through the engine and the application layer, on a real SQLite file and on a real
 * PostgreSQL schema: an instance that exhausts its retries is listed with its last error, attempts and
 * inputs; a retry gives it a fresh set of retries and the run resumes to success; a discard keeps it
 * listed as discarded; a DAG that parks dead letters finishes its runs; a non-retryable error (the DSL's
 * NonRetryableError, a name in `nonRetryable`, across a child process too) skips the retries left. The
 * recorded history is checked against the invariants (test/invariants.ts) after each.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
// dist/, as the workers' heartbeat threads and task processes need built code
import { cliActor, type Actor } from "../../dist/app/actor.js";
import { bulkDeadLetters, discardDeadLetter, listDeadLetters, retryDeadLetter } from "../../dist/app/deadLetters.js";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import type { DeadLetterRecord } from "../../dist/store/deadLetters.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-dlq-");
after(() => sb.cleanup());

sb.write(
  "dlq.ts",
  `import { dag, NonRetryableError } from "sluice";
// fails its first two tries: with retries 1 it is dead-lettered, and the retry's first try succeeds
export const exhaust = dag("exhaust", (d) => {
  const flaky = d.task("flaky", { retries: 1, retryDelay: 0 }, async (_i, ctx) => {
    if (ctx.attempt < 3) throw new Error("boom on try " + ctx.attempt);
    return ctx.attempt;
  });
  d.task("after", { inputs: { flaky } }, async ({ flaky }) => flaky * 10);
});
// parks its dead letters: item 2 always fails; the run finishes
export const parked = dag("parked", { deadLetter: "park" }, (d) => {
  const each = d.map("each", { over: { n: [1, 2, 3] } }, async ({ n }) => {
    if (n === 2) throw new Error("item 2 is bad");
    return n;
  });
  d.task("join", { inputs: { each } }, async ({ each }) => each.length);
  d.task("tally", { inputs: { each }, triggerRule: "all_done" }, async () => "done");
});
class ValidationError extends Error {}
export const nonRetryable = dag("non_retryable", (d) => {
  d.task("thrown", { retries: 3, retryDelay: 0 }, async () => { throw new NonRetryableError("bad row"); });
  d.task("named", { retries: 3, retryDelay: 0, nonRetryable: ["ValidationError"] }, async () => { throw new ValidationError("invalid"); });
  d.task("child", { retries: 3, retryDelay: 0, isolation: "process" }, async () => {
    const { NonRetryableError } = await import("sluice");
    throw new NonRetryableError("bad row in a child");
  });
  d.task("other", { retries: 1, retryDelay: 0 }, async () => { throw new Error("retried"); });
});
`,
);

const viewer: Actor = { via: "token", name: "vera", role: "viewer" };

for (const d of dialects(5)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);

    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));
    const entriesOf = async (s: Sluice, runId: string): Promise<DeadLetterRecord[]> => listDeadLetters(s, cliActor(), { runId, limit: 100, after: null });

    test("exhausted retries: listed with its last error, attempts and inputs; retry resumes the run, which succeeds", async () => {
      const s = await open();
      try {
        assert.deepEqual(s.bag.errors, []);
        const first = await s.run("exhaust");
        assert.equal(first.state, "failed", "fail_run (the default): the run fails as before");
        const [e, ...rest] = await entriesOf(s, first.runId);
        assert.equal(rest.length, 0, "one entry: the downstream task is upstream_failed, not dead-lettered");
        assert.equal(e!.taskId, "flaky");
        assert.equal(e!.mapIndex, -1);
        assert.equal(e!.dagId, "exhaust");
        assert.equal(e!.state, "open");
        assert.equal(e!.reason, "exhausted");
        assert.equal(e!.attempts, 2);
        assert.equal(e!.tryNumber, 2);
        assert.equal(e!.errorCode, "TASK_FAILED");
        assert.equal(e!.errorMessage, "boom on try 2");
        assert.equal(e!.parked, false);
        const attempts = await s.store.attempts.list(first.runId);
        assert.equal(e!.attemptId, attempts.filter((a) => a.taskId === "flaky").at(-1)!.attemptId, "the last attempt");
        assert.deepEqual(e!.inputs, { inputs: {}, mapIndex: -1 });
        assert.deepEqual(Object.fromEntries(await s.store.deadLetters.countOpen()), { exhaust: 1 });

        // a viewer may read it but not retry it
        assert.equal((await listDeadLetters(s, viewer, { limit: 10, after: null })).length, 1);
        await assert.rejects(retryDeadLetter(s, viewer, { id: e!.id }), (err: { code?: string }) => err.code === "FORBIDDEN");

        const retried = await retryDeadLetter(s, cliActor(), { id: e!.id });
        assert.equal(retried.state, "retried");
        assert.equal(retried.resolvedBy, cliActor().name);
        assert.equal((await s.store.runs.get(first.runId))!.state, "running", "the run resumes");
        const second = await s.drive(first.runId);
        assert.equal(second.state, "success");
        assert.deepEqual(second.tasks.map((t) => [t.taskId, t.state, t.attempts]), [
          ["flaky", "success", 3],
          ["after", "success", 1],
        ]);
        assert.equal((await entriesOf(s, first.runId)).length, 1, "no new entry");
        assert.equal((await s.store.deadLetters.countOpen()).get("exhaust"), undefined);
        await assert.rejects(retryDeadLetter(s, cliActor(), { id: e!.id }), (err: { code?: string; message?: string }) => err.code === "CONFLICT" && /is retried already/.test(err.message!));
        const audit = await s.store.audit.page({ limit: 10, after: null });
        assert.ok(audit.some((a) => a.action === "dlq.retry" && a.runId === first.runId), "an audit entry");
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("discard: acknowledged, still listed as discarded; a resolved entry is not resolved twice; unknown ids are not found", async () => {
      const s = await open();
      try {
        const run = await s.run("exhaust");
        const [e] = await entriesOf(s, run.runId);
        const discarded = await discardDeadLetter(s, cliActor(), { id: e!.id });
        assert.equal(discarded.state, "discarded");
        assert.ok(discarded.resolvedAt !== null);
        assert.equal((await s.store.runs.get(run.runId))!.state, "failed", "the run is left as it is");
        const listed = await listDeadLetters(s, cliActor(), { dagId: "exhaust", state: "discarded", limit: 10, after: null });
        assert.deepEqual(listed.map((x) => x.id), [e!.id]);
        assert.equal((await listDeadLetters(s, cliActor(), { dagId: "exhaust", state: "open", limit: 10, after: null })).some((x) => x.id === e!.id), false);
        await assert.rejects(discardDeadLetter(s, cliActor(), { id: e!.id }), (err: { code?: string }) => err.code === "CONFLICT");
        await assert.rejects(retryDeadLetter(s, cliActor(), { id: e!.id }), (err: { code?: string }) => err.code === "CONFLICT");
        await assert.rejects(discardDeadLetter(s, cliActor(), { id: 999_999 }), (err: { code?: string; message?: string }) => err.code === "NOT_FOUND" && err.message === 'no dead letter with id "999999"');
        // bulk: each id its own outcome
        const out = await bulkDeadLetters(s, cliActor(), "discard", [e!.id, 999_999]);
        assert.deepEqual(out.map((o) => [o.id, o.ok, o.ok ? null : o.error.code]), [
          [e!.id, false, "CONFLICT"],
          [999_999, false, "NOT_FOUND"],
        ]);
        await assert.rejects(bulkDeadLetters(s, viewer, "retry", [e!.id]), (err: { code?: string }) => err.code === "FORBIDDEN");
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("park: the run finishes (success) with the failed map index parked; all_success downstream is upstream_failed, all_done runs; a retry resumes it", async () => {
      const s = await open();
      try {
        const run = await s.run("parked");
        assert.equal(run.state, "success", "every failure is parked");
        const states = Object.fromEntries(run.tasks.map((t) => [`${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`, t.state]));
        assert.deepEqual(states, { "each[0]": "success", "each[1]": "failed", "each[2]": "success", join: "upstream_failed", tally: "success" });
        const [e, ...rest] = await entriesOf(s, run.runId);
        assert.equal(rest.length, 0);
        assert.equal(e!.taskId, "each");
        assert.equal(e!.mapIndex, 1, "mapped indexes are parked one by one");
        assert.equal(e!.parked, true);
        assert.equal(e!.state, "open");
        assert.equal(await s.store.deadLetters.parkedOfRun(run.runId), 1);
        assert.equal((await s.store.deadLetters.countOpen()).get("parked"), 1);

        // a failure that is not parked (marked by a person) fails the run as ever
        await s.engine.markTasks(run.runId, { taskId: "each", state: "failed", mapIndex: 0 });
        assert.equal((await s.store.runs.get(run.runId))!.state, "failed");
        await s.engine.markTasks(run.runId, { taskId: "each", state: "success", mapIndex: 0 });
        assert.equal((await s.store.runs.get(run.runId))!.state, "success");

        // retry: the index runs again (and fails again: parked again, a new entry); the run ends success again
        await retryDeadLetter(s, cliActor(), { id: e!.id });
        const again = await s.drive(run.runId);
        assert.equal(again.state, "success");
        const after = await entriesOf(s, run.runId);
        assert.deepEqual(after.map((x) => [x.mapIndex, x.state]), [
          [1, "open"],
          [1, "retried"],
        ]);
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("non-retryable errors go to the dead-letter queue on their first failure despite retries left; others use their retries", async () => {
      const s = await open();
      try {
        const run = await s.run("non_retryable");
        assert.equal(run.state, "failed");
        const attempts = Object.fromEntries(run.tasks.map((t) => [t.taskId, t.attempts]));
        assert.deepEqual(attempts, { thrown: 1, named: 1, child: 1, other: 2 });
        const entries = Object.fromEntries((await entriesOf(s, run.runId)).map((x) => [x.taskId, [x.reason, x.attempts, x.errorMessage]]));
        assert.deepEqual(entries, {
          thrown: ["non_retryable", 1, "bad row"],
          named: ["non_retryable", 1, "invalid"],
          child: ["non_retryable", 1, "bad row in a child"],
          other: ["exhausted", 2, "retried"],
        });
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });
  });
}
