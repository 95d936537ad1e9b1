/** The capacity options of the DSL (queue, pool, poolSlots, priority, resources, maxActiveTisPerDag) and resource parsing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fits, parseCapacity, parseMemory } from "../../src/core/resources.js";
import { dag } from "../../src/dsl/dag.js";
import type { TaskOptions } from "../../src/dsl/types.js";
import { SluiceError } from "../../src/errors.js";

test("capacity options land in the spec; unset ones leave the spec (and its version) unchanged", () => {
  const plain = dag("cap", (d) => {
    d.task("a", async () => 1);
  });
  const same = dag("cap", (d) => {
    d.task("a", { pool: undefined, resources: {} }, async () => 1);
  });
  assert.equal(same.version, plain.version);
  const a = plain.spec.tasks[0]!;
  assert.equal("poolSlots" in a || "resources" in a || "maxActiveTisPerDag" in a, false);

  const d = dag("cap2", { maxActiveTasks: 3, defaults: { queue: "gpu", priority: 4 } }, (b) => {
    b.task("train", { pool: "gpu", poolSlots: 2, resources: { cpu: 1.5, memory: "2Gi", gpu: 1 }, maxActiveTisPerDag: 1 }, async () => 1);
  });
  const t = d.spec.tasks[0]!;
  assert.equal(d.spec.maxActiveTasks, 3);
  assert.deepEqual(
    { queue: t.queue, pool: t.pool, poolSlots: t.poolSlots, priority: t.priority, resources: t.resources, maxActiveTisPerDag: t.maxActiveTisPerDag },
    { queue: "gpu", pool: "gpu", poolSlots: 2, priority: 4, resources: { cpu: 1.5, memoryMb: 2048, gpu: 1 }, maxActiveTisPerDag: 1 },
  );
});

test("bad capacity options are INVALID_DAG errors naming the DAG, the task and the field", () => {
  const bad = (opts: Record<string, unknown>, fragment: RegExp) =>
    assert.throws(
      () => dag("bad", (d) => void d.task("t", opts as TaskOptions, async () => 1)),
      (e: unknown) => e instanceof SluiceError && e.code === "INVALID_DAG" && /"bad"/.test(e.message) && /"t"/.test(e.message) && fragment.test(e.message),
    );
  bad({ poolSlots: 0 }, /poolSlots must be a whole number > 0/);
  bad({ resources: { gpu: 0.5 } }, /resources\.gpu must be a whole number/);
  bad({ resources: { memory: "lots" } }, /resources\.memory: "lots" is not an amount of memory/);
  bad({ resources: { disk: 1 } }, /resources\.disk is unknown/);
  bad({ maxActiveTisPerDag: -1 }, /maxActiveTisPerDag must be a whole number > 0/);
  bad({ priority: 1.5 }, /priority must be a whole number/);
  bad({ queue: "gpu queue" }, /queue must be a name/);
  bad({ pool: "" }, /pool must be a non-empty string/);
});

test("memory amounts and worker capacities parse; requests fit what is left; undeclared dimensions are unlimited", () => {
  assert.equal(parseMemory("16Gi", "m"), 16384);
  assert.equal(parseMemory("512Mi", "m"), 512);
  assert.equal(parseMemory(1048576, "m"), 1);
  assert.equal(Math.round(parseMemory("1G", "m")), 954);
  assert.deepEqual(parseCapacity("cpu=4,memory=16Gi,gpu=1"), { cpu: 4, memoryMb: 16384, gpu: 1 });
  assert.throws(() => parseCapacity("cpu=four"), (e: unknown) => e instanceof SluiceError && e.code === "USAGE" && /--resources cpu: "four"/.test(e.message));
  assert.throws(() => parseCapacity("disk=1"), (e: unknown) => e instanceof SluiceError && e.code === "USAGE" && /"disk=1"/.test(e.message));
  const cap = parseCapacity("cpu=2,gpu=0");
  assert.equal(fits({ cpu: 1, memoryMb: 99999, gpu: 0 }, { cpu: 1, memoryMb: 0, gpu: 0 }, cap), true, "memory undeclared: unlimited");
  assert.equal(fits({ cpu: 1.5, memoryMb: 0, gpu: 0 }, { cpu: 1, memoryMb: 0, gpu: 0 }, cap), false);
  assert.equal(fits({ cpu: 0, memoryMb: 0, gpu: 1 }, { cpu: 0, memoryMb: 0, gpu: 0 }, cap), false, "gpu=0 declared");
});
