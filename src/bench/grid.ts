/**
 * grid-10000: latency of the REST API's DAG structure and grid endpoints for a 10,000-task DAG with 10
 * runs (the grid's default page is 25 runs), over real HTTP on a real SQLite file. p50/p99 are of
 * /grid; structureP50Ms of /structure. No worker runs: the runs keep their 100,000 task instances.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { dag } from "../dsl/dag.js";
import type { AnyRef } from "../dsl/types.js";
import { startHttp } from "../server/http.js";
import { Sluice } from "../sluice.js";
import { percentile, round, type BenchResult } from "./result.js";

export async function grid(n: number, runs = 10, samples = 20): Promise<BenchResult & { structureP50Ms: number; runs: number }> {
  const d = dag("bench_grid", (b) => {
    let prev: AnyRef[] = [];
    for (let l = 0; l < n / 100; l++) {
      const layer: AnyRef[] = [];
      for (let i = 0; i < 100; i++) layer.push(b.task(`l${l}_t${i}`, { after: prev.length ? [prev[i]!, prev[(i + 1) % 100]!] : [] }, () => i));
      prev = layer;
    }
  });
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-grid-"));
  const s = await Sluice.open(loadConfig({ home, dags: join(home, "no-dags"), port: 0 }, { SLUICE_ADMIN_PASSWORD: "bench-password" }), { loadDags: false, dags: [d] });
  const http = await startHttp(s, { eventToken: null, ui: false });
  try {
    // what a scheduler records for a DAG it parsed
    await s.store.tx(async (tx) => {
      await tx.dags.saveVersion(d.id, d.version, d.spec, null);
      await tx.dags.upsert({ dagId: d.id, file: "", version: d.version, schedule: null, defaultParams: {}, paramsError: null, now: Date.now() });
    });
    for (let i = 0; i < runs; i++) await s.engine.createRun(d.id);
    const login = await fetch(`${http.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password: "bench-password" }) });
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith("sluice_session="))!.split(";")[0]!;
    const time = async (path: string): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < samples + 2; i++) {
        const t0 = performance.now();
        const r = await fetch(`${http.url}${path}`, { headers: { Cookie: cookie } });
        const body = (await r.json()) as { tasks?: unknown[] };
        const ms = performance.now() - t0;
        if (r.status !== 200 || body.tasks?.length !== n) throw new Error(`${path}: ${r.status}`);
        if (i >= 2) out.push(ms); // the first two warm the spec cache and SQLite's page cache
      }
      return out.sort((a, b) => a - b);
    };
    const t0 = performance.now();
    const structure = await time(`/api/v1/dags/${d.id}/structure`);
    const gridMs = await time(`/api/v1/dags/${d.id}/grid`);
    const seconds = (performance.now() - t0) / 1000;
    return {
      scenario: `grid-${n}`,
      n,
      runs,
      seconds: round(seconds),
      tasksPerSecond: Math.round((n * runs) / (percentile(gridMs, 50) / 1000)),
      p50Ms: round(percentile(gridMs, 50)),
      p99Ms: round(percentile(gridMs, 99)),
      structureP50Ms: round(percentile(structure, 50)),
    };
  } finally {
    await http.close();
    await s.close();
    rmSync(home, { recursive: true, force: true });
  }
}
