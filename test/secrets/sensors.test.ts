/**
 * The ready-made sensors over connections: httpOk with a connection id (its URL, basic auth and extra
 * headers), sqlRow with a sqlite or a postgres connection — resolved when the poke runs, through the
 * worker's backends (here the environment's SLUICE_CONN_<ID>).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { loadConfig } from "../../dist/config.js";
import { dag } from "../../dist/dsl/dag.js";
import { httpOk, sqlRow } from "../../dist/dsl/sensors.js";
import { Sluice } from "../../dist/sluice.js";
import { PG_URL, pgSkip } from "../dialects.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-conn-sensors-");
after(() => sb.cleanup());

test("httpOk and sqlRow take a connection id", { skip: pgSkip() }, async () => {
  const seen: { auth?: string; header?: string; url?: string } = {};
  const server = createServer((req, res) => {
    seen.auth = req.headers.authorization ?? "";
    seen.header = String(req.headers["x-team"] ?? "");
    seen.url = req.url ?? "";
    res.statusCode = req.headers.authorization ? 200 : 401;
    res.end("healthy");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const file = join(sb.dir, "state.db");
  const db = new Database(file);
  db.exec("create table batches (day text); insert into batches values ('2026-01-01')");
  db.close();
  const pg = new URL(PG_URL);

  const sensors = dag("conn_sensors", (d) => {
    const api = d.sensor("api", { poke: httpOk("partner_api", { path: "/health", bodyIncludes: "healthy" }), pokeInterval: "1s", timeout: "30s" });
    const lite = d.sensor("lite", { poke: sqlRow<{ day: string }>({ connection: "state", query: "select day from batches where day = ?", params: ["2026-01-01"] }), pokeInterval: "1s", timeout: "30s" });
    const pgRow = d.sensor("pg", { poke: sqlRow<{ one: number }>({ connection: "meta", query: "select $1::int as one", params: [1] }), pokeInterval: "1s", timeout: "30s" });
    d.task("after", { inputs: { api, lite, pgRow } }, async (i) => ({ status: i.api.status, day: i.lite.day, one: i.pgRow.one }));
  });
  const env = {
    SLUICE_CONN_PARTNER_API: `http://svc:Sensor-pw-4411@127.0.0.1:${port}/v1?__extra__=${encodeURIComponent(JSON.stringify({ headers: { "x-team": "data" } }))}`,
    SLUICE_CONN_STATE: `sqlite://${encodeURIComponent(file)}`,
    SLUICE_CONN_META: `postgres://${pg.username}@${pg.hostname}:${pg.port || 5432}/${pg.pathname.slice(1)}`,
  };
  const s = await Sluice.open(loadConfig({ home: join(sb.dir, "home") }, env), { loadDags: false, dags: [sensors] });
  try {
    const summary = await s.run("conn_sensors");
    assert.equal(summary.state, "success", JSON.stringify(summary.tasks));
    assert.equal(seen.auth, `Basic ${Buffer.from("svc:Sensor-pw-4411").toString("base64")}`);
    assert.equal(seen.header, "data");
    assert.equal(seen.url, "/v1/health");
    const spec = (await s.engine.specFor(summary.runId)).spec;
    assert.equal(spec.tasks.find((t: { id: string }) => t.id === "api")!.command, 'httpOk(GET connection partner_api/health, body includes "healthy")');
  } finally {
    await s.close();
    server.close();
  }
});

test("a sensor naming an unknown connection fails naming the task, the id and the backends", async () => {
  const d1 = dag("missing_conn", (d) => void d.sensor("w", { poke: httpOk("nowhere"), timeout: "10s" }));
  const s = await Sluice.open(loadConfig({ home: join(sb.dir, "home2") }, {}), { loadDags: false, dags: [d1] });
  try {
    const summary = await s.run("missing_conn");
    assert.equal(summary.state, "failed");
    const [a] = await s.store.attempts.list(summary.runId, "w");
    assert.equal(a!.errorCode, "CONNECTION_NOT_FOUND");
    assert.match(a!.errorMessage!, /^task "w" of DAG "missing_conn": connection "nowhere" not found; searched: environment \(SLUICE_CONN_NOWHERE\), metadata store$/);
  } finally {
    await s.close();
  }
});
