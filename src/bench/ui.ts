/**
 * `ui-10000`: how long the web UI takes to show a 10,000-task DAG, in headless Chromium against a real
 * `sluice dev`. Two DAGs of 100 layers × 100 tasks (each task after two of the layer before): one with a
 * task group per layer (the graph opens with groups collapsed), one flat (10,000 visible nodes: the fast
 * layout and viewport-only rendering). Each has one run, cancelled as soon as it is created: what a view
 * costs does not depend on its tasks' states, and running 20,000 tasks takes minutes on a shared machine.
 * Times are from navigation to the first usable view (nodes or cells on screen and a frame painted after
 * them), API times are server round trips.
 *
 * Each graph time is split with the page's own timeline (Resource Timing for the API calls, the UI's
 * User Timing measure `sluice:layout`): when the structure arrived, how long the layout took in its
 * worker, and the rest (React and xyflow rendering until the first frame with nodes).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { round, type BenchResult } from "./result.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const PASSWORD = "bench-admin-password";

/** Where a graph view's time went, in ms from navigation start. */
interface GraphPhases {
  /** The structure response's end. */
  structureAtMs: number;
  /** The layout (worker round trip) from its request to its result; null: the view was usable before it, with the interim layout. */
  layoutMs: number | null;
  /** From the layout's result (or the structure, with the interim layout) to the first painted frame with nodes: React and xyflow. */
  renderMs: number;
}

export interface UiBenchResult extends BenchResult {
  graphGroupedMs: number;
  graphFlatMs: number;
  graphGrouped: GraphPhases;
  graphFlat: GraphPhases;
  gridMs: number;
  apiStructureMs: number;
  apiGridMs: number;
  apiRunTasksMs: number;
}

function dagFile(id: string, grouped: boolean, layers: number, width: number): string {
  return `import { dag } from "sluice";
export default dag(${JSON.stringify(id)}, { description: "UI benchmark" }, (d) => {
  let prev = [];
  for (let l = 0; l < ${layers}; l++) {
    const build = (b) => {
      const layer = [];
      for (let i = 0; i < ${width}; i++) {
        const after = prev.length ? [prev[i], prev[(i + 1) % prev.length]] : [];
        layer.push(b.task(${grouped ? "`t${i}`" : "`l${l}_t${i}`"}, { after }, () => undefined));
      }
      return layer;
    };
    prev = ${grouped ? "d.group(`layer${l}`, build)" : "build(d)"};
  }
});
`;
}

export async function uiBench(n = 10_000): Promise<UiBenchResult | null> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`ui-${n}: ${CHROMIUM} is not installed; skipped\n`);
    return null;
  }
  const { chromium } = await import("playwright-core");
  const width = 100;
  const layers = Math.ceil(n / width);
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-ui-"));
  mkdirSync(join(dir, "dags"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(ROOT, join(dir, "node_modules", "sluice"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(join(dir, "dags", "grouped.ts"), dagFile("ui_grouped", true, layers, width));
  writeFileSync(join(dir, "dags", "flat.ts"), dagFile("ui_flat", false, layers, width));
  let proc: ChildProcess | null = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    let out = "";
    proc = spawn(process.execPath, [join(ROOT, "bin", "sluice.js"), "dev", "--port", "0", "--quiet"], {
      cwd: dir,
      env: { ...process.env, SLUICE_HOME: join(dir, ".sluice"), SLUICE_DAGS: join(dir, "dags"), SLUICE_ADMIN_PASSWORD: PASSWORD, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    const url = await until(() => /(https?:\/\/[\w.:[\]-]+)/.exec(out)?.[1] ?? null, 120_000, () => `sluice dev printed no URL:\n${out}`);

    const login = await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "admin", password: PASSWORD }) });
    if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${url}/api/v1${path}`, { method, headers: { Cookie: cookie, "X-CSRF-Token": csrfToken, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      return r.json();
    };
    const runs: Record<string, string> = {};
    for (const id of ["ui_grouped", "ui_flat"]) {
      await until(async () => (await fetch(`${url}/api/v1/dags/${id}`, { headers: { Cookie: cookie } })).ok || null, 180_000, () => `DAG ${id} never loaded:\n${out}`);
      runs[id] = ((await call("POST", `/dags/${id}/runs`, {})) as { runId: string }).runId;
    }
    for (const id of Object.keys(runs)) {
      await call("POST", `/runs/${runs[id]}/cancel`).catch(() => undefined); // 409: it already finished
      await until(async () => (["success", "failed"].includes(((await call("GET", `/runs/${runs[id]}`)) as { state: string }).state) ? true : null), 600_000, () => `run of ${id} never finished`);
    }

    const timed = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const apiStructureMs = await timed(() => call("GET", "/dags/ui_flat/structure"));
    const apiGridMs = await timed(() => call("GET", "/dags/ui_flat/grid?limit=20"));
    const apiRunTasksMs = await timed(() => call("GET", `/runs/${runs["ui_flat"]}/tasks?limit=500`));

    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(url);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("current-user").waitFor();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    const view = (path: string, selector: string) =>
      timed(async () => {
        await page.goto(`${url}${path}`);
        await page
          .locator(selector)
          .first()
          .waitFor()
          .catch(async (e: Error) => {
            // what the page showed instead, for the one who reads the failure
            const shot = join(ROOT, ".bench", `ui-timeout-${Date.now()}.png`);
            mkdirSync(join(ROOT, ".bench"), { recursive: true });
            await page.screenshot({ path: shot }).catch(() => undefined);
            throw new Error(`${path}: ${selector} did not appear (${e.message.split("\n")[0]}); screenshot ${shot}; ${problems.join("; ") || "no page errors"}`);
          });
        // usable: the page has painted after the nodes appeared
        await page.evaluate("new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))");
      });
    const phases = async (total: number): Promise<GraphPhases> => {
      const t = await page.evaluate<{ structureAt: number; layoutStart: number; layoutMs: number } | null>(`(() => {
        const structure = performance.getEntriesByType("resource").filter((e) => e.name.includes("/structure")).pop();
        const layout = performance.getEntriesByName("sluice:layout").pop();
        return { structureAt: structure ? structure.responseEnd : 0, layoutStart: layout ? layout.startTime : -1, layoutMs: layout ? layout.duration : 0 };
      })()`);
      if (!t) throw new Error("no performance timeline from the page");
      // no layout measure yet: the view was usable with the interim layout, before elk's arrived
      if (t.layoutStart < 0) return { structureAtMs: Math.round(t.structureAt), layoutMs: null, renderMs: Math.round(Math.max(0, total - t.structureAt)) };
      return { structureAtMs: Math.round(t.structureAt), layoutMs: Math.round(t.layoutMs), renderMs: Math.round(Math.max(0, total - t.layoutStart - t.layoutMs)) };
    };
    const graphGroupedMs = await view(`/dags/ui_grouped?run=${runs["ui_grouped"]}`, ".react-flow__node");
    const graphGrouped = await phases(graphGroupedMs);
    const graphFlatMs = await view(`/dags/ui_flat?run=${runs["ui_flat"]}`, ".react-flow__node");
    const graphFlat = await phases(graphFlatMs);
    const gridMs = await view(`/dags/ui_flat?tab=grid&run=${runs["ui_flat"]}`, "[data-testid=grid] .cell");
    await ctx.close();
    const worst = Math.max(graphGroupedMs, graphFlatMs, gridMs);
    return {
      scenario: `ui-${n}`,
      n: layers * width,
      seconds: round(worst / 1000),
      tasksPerSecond: Math.round((layers * width) / (worst / 1000)),
      p50Ms: null,
      p99Ms: null,
      graphGroupedMs: Math.round(graphGroupedMs),
      graphFlatMs: Math.round(graphFlatMs),
      graphGrouped,
      graphFlat,
      gridMs: Math.round(gridMs),
      apiStructureMs: Math.round(apiStructureMs),
      apiGridMs: Math.round(apiGridMs),
      apiRunTasksMs: Math.round(apiRunTasksMs),
    };
  } finally {
    await browser.close();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until<T>(fn: () => T | null | Promise<T | null>, timeoutMs: number, what: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what()}`);
}
