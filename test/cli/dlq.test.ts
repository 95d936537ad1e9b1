/**
 * `sluice dlq list|show|retry|discard` through the real binary: a run whose task exhausts its retries
 * leaves an entry; show names its error and inputs; retry and `runs resume` finish the run; discard keeps
 * it listed as discarded; unknown and malformed ids are the user's mistakes (exit 2, a message naming
 * the id, no stack trace), and one bad id among good ones does not stop the others.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cli, cliJson, sandbox } from "../helpers.js";

const sb = sandbox("sluice-cli-dlq-");
after(() => sb.cleanup());

before(() => {
  // fails until a retry gives it a try number above 2 (retries: 1 → dead-lettered after try 2)
  sb.write(
    "flaky.ts",
    `import { dag } from "sluice";
export default dag("flaky", (d) => {
  const src = d.task("src", async () => 41);
  d.task("use", { inputs: { src }, retries: 1, retryDelay: 0 }, async ({ src }, ctx) => {
    if (ctx.attempt < 3) throw new Error("not yet\\u001b[31m red");
    return src + 1;
  });
});
`,
  );
});

interface Entry {
  id: number;
  runId: string;
  taskId: string;
  state: string;
  attempts: number;
  errorMessage: string;
  inputs: { inputs: Record<string, string> };
}

function noStack(r: { stderr: string; stdout: string }) {
  assert.doesNotMatch(r.stderr + r.stdout, /^\s{4}at /m);
  assert.ok(!(r.stderr + r.stdout).includes("\u001b[31m"), "a task's control characters never reach the terminal");
}

test("list, show, retry (then resume: success), discard; unknown and malformed ids exit 2 with a clear message", () => {
  const first = cli(sb, ["run", "flaky"]);
  assert.equal(first.code, 1, `the run fails: ${first.stdout}${first.stderr}`);
  const list = cliJson<{ deadLetters: Entry[] }>(sb, ["dlq", "list"]);
  assert.equal(list.code, 0);
  assert.equal(list.json.deadLetters.length, 1);
  const e = list.json.deadLetters[0]!;
  assert.equal(e.taskId, "use");
  assert.equal(e.state, "open");
  assert.equal(e.attempts, 2);
  assert.deepEqual(e.inputs.inputs, { src: "src" });

  const table = cli(sb, ["dlq", "list"]);
  assert.equal(table.code, 0);
  assert.match(table.stdout, new RegExp(`^${e.id}\\s+open\\s+flaky\\s+${e.runId}\\s+use\\s+2\\s+exhausted`, "m"));
  noStack(table);
  const show = cli(sb, ["dlq", "show", String(e.id)]);
  assert.equal(show.code, 0);
  assert.match(show.stdout, /error: +TASK_FAILED: not yet/);
  assert.match(show.stdout, /inputs: +src <- output of task src/);
  noStack(show);

  // one unknown id among good ones: the good one is retried, the unknown one named, exit 2
  const retry = cli(sb, ["dlq", "retry", String(e.id), "424242"]);
  assert.equal(retry.code, 2, retry.stderr);
  assert.match(retry.stdout, new RegExp(`dead letter ${e.id} retried: run ${e.runId} task use`));
  assert.match(retry.stderr, /error \[NOT_FOUND\]: no dead letter with id "424242"/);
  noStack(retry);
  const resumed = cli(sb, ["runs", "resume", e.runId]);
  assert.equal(resumed.code, 0, `${resumed.stdout}${resumed.stderr}`);
  assert.equal(cliJson<{ deadLetters: Entry[] }>(sb, ["dlq", "list"]).json.deadLetters.length, 0, "no open entries");
  const retried = cliJson<{ deadLetters: Entry[] }>(sb, ["dlq", "list", "--state", "retried"]).json.deadLetters;
  assert.deepEqual(retried.map((x) => x.id), [e.id]);

  // a resolved entry is not resolved again (exit 2, why)
  const again = cli(sb, ["dlq", "discard", String(e.id)]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, new RegExp(`error \\[CONFLICT\\]: dead letter ${e.id} is retried already`));

  // a second failing run: discard it
  assert.equal(cli(sb, ["run", "flaky"]).code, 1);
  const open = cliJson<{ deadLetters: Entry[] }>(sb, ["dlq", "list", "--dag", "flaky"]).json.deadLetters;
  assert.equal(open.length, 1);
  const discard = cli(sb, ["dlq", "discard", String(open[0]!.id)]);
  assert.equal(discard.code, 0, discard.stderr);
  const all = cliJson<{ deadLetters: Entry[] }>(sb, ["dlq", "list", "--state", "all"]).json.deadLetters;
  assert.deepEqual(all.map((x) => x.state), ["discarded", "retried"]);

  for (const [args, pattern] of [
    [["dlq", "show", "999"], /error \[NOT_FOUND\]: no dead letter with id "999"/],
    [["dlq", "show", "abc"], /dead letter ids are positive whole numbers \(see: sluice dlq list\), got "abc"/],
    [["dlq", "retry", "1", "-3"], /./],
    [["dlq", "list", "--state", "stale"], /--state must be open, retried, discarded or all, got "stale"/],
  ] as const) {
    const r = cli(sb, [...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, pattern);
    noStack(r);
  }
});
