/**
 * Callbacks (decision 0019) on both dialects, in-process engines with a ManualClock: each event writes
 * its rows with the state change, the runner calls the DAG's functions with the typed context once, a
 * callback that throws is logged, retried with backoff and given up without touching any state, and a DAG
 * without callbacks writes no row. Bad input fails at load time naming the DAG, the task and the field.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { dag, email, isSluiceError, slack, webhook, type CallbackContext } from "sluice";
import { ManualClock, Sluice, loadConfig } from "sluice/runtime";
import { dialects } from "../dialects.js";
import { sandbox, storeDb } from "../helpers.js";

const sb = sandbox("sluice-callbacks-");
after(() => sb.cleanup());

type Call = { name: string; event: string; task: string | null; try: number | null; error: string | null; duration: number | null; url: string; runState: string };
const calls: Call[] = [];
const record = (name: string) =>
  Object.defineProperty(
    (ctx: CallbackContext) => {
      calls.push({ name, event: ctx.event, task: ctx.task?.id ?? null, try: ctx.attempt?.tryNumber ?? null, error: ctx.error?.message ?? null, duration: ctx.durationMs, url: ctx.url, runState: ctx.run.state });
    },
    "name",
    { value: name },
  );

const events = dag(
  "cb_events",
  { onFailure: record("run_failed"), onSuccess: record("run_ok"), defaults: { onRetry: record("default_retry") } },
  (d) => {
    d.task("ok", { onSuccess: record("ok_success") }, async () => 1);
    const flaky = d.task("flaky", { retries: 1, retryDelay: 0, onFailure: [record("flaky_failed"), record("flaky_failed_2")] }, async () => {
      throw new Error("disk full\nsecond line");
    });
    d.task("after_flaky", { after: [flaky], onSkipped: record("never") }, async () => 1);
    const gate = d.shortCircuit("gate", {}, async () => false);
    d.task("skipped", { after: [gate], onSkipped: record("skipped") }, async () => 1);
  },
);

let throws = 0;
const failing = dag("cb_throws", { onSuccess: () => { throws++; throw new Error("pager is down"); } }, (d) => {
  d.task("t", async () => 1);
});
const plain = dag("cb_none", (d) => {
  const a = d.task("a", async () => 1);
  d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
});

for (const dialect of dialects(3)) {
  describe(`callbacks (${dialect.name})`, { skip: dialect.skip }, () => {
    const open = async (clock: ManualClock, lines: string[]) => {
      const db = await dialect.fresh(sb.dir);
      const s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: db.url }, { SLUICE_DB_POOL_SIZE: "4", SLUICE_PUBLIC_URL: "https://sluice.example.com/" }), { clock, dags: [events, failing, plain] });
      s.engine.callbacks.configure({ log: (l) => lines.push(l) });
      return { s, close: async () => (await s.close(), await db.cleanup()) };
    };

    test("each event runs its callbacks once, after the state change, with the typed context", async () => {
      calls.length = 0;
      const lines: string[] = [];
      const { s, close } = await open(new ManualClock(), lines);
      try {
        const summary = await s.run("cb_events");
        assert.equal(summary.state, "failed");
        // s.run drained the due callbacks; a second pass finds nothing
        assert.equal(await s.engine.callbacks.runDue(), 0);
        const by = (name: string) => calls.filter((c) => c.name === name);
        assert.equal(by("ok_success").length, 1);
        assert.equal(by("default_retry").length, 1, "the defaults' onRetry: once, for flaky's first try");
        assert.equal(by("default_retry")[0]!.try, 1);
        assert.equal(by("default_retry")[0]!.error, "disk full\nsecond line");
        assert.equal(by("flaky_failed").length, 1);
        assert.equal(by("flaky_failed_2").length, 1);
        const failed = by("flaky_failed")[0]!;
        assert.equal(failed.try, 2);
        assert.equal(failed.task, "flaky");
        assert.ok(failed.duration !== null && failed.duration >= 0);
        assert.equal(failed.url, `https://sluice.example.com/dags/cb_events?run=${summary.runId}&task=flaky`);
        assert.equal(by("skipped").length, 1, "onSkipped of a task a short-circuit skipped");
        assert.equal(by("never").length, 0, "upstream_failed is not a skip");
        assert.equal(by("run_failed").length, 1);
        assert.equal(by("run_failed")[0]!.runState, "failed");
        assert.equal(by("run_ok").length, 0);
        const rows = await s.store.callbacks.ofRun(summary.runId);
        assert.deepEqual(rows.map((r) => r.state), rows.map(() => "done"));
        assert.equal(rows.length, 6);
        assert.ok(lines.some((l) => l.includes("callback function flaky_failed (failure of task \"flaky\"") && l.endsWith("done")), lines.join("\n"));
      } finally {
        await close();
      }
    });

    test("a callback that throws is logged, retried with backoff and never changes a state", async () => {
      throws = 0;
      const clock = new ManualClock();
      const lines: string[] = [];
      const { s, close } = await open(clock, lines);
      try {
        const summary = await s.run("cb_throws");
        assert.equal(summary.state, "success");
        assert.equal(throws, 1);
        const [row] = await s.store.callbacks.ofRun(summary.runId);
        assert.equal(row!.state, "pending");
        assert.equal(row!.tries, 1);
        assert.equal(row!.lastError, "pager is down");
        assert.ok(lines.some((l) => /callback function onSuccess \(success in run .*\): failed \(try 1 of 5\): pager is down; trying again in 10s/.test(l)), lines.join("\n"));
        // not due before its backoff
        assert.equal(await s.engine.callbacks.runDue(), 0);
        if (dialect.name === "sqlite") {
          // lease time is the injected clock's on SQLite: walk through every try
          for (const delay of [10_000, 20_000, 40_000, 80_000]) {
            clock.advance(delay);
            assert.equal(await s.engine.callbacks.runDue(), 1);
          }
          assert.equal(throws, 5);
          const [end] = await s.store.callbacks.ofRun(summary.runId);
          assert.equal(end!.state, "failed");
          assert.ok(lines.at(-1)!.endsWith("pager is down; given up"), lines.at(-1));
        }
        assert.equal((await s.store.runs.get(summary.runId))!.state, "success");
      } finally {
        await close();
      }
    });

    test("a DAG without callbacks writes no callback row", async () => {
      const { s, close } = await open(new ManualClock(), []);
      try {
        const summary = await s.run("cb_none");
        assert.equal(summary.state, "success");
        const n = await storeDb(s.store).selectFrom("callbacks").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
        assert.equal(Number(n!.n), 0);
      } finally {
        await close();
      }
    });
  });
}

describe("bad input fails at load time, naming where", () => {
  const invalid = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(isSluiceError(e, "INVALID_DAG"), String(e));
      assert.match((e as Error).message, pattern);
      return true;
    });

  test("a callback that is not a function names the DAG, the task and the option", () => {
    invalid(() => dag("bad_cb", (d) => void d.task("load", { onFailure: "page me" as never }, async () => 1)), /DAG "bad_cb", task "load": onFailure must be a function/);
    invalid(() => dag("bad_cb", { onSuccess: [() => 1, 42 as never] }, (d) => void d.task("t", async () => 1)), /DAG "bad_cb": onSuccess\[1\] must be a function/);
    invalid(() => dag("bad_cb", { notify: { onFailure: [{}] as never } }, (d) => void d.task("t", async () => 1)), /DAG "bad_cb": notify.onFailure\[0\] must be a function/);
    invalid(() => dag("bad_cb", { notify: { onFailed: [] } as never }, (d) => void d.task("t", async () => 1)), /notify has no "onFailed"/);
  });

  test("a deadline that does not parse names the DAG (and task) and the field", () => {
    invalid(() => dag("bad_dl", { deadline: { at: "25:00" } }, (d) => void d.task("t", async () => 1)), /DAG "bad_dl": deadline "at" "25:00" is not a time of day/);
    invalid(() => dag("bad_dl", { deadline: { at: "06:00", timezone: "Mars/Olympus" } }, (d) => void d.task("t", async () => 1)), /DAG "bad_dl": deadline has an unknown timezone/);
    invalid(() => dag("bad_dl", { deadline: { from: "start", within: "1h" } as never }, (d) => void d.task("t", async () => 1)), /DAG "bad_dl": deadline "from" must be "logicalDate", "queued"/);
    invalid(() => dag("bad_dl", (d) => void d.task("t", { deadline: { from: "start", within: "soon" } }, async () => 1)), /DAG "bad_dl", task "t": deadline.within/);
    invalid(() => dag("bad_dl", { onDeadlineMiss: () => 1 }, (d) => void d.task("t", async () => 1)), /onDeadlineMiss needs a deadline/);
  });

  test("notifiers check their options when the DAG is loaded", () => {
    invalid(() => webhook({ url: "ftp://example.com" }), /webhook: url must be an http\(s\) URL/);
    invalid(() => slack({ url: "https://hooks.example.com/x", template: "{{dagg}} failed" }), /slack: template uses \{\{dagg\}\}, which is not a variable/);
    invalid(() => email({ to: "not an address", connection: "smtp" }), /email: to must be an address/);
  });
});
