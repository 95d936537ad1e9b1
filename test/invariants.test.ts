/**
 * The invariant checker (test/invariants.ts) can fail: a real run on a real SQLite file records a history
 * that keeps every invariant; copies of it, each broken in one way with plain SQL, must be reported — with
 * the invariant and a message that names the run, task and attempt.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { dag } from "sluice";
import { Sluice, loadConfig } from "sluice/runtime";
import { sandbox } from "./helpers.js";
import { findViolations, loadHistory, type CheckOptions, type History, type Invariant, type Violation } from "./invariants.js";

const sb = sandbox("sluice-invariants-");
after(() => sb.cleanup());
const base = join(sb.dir, "base.sqlite");
let runId = "";
let copies = 0;

const hist = dag("hist", { maxActiveTasks: 3 }, (d) => {
  d.task("flaky", { retries: 1, retryDelay: "10ms" }, async (_i, ctx) => {
    if (ctx.attempt === 1) throw new Error("the first try fails");
    return ctx.attempt;
  });
  const items = d.task("items", async () => [1, 2, 3]);
  d.map("m", { over: { x: items }, maxActiveTisPerDag: 1 }, async ({ x }) => x);
  d.task("p1", { pool: "two", resources: { cpu: 1 } }, async () => "p1");
  d.task("p2", { pool: "two", resources: { cpu: 1 } }, async () => "p2");
  d.task("p3", { pool: "two" }, async () => "p3");
});

before(async () => {
  const s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: `sqlite:${base}`, concurrency: 8 }, {}), { dags: [hist] });
  try {
    const db = new Database(base);
    db.prepare("insert into pools (name, slots, description, updated_at) values ('two', 2, null, 0)").run();
    db.close();
    const summary = await s.run("hist");
    assert.equal(summary.state, "success");
    runId = summary.runId;
  } finally {
    await s.close();
  }
});

/** A copy of the base history, broken by `edit` (plain SQL on the copy), read back. */
async function broken(edit: (db: Database.Database, id: (taskId: string, tryNumber?: number) => number) => void): Promise<History> {
  const copy = join(sb.dir, `broken-${copies++}.sqlite`);
  const src = new Database(base, { readonly: true });
  src.exec(`VACUUM INTO '${copy.replace(/'/g, "''")}'`);
  src.close();
  const db = new Database(copy);
  const id = (taskId: string, tryNumber = 1) => {
    const [task, mapIndex] = taskId.includes("[") ? [taskId.slice(0, taskId.indexOf("[")), Number(taskId.slice(taskId.indexOf("[") + 1, -1))] : [taskId, -1];
    return (db.prepare("select attempt_id from attempts where task_id = ? and map_index = ? and try_number = ?").get(task, mapIndex, tryNumber) as { attempt_id: number }).attempt_id;
  };
  try {
    edit(db, id);
  } finally {
    db.close();
  }
  return loadHistory(copy);
}

/** Put attempts' intervals where the test wants them (far from the real run's, which are at about now). */
function place(db: Database.Database, attemptId: number, startedAt: number, endedAt: number | null): void {
  db.prepare("update attempts set started_at = ?, ended_at = ? where attempt_id = ?").run(startedAt, endedAt, attemptId);
}

/** The violations of `invariant` match `pattern`; with `only`, there are no others. */
function reports(h: History, invariant: Invariant, pattern: RegExp, opts: CheckOptions = {}, only = true): Violation[] {
  const bad = findViolations(h, opts);
  const text = bad.map((v) => `[${v.invariant}] ${v.message}`).join("\n");
  assert.ok(bad.some((v) => v.invariant === invariant && pattern.test(v.message)), `expected [${invariant}] ${pattern}, got:\n${text || "(nothing)"}`);
  if (only) assert.ok(bad.every((v) => v.invariant === invariant), `only [${invariant}] expected, got:\n${text}`);
  return bad;
}

test("a real run's history keeps every invariant", async () => {
  const h = await loadHistory(base);
  assert.equal(h.runs.length, 1);
  assert.equal(h.attempts.length, 9, "flaky twice, items, m[0..2], p1..p3");
  assert.deepEqual(findViolations(h), []);
  assert.deepEqual(findViolations(h, { before: h }), [], "a history is unchanged against itself");
});

describe("1. every accepted run reaches a terminal state", () => {
  test("a run left running is reported, unless the test says it may still run", async () => {
    const h = await broken((db) => db.prepare("update runs set state = 'running'").run());
    reports(h, "terminal", new RegExp(`^run ${runId} \\(DAG hist\\) is running, not terminal$`));
    assert.deepEqual(findViolations(h, { mayRun: [runId] }), []);
    assert.deepEqual(findViolations(h, { mayRun: true }), []);
    assert.deepEqual(findViolations(h, { runs: ["another-run"] }), [], "only the runs asked for");
    assert.deepEqual(findViolations(h, { check: ["one-live", "attempts", "limits"] }), [], "the check can be left out");
  });

  test("a finished run with work left: unfinished count, an unfinished task instance, a live attempt", async () => {
    reports(await broken((db) => db.prepare("update runs set unfinished = 2").run()), "terminal", /is success with unfinished = 2/);
    reports(await broken((db) => db.prepare("update task_instances set state = 'scheduled' where task_id = 'p3'").run()), "terminal", /task p3 is scheduled in a run that is success/);
    const live = await broken((db, id) => {
      db.prepare("update attempts set state = 'running', ended_at = null where attempt_id = ?").run(id("p3"));
      db.prepare("update task_instances set state = 'running' where task_id = 'p3'").run();
    });
    reports(live, "terminal", new RegExp(`run ${runId} task p3 attempt 1 \\(id \\d+\\) is running \\(ended_at null\\) in a run that is success`), {}, false);
  });
});

describe("2. at most one live attempt per task instance; only the current attempt's writes count", () => {
  test("two attempts whose intervals overlap", async () => {
    const h = await broken((db, id) => {
      place(db, id("flaky", 1), 1000, 2005);
      place(db, id("flaky", 2), 2000, 3000);
    });
    reports(h, "one-live", new RegExp(`^run ${runId} task flaky: attempt 2 \\(id \\d+\\) started at .*\\(2000\\), before attempt 1 \\(id \\d+\\) ended at .*\\(2005\\)$`));
    // out of order: the retry ran before the try it retries
    const reversed = await broken((db, id) => {
      place(db, id("flaky", 1), 3000, 4000);
      place(db, id("flaky", 2), 1000, 2000);
    });
    reports(reversed, "one-live", /task flaky: attempt 2 \(id \d+\) started at .*\(1000\), before attempt 1 \(id \d+\) ended at .*\(4000\)$/);
  });

  test("two attempts live at the same time (both running)", async () => {
    const h = await broken((db, id) => {
      db.prepare("update attempts set state = 'running', ended_at = null where attempt_id in (?, ?)").run(id("flaky", 1), id("flaky", 2));
      db.prepare("update task_instances set state = 'running' where task_id = 'flaky'").run();
    });
    const bad = reports(h, "one-live", /task flaky: 2 live attempts at once \(1 running, 2 running\)/, { mayRun: true, check: ["one-live"] });
    assert.ok(bad.some((v) => /task flaky: attempt 2 \(id \d+\) started at .*, while attempt 1 \(id \d+\) had not ended$/.test(v.message)));
  });

  test("a stale write: the task instance succeeded, its last attempt failed", async () => {
    const h = await broken((db, id) => db.prepare("update attempts set state = 'failed', error_code = 'LEASE_LOST', output_inline = null where attempt_id = ?").run(id("p1")));
    reports(h, "one-live", new RegExp(`^run ${runId} task p1 is success, but its last attempt 1 \\(id \\d+\\) is failed$`));
  });

  test("an attempt after a successful one; a task instance pointing at an older attempt", async () => {
    reports(await broken((db, id) => db.prepare("update attempts set state = 'success', error_code = null, output_inline = x'00' where attempt_id = ?").run(id("flaky", 1))), "one-live", /task flaky attempt 1 \(id \d+\) is success but not the last attempt \(2\)/);
    reports(await broken((db, id) => db.prepare("update task_instances set attempt_id = ? where task_id = 'flaky'").run(id("flaky", 1))), "one-live", /task flaky: its current attempt is id \d+, but its last attempt is run .* task flaky attempt 2/);
  });

  test("a live attempt whose task instance is not live", async () => {
    const h = await broken((db, id) => {
      db.prepare("update attempts set state = 'running', ended_at = null where attempt_id = ?").run(id("m[1]"));
      db.prepare("update runs set state = 'running', unfinished = 1").run();
    });
    reports(h, "one-live", /task m\[1\] attempt 1 \(id \d+\) is running, but its task instance is success/, { mayRun: true, check: ["one-live"] });
  });
});

describe("3. attempts ≤ retries + 1, try numbers 1..n, complete and immutable records", () => {
  test("one attempt more than retries + 1; after a clear, the retries count again", async () => {
    /** flaky with a third try, claimed with try_base `tryBase` (2: after a clear that followed try 2). */
    const thirdTry = (tryBase: number) =>
      broken((db, id) => {
        const second = id("flaky", 2);
        db.prepare(
          `insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, ended_at, heartbeat_at, lease_expires_at, output_inline, output_size)
           select run_id, task_id, map_index, 3, ?, 'success', worker_id, hostname, pid, started_at, ended_at, heartbeat_at, lease_expires_at, output_inline, output_size
             from attempts where attempt_id = ?`,
        ).run(tryBase, second);
        db.prepare("update attempts set state = 'failed', error_code = 'TASK_FAILED', output_inline = null, output_size = null where attempt_id = ?").run(second);
        db.prepare("update task_instances set try_number = 3, try_base = ?, attempt_id = (select max(attempt_id) from attempts) where task_id = 'flaky'").run(tryBase);
        place(db, id("flaky", 1), 1000, 1100);
        place(db, second, 1200, 1300);
        place(db, id("flaky", 3), 1400, 1500);
      });
    reports(await thirdTry(0), "attempts", new RegExp(`^run ${runId} task flaky: 3 attempts, more than retries \\+ 1 = 2 \\(tries 1,2,3\\)$`));
    assert.deepEqual(findViolations(await thirdTry(2)), []);
  });

  test("try numbers with a gap; a task instance's try_number that disagrees", async () => {
    reports(await broken((db, id) => db.prepare("update attempts set try_number = 3 where attempt_id = ?").run(id("flaky", 2))), "attempts", /task flaky: try numbers 1,3 are not 1\.\.2/);
    reports(await broken((db) => db.prepare("update task_instances set try_number = 1 where task_id = 'flaky'").run()), "attempts", /task flaky: try_number 1, but 2 attempt\(s\)/);
  });

  test("incomplete records: failed without an error code, success without an output, ended without ended_at", async () => {
    reports(await broken((db, id) => db.prepare("update attempts set error_code = null where attempt_id = ?").run(id("flaky", 1))), "attempts", /task flaky attempt 1 \(id \d+\) failed without an error code/);
    reports(await broken((db, id) => db.prepare("update attempts set output_inline = null where attempt_id = ?").run(id("p2"))), "attempts", /task p2 attempt 1 \(id \d+\) succeeded without an output/);
    reports(await broken((db, id) => db.prepare("update attempts set ended_at = null where attempt_id = ?").run(id("items"))), "attempts", /task items attempt 1 \(id \d+\) is success without ended_at/, {}, false);
  });

  test("an interrupted attempt counts only when workers may have drained", async () => {
    const h = await broken((db, id) => {
      db.prepare("update attempts set state = 'interrupted', error_code = 'INTERRUPTED' where attempt_id = ?").run(id("flaky", 1));
      db.prepare("update attempts set try_base = 1 where attempt_id = ?").run(id("flaky", 2));
    });
    reports(h, "one-live", /task flaky attempt 1 \(id \d+\) is interrupted but not the last attempt/, {}, false);
    reports(h, "attempts", /task flaky attempt 1 \(id \d+\) is interrupted, and no worker was drained/, {}, false);
    assert.deepEqual(findViolations(h, { interrupted: true }), []);
  });

  test("the test's own bound on attempts", async () => {
    reports(await loadHistory(base), "attempts", /task flaky: 2 attempts, more than the 1 expected/, { maxAttempts: () => 1 });
  });

  test("an ended attempt that changed, an attempt and a run that are gone (against an earlier snapshot)", async () => {
    const snapshot = await loadHistory(base);
    const changed = await broken((db, id) => db.prepare("update attempts set error_message = 'rewritten', output_inline = x'01' where attempt_id = ?").run(id("flaky", 1)));
    assert.deepEqual(findViolations(changed), [], "without the snapshot, nothing tells");
    reports(changed, "attempts", /task flaky attempt 1 \(id \d+\) changed after it had ended failed: error_message ".*the first try fails" -> "rewritten", output_inline null -> "hex:01"/, { before: snapshot });
    const gone = await broken((db, id) => db.prepare("delete from attempts where attempt_id = ?").run(id("p2")));
    reports(gone, "attempts", /task p2 attempt 1 \(id \d+\) was recorded \(success\), and is gone/, { before: snapshot }, false);
    const runGone = await broken((db) => {
      db.exec("delete from attempts; delete from task_instances; delete from runs");
    });
    reports(runGone, "attempts", new RegExp(`run ${runId} \\(DAG hist\\) was recorded, and is gone`), { before: snapshot });
  });
});

describe("4. limits are never exceeded", () => {
  test("pool slots: three tasks of a pool of 2 at once", async () => {
    const h = await broken((db, id) => {
      place(db, id("p1"), 1000, 2000);
      place(db, id("p2"), 1100, 1900);
      place(db, id("p3"), 1500, 2500);
    });
    reports(h, "limits", /^pool "two": slots in use: 3 > 2 at 1970-01-01T00:00:01\.500Z \(1500\), when run .* task p3 attempt 1 \(id \d+\) started; held by .*task p1 .*; .*task p2 .*; .*task p3 /);
    assert.deepEqual(findViolations(h, { check: ["terminal", "one-live", "attempts"] }), []);
  });

  test("maxActiveTasks: four running task instances of a DAG that allows 3", async () => {
    const h = await broken((db, id) => {
      for (const t of ["items", "p1", "p2", "m[0]"]) place(db, id(t), 1000, 2000);
    });
    reports(h, "limits", /^DAG hist: running task instances \(maxActiveTasks\): 4 > 3 at .*\(1000\)/);
  });

  test("maxActiveTisPerDag: two instances of a task that allows 1", async () => {
    const h = await broken((db, id) => {
      place(db, id("m[0]"), 1000, 2000);
      place(db, id("m[2]"), 1999, 3000);
    });
    reports(h, "limits", /^task hist\.m: running instances \(maxActiveTisPerDag\): 2 > 1 at .*\(1999\), when run .* task m\[2\] attempt 1/);
    // an end at t comes before a start at t: back to back is not at once
    const backToBack = await broken((db, id) => {
      place(db, id("m[0]"), 1000, 2000);
      place(db, id("m[2]"), 2000, 3000);
    });
    assert.deepEqual(findViolations(backToBack), []);
  });

  test("a worker's slots, queues and declared resources", async () => {
    const slots = await broken((db, id) => {
      db.prepare("update workers set concurrency = 1").run();
      place(db, id("items"), 1000, 2000);
      place(db, id("p3"), 1500, 2500);
    });
    reports(slots, "limits", /^worker [^:]+: slots in use \(concurrency\): 2 > 1 at .*\(1500\)/);
    const queue = await broken((db) => {
      db.prepare("update workers set queues = 'default'").run();
      db.prepare("update task_instances set queue = 'gpu' where task_id = 'p3'").run();
    });
    reports(queue, "limits", /task p3 attempt 1 \(id \d+\) of queue "gpu" ran on worker \S+, which serves only default/);
    const cpu = await broken((db, id) => {
      db.prepare(`update workers set resources = '{"cpu":1}'`).run();
      place(db, id("p1"), 1000, 2000);
      place(db, id("p2"), 1500, 2500);
    });
    reports(cpu, "limits", /^worker [^:]+: cpu in use: 2 > 1 at .*\(1500\)/);
  });

  test("killed: an attempt a dead worker left running holds its slot until its lease expires, not forever", async () => {
    const h = await broken((db, id) => {
      db.prepare("update attempts set state = 'running', ended_at = null, started_at = 1000, lease_expires_at = 1500, output_inline = null where attempt_id = ?").run(id("p1"));
      db.prepare("update task_instances set state = 'running' where task_id = 'p1'").run();
      db.prepare("update runs set state = 'running', unfinished = 1").run();
      place(db, id("p2"), 2000, 3000);
      place(db, id("p3"), 2000, 3000);
    });
    reports(h, "limits", /^pool "two": slots in use: 3 > 2 at .*\(2000\)/, { mayRun: true });
    assert.deepEqual(findViolations(h, { mayRun: true, killed: true }), []);
  });
});

describe("5. the dead-letter queue agrees with the task instances", () => {
  const insert = (db: Database.Database, taskId: string, attemptId: number | null, state = "open") =>
    db
      .prepare(
        "insert into dead_letters (run_id, task_id, map_index, dag_id, attempt_id, try_number, attempts, reason, error_code, error_message, inputs, parked, state, created_at) values (?, ?, -1, 'hist', ?, 1, 1, 'exhausted', 'TASK_FAILED', 'x', '{}', 0, ?, 0)",
      )
      .run(runId, taskId, attemptId, state);
  const failP3 = (db: Database.Database, id: (taskId: string) => number) => {
    db.prepare("update task_instances set state = 'failed' where task_id = 'p3'").run();
    db.prepare("update attempts set state = 'failed', error_code = 'TASK_FAILED', output_inline = null, output_ref = null where attempt_id = ?").run(id("p3"));
  };

  test("a task instance failed by its last attempt without a dead letter is reported; with one it is not; a cancel needs none", async () => {
    reports(await broken((db, id) => failP3(db, id)), "dead-letters", /^run .* task p3 attempt 1 \(id \d+\) failed the task instance \(TASK_FAILED\), but has no dead letter$/);
    assert.deepEqual(findViolations(await broken((db, id) => (failP3(db, id), insert(db, "p3", id("p3"))))), []);
    const cancelled = await broken((db, id) => (failP3(db, id), db.prepare("update attempts set error_code = 'CANCELLED' where attempt_id = ?").run(id("p3"))));
    assert.deepEqual(findViolations(cancelled), []);
  });

  test("an open entry of an instance that is not failed, two open entries, an entry of no instance", async () => {
    reports(await broken((db, id) => insert(db, "p3", id("p3"))), "dead-letters", /^dead letter \d+ is open, but run .* task p3 is success$/);
    assert.deepEqual(findViolations(await broken((db, id) => insert(db, "p3", id("p3"), "retried"))), [], "a resolved entry of an instance that ran again");
    reports(await broken((db, id) => (failP3(db, id), insert(db, "p3", id("p3")), insert(db, "p3", null))), "dead-letters", /task p3: 2 open dead letters$/);
    reports(await broken((db) => insert(db, "nope", null, "discarded")), "dead-letters", /^dead letter \d+: run .* task nope does not exist$/);
  });
});
