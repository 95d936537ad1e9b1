/**
 * `ml-cache`: the ML example's training DAG (examples/ml/train.ts, issue 15's caching figure) run twice on
 * one store, as `sluice run` does: the first run trains every trial; the unchanged re-run should find every
 * cached task's result (issue 15 asks for ≥ 90% less time). `seconds` is the first run, `rerunSeconds` the
 * re-run, each call to summary; `savedPercent` what the cache saved. Runs from the repo (it needs examples/).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { Sluice } from "../sluice.js";
import { round, type BenchResult } from "./result.js";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

export interface MlCacheResult extends BenchResult {
  rerunSeconds: number;
  savedPercent: number;
  /** Task instances the re-run took from the cache. */
  cacheHits: number;
}

export async function mlCache(): Promise<MlCacheResult> {
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-ml-"));
  const previous = process.env["SLUICE_HOME"];
  process.env["SLUICE_HOME"] = home; // the example writes its model under $SLUICE_HOME/outputs
  const s = await Sluice.open(loadConfig({ home, dags: EXAMPLES }));
  try {
    const timed = async () => {
      const t0 = performance.now();
      const summary = await s.run("ml_train");
      if (summary.state !== "success") throw new Error(`ml-cache: ml_train ${summary.state}: ${summary.stateReason ?? ""}`);
      return { seconds: (performance.now() - t0) / 1000, summary };
    };
    const first = await timed();
    const again = await timed();
    const attempts = await s.store.attempts.list(again.summary.runId);
    const cacheHits = attempts.filter((a) => a.cachedFrom !== null).length;
    return {
      scenario: "ml-cache",
      n: first.summary.total,
      seconds: round(first.seconds),
      tasksPerSecond: Math.round(first.summary.total / first.seconds),
      p50Ms: null,
      p99Ms: null,
      rerunSeconds: round(again.seconds),
      savedPercent: round((1 - again.seconds / first.seconds) * 100, 1),
      cacheHits,
    };
  } finally {
    await s.close();
    if (previous === undefined) delete process.env["SLUICE_HOME"];
    else process.env["SLUICE_HOME"] = previous;
    rmSync(home, { recursive: true, force: true });
  }
}
