import assert from "node:assert/strict";
import { test } from "node:test";
import { whyWaiting, type LiveWorker } from "../../src/core/waiting.js";

test("whyWaiting: a reason only for what no live worker or pool can ever take", () => {
  const gpu1: LiveWorker = { queues: ["default", "gpu"], resources: { cpu: 8, memoryMb: 32768, gpu: 1 } };
  const dev: LiveWorker = { queues: null, resources: null };
  const pools = new Map([["default_pool", 128], ["tiny", 1], ["closed", 0]]);
  const req = (cpu: number, memoryMb: number, gpu: number) => ({ cpu, memoryMb, gpu });
  const cases: [string, Parameters<typeof whyWaiting>[0], LiveWorker[], RegExp | null][] = [
    ["served, fits", { queue: "gpu", pool: null, resources: req(2, 1024, 1) }, [gpu1], null],
    ["no worker at all", { queue: "default", pool: null }, [], /^waiting: no live worker \(start one/],
    ["queue nobody serves", { queue: "orphan", pool: null }, [gpu1], /^waiting: no live worker serves queue orphan \(sluice worker --queues orphan\)$/],
    ["dev serves every queue", { queue: "orphan", pool: null }, [dev], null],
    ["more GPUs than any worker", { queue: "gpu", pool: null, resources: req(0, 0, 2) }, [gpu1], /^waiting: needs gpu=2; no live worker serving queue gpu declares that much/],
    ["more memory than any worker", { queue: "default", pool: null, resources: req(1, 65536, 0) }, [gpu1], /needs cpu=1,memory=64Gi/],
    ["an undeclared dimension is unlimited", { queue: "x", pool: null, resources: req(64, 0, 8) }, [dev], null],
    ["a pool with 0 slots", { queue: "default", pool: "closed" }, [gpu1], /^waiting: pool closed has 0 slots and this task needs 1 \(sluice pools set closed --slots 1\)$/],
    ["more pool slots than the pool has", { queue: "default", pool: "tiny", poolSlots: 2 }, [gpu1], /pool tiny has 1 slot and this task needs 2/],
    ["a busy pool is just waiting", { queue: "default", pool: "tiny", poolSlots: 1 }, [gpu1], null],
  ];
  for (const [what, task, workers, want] of cases) {
    const got = whyWaiting(task, workers, pools);
    if (want === null) assert.equal(got, null, what);
    else assert.match(got ?? "(none)", want, what);
  }
});
