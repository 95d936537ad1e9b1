/**
 * `ui-chart-100`: the experiment comparison page charting 100 runs × 10,000 points of one metric, in
 * headless Chromium against a real HTTP server (in process, with the built UI). Each of the 100 runs'
 * task tracks a 10,000-step `loss` series (noisy, with one spike, so downsampling has work to do).
 *
 * Measured in the page: from clicking "select all shown" (the table's 100 trials) to the chart's first
 * frame with 100 series (`chartMs`: 100 downsampled series fetched, aligned, drawn), uPlot's own time
 * from construction to its first draw (`drawMs`, the UI's `sluice:chart` measure), and from unselecting
 * one trial to the redrawn chart of 99 (`toggleMs`: how responsive a change of selection is, the series
 * being cached). Server round trips: one series downsampled to 1,000 points (`apiSeriesMs`, what the
 * page asks for) and whole (`apiSeriesFullMs`, 10,000 points).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { dag } from "../dsl/dag.js";
import { startHttp } from "../server/http.js";
import { Sluice } from "../sluice.js";
import { round, type BenchResult } from "./result.js";

const CHROMIUM = "/usr/bin/chromium";
const PASSWORD = "bench-admin-password";

export interface ChartBenchResult extends BenchResult {
  points: number;
  chartMs: number;
  /** The 100 series requests, first start to last end (part of chartMs). */
  fetchMs: number;
  drawMs: number;
  toggleMs: number;
  apiSeriesMs: number;
  apiSeriesFullMs: number;
  setupSeconds: number;
}

export async function chartBench(runs = 100, points = 10_000): Promise<ChartBenchResult | null> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`ui-chart-${runs}: ${CHROMIUM} is not installed; skipped\n`);
    return null;
  }
  const { chromium } = await import("playwright-core");
  const d = dag("bench_chart", (b) => {
    b.task("fit", async (_i, ctx) => {
      const seed = ctx.attemptId;
      ctx.track.params({ lr: 0.001 * (seed % 10), seed });
      for (let step = 0; step < points; step++) {
        const noise = Math.sin(step * 12.9898 + seed * 78.233) * 0.02;
        ctx.track.metric("loss", 1 / (1 + step / 500) + noise + (step === 5000 + seed ? 1 : 0), { step });
      }
      ctx.track.metric("accuracy", 0.5 + (seed % 50) / 100);
    });
  });
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-chart-"));
  const s = await Sluice.open(loadConfig({ home, dags: join(home, "no-dags"), port: 0, host: "127.0.0.1" }, { SLUICE_ADMIN_PASSWORD: PASSWORD }), { loadDags: false, dags: [d] });
  const http = await startHttp(s, { eventToken: null, ui: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    const s0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < runs; i++) ids.push((await s.run(d.id)).runId);
    const setupSeconds = (performance.now() - s0) / 1000;

    const login = await fetch(`${http.url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password: PASSWORD }) });
    const cookie = /sluice_session=([^;]+)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
    if (!cookie) throw new Error(`ui-chart-${runs}: login failed (${login.status})`);
    const timedGet = async (path: string) => {
      const t0 = performance.now();
      const r = await fetch(`${http.url}/api/v1${path}`, { headers: { Cookie: `sluice_session=${cookie}` } });
      const body = (await r.json()) as { series?: Record<string, unknown[]> };
      if (!r.ok) throw new Error(`${path}: ${r.status}`);
      return { ms: performance.now() - t0, n: body.series?.["loss"]?.length ?? 0 };
    };
    const sample = await timedGet(`/runs/${ids[0]}/metrics?task=fit&names=loss&maxPoints=1000`);
    const full = await timedGet(`/runs/${ids[0]}/metrics?task=fit&names=loss`);
    if (full.n !== points || sample.n > 1000) throw new Error(`ui-chart-${runs}: ${full.n} points stored, ${sample.n} downsampled`);

    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(120_000);
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(http.url);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("current-user").waitFor();
    await page.goto(`${http.url}/experiments/bench_chart?metric=loss`);
    await page.locator(`[data-testid="compare-table"] tbody tr >> nth=${runs - 1}`).waitFor();
    // the default selection (10 trials) is drawn first; then all of them
    const drawnWith = (n: number) => page.locator(`[data-testid="metric-chart"][data-drawn="${n}"]`).waitFor();
    await drawnWith(Math.min(10, runs));
    const frame = () => page.evaluate("new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))");
    await page.evaluate("performance.clearMeasures('sluice:chart'); performance.clearResourceTimings(); performance.setResourceTimingBufferSize(1000)");
    const c0 = performance.now();
    await page.getByLabel("Select all shown").check();
    await drawnWith(runs);
    await frame();
    const chartMs = performance.now() - c0;
    const drawMs = await page.evaluate<number>("performance.getEntriesByName('sluice:chart').pop()?.duration ?? -1");
    // the series requests of that selection: from the first one's start to the last one's end
    const fetchMs = await page.evaluate<number>(`(() => {
      const r = performance.getEntriesByType("resource").filter((e) => e.name.includes("/metrics?"));
      return r.length ? Math.max(...r.map((e) => e.responseEnd)) - Math.min(...r.map((e) => e.startTime)) : -1;
    })()`);
    const t0 = performance.now();
    await page.locator('[data-testid="compare-table"] tbody tr input[type="checkbox"] >> nth=0').uncheck();
    await drawnWith(runs - 1);
    await frame();
    const toggleMs = performance.now() - t0;
    if (problems.length) throw new Error(problems.join("; "));
    await ctx.close();
    return {
      scenario: `ui-chart-${runs}`,
      n: runs,
      points: runs * points,
      seconds: round(chartMs / 1000),
      tasksPerSecond: Math.round(runs / (chartMs / 1000)),
      p50Ms: null,
      p99Ms: null,
      chartMs: Math.round(chartMs),
      fetchMs: Math.round(fetchMs),
      drawMs: Math.round(drawMs),
      toggleMs: Math.round(toggleMs),
      apiSeriesMs: round(sample.ms, 1),
      apiSeriesFullMs: round(full.ms, 1),
      setupSeconds: round(setupSeconds, 1),
    };
  } finally {
    await browser.close();
    await http.close();
    await s.close();
    rmSync(home, { recursive: true, force: true });
  }
}
