/**
 * `compare-100`: comparing 100 tracked runs through the REST API (GET /api/v1/compare, a real HTTP server
 * with a logged-in session). Each run's task tracks 5 params and 3 metric series of 1,000 points; the
 * comparison reads the series' summaries, never the points. p50/p99: one request, round trip. The issue's
 * target: under 200 ms. Also `pointsPerSecond`: how fast the 300,000 points were written (batched).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { dag } from "../dsl/dag.js";
import { startHttp } from "../server/http.js";
import { Sluice } from "../sluice.js";
import { percentile, round, type BenchResult } from "./result.js";

const PASSWORD = "bench-admin-password";

export async function compareBench(runs = 100, points = 1000): Promise<BenchResult & { pointsPerSecond: number }> {
  const d = dag("bench_tracking", (b) => {
    b.task("fit", async (_i, ctx) => {
      ctx.track.params({ lr: 0.01, depth: 4, layers: 3, optimizer: "adam", seed: ctx.attemptId });
      for (let step = 0; step < points; step++) ctx.track.metrics({ loss: 1 / (step + 1), accuracy: step / points, lr: 0.01 }, { step });
    });
  });
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-compare-"));
  const s = await Sluice.open(loadConfig({ home, dags: join(home, "no-dags"), port: 0, host: "127.0.0.1" }, { SLUICE_ADMIN_PASSWORD: PASSWORD }), { loadDags: false, dags: [d] });
  const http = await startHttp(s, { eventToken: null, ui: false });
  try {
    const ids: string[] = [];
    const w0 = performance.now();
    for (let i = 0; i < runs; i++) ids.push((await s.run(d.id)).runId);
    const writeSeconds = (performance.now() - w0) / 1000;
    const login = await fetch(`${http.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password: PASSWORD }) });
    const cookie = /sluice_session=([^;]+)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
    if (!cookie) throw new Error(`compare-${runs}: login failed (${login.status})`);
    const url = `${http.url}/api/v1/compare?runs=${ids.join(",")}`;
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 30; i++) {
      const r0 = performance.now();
      const res = await fetch(url, { headers: { Cookie: `sluice_session=${cookie}` } });
      const body = (await res.json()) as { trials?: unknown[] };
      times.push(performance.now() - r0);
      if (res.status !== 200 || body.trials?.length !== runs) throw new Error(`compare-${runs}: ${res.status}, ${body.trials?.length} trials`);
    }
    const seconds = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    return {
      scenario: `compare-${runs}`,
      n: runs,
      seconds: round(seconds),
      tasksPerSecond: Math.round((30 * runs) / seconds),
      p50Ms: round(percentile(times, 50)),
      p99Ms: round(percentile(times, 99)),
      pointsPerSecond: Math.round((runs * points * 3) / writeSeconds),
    };
  } finally {
    await http.close();
    await s.close();
    rmSync(home, { recursive: true, force: true });
  }
}
