/**
 * The UI for daily use, in a real Chromium against `sluice dev`: the dashboard shows a failed run made
 * here; the runs list filters; the clear preview lists exactly the task instances the API then clears;
 * after "mark success" the task panel shows no stale error; the trigger form shows a param's description;
 * and no page overflows a 1024 px wide window. Screenshots go to test-artifacts/ (gitignored).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { cliJson, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "daily-ui-admin-password";
const ARTIFACTS = join(fileURLToPath(new URL("../..", import.meta.url)), "test-artifacts", "daily");
mkdirSync(ARTIFACTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

const DAG = `
import { dag } from "sluice";
import { z } from "zod";
export default dag("daily_chain", { params: z.object({ rows: z.number().int().min(1).max(10).describe("How many rows to load from the source") }) }, (d) => {
  const extract = d.task("extract", async (_i, ctx) => ctx.params.rows);
  const transform = d.task("transform", { inputs: { extract }, retries: 0 }, async ({ extract }) => {
    if (extract > 5) throw new Error("too many rows: " + extract);
    return extract;
  });
  d.task("load", { inputs: { transform } }, async ({ transform }) => transform);
});
`;

describe("the web UI for daily use", { skip, timeout: 300_000 }, () => {
  const ui = browserSuite("sluice-ui-daily-", { "daily.ts": DAG }, ADMIN_PASSWORD);

  const trigger = (rows: number) => {
    const t = cliJson<{ runId: string }>(ui.sb, ["trigger", "daily_chain", "--param", `rows=${rows}`]);
    assert.equal(t.code, 0, t.stderr);
    return t.json.runId;
  };
  test("dashboard, runs list, clear preview, mark success, trigger form, 1024 px", async () => {
    const failed = trigger(7);
    const ok = trigger(2);
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      const stateOf = async (runId: string) => ((await (await page.request.get(`${ui.url}/api/v1/runs/${encodeURIComponent(runId)}`)).json()) as { state: string }).state;
      await waitFor(async () => (await stateOf(failed)) === "failed" && (await stateOf(ok)) === "success", 120_000, "the two runs to finish");
      // the dashboard (home page) lists the failed run among the last 24 hours' failures
      await page.getByTestId("dash-failed").locator(`li[data-run="${failed}"]`).waitFor();
      assert.equal(await page.getByTestId("dash-failed").locator(`li[data-run="${ok}"]`).count(), 0);
      assert.match(await page.getByTestId("tile-failed").innerText(), /^\s*1\s+Failed/);
      await shot(page, "dashboard");

      // the runs list: all runs, then filtered by state through the form (the URL keeps the filter)
      await page.getByTestId("tile-failed").click();
      await page.waitForURL(/\/runs\?state=failed/);
      await page.locator(`[data-testid="runs"] tr[data-run="${failed}"]`).waitFor();
      assert.equal(await page.locator(`[data-testid="runs"] tr[data-run="${ok}"]`).count(), 0);
      await page.getByLabel("state", { exact: true }).selectOption("success");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await page.locator(`[data-testid="runs"] tr[data-run="${ok}"]`).waitFor();
      await page.locator(`[data-testid="runs"] tr[data-run="${failed}"]`).waitFor({ state: "detached" });
      assert.ok((await page.locator('[data-testid="runs"] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-state")))).every((s) => s === "success"));
      await page.getByLabel("DAG", { exact: true }).fill("no_such_dag");
      await page.getByRole("button", { name: "Filter", exact: true }).click();
      await page.getByText("No runs match these filters.").waitFor();
      await shot(page, "runs-filtered");

      // the run page: params, trigger, logical date with its zone
      await page.goto(`${ui.url}/runs/${encodeURIComponent(failed)}`);
      await page.getByTestId("run-trigger").filter({ hasText: /manual/ }).waitFor();
      assert.match(await page.getByTestId("run-params").innerText(), /rows\s+7/);
      assert.match(await page.getByTestId("run-logical-date").innerText(), /UTC/);
      await shot(page, "run-page");

      // after "mark success" on the failed task, the panel shows its state and no stale error
      await page.goto(`${ui.url}/dags/daily_chain?run=${encodeURIComponent(failed)}&task=transform`);
      await page.locator('[data-testid="task-panel"] h3 [data-state="failed"]').waitFor();
      await page.locator(".attempt-error").filter({ hasText: "too many rows: 7" }).waitFor();
      await page.getByRole("button", { name: "Mark success" }).click();
      await page.getByTestId("preview-row").first().waitFor();
      assert.deepEqual(await previewRows(page), ["transform|-1|failed"]);
      await page.getByRole("button", { name: "Confirm mark success" }).click();
      await page.locator('[data-testid="task-panel"] h3 [data-state="success"]').waitFor();
      assert.equal(await page.locator(".attempt-error").count(), 0, "no error shown for an instance marked success");
      await page.getByTestId("action-preview").waitFor({ state: "detached" });
      await shot(page, "marked-success");

      // clear with downstream: the preview lists the instances; the clear the API answers lists exactly them
      await page.goto(`${ui.url}/dags/daily_chain?run=${encodeURIComponent(failed)}&task=extract`);
      await page.locator('[data-testid="task-panel"] h3 [data-state="success"]').waitFor();
      await page.getByRole("button", { name: "Clear", exact: true }).click();
      await page.getByTestId("preview-row").first().waitFor();
      assert.deepEqual(await previewRows(page), ["extract|-1|success"]);
      await page.getByTestId("action-preview").getByLabel("with downstream").check();
      await page.locator('[data-testid="preview-row"][data-task="load"]').waitFor();
      const preview = await previewRows(page);
      assert.deepEqual(preview.map((r) => r.split("|")[0]), ["extract", "transform", "load"]);
      await shot(page, "clear-preview");
      const cleared = page.waitForResponse((r) => r.url().endsWith("/tasks/extract/clear") && r.request().method() === "POST" && !(r.request().postData() ?? "").includes('"dryRun":true'));
      await page.getByRole("button", { name: "Confirm clear" }).click();
      const answer = (await (await cleared).json()) as { dryRun: boolean; instances: { taskId: string; mapIndex: number; state: string }[] };
      assert.equal(answer.dryRun, false);
      assert.deepEqual(
        answer.instances.map((i) => `${i.taskId}|${i.mapIndex}|${i.state}`),
        preview,
        "the API cleared exactly the instances the preview listed",
      );
      // the cleared run runs again (rows=7 fails transform again); the panel follows without a reload
      await page.locator('[data-testid="task-panel"] h3 [data-state="success"]').waitFor();
      await page.getByTestId("task-try").filter({ hasText: "attempt 1 of 1 (try 2 overall)" }).waitFor();

      // the trigger form shows the param's description and what the schema allows
      await page.goto(`${ui.url}/dags/daily_chain/trigger`);
      await page.getByTestId("param-description").filter({ hasText: "How many rows to load from the source" }).waitFor();
      await page.getByText("from 1 to 10").waitFor();
      await shot(page, "trigger-form");

      // 1024 px wide: no page scrolls sideways, the header included
      await page.setViewportSize({ width: 1024, height: 768 });
      for (const path of ["/", "/runs", "/task-instances", `/runs/${encodeURIComponent(failed)}`, `/dags/daily_chain?run=${encodeURIComponent(failed)}&task=transform`, "/dags/daily_chain/backfill", "/audit", "/status"]) {
        await page.goto(`${ui.url}${path}`);
        await page.getByTestId("current-user").waitFor();
        await page.waitForLoadState("networkidle");
        const overflow = (await page.evaluate('({ doc: document.documentElement.scrollWidth, header: document.querySelector("header.top").scrollWidth })')) as { doc: number; header: number };
        assert.ok(overflow.doc <= 1024 && overflow.header <= 1024, `${path} overflows at 1024 px: ${JSON.stringify(overflow)}`);
      }
      await page.goto(`${ui.url}/`);
      await page.getByTestId("dashboard").waitFor();
      await shot(page, "home-1024");
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});

/** The preview's rows as "task|mapIndex|state". */
async function previewRows(page: Page): Promise<string[]> {
  await page.waitForFunction(`!document.querySelector('[data-testid="action-preview"] .muted')?.textContent?.includes("Finding")`);
  return page.getByTestId("preview-row").evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-task")}|${r.getAttribute("data-map-index")}|${r.querySelector("[data-state]")?.getAttribute("data-state")}`));
}
