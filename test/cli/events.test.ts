/**
 * Events and assets through the real binary: `sluice dev --port 0` serves `POST /api/v1/events/<name>`
 * (token, idempotency key, bad input), `sluice events send`, and the lineage that `sluice assets list|show`
 * report after an event-triggered producer triggered an asset-scheduled DAG.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";

const sb = sandbox("sluice-events-");
/** Long-running processes this file started: none may outlive it, even when a test fails half-way. */
const spawned = new Set<ReturnType<typeof cliSpawn>>();
after(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  sb.cleanup();
});

function start(s: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) {
  const proc = cliSpawn(s, args, env);
  spawned.add(proc);
  proc.on("close", () => spawned.delete(proc));
  return proc;
}

sb.write(
  "events.ts",
  `import { dag } from "sluice";
export const orders = dag("orders", { events: ["new_orders"] }, (d) => {
  d.task("load", { produces: ["warehouse.orders"] }, async (_, ctx) => {
    const payload = ctx.event?.payload as { ids?: number[] } | null;
    ctx.assetMetadata("warehouse.orders", { rows: payload?.ids?.length ?? 0 });
    return { event: ctx.event?.name, payload: ctx.event?.payload };
  });
});
export const audit = dag("audit", { events: ["new_orders", "refund"] }, (d) => {
  d.task("note", async (_, ctx) => ctx.event?.payload ?? null);
});
export const report = dag("report", { schedule: { assets: { anyOf: ["warehouse.orders"] } } }, (d) => {
  d.task("build", async (_, ctx) => ctx.triggeringAssetEvents.map((e) => ({ asset: e.asset, runId: e.runId, rows: e.metadata.rows })));
});
`,
);

interface Served {
  url: string;
  token: string;
  stop(): Promise<void>;
  stdout(): string;
}

/** Start a long-running role and read its API address (and token) from what it prints. */
async function serveRole(s: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const proc = start(s, args, env);
  let out = "";
  let err = "";
  proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => proc.on("close", () => resolve()));
  try {
    await waitFor(() => /token:\s+\S+/.test(out) || proc.exitCode !== null, 60_000, `the API address in:\n${out}\n${err}`);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  const url = /api:\s+(http:\/\/\S+)/.exec(out)?.[1];
  if (!url) proc.kill("SIGKILL");
  assert.ok(url, `no api line in:\n${out}\n${err}`);
  const token = env["SLUICE_EVENT_TOKEN"] ?? /token:\s+(\S+)/.exec(out)![1]!;
  return {
    url,
    token,
    stdout: () => out,
    async stop() {
      proc.kill("SIGINT");
      const hard = setTimeout(() => proc.kill("SIGKILL"), 30_000); // a graceful stop that hangs must not hang the suite
      await exited;
      clearTimeout(hard);
    },
  };
}

function post(api: Served, name: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${api.url}/api/v1/events/${name}`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body });
}

const runsOf = (dagId: string) => cliJson<{ runs: { runId: string; state: string; runType: string }[] }>(sb, ["runs", "list", "--dag", dagId]).json.runs;

function output(runId: string, taskId: string): unknown {
  const r = cliJson<{ output: unknown }>(sb, ["output", runId, taskId]);
  assert.equal(r.code, 0, r.stderr);
  return r.json.output;
}

async function succeeded(dagId: string, n: number): Promise<{ runId: string; runType: string }[]> {
  await waitFor(() => {
    const runs = runsOf(dagId);
    return runs.length === n && runs.every((r) => r.state === "success");
  }, 60_000, `${n} successful run(s) of ${dagId}`);
  return runsOf(dagId);
}

test("sluice dev serves events: token, idempotency key, bad input; event runs see the payload; the asset they produce triggers its consumer; assets list/show report the lineage", async () => {
  const api = await serveRole(sb, ["dev", "--port", "0"]);
  try {
    const auth = { Authorization: `Bearer ${api.token}` };

    // no token, a wrong token: 401, nothing recorded
    let r = await post(api, "new_orders", "{}");
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { code: string }).code, "UNAUTHORIZED");
    assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
    r = await post(api, "new_orders", "{}", { Authorization: "Bearer not-the-token" });
    assert.equal(r.status, 401);

    // an unknown event: 404, nothing recorded
    r = await post(api, "no_such_event", '{"x":1}', auth);
    assert.equal(r.status, 404);
    const notFound = (await r.json()) as { code: string; message: string };
    assert.equal(notFound.code, "EVENT_NOT_FOUND");
    assert.match(notFound.message, /no DAG is subscribed to event "no_such_event"; subscribed events: new_orders, refund/);

    // malformed JSON: 400
    r = await post(api, "new_orders", '{"ids": [1, 2', auth);
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { code: string }).code, "INVALID_PAYLOAD");
    assert.equal(runsOf("orders").length + runsOf("audit").length, 0, "bad requests create no run");
    assert.deepEqual(cliJson(sb, ["events", "list"]).json.events, [], "and record no event");

    // a good one: one run per subscribed DAG, with the payload
    r = await post(api, "new_orders", '{"ids": [1, 2, 3]}', { ...auth, "Idempotency-Key": "batch-1" });
    assert.equal(r.status, 201);
    const sent = (await r.json()) as { eventId: number; duplicate: boolean; runs: { dagId: string; runId: string }[] };
    assert.equal(sent.duplicate, false);
    assert.deepEqual(sent.runs.map((x) => x.dagId), ["audit", "orders"]);

    // the same key again: the same runs, no new one
    r = await post(api, "new_orders", '{"ids": [9]}', { ...auth, "Idempotency-Key": "batch-1" });
    assert.equal(r.status, 200);
    const again = (await r.json()) as typeof sent;
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.runs, sent.runs);

    const [ordersRun] = await succeeded("orders", 1);
    await succeeded("audit", 1);
    assert.equal(ordersRun!.runType, "event");
    assert.deepEqual(output(ordersRun!.runId, "load"), { event: "new_orders", payload: { ids: [1, 2, 3] } });

    // orders.load produced warehouse.orders: report runs on it and sees the event
    const [reportRun] = await succeeded("report", 1);
    assert.equal(reportRun!.runType, "asset");
    assert.deepEqual(output(reportRun!.runId, "build"), [{ asset: "warehouse.orders", runId: ordersRun!.runId, rows: 3 }]);

    // the CLI sends through the store: same rules
    const viaCli = cliJson<{ duplicate: boolean; runs: { dagId: string; runId: string }[] }>(sb, ["events", "send", "refund", "--payload", '{"orderId": 7}', "--idempotency-key", "refund-7"]);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.deepEqual(viaCli.json.runs.map((x) => x.dagId), ["audit"]);
    const viaCliAgain = cliJson<typeof viaCli.json>(sb, ["events", "send", "refund", "--payload", '{"orderId": 8}', "--idempotency-key", "refund-7"]);
    assert.equal(viaCliAgain.json.duplicate, true);
    assert.deepEqual(viaCliAgain.json.runs, viaCli.json.runs);
    const audits = await succeeded("audit", 2);
    assert.deepEqual(output(audits.find((x) => x.runId === viaCli.json.runs[0]!.runId)!.runId, "note"), { orderId: 7 });

    const unknown = cli(sb, ["events", "send", "nope", "--payload", "{}"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /error \[EVENT_NOT_FOUND\]: no DAG is subscribed to event "nope"/);
    const badJson = cli(sb, ["events", "send", "refund", "--payload", "{nope"]);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /error \[INVALID_PAYLOAD\]: --payload is not JSON/);
    assert.equal(runsOf("audit").length, 2, "failed sends create no run");

    const events = cliJson<{ events: { name: string; source: string; idempotencyKey: string | null; runs: unknown[] }[] }>(sb, ["events", "list"]).json.events;
    assert.deepEqual(events.map((e) => [e.name, e.source, e.idempotencyKey, e.runs.length]), [
      ["refund", "cli", "refund-7", 1],
      ["new_orders", "api", "batch-1", 2],
    ]);

    // lineage
    const dags = cliJson<{ dags: { dagId: string; assetSchedule: unknown; events: string[] }[] }>(sb, ["dags", "list"]).json.dags;
    assert.deepEqual(dags.map((d) => [d.dagId, d.assetSchedule, d.events]), [
      ["audit", null, ["new_orders", "refund"]],
      ["orders", null, ["new_orders"]],
      ["report", { mode: "anyOf", assets: ["warehouse.orders"] }, []],
    ]);
    assert.match(cli(sb, ["dags", "list"]).stdout, /^report\s+1\s+assets anyOf\(warehouse\.orders\)/m);
    assert.match(cli(sb, ["dags", "show", "orders"]).stdout, /events: new_orders\nproduces: warehouse\.orders \(load\)/);
    const list = cliJson<{ assets: { name: string; lastUpdate: { dagId: string; taskId: string; runId: string } | null; producers: unknown[]; consumers: unknown[] }[] }>(sb, ["assets", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(list.json.assets.map((a) => ({ ...a, firstSeenAt: undefined, lastUpdate: a.lastUpdate && { ...a.lastUpdate, eventId: undefined, time: undefined } })), [
      {
        name: "warehouse.orders",
        firstSeenAt: undefined,
        lastUpdate: { eventId: undefined, time: undefined, dagId: "orders", taskId: "load", runId: ordersRun!.runId },
        producers: [{ dagId: "orders", taskId: "load" }],
        consumers: [{ dagId: "report" }],
      },
    ]);
    const show = cliJson<{
      name: string;
      consumers: { dagId: string; consumedThroughEventId: number | null }[];
      events: { eventId: number; time: string; dagId: string; runId: string; taskId: string; mapIndex: number; attempt: number; metadata: unknown; consumedBy: { dagId: string; runId: string }[] }[];
    }>(sb, ["assets", "show", "warehouse.orders"]);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(show.json.events.length, 1);
    const [ev] = show.json.events;
    assert.deepEqual({ ...ev, eventId: 0, time: "" }, {
      eventId: 0,
      time: "",
      dagId: "orders",
      runId: ordersRun!.runId,
      taskId: "load",
      mapIndex: -1,
      attempt: 1,
      metadata: { rows: 3 },
      consumedBy: [{ dagId: "report", runId: reportRun!.runId }],
    });
    assert.ok(!Number.isNaN(Date.parse(ev!.time)));
    assert.deepEqual(show.json.consumers, [{ dagId: "report", consumedThroughEventId: ev!.eventId }]);

    const human = cli(sb, ["assets", "show", "warehouse.orders"]);
    assert.match(human.stdout, /producers: orders\.load/);
    assert.match(human.stdout, new RegExp(`orders\\.load\\s+\\{"rows":3\\}\\s+report ${reportRun!.runId}`));
    const missing = cli(sb, ["assets", "show", "warehouse.nope"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /error \[ASSET_NOT_FOUND\]: no asset "warehouse\.nope"; known assets: warehouse\.orders/);
  } finally {
    await api.stop();
  }
});

test("sluice scheduler serves the API only with SLUICE_EVENT_TOKEN, and never prints it", async () => {
  const s = sandbox("sluice-events-sched-");
  try {
    s.write("e.ts", `import { dag } from "sluice";\nexport default dag("on_ping", { events: ["ping"] }, (d) => void d.task("t", async (_, ctx) => ctx.event?.payload ?? null));\n`);
    const off = start(s, ["scheduler", "--port", "0"]);
    const offClosed = new Promise((resolve) => off.on("close", resolve));
    let err = "";
    off.stderr.on("data", (c: Buffer) => (err += c.toString()));
    try {
      await waitFor(() => /HTTP API off: set SLUICE_EVENT_TOKEN/.test(err), 60_000, "the scheduler to say the API is off");
    } finally {
      off.kill("SIGINT");
      await offClosed;
    }

    const token = "a-long-enough-secret-token";
    const api = await serveRole(s, ["scheduler", "--port", "0"], { SLUICE_EVENT_TOKEN: token });
    try {
      assert.doesNotMatch(api.stdout(), new RegExp(token));
      assert.match(api.stdout(), /token:\s+from SLUICE_EVENT_TOKEN/);
      const bad = await post(api, "ping", "1", { Authorization: "Bearer a-long-enough-secret-tokeX" });
      assert.equal(bad.status, 401);
      const ok = await post(api, "ping", "", { Authorization: `Bearer ${token}` });
      assert.equal(ok.status, 201);
      assert.deepEqual(((await ok.json()) as { runs: { dagId: string }[] }).runs.map((r) => r.dagId), ["on_ping"]);
    } finally {
      await api.stop();
    }
  } finally {
    s.cleanup();
  }
});
