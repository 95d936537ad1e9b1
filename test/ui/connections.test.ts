/**
 * End-to-end in headless Chromium against a real `sluice dev`: an admin adds a connection on the
 * Connections page, the page shows its password as "set" (never the value, even after a reload or an
 * edit), a task of a triggered run reads the connection and prints its password, and the task's log in
 * the UI shows `***` in its place.
 *
 * The last step is two parts of issue 12 together: ctx.connection feeds the attempt's masker with every
 * resolved secret (secrets/attempt.ts), and the masker is applied to every log line before it is written.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "e2e-conn-admin-password";
const SECRET = "Ui-conn-pw-66129";


const DAG = `
import { dag } from "sluice";
export default dag("uses_secret", (d) => {
  d.task("print_it", async (_i, ctx) => {
    const c = await ctx.connection("warehouse");
    ctx.log.info("connecting as " + c.login + " with password " + c.password);
    return { host: c.host };
  });
});
`;

describe("connections in the web UI", { skip, timeout: 180_000 }, () => {
  const ui = browserSuite("sluice-ui-conn-", { "uses_secret.ts": DAG }, ADMIN_PASSWORD);

  test("an admin adds a connection; it shows as set; a task prints its password and the log shows ***", async () => {
    const { context: ctx, page, apiBodies: bodies, pageErrors: problems } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    const url = ui.url;
    try {

      await page.getByRole("link", { name: "Connections" }).click();
      await page.getByRole("button", { name: "Add a connection" }).click();
      const form = page.getByRole("form", { name: "Add a connection" });
      await form.locator('input[name="conn-id"]').fill("warehouse");
      await form.locator('input[name="conn-type"]').fill("postgres");
      await form.locator('input[name="conn-host"]').fill("db.internal");
      await form.locator('input[name="conn-port"]').fill("5432");
      await form.locator('input[name="conn-login"]').fill("etl");
      await form.locator('input[name="conn-password"]').fill(SECRET);
      await form.locator('input[name="conn-schema"]').fill("warehouse");
      await form.getByRole("button", { name: "Add connection" }).click();
      const row = page.locator('tr[data-connection="warehouse"]');
      await row.waitFor();
      assert.equal(await row.getByTestId("password-state").innerText(), "set");

      // an edit without a new password keeps it; the form never holds it
      await row.getByRole("button", { name: "Edit" }).click();
      const edit = page.getByRole("form", { name: "Edit connection warehouse" });
      assert.equal(await edit.locator('input[name="conn-password"]').inputValue(), "");
      await edit.locator('input[name="conn-description"]').fill("the warehouse");
      await edit.getByRole("button", { name: "Save" }).click();
      await row.filter({ hasText: "the warehouse" }).waitFor();
      assert.equal(await row.getByTestId("password-state").innerText(), "set");
      await page.reload();
      await row.waitFor();
      assert.ok(!(await page.content()).includes(SECRET), "the page never holds the password");

      // a secret variable: "set (secret)" in the list, and its edit form starts empty
      await page.getByRole("link", { name: "Variables" }).click();
      await page.getByRole("button", { name: "Set a variable" }).click();
      const vform = page.getByRole("form", { name: "Set a variable" });
      await vform.locator('input[name="var-key"]').fill("api_token");
      await vform.locator('textarea[name="var-value"]').fill(`"${SECRET}-var"`);
      await vform.locator('input[name="var-secret"]').check();
      await vform.getByRole("button", { name: "Save" }).click();
      const vrow = page.locator('tr[data-variable="api_token"]');
      await vrow.filter({ hasText: "set (secret)" }).waitFor();
      await vrow.getByRole("button", { name: "Replace" }).click();
      assert.equal(await page.getByRole("form", { name: "Edit variable api_token" }).locator('textarea[name="var-value"]').inputValue(), "");
      await page.getByRole("button", { name: "Cancel" }).click();
      assert.ok(!(await page.content()).includes(SECRET));

      // a run whose task prints the password
      await page.goto(`${url}/dags/uses_secret/trigger`);
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/dags\/uses_secret\?run=/);
      await page.locator('[data-testid="run-state"] [data-state="success"]').waitFor({ timeout: 60_000 });
      await page.locator(".gnode.task", { hasText: "print_it" }).click();
      await page.getByTestId("log-lines").filter({ hasText: "connecting as etl with password" }).waitFor();
      const log = await page.getByTestId("log-lines").innerText();
      // the password was replaced before the line was written
      assert.match(log, /connecting as etl with password \*\*\*/, `the log shows the password instead of ***:\n${log}`);
      assert.ok(!log.includes(SECRET));
      assert.ok(!bodies.join("\n").includes(SECRET), "no API response held the password");
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
    }
  });
});
