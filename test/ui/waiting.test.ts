/**
 * Work nobody can run says why (issue 11 item 4), in the browser: a scheduler serving the UI and one
 * worker of queue "default" — real processes on one SQLite file — and a task on queue "gpu" that no live
 * worker serves. Its task panel shows the waiting reason the CLI and the API give, as plain text.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, describe, test } from "node:test";
import { cliJson, cliSpawn, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "waiting-ui-admin-password";
const REASON = "waiting: no live worker serves queue gpu (sluice worker --queues gpu)";

const DAG = `
import { dag } from "sluice";
export default dag("waiting_ui", (d) => {
  d.task("runs", async () => 1);
  d.task("on_gpu", { queue: "gpu" }, async () => "never");
});
`;

describe("a task nobody can run, in the web UI", { skip, timeout: 180_000 }, () => {
  // `sluice dev` serves every queue: a scheduler (the UI, with an event token) and a worker of "default" instead
  const ui = browserSuite("sluice-ui-waiting-", { "waiting_ui.ts": DAG }, ADMIN_PASSWORD, {
    args: ["scheduler", "--port", "0"],
    env: { SLUICE_EVENT_TOKEN: "waiting-ui-event-token" },
  });
  let worker: ChildProcess | undefined;
  after(async () => {
    if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
    const exited = new Promise((r) => worker!.once("exit", r));
    worker.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
  });

  test("the task panel of a task on a queue no live worker serves shows why it waits, as text", async () => {
    worker = cliSpawn(ui.sb, ["worker", "--queues", "default", "--quiet"]);
    let out = "";
    worker.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    worker.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    await waitFor(() => /worker \S+ started/.test(out), 60_000, `the worker to start\n${out}`);
    const trigger = cliJson<{ runId: string }>(ui.sb, ["trigger", "waiting_ui"]);
    assert.equal(trigger.code, 0, trigger.stderr);
    const runId = trigger.json.runId;

    const { context: ctx, page, apiBodies, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/dags/waiting_ui?run=${encodeURIComponent(runId)}`);
      // the task on "default" ran: the worker is live, and it is the queue that nobody serves
      await page.locator('.gnode.task[data-state="success"]', { hasText: "runs" }).waitFor();
      await page.locator(".gnode.task", { hasText: "on_gpu" }).click();
      const reason = page.getByTestId("task-waiting-reason");
      await reason.filter({ hasText: "no live worker serves queue gpu" }).waitFor();
      assert.equal((await reason.innerText()).trim(), REASON);
      // rendered as text (React escapes it), never as markup: the element holds one text node and no element
      const nodes = await reason.evaluate((el) => [...el.childNodes].map((n) => n.nodeType));
      assert.deepEqual(nodes, [3], "the reason is a single text node");
      assert.ok(apiBodies.some((b) => b.includes(REASON)), "the API's task list carried the reason");
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }
  });
});
