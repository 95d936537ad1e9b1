/** `d.promote` at DAG load: its spec, and bad options refused naming DAG, task and option. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { dag } from "../../src/dsl/dag.js";

const build = (opts: Record<string, unknown>) =>
  dag("ml", (d) => {
    const m = d.task("train", async () => ({ name: "spam", version: 1 }));
    d.promote("gate", { model: "spam", candidate: m, alias: "champion", ...opts } as never);
  });

test("a gate's spec: kind promote, its candidate as input, its rules, an approval wait with no worker slot", () => {
  const gate = build({ compare: { accuracy: { notWorseBy: 0.005 } }, approval: { timeout: "2d" } }).spec.tasks.find((t) => t.id === "gate")!;
  assert.equal(gate.kind, "promote");
  assert.deepEqual(gate.inputs, { candidate: "train" });
  assert.deepEqual(gate.upstream, ["train"]);
  assert.deepEqual(gate.promote, { model: "spam", alias: "champion", compare: { accuracy: { notWorseBy: 0.005 } }, approval: { timeoutMs: 2 * 86_400_000 } });
  assert.equal(gate.sensor?.pokeIntervalMs, 2 * 86_400_000, "never polled: the decision wakes it");
  assert.equal(gate.sensor?.timeoutMs, 2 * 86_400_000);
  assert.equal(build({}).spec.tasks.find((t) => t.id === "gate")!.promote!.approval, null);
});

test("bad options are refused at load, naming DAG, task and what is wrong", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ model: "bad name" }, /DAG "ml", task "gate": model name "bad name" is not valid/],
    [{ alias: "latest" }, /DAG "ml", task "gate": alias "latest" is not valid/],
    [{ compare: { accuracy: { notWorseBy: "x" } } }, /DAG "ml", task "gate": compare\.accuracy\.notWorseBy must be a finite number/],
    [{ approval: "yes" }, /DAG "ml", task "gate": approval must be true or \{ timeout: "2d" \}/],
    [{ aliass: "x" }, /DAG "ml", task "gate": unknown option "aliass"/],
    [{ isolation: "process" }, /DAG "ml", task "gate": a promotion gate does not take "isolation"/],
    [{ candidate: undefined }, /DAG "ml", task "gate": "candidate" must be the task that registered the model/],
    [{ cache: true }, /a promotion gate does not take "cache"/],
  ];
  for (const [opts, message] of cases) assert.throws(() => build(opts), message, JSON.stringify(opts));
});
