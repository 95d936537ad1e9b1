/**
 * The experiments UI in a real Chromium against `sluice dev`, on runs of a DAG that tracks (a mapped sweep
 * of three depths, run with two `scale` params): the comparison page lists every trial, sorting and the
 * filter box change the table, the uPlot chart draws the selected trials' series on a canvas; the second
 * run's cached task shows a "cached" badge linking to the attempt it reused; the trigger page's "refresh
 * cache" checkbox makes a run whose cached task runs again; and params, metric names and tags holding
 * markup are shown as text everywhere (no element made from them, no script run); a run's note is added,
 * rendered as markdown without raw HTML, and removed on the run page. Screenshots go to
 * test-artifacts/experiments/ (gitignored).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { Store } from "../../dist/store/store.js";
import { cliJson, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "experiments-ui-admin-password";
const ARTIFACTS = join(fileURLToPath(new URL("../..", import.meta.url)), "test-artifacts", "experiments");
mkdirSync(ARTIFACTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

// names cannot hold markup through ctx.track (core/tracking.ts allows letters, digits and `_.-/: `), so
// these are written under the API into the store, as an older version or a hand-made row could have;
// values (a param's, a tag's) are free text and come through the task itself
const EVIL_PARAM = "<b>bold</b>";
const EVIL_METRIC = "<i>ital</i>";
const EVIL_TAG_NAME = "<s>struck</s>";
const EVIL_TAG = "<img src=x onerror=window.__xss=1>";

const DAG = `
import { dag } from "sluice";
import { z } from "zod";
export default dag("exp_sweep", { params: z.object({ scale: z.number().default(1) }) }, (d) => {
  const data = d.task("data", { cache: true, cacheParams: [] }, async () => [1, 2, 3]);
  d.map("fit", { over: { depth: [2, 4, 8] }, inputs: { data } }, async ({ depth }, ctx) => {
    ctx.track.params({ depth, html: "<u>under</u>" });
    for (let step = 0; step < 300; step++) ctx.track.metric("loss", (depth * ctx.params.scale) / (step + 1), { step });
    ctx.track.metric("accuracy", 0.8 + (depth * ctx.params.scale) / 100);
    ctx.track.tag("note", ${JSON.stringify(EVIL_TAG)});
  });
});
`;

describe("the experiments UI", { skip, timeout: 300_000 }, () => {
  const ui = browserSuite("sluice-ui-experiments-", { "sweep.ts": DAG }, ADMIN_PASSWORD);

  test("comparison table sorts and filters, the chart draws, cached badges link to the reused attempt, no-cache refreshes, markup is text", async () => {
    const trigger = (scale: number) => {
      const t = cliJson<{ runId: string }>(ui.sb, ["trigger", "exp_sweep", "--param", `scale=${scale}`]);
      assert.equal(t.code, 0, t.stderr);
      return t.json.runId;
    };
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    try {
      const api = async <T,>(path: string): Promise<T> => (await (await page.request.get(`${ui.url}/api/v1${path}`)).json()) as T;
      const finished = (runId: string) => waitFor(async () => ["success", "failed"].includes((await api<{ state: string }>(`/runs/${runId}`)).state), 120_000, `run ${runId} to finish`);
      const first = trigger(1);
      await finished(first);
      const second = trigger(2);
      await finished(second);
      assert.equal((await api<{ state: string }>(`/runs/${first}`)).state, "success");
      assert.equal((await api<{ state: string }>(`/runs/${second}`)).state, "success");
      // markup in names, written under the API onto the first run's fit[0] trial
      const fit0 = (await api<{ items: { attemptId: number }[] }>(`/runs/${first}/tasks/fit/attempts?mapIndex=0`)).items[0]!.attemptId;
      const store = await Store.open({ url: `sqlite:${ui.sb.home}/sluice.db`, migrate: false });
      try {
        await store.tracking.record({
          runId: first,
          dagId: "exp_sweep",
          experiment: "exp_sweep",
          taskId: "fit",
          mapIndex: 0,
          attemptId: fit0,
          at: Date.now(),
          params: [{ key: EVIL_PARAM, value: JSON.stringify("p") }],
          metrics: [{ name: EVIL_METRIC, step: 0, seq: 0, value: 1, at: Date.now() }],
          tags: [{ key: EVIL_TAG_NAME, value: "t" }],
          artifacts: [],
        });
      } finally {
        await store.close();
      }

      // the experiments list links to the comparison
      await page.goto(`${ui.url}/experiments`);
      await page.locator('[data-testid="experiments"] tr[data-experiment="exp_sweep"] a[href="/experiments/exp_sweep"]').click();
      await page.waitForURL(/\/experiments\/exp_sweep/);
      const table = page.getByTestId("compare-table");
      const rows = table.locator("tbody tr");
      await waitFor(async () => (await rows.count()) === 6, 30_000, "six trials (2 runs × 3 depths)");
      await shot(page, "comparison");

      // the value of one column in every row, top to bottom
      const column = async (key: string) => {
        const idx = await table.locator("thead th").evaluateAll((ths, k) => ths.findIndex((th) => th.querySelector(`button[data-col="${k}"]`)), key);
        assert.ok(idx > 0, `column ${key}`);
        return rows.evaluateAll((trs, i) => trs.map((tr) => (tr.children[i]?.textContent ?? "").trim()), idx);
      };
      // sort by accuracy (last): first click descending, second ascending
      const acc = "m:last:accuracy";
      await table.locator(`button[data-col="${acc}"]`).click();
      await page.waitForURL(/sort=m%3Alast%3Aaccuracy/);
      const desc = (await column(acc)).map(Number);
      assert.deepEqual(desc, [0.96, 0.88, 0.88, 0.84, 0.84, 0.82]);
      await table.locator(`button[data-col="${acc}"]`).click();
      await page.waitForURL(/dir=asc/);
      assert.deepEqual((await column(acc)).map(Number), [0.82, 0.84, 0.84, 0.88, 0.88, 0.96]);
      assert.equal(await table.locator(`th[aria-sort="ascending"] button[data-col="${acc}"]`).count(), 1);
      // sort by a param
      await table.locator('button[data-col="p:depth"]').click();
      assert.deepEqual(await column("p:depth"), ["8", "8", "4", "4", "2", "2"]);

      // the numeric filter keeps the trials above the threshold; a param condition and a word narrow further
      await page.getByLabel("Filter", { exact: true }).fill("accuracy > 0.85");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await waitFor(async () => (await rows.count()) === 3, 10_000, "three trials with accuracy > 0.85");
      assert.ok((await column(acc)).map(Number).every((v) => v > 0.85));
      await page.getByLabel("Filter", { exact: true }).fill("accuracy > 0.85 depth=4");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await waitFor(async () => (await rows.count()) === 1, 10_000, "one trial with accuracy > 0.85 and depth 4");
      assert.equal(await rows.first().getAttribute("data-run"), second);
      await page.getByLabel("Filter", { exact: true }).fill("loss.max >= 16");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await waitFor(async () => (await rows.count()) === 1, 10_000, "one trial whose loss started at 16");
      await page.getByRole("button", { name: "Clear filter" }).click();
      await waitFor(async () => (await rows.count()) === 6, 10_000, "all trials again");

      // the chart: every shown trial is selected by default (fewer than 10); one series each, drawn on a canvas
      const chart = page.getByTestId("metric-chart");
      await page.getByLabel("Metric").selectOption("loss");
      await chart.locator("canvas").waitFor();
      await waitFor(async () => (await chart.getAttribute("data-series")) === "6" && (await chart.getAttribute("data-drawn")) === "6", 30_000, "six series drawn");
      // the canvas is not blank: it has pixels of the first series' colour family (not white, not transparent)
      type Canvas2d = { width: number; height: number; getContext(k: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
      const inked = await chart.locator("canvas").evaluate((el) => {
        const c = el as unknown as Canvas2d;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && !(d[i]! > 240 && d[i + 1]! > 240 && d[i + 2]! > 240)) n++;
        return n;
      });
      assert.ok(inked > 500, `the canvas has drawn pixels (${inked})`);
      // unselecting a trial removes its series
      await rows.first().locator('input[type="checkbox"]').uncheck();
      await waitFor(async () => (await chart.getAttribute("data-drawn")) === "5", 10_000, "five series drawn");
      await shot(page, "chart");

      // markup in a param name, a param value, a metric name and a tag is text: no element made from it
      const compareHtml = await page.locator("main").innerHTML();
      for (const text of [EVIL_PARAM, EVIL_METRIC, EVIL_TAG_NAME, EVIL_TAG, "<u>under</u>"]) assert.ok((await page.locator("main").innerText()).includes(text), `${text} shown as text`);
      assert.equal(await page.locator("main b, main i, main u, main s, main img").count(), 0, "no element from user text");
      assert.ok(!compareHtml.includes("<img"), "no img tag in the page");

      // the run page's tracking section: params, metrics, tags (as text), a link to the experiment
      await page.goto(`${ui.url}/runs/${encodeURIComponent(first)}`);
      const tracking = page.getByTestId("run-tracking");
      await tracking.waitFor();
      const trackingText = await tracking.innerText();
      for (const text of [EVIL_PARAM, EVIL_METRIC, EVIL_TAG_NAME, EVIL_TAG, "<u>under</u>", "param depth", "metric accuracy", "300 points"]) assert.ok(trackingText.includes(text), `${text} on the run page`);
      assert.equal(await page.locator("main b, main i, main u, main s, main img").count(), 0, "no element from user text on the run page");
      await page.goto(`${ui.url}/runs/${encodeURIComponent(second)}`);
      await tracking.waitFor();
      assert.equal(await tracking.getByRole("link", { name: "exp_sweep" }).getAttribute("href"), "/experiments/exp_sweep");

      // the second run's data task reused the first run's: a cached badge linking to that attempt
      const firstData = (await api<{ items: { attemptId: number; cachedFrom: number | null }[] }>(`/runs/${first}/tasks/data/attempts`)).items;
      const secondData = (await api<{ items: { attemptId: number; cachedFrom: number | null }[] }>(`/runs/${second}/tasks/data/attempts`)).items;
      assert.equal(firstData[0]!.cachedFrom, null);
      assert.equal(secondData[0]!.cachedFrom, firstData[0]!.attemptId);
      const badge = page.locator('[data-testid="run-tasks"] tr[data-task="data"] [data-testid="cached-badge"]');
      await badge.waitFor();
      assert.equal(await badge.getAttribute("href"), `/attempts/${firstData[0]!.attemptId}`);
      assert.equal(await page.locator('[data-testid="run-tasks"] tr[data-task="fit"] [data-testid="cached-badge"]').count(), 0, "fit is not cached");
      // the run's note: added on the run page, rendered as markdown without raw HTML, stored with its author
      await page.getByRole("button", { name: "Add a note" }).click();
      await page.getByRole("textbox", { name: /Note/ }).fill("**best run so far** <img src=x onerror=window.__xss=2>");
      await page.getByRole("button", { name: "Save note" }).click();
      await page.getByTestId("run-note").locator("strong", { hasText: "best run so far" }).waitFor();
      assert.equal(await page.getByTestId("run-note").locator("img").count(), 0, "no img from the note");
      const noted = await api<{ note: { note: string | null; updatedBy: string } | null }>(`/runs/${second}`);
      assert.equal(noted.note?.note, "**best run so far** <img src=x onerror=window.__xss=2>");
      assert.equal(noted.note?.updatedBy, "admin");
      await page.getByRole("button", { name: "Edit note" }).click();
      await page.getByRole("textbox", { name: /Note/ }).fill("");
      await page.getByRole("button", { name: "Save note" }).click();
      await page.getByTestId("run-note").getByText("No note.").waitFor();
      assert.equal((await api<{ note: { note: string | null } | null }>(`/runs/${second}`)).note?.note ?? null, null, "an empty note removes it");
      await shot(page, "run-tracking");
      await badge.click();
      // the link opens the reused attempt's task panel, in the first run
      await page.waitForURL((u) => u.pathname === "/dags/exp_sweep" && u.searchParams.get("run") === first && u.searchParams.get("task") === "data");
      await page.getByTestId("task-panel-title").filter({ hasText: "data" }).waitFor();
      // and the second run's panel marks its attempt as cached
      await page.goto(`${ui.url}/dags/exp_sweep?run=${encodeURIComponent(second)}&task=data`);
      await page.locator('[data-testid="task-panel"] table.attempts [data-testid="cached-badge"]').waitFor();

      // the trigger page's "refresh cache" checkbox: the request says noCache, and the cached task runs again
      await page.goto(`${ui.url}/dags/exp_sweep/trigger`);
      await page.getByLabel(/Refresh cache/).check();
      const sent = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/api/v1/dags/exp_sweep/runs"));
      await page.getByRole("button", { name: "Trigger run" }).click();
      assert.equal(((await sent).postDataJSON() as { noCache?: boolean }).noCache, true);
      await page.waitForURL(/\/dags\/exp_sweep\?run=/);
      const forced = new URL(page.url()).searchParams.get("run")!;
      await finished(forced);
      const forcedData = (await api<{ items: { cachedFrom: number | null; state: string }[] }>(`/runs/${forced}/tasks/data/attempts`)).items;
      assert.equal(forcedData.length, 1);
      assert.equal(forcedData[0]!.state, "success");
      assert.equal(forcedData[0]!.cachedFrom, null, "with no cache the data task ran instead of reusing");
      // and without the checkbox the next run is a cache hit again (of the refreshed entry)
      await page.goto(`${ui.url}/dags/exp_sweep/trigger`);
      const sent2 = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/api/v1/dags/exp_sweep/runs"));
      await page.getByRole("button", { name: "Trigger run" }).click();
      assert.equal(((await sent2).postDataJSON() as { noCache?: boolean }).noCache, undefined);
      await page.waitForURL(/\/dags\/exp_sweep\?run=/);
      const plain = new URL(page.url()).searchParams.get("run")!;
      await finished(plain);
      assert.notEqual((await api<{ items: { cachedFrom: number | null }[] }>(`/runs/${plain}/tasks/data/attempts`)).items[0]!.cachedFrom, null);

      assert.deepEqual(dialogs, [], "no script from user text ran");
      assert.equal(await page.evaluate("window.__xss"), undefined);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
