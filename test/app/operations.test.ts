/**
 * The application layer (src/app) that the CLI and the HTTP routes share: which DAGs an operation may
 * name (one rule for both), the roles every operation checks whoever calls it, tokens of other users, and
 * the layer's imports (nothing from cli/ or server/).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { cliActor, type Actor } from "../../src/app/actor.js";
import { cancelBackfill, createBackfill, planBackfill } from "../../src/app/backfills.js";
import { setDagPaused } from "../../src/app/dags.js";
import { deletePool, setPool } from "../../src/app/pools.js";
import { cancelRun, clearTasks, markTasks, triggerRun } from "../../src/app/runs.js";
import { createToken, createUser, listTokens, listUsers, revokeToken } from "../../src/app/users.js";
import { Auth } from "../../src/auth/auth.js";
import { loadConfig } from "../../src/config.js";
import { dag } from "../../src/dsl/dag.js";
import { Sluice } from "../../src/sluice.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-app-");
after(() => sb.cleanup());

const daily = dag("daily", { schedule: "@daily", startDate: "2026-01-01" }, (d) => void d.task("t", async () => 1));
const other = dag("other", (d) => void d.task("t", async () => 1));

const viewer: Actor = { via: "token", name: "vera", role: "viewer" };
const operator: Actor = { via: "session", name: "olga", role: "operator" };

let homes = 0;
/** `dags`: the DAG code this process loaded (the CLI's folder); none: a server process, which loads none. */
function open(home: string, dags: ReturnType<typeof dag>[] = []): Promise<Sluice> {
  return Sluice.open(loadConfig({ home, dags: sb.dags }, {}), { loadDags: false, dags });
}

const code = (e: unknown) => (e as { code?: string }).code;

test("pause: a DAG known only from loaded code is registered, then paused; a process without its code finds it registered; an unknown DAG is DAG_NOT_FOUND", async () => {
  const home = join(sb.dir, `home-${++homes}`);
  const cli = await open(home, [daily, other]);
  try {
    // the CLI with the DAG in its folder, before any scheduler saw it (`sluice dags pause daily`)
    assert.equal(await cli.store.dags.get("daily"), null);
    const row = await setDagPaused(cli, cliActor(), { dagId: "daily", paused: true });
    assert.equal(row.isPaused, true);
    assert.equal((await cli.store.dags.get("daily"))?.isPaused, true, "registered with its pause flag");
    await assert.rejects(setDagPaused(cli, cliActor(), { dagId: "nope", paused: true }), (e: Error) => {
      assert.equal(code(e), "DAG_NOT_FOUND");
      assert.match(e.message, /^no DAG with id "nope": no scheduler has registered it, and the DAGs in .* are: daily, other$/);
      return true;
    });
  } finally {
    await cli.close();
  }
  // the API's process (`sluice server`): no DAG code loaded; only registered DAGs are known
  const server = await open(home);
  try {
    assert.equal((await setDagPaused(server, operator, { dagId: "daily", paused: false })).isPaused, false);
    for (const dagId of ["other", "nope"]) {
      await assert.rejects(setDagPaused(server, operator, { dagId, paused: true }), (e: Error) => {
        assert.equal(code(e), "DAG_NOT_FOUND", dagId);
        assert.match(e.message, new RegExp(`^no DAG with id "${dagId}": no scheduler has registered it \\(`));
        return true;
      });
    }
    assert.equal(await server.store.dags.get("other"), null, "nothing registered by a failed pause");
    // the same rule for a trigger
    await assert.rejects(triggerRun(server, operator, { dagId: "other" }), (e) => code(e) === "DAG_NOT_FOUND");
  } finally {
    await server.close();
  }
});

test("roles: a viewer changes nothing through any operation (FORBIDDEN names the role); an operator may", async () => {
  const s = await open(join(sb.dir, `home-${++homes}`), [daily, other]);
  try {
    const run = await triggerRun(s, operator, { dagId: "other" });
    const calls: [string, () => Promise<unknown>][] = [
      ["trigger", () => triggerRun(s, viewer, { dagId: "other" })],
      ["cancel", () => cancelRun(s, viewer, { runId: run.runId })],
      ["clear", () => clearTasks(s, viewer, { runId: run.runId, taskIds: ["t"], downstream: false })],
      ["mark", () => markTasks(s, viewer, { runId: run.runId, taskId: "t", state: "success" })],
      ["pause", () => setDagPaused(s, viewer, { dagId: "daily", paused: true })],
      ["plan backfill", () => planBackfill(s, viewer, { dagId: "daily", from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2) })],
      ["create backfill", () => createBackfill(s, viewer, { dagId: "daily", from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2) })],
      ["cancel backfill", () => cancelBackfill(s, viewer, { backfillId: 1 })],
      ["set pool", () => setPool(s, viewer, { name: "gpu", slots: 2 })],
      ["delete pool", () => deletePool(s, viewer, { name: "gpu" })],
    ];
    for (const [what, call] of calls) {
      await assert.rejects(call(), (e: Error) => code(e) === "FORBIDDEN" && /needs the operator role; vera is viewer/.test(e.message), what);
    }
    assert.equal((await s.store.runs.page({ dagId: "other", limit: 10, after: null })).length, 1, "no second run");
    assert.equal((await s.store.runs.get(run.runId))?.state, "running");
    assert.equal(await s.store.dags.get("daily"), null);
    // an operator may; a cancel through the API says so
    assert.equal((await setPool(s, operator, { name: "gpu", slots: 2 })).slots, 2);
    assert.equal((await cancelRun(s, operator, { runId: run.runId })).stateReason, "cancelled through the API");
    assert.equal((await cancelRun(s, cliActor(), { runId: (await triggerRun(s, cliActor(), { dagId: "other" })).runId })).stateReason, "cancelled by user");
  } finally {
    await s.close();
  }
});

test("tokens: yours only, others' are not found (not forbidden) to a non-admin; an admin, and the CLI, act on anyone's", async () => {
  const s = await open(join(sb.dir, `home-${++homes}`));
  try {
    const auth = new Auth(s.store);
    const cli = cliActor();
    assert.equal(cli.role, "admin");
    await createUser(auth, cli, { username: "vera", password: "vera-password-1", role: "viewer" });
    await createUser(auth, cli, { username: "olga", password: "olga-password-1", role: "operator" });
    await assert.rejects(createUser(auth, operator, { username: "eve", password: "eve-password-1", role: "admin" }), (e) => code(e) === "FORBIDDEN");
    await assert.rejects(listUsers(auth, viewer, {}), (e) => code(e) === "FORBIDDEN");
    const olgas = await createToken(auth, cli, { name: "deploy", username: "olga" });
    assert.equal(olgas.role, "operator");
    const veras = await createToken(auth, viewer, { name: "mine" });
    assert.equal(veras.username, "vera");
    await assert.rejects(createToken(auth, viewer, { name: "for olga", username: "olga" }), (e) => code(e) === "FORBIDDEN");
    await assert.rejects(createToken(auth, viewer, { name: "higher", role: "admin" }), (e) => code(e) === "FORBIDDEN");
    assert.deepEqual((await listTokens(auth, viewer, {})).map((t) => t.name), ["mine"]);
    await assert.rejects(listTokens(auth, viewer, { username: "olga" }), (e) => code(e) === "FORBIDDEN");
    assert.deepEqual((await listTokens(auth, cli, { username: "olga" })).map((t) => t.name), ["deploy"]);
    await assert.rejects(revokeToken(auth, viewer, { id: olgas.id }), (e) => code(e) === "NOT_FOUND");
    await revokeToken(auth, viewer, { id: veras.id });
    await revokeToken(auth, cli, { id: olgas.id });
    assert.deepEqual(await listTokens(auth, cli, {}), []);
  } finally {
    await s.close();
  }
});

test("layers: src/app imports nothing from cli/ or server/", () => {
  const dir = join(import.meta.dirname, "../../src/app");
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), "utf8");
    assert.doesNotMatch(text, /from "\.\.\/(cli|server)\//, `src/app/${f}`);
  }
});
