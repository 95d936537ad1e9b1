/**
 * Secret params in the browser (docs/decisions/0016-secrets.md): against a real `sluice dev` with no key
 * configured (the first secret creates <home>/secret.key), an admin triggers a DAG with a secret param
 * from the UI's form — a password field that starts empty — and the run's task logs and returns the
 * value: the log, the output preview, the API's run and every page the browser rendered show `***`, never
 * the value; the non-secret param stays readable.
 */
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "secret-ui-admin-password";
const API_KEY = "sk-live-Ui7/+ q&z=9f3b";


const DAG = `
import { dag } from "sluice";
import { z } from "zod";
export default dag("secret_ui", { params: z.object({ api_key: z.string(), region: z.string().default("eu-west-1") }), secretParams: ["api_key"] }, (d) => {
  d.task("call", async (_i, ctx) => {
    ctx.log.info("calling " + ctx.params.region + " with key " + ctx.params.api_key);
    return { key: ctx.params.api_key, region: ctx.params.region };
  });
});
`;

describe("secret params in the web UI", { skip, timeout: 180_000 }, () => {
  const ui = browserSuite("sluice-ui-secret-", { "secret_ui.ts": DAG }, ADMIN_PASSWORD);

  test("trigger with a secret param: a password field, then *** in the log, the output and the API", async () => {
    const { context: ctx, page, apiBodies: seen } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    const url = ui.url;
    try {
      await page.goto(`${url}/dags/secret_ui/trigger`);
      const field = page.locator("#param-api_key");
      await field.waitFor();
      assert.equal(await field.getAttribute("type"), "password");
      assert.equal(await field.inputValue(), "");
      assert.equal(await page.locator("#param-region").inputValue(), "eu-west-1");
      await field.fill(API_KEY);
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/dags\/secret_ui\?run=/);
      const runId = decodeURIComponent(/run=([^&]+)/.exec(page.url())![1]!);
      await page.locator('[data-testid="run-state"] [data-state="success"]').waitFor();
      await page.locator(".gnode.task", { hasText: "call" }).click();
      await page.getByTestId("log-lines").filter({ hasText: "calling eu-west-1 with key ***" }).waitFor();
      await page.getByTestId("output-preview").filter({ hasText: "***" }).waitFor();
      assert.match(await page.getByTestId("output-preview").innerText(), /eu-west-1/);

      const run = (await page.evaluate(async (id) => (await fetch(`/api/v1/runs/${encodeURIComponent(id)}`)).json(), runId)) as { params: unknown };
      assert.deepEqual(run.params, { api_key: "***", region: "eu-west-1" });
      assert.ok(!(await page.content()).includes(API_KEY), "the page holds the key");
      await waitFor(() => seen.length > 0, 5_000, "API responses");
      assert.deepEqual(seen.filter((t) => t.includes(API_KEY)), [], "an API response held the key");
      assert.equal(statSync(join(ui.sb.home, "secret.key")).mode & 0o777, 0o600, "the first secret created the key file");
    } finally {
      await ctx.close();
    }
  });
});
