/**
 * Asset pages in the browser, against a real `sluice dev`: a page of an asset whose name looks like a file
 * (`orders.parquet`) loads from a direct link and after a reload (the static handler serves only real
 * built files from /assets/ and lets page loads through to the app); producers, consumers and events are
 * tables with links; the lineage graph's asset node shows its last update and the run that made it.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "assets-ui-admin-password";
const ARTIFACTS = join(ROOT, "test-artifacts");
const ASSET = "orders.parquet";

const PRODUCER = `
import { dag } from "sluice";
export default dag("orders_producer", (d) => {
  d.task("write_orders", { produces: ["${ASSET}"] }, async () => ({ rows: 3 }));
});
`;
const CONSUMER = `
import { dag } from "sluice";
export default dag("orders_report", { schedule: { assets: { anyOf: ["${ASSET}"] } } }, (d) => {
  d.task("report", async () => "ok");
});
`;

/** A GET with exactly these headers (fetch() sets Sec-Fetch-Mode itself): status, type, caching, body. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; type: string; cache: string; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), cache: String(res.headers["cache-control"] ?? ""), body }));
    }).on("error", reject);
  });
}

describe("asset pages", { skip, timeout: 240_000 }, () => {
  const ui = browserSuite("sluice-ui-assets-", { "producer.ts": PRODUCER, "consumer.ts": CONSUMER }, ADMIN_PASSWORD);

  test("the server: /assets/ paths that are not built files are the app for a page load, 404 for a script", async () => {
    // a reload or a shared link: the browser's navigation headers
    const page = await rawGet(`${ui.url}/assets/${ASSET}`, { Accept: "text/html,application/xhtml+xml", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" });
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<script[^>]+src="\/assets\//);
    // a client that sends no Sec-Fetch headers: Accept decides
    assert.equal((await rawGet(`${ui.url}/assets/${encodeURIComponent("s3://lake/orders")}`, { Accept: "text/html" })).status, 200);
    // a stale page's request for a built file that is gone is still a 404, not HTML
    const script = await rawGet(`${ui.url}/assets/index-gone1234.js`, { Accept: "*/*", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "script" });
    assert.equal(script.status, 404);
    assert.doesNotMatch(script.type, /text\/html/);
    assert.equal((await rawGet(`${ui.url}/assets/index-gone1234.js`, { Accept: "*/*" })).status, 404);
    // a real built file is served as itself even to a page load, cached for good
    const html = await (await fetch(`${ui.url}/`)).text();
    const built = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await rawGet(`${ui.url}${built}`, { Accept: "text/html", "Sec-Fetch-Mode": "navigate" });
    assert.equal(js.status, 200);
    assert.match(js.type, /javascript/);
    assert.match(js.cache, /immutable/);
  });

  test("an asset page loads from a direct link and a reload; tables and a lineage node with its last update", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      const request = page.context().request;
      const { csrfToken } = (await (await request.get(`${ui.url}/api/v1/auth/me`)).json()) as { csrfToken: string };
      await waitFor(async () => (await request.get(`${ui.url}/api/v1/dags/orders_producer`)).ok(), 60_000, "the producer DAG");
      const res = await request.post(`${ui.url}/api/v1/dags/orders_producer/runs`, { headers: { "X-CSRF-Token": csrfToken }, data: {} });
      assert.equal(res.status(), 201, await res.text());
      const { runId } = (await res.json()) as { runId: string };
      await waitFor(async () => {
        const a = await request.get(`${ui.url}/api/v1/assets/${encodeURIComponent(ASSET)}`);
        return a.ok() && ((await a.json()) as { events: unknown[] }).events.length > 0;
      }, 120_000, "the asset event");

      await page.goto(`${ui.url}/assets/${encodeURIComponent(ASSET)}`);
      await page.getByTestId("asset-title").filter({ hasText: ASSET }).waitFor();
      await page.reload();
      await page.getByTestId("asset-title").filter({ hasText: ASSET }).waitFor();

      const producers = page.getByTestId("asset-producers");
      await producers.getByRole("link", { name: "orders_producer" }).waitFor();
      await producers.getByRole("link", { name: "write_orders" }).waitFor();
      await page.getByTestId("asset-consumers").getByRole("link", { name: "orders_report" }).waitFor();
      const events = page.getByTestId("asset-events");
      const runLink = events.getByRole("link", { name: runId });
      await runLink.waitFor();
      assert.match((await runLink.getAttribute("href")) ?? "", new RegExp(`/dags/orders_producer\\?run=${runId}`));

      const node = page.locator(`[data-testid="lineage-node"][data-kind="asset"][data-name="${ASSET}"]`);
      const last = node.getByTestId("lineage-last-update");
      await last.filter({ hasText: "updated" }).filter({ hasText: "orders_producer.write_orders" }).waitFor();
      assert.equal(await last.getAttribute("data-run"), runId);
      await last.locator('[data-state="success"]').waitFor();
      // edges run left to right with arrowheads: the producer DAG left of the asset, the consumer right of it
      const box = async (kind: string, name: string) => (await page.locator(`[data-testid="lineage-node"][data-kind="${kind}"][data-name="${name}"]`).boundingBox())!;
      const [producer, asset, consumer] = [await box("dag", "orders_producer"), await box("asset", ASSET), await box("dag", "orders_report")];
      assert.ok(producer.x + producer.width <= asset.x && asset.x + asset.width <= consumer.x, "producer → asset → consumer, left to right");
      assert.equal(await page.locator('[data-testid="lineage"] .react-flow__edge path[marker-end]').count(), 2);
      await page.screenshot({ path: join(ARTIFACTS, "asset-page.png"), fullPage: true });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
