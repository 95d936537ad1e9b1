/**
 * The audit log (issue 12 item 5, decision 0016) on SQLite and on PostgreSQL: every change a person or a
 * token makes — through the real CLI binary and through the real HTTP server — leaves exactly one entry
 * with the right actor, channel, action, DAG and run and a before/after without secrets; a failed login
 * leaves one entry and no password; the entry and its change commit or roll back together; a viewer reads
 * only entries about DAGs; `audit list` filters; `db clean --audit-older-than` is itself audited.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { userInfo } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { cliActor, type Actor } from "../../src/app/actor.js";
import { cleanAudit, listAudit, parseSince } from "../../src/app/audit.js";
import { auditHook, redactSecrets } from "../../src/app/auditEntry.js";
import { setDagPaused } from "../../src/app/dags.js";
import { setPool } from "../../src/app/pools.js";
import { cancelRun, triggerRun } from "../../src/app/runs.js";
import { createBackfill } from "../../src/app/backfills.js";
import { loadConfig } from "../../src/config.js";
import { ManualClock } from "../../src/core/clock.js";
import { dag } from "../../src/dsl/dag.js";
import { Sluice } from "../../src/sluice.js";
import type { AuditHook, AuditRecord } from "../../src/store/audit.js";
import { setPool as setPoolInStore } from "../../src/store/capacity.js";
import { dialects } from "../dialects.js";
import { BIN, sandbox, storeDb } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy } from "../server/harness.js";

const DAG_FILE = `import { dag } from "sluice";
export const simple = dag("simple", (d) => {
  const a = d.task("a", async () => 1);
  d.task("b", { inputs: { a } }, async ({ a }) => a + 1);
});
export const daily = dag("daily", { schedule: "@daily", startDate: "2026-01-01" }, (d) => void d.task("t", async () => 1));
export const onevent = dag("onevent", { events: ["orders.new"] }, (d) => void d.task("t", async () => 1));
`;

const sb = sandbox("sluice-audit-");
sb.write("dags.ts", DAG_FILE);
after(() => sb.cleanup());

let homes = 0;
const OS_USER = (() => {
  try {
    return userInfo().username || "cli";
  } catch {
    return "cli";
  }
})();

/** A Sluice of src/ or of dist/ (the HTTP harness runs the built one). */
interface WithAudit {
  store: { audit: { page(f: { limit: number; after: null }): Promise<AuditRecord[]> } };
}

/** Every entry, newest first (straight from the store, not through the code under test's filters). */
async function all(s: WithAudit): Promise<AuditRecord[]> {
  return s.store.audit.page({ limit: 10_000, after: null });
}

/** Run `fn` and return the one entry it added (exactly one, or the test fails naming what was added). */
async function one(s: WithAudit, what: string, fn: () => Promise<unknown>): Promise<AuditRecord> {
  const maxId = (await all(s))[0]?.id ?? 0;
  await fn();
  const added = (await all(s)).filter((e) => e.id > maxId);
  assert.equal(added.length, 1, `${what}: ${added.length} entries: ${JSON.stringify(added.map((e) => e.action))}`);
  return added[0]!;
}

function expectEntry(e: AuditRecord, want: Partial<AuditRecord>, what: string): void {
  for (const [k, v] of Object.entries(want)) assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, `${what}: ${k} of ${JSON.stringify(e)}`);
}

test("redaction: sensitive field names and listed secret fields become ***, at any depth; values with innocent names stay", () => {
  const v = {
    username: "bob",
    password: "hunter2-long",
    nested: { apiKey: "k-123456", list: [{ token: "t-9" }, { fine: 1 }], extra: { a: 1 } },
    params: { region: "eu", db_password: "pw", secretParam: { $secret: "sluice:v1:k:abc" } },
    empty: { password: null },
  };
  assert.deepEqual(redactSecrets(v, ["extra"]), {
    username: "bob",
    password: "***",
    nested: { apiKey: "***", list: [{ token: "***" }, { fine: 1 }], extra: "***" },
    params: { region: "eu", db_password: "***", secretParam: "***" },
    empty: { password: null },
  });
  assert.throws(() => parseSince("yesterday", 0, "--since"), /--since: "yesterday" is neither a duration/);
  assert.equal(parseSince("2h", 10 * 3_600_000), 8 * 3_600_000);
  assert.equal(parseSince("2026-12-01", 0), Date.UTC(2026, 11, 1));
});

for (const d of dialects(4)) {
  describe(`audit log on ${d.name}`, { skip: d.skip }, () => {
    test("an entry and its change commit or roll back together: a failure after the entry is written leaves neither", async () => {
      const db = await d.fresh(sb.dir);
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const simple = dag("simple", (g) => void g.task("a", async () => 1));
      const s = await Sluice.open(loadConfig({ home: join(sb.dir, `home-${++homes}`), dags: sb.dags, databaseUrl: db.url }, {}), { loadDags: false, dags: [simple], clock });
      try {
        const actor: Actor = { via: "session", name: "olga", role: "operator", ip: "10.0.0.7", userAgent: "test" };
        const run = await triggerRun(s, actor, { dagId: "simple" });
        assert.equal(run.triggeredBy, "olga");
        const n = (await all(s)).length;
        // the engine writes the entry, then the change fails: the run stays running, the entry is gone
        const real = auditHook(actor, "runs.cancel");
        const failing: AuditHook = Object.assign(
          async (tx: Parameters<AuditHook>[0], change: Parameters<AuditHook>[1]) => {
            await real(tx, change);
            throw new Error("the change failed after its entry was written");
          },
          { actor: "olga" },
        );
        await assert.rejects(s.engine.cancelRun(run.runId, "x", "CANCELLED", failing), /failed after its entry/);
        assert.equal((await s.store.runs.get(run.runId))!.state, "running");
        assert.equal((await all(s)).length, n, "no entry without its change");
        await assert.rejects(s.engine.clearTasks(run.runId, { taskIds: ["a"], downstream: false }, failing));
        assert.equal((await s.store.taskInstances.list(run.runId))[0]!.changedBy, null, "no changed_by without the entry");
        await assert.rejects(s.engine.createRun("simple", { audit: failing }));
        assert.equal((await s.store.runs.page({ dagId: "simple", limit: 10, after: null })).length, 1, "no run without its entry");
        assert.equal((await all(s)).length, n);
        // and a change that fails by itself (a run that already finished) writes no entry either
        await cancelRun(s, actor, { runId: run.runId });
        await assert.rejects(cancelRun(s, actor, { runId: run.runId }), (e) => (e as { code?: string }).code === "RUN_FINISHED");
        assert.deepEqual((await all(s)).slice(0, 2).map((e) => e.action), ["runs.cancel", "runs.trigger"]);
        assert.equal((await all(s)).length, n + 1);
        // the entry is the change's: ip and user agent from the actor, before/after as the transaction saw them
        const [cancel] = await all(s);
        expectEntry(cancel!, { actor: "olga", via: "session", ip: "10.0.0.7", userAgent: "test", dagId: "simple", runId: run.runId, before: { state: "running" } }, "cancel");
        // a pool change (the store's own transaction) that fails after its entry: neither
        await assert.rejects(setPoolInStore(s.store, { name: "gpu", slots: 2 }, s.store.now(), failing), /failed after its entry/);
        assert.equal(await s.store.pools.get("gpu"), null);
        assert.equal((await all(s)).length, n + 1);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    test("through the HTTP API: each action leaves exactly one entry (who, via, ip, user agent, action, DAG, run); a failed login leaves one and no password; a viewer reads only entries about DAGs", async () => {
      const db = await d.fresh(sb.dir);
      const apiSb = sandbox("sluice-audit-api-");
      apiSb.write("dags.ts", DAG_FILE);
      const dep = await deploy(apiSb, { worker: false, eventToken: "event-token-for-the-audit-test", databaseUrl: db.url });
      const s = dep.s;
      try {
        // the first admin, created by the server's first start, is on record
        const [first] = await all(s);
        expectEntry(first!, { actor: "sluice", via: "system", action: "users.create", target: "admin", after: { username: "admin", role: "admin" } }, "first admin");
        const admin = new Client(dep.url);
        const login = await one(s, "login", async () => assert.equal((await admin.login("admin", ADMIN_PASSWORD)).status, 200));
        expectEntry(login, { actor: "admin", via: "session", action: "auth.login", outcome: "success", target: "admin", ip: "127.0.0.1", userAgent: "node", dagId: null }, "login");

        const wrong = "Wrong-Password-123";
        const failed = await one(s, "failed login", async () => assert.equal((await new Client(dep.url).login("admin", wrong)).status, 401));
        expectEntry(failed, { actor: "admin", action: "auth.login", outcome: "failure", target: "admin", ip: "127.0.0.1" }, "failed login");
        const unknown = await one(s, "failed login of an unknown user", async () => assert.equal((await new Client(dep.url).login("nobody", wrong)).status, 401));
        expectEntry(unknown, { actor: "nobody", outcome: "failure" }, "unknown user");
        assert.ok(!JSON.stringify(await all(s)).includes(wrong), "no password in any entry");
        assert.ok(!JSON.stringify(await all(s)).includes(ADMIN_PASSWORD), "no password in any entry");

        const created = await one(s, "users.create", async () => assert.equal((await admin.post("/api/v1/users", { username: "vera", password: "vera-password-1", role: "viewer" })).status, 201));
        expectEntry(created, { actor: "admin", via: "session", action: "users.create", target: "vera", before: null, after: { username: "vera", role: "viewer" } }, "users.create");
        await one(s, "users.create", async () => assert.equal((await admin.post("/api/v1/users", { username: "tmp", password: "tmp-password-1", role: "viewer" })).status, 201));
        const updated = await one(s, "users.update", async () => assert.equal((await admin.call("PATCH", "/api/v1/users/tmp", { role: "operator", password: "tmp-password-2" })).status, 200));
        expectEntry(updated, { action: "users.update", target: "tmp", before: { username: "tmp", role: "viewer" }, after: { username: "tmp", role: "operator", password: "***" } }, "users.update");
        const deleted = await one(s, "users.delete", async () => assert.equal((await admin.call("DELETE", "/api/v1/users/tmp")).status, 200));
        expectEntry(deleted, { action: "users.delete", target: "tmp", before: { username: "tmp", role: "operator" }, after: null }, "users.delete");

        let token = "";
        let tokenId = "";
        const tokenMade = await one(s, "tokens.create", async () => {
          const r = await admin.post("/api/v1/tokens", { name: "script" });
          assert.equal(r.status, 201);
          token = r.json.token;
          tokenId = r.json.id;
        });
        expectEntry(tokenMade, { action: "tokens.create", target: tokenId, after: { id: tokenId, name: "script", username: "admin", role: "admin", scope: null } }, "tokens.create");
        assert.ok(!JSON.stringify(tokenMade).includes(token), "the token itself is never recorded");

        // a trigger by session and one by token
        let runId = "";
        const trig = await one(s, "runs.trigger", async () => {
          const r = await admin.post("/api/v1/dags/simple/runs", { params: {} });
          assert.equal(r.status, 201, r.text);
          runId = r.json.runId;
        });
        expectEntry(trig, { actor: "admin", via: "session", action: "runs.trigger", dagId: "simple", runId, before: null }, "trigger");
        assert.equal((trig.after as { state: string }).state, "running");
        assert.equal((await admin.get(`/api/v1/runs/${runId}`)).json.triggeredBy, "admin");
        const bearer = new Client(dep.url);
        bearer.bearer = token;
        let tokenRun = "";
        const byToken = await one(s, "runs.trigger by token", async () => {
          const r = await bearer.post("/api/v1/dags/simple/runs", {});
          assert.equal(r.status, 201, r.text);
          tokenRun = r.json.runId;
        });
        expectEntry(byToken, { actor: "admin", via: "token", action: "runs.trigger", runId: tokenRun, ip: "127.0.0.1" }, "trigger by token");

        const mark = await one(s, "runs.markTasks", async () => assert.equal((await admin.post(`/api/v1/runs/${runId}/tasks/a/mark`, { state: "success" })).status, 200));
        expectEntry(mark, { action: "runs.markTasks", dagId: "simple", runId, target: "task a" }, "mark");
        assert.equal((mark.before as { instances: { state: string }[] }).instances[0]!.state, "scheduled");
        assert.deepEqual((mark.after as { instances: unknown[] }).instances, [{ taskId: "a", mapIndex: -1, state: "success" }]);
        const clear = await one(s, "runs.clearTasks", async () => assert.equal((await admin.post(`/api/v1/runs/${runId}/tasks/a/clear`, { downstream: true })).status, 200));
        expectEntry(clear, { action: "runs.clearTasks", dagId: "simple", runId, target: "task a and downstream" }, "clear");
        assert.deepEqual((clear.before as { counts: unknown }).counts, { success: 1, scheduled: 1 }); // a marked success, b then ready
        assert.deepEqual((clear.after as { counts: unknown }).counts, { scheduled: 1, none: 1 });
        const tis = (await admin.get(`/api/v1/runs/${runId}/tasks`)).json.items;
        assert.deepEqual(tis.map((t: { taskId: string; changedBy: string }) => [t.taskId, t.changedBy]), [["a", "admin"], ["b", "admin"]]);
        const cancel = await one(s, "runs.cancel", async () => assert.equal((await admin.post(`/api/v1/runs/${runId}/cancel`)).status, 200));
        expectEntry(cancel, { action: "runs.cancel", dagId: "simple", runId, before: { state: "running" }, after: { state: "failed", reason: "cancelled through the API" } }, "cancel");

        const pause = await one(s, "dags.setPaused", async () => assert.equal((await admin.call("PATCH", "/api/v1/dags/simple", { paused: true })).status, 200));
        expectEntry(pause, { action: "dags.setPaused", dagId: "simple", before: { isPaused: false }, after: { isPaused: true } }, "pause");
        const unpause = await one(s, "dags.setPaused", async () => assert.equal((await admin.call("PATCH", "/api/v1/dags/simple", { paused: false })).status, 200));
        expectEntry(unpause, { before: { isPaused: true }, after: { isPaused: false } }, "unpause");

        // backfills: a month, one run at a time, cancelled at once
        let backfillId = 0;
        const bf = await one(s, "backfills.create", async () => {
          const r = await admin.post("/api/v1/backfills", { dagId: "daily", from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 31), maxActive: 1 });
          assert.equal(r.status, 201, r.text);
          backfillId = r.json.id;
        });
        expectEntry(bf, { action: "backfills.create", dagId: "daily", target: `backfill ${backfillId}`, before: null }, "backfill");
        assert.equal((bf.after as { intervals: number }).intervals, 31);
        const bfc = await one(s, "backfills.cancel", async () => assert.equal((await admin.post(`/api/v1/backfills/${backfillId}/cancel`)).status, 200));
        expectEntry(bfc, { action: "backfills.cancel", dagId: "daily", target: `backfill ${backfillId}` }, "backfill cancel");
        assert.equal((bfc.before as { state: string }).state, "running");
        assert.equal((bfc.after as { state: string }).state, "cancelled");

        // an event sent with the events token: one entry; its run records the sender
        await dep.scheduler.whenIdle();
        let eventRun = "";
        const ev = await one(s, "events.send", async () => {
          const r = await new Client(dep.url).call("POST", "/api/v1/events/orders.new", { orderId: 1, password: "in-a-payload" }, { headers: { Authorization: "Bearer event-token-for-the-audit-test" } });
          assert.equal(r.status, 201, r.text);
          eventRun = r.json.runs[0].runId;
        });
        expectEntry(ev, { actor: "SLUICE_EVENT_TOKEN", via: "token", action: "events.send", target: "orders.new", ip: "127.0.0.1" }, "event");
        assert.deepEqual((ev.after as { subscribers: string[] }).subscribers, ["onevent"]);
        assert.ok(!JSON.stringify(ev).includes("in-a-payload"));
        assert.equal((await admin.get(`/api/v1/runs/${eventRun}`)).json.triggeredBy, "SLUICE_EVENT_TOKEN");

        const changeOwn = new Client(dep.url);
        assert.equal((await changeOwn.login("vera", "vera-password-1")).status, 200);
        const own = await one(s, "users.changeOwnPassword", async () => assert.equal((await changeOwn.post("/api/v1/auth/password", { current: "vera-password-1", password: "vera-password-2" })).status, 200));
        expectEntry(own, { actor: "vera", via: "session", action: "users.changeOwnPassword", target: "vera" }, "own password");
        const revoked = await one(s, "tokens.revoke", async () => assert.equal((await admin.call("DELETE", `/api/v1/tokens/${tokenId}`)).status, 200));
        expectEntry(revoked, { action: "tokens.revoke", target: tokenId, after: null }, "revoke");

        // reading: admins see all; a viewer only entries about DAGs (no users, tokens, logins)
        const everything = (await admin.get("/api/v1/audit?limit=500")).json.items as AuditRecord[];
        assert.equal(everything.length, (await all(s)).length);
        assert.ok(everything.some((e) => e.action === "users.create"));
        const vera = changeOwn;
        const seen = await vera.get("/api/v1/audit?limit=500");
        assert.equal(seen.status, 200, seen.text);
        assert.ok(seen.json.items.length > 0);
        assert.ok(seen.json.items.every((e: AuditRecord) => e.dagId !== null), "a viewer sees only entries about DAGs");
        assert.deepEqual(new Set(seen.json.items.map((e: AuditRecord) => e.action)), new Set(["runs.trigger", "runs.markTasks", "runs.clearTasks", "runs.cancel", "dags.setPaused", "backfills.create", "backfills.cancel"]));
        // filters and pages
        const triggers = (await admin.get("/api/v1/audit?action=runs.trigger")).json.items as AuditRecord[];
        assert.deepEqual(triggers.map((e) => e.runId), [tokenRun, runId]);
        assert.ok(((await admin.get("/api/v1/audit?user=vera")).json.items as AuditRecord[]).every((e) => e.actor === "vera"));
        assert.deepEqual(new Set(((await admin.get("/api/v1/audit?dagId=daily")).json.items as AuditRecord[]).map((e) => e.action)), new Set(["backfills.create", "backfills.cancel"]));
        assert.equal((await admin.get("/api/v1/audit?since=1h")).json.items.length, everything.length);
        assert.equal((await admin.get("/api/v1/audit?since=2099-01-01")).json.items.length, 0);
        const bad = await admin.get("/api/v1/audit?since=soon");
        assert.equal(bad.status, 400);
        assert.match(bad.json.message, /since: "soon" is neither a duration/);
        const paged: number[] = [];
        let cursor: string | null = "";
        while (cursor !== null) {
          const r = await admin.get(`/api/v1/audit?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
          paged.push(...r.json.items.map((e: AuditRecord) => e.id));
          cursor = r.json.nextCursor;
        }
        assert.deepEqual(paged, everything.map((e) => e.id), "pages in order, none lost or repeated");
        assert.equal((await new Client(dep.url).get("/api/v1/audit")).status, 401);
        // the scheduler's runs are nobody's
        const scheduled = (await admin.get("/api/v1/dags/daily/runs?runType=scheduled")).json.items;
        for (const r of scheduled) assert.equal(r.triggeredBy, null);
      } finally {
        await dep.stop();
        apiSb.cleanup();
        await db.cleanup();
      }
    });

    test("through the CLI: each command leaves exactly one entry (the OS user, via cli, user agent cli); audit list filters; db clean (--audit-older-than, --older-than) is audited", async () => {
      const db = await d.fresh(sb.dir);
      const home = join(sb.dir, `home-${++homes}`);
      const env = { SLUICE_DATABASE_URL: db.url, SLUICE_HOME: home };
      const run = (args: string[], input?: string) => {
        const r = spawnSync(process.execPath, [BIN, ...args], { cwd: sb.dir, env: { ...sb.env, ...env }, encoding: "utf8", timeout: 120_000, ...(input !== undefined ? { input } : {}) });
        assert.equal(r.status, 0, `sluice ${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      // this process reads the store, and creates one backfill for the CLI to cancel (its own copy of "daily")
      const daily = dag("daily", { schedule: "@daily", startDate: "2026-01-01" }, (g) => void g.task("t", async () => 1));
      const s = await Sluice.open(loadConfig({ home, dags: sb.dags, databaseUrl: db.url }, {}), { loadDags: false, dags: [daily] });
      try {
        const cli = (e: AuditRecord, want: Partial<AuditRecord>, what: string) => expectEntry(e, { actor: OS_USER, via: "cli", userAgent: "cli", ip: null, ...want }, what);
        let runId = "";
        cli(await one(s, "trigger", async () => (runId = JSON.parse(run(["trigger", "simple", "--json"])).runId)), { action: "runs.trigger", dagId: "simple" }, "trigger");
        assert.equal((await s.store.runs.get(runId))!.triggeredBy, OS_USER);
        assert.equal(JSON.parse(run(["runs", "show", runId, "--json"])).triggeredBy, OS_USER);
        assert.match(run(["runs", "show", runId]), new RegExp(`params \\{\\}, triggered by ${OS_USER}\n`));
        cli(await one(s, "tasks clear", async () => run(["tasks", "clear", runId, "a", "--downstream"])), { action: "runs.clearTasks", dagId: "simple", runId }, "clear");
        assert.deepEqual(JSON.parse(run(["runs", "show", runId, "--json"])).tasks.map((t: { changedBy: string }) => t.changedBy), [OS_USER, OS_USER]);
        cli(await one(s, "runs cancel", async () => run(["runs", "cancel", runId])), { action: "runs.cancel", runId, after: { state: "failed", reason: "cancelled by user" } }, "cancel");
        cli(await one(s, "dags pause", async () => run(["dags", "pause", "simple"])), { action: "dags.setPaused", dagId: "simple", after: { isPaused: true } }, "pause");
        cli(await one(s, "dags unpause", async () => run(["dags", "unpause", "simple"])), { action: "dags.setPaused", after: { isPaused: false } }, "unpause");
        let ran = "";
        cli(await one(s, "sluice run", async () => (ran = JSON.parse(run(["run", "simple", "--json"])).runId)), { action: "runs.trigger", dagId: "simple" }, "run");
        assert.equal((await s.store.runs.get(ran))!.triggeredBy, OS_USER);
        cli(await one(s, "pools set", async () => run(["pools", "set", "gpu", "--slots", "2"])), { action: "pools.set", target: "gpu", before: null, after: { name: "gpu", slots: 2, description: null } }, "pool");
        cli(await one(s, "pools set", async () => run(["pools", "set", "gpu", "--slots", "3"])), { before: { name: "gpu", slots: 2, description: null }, after: { name: "gpu", slots: 3, description: null } }, "pool resize");
        cli(await one(s, "pools delete", async () => run(["pools", "delete", "gpu"])), { action: "pools.delete", target: "gpu", after: null }, "pool delete");
        cli(await one(s, "users create", async () => run(["users", "create", "bob", "--role", "operator", "--password-stdin"], "bob-password-1\n")), { action: "users.create", target: "bob", after: { username: "bob", role: "operator" } }, "user");
        cli(await one(s, "users set-password", async () => run(["users", "set-password", "bob", "--password-stdin"], "bob-password-2\n")), { action: "users.update", target: "bob", after: { username: "bob", role: "operator", password: "***" } }, "password");
        let tokenId = "";
        cli(await one(s, "tokens create", async () => (tokenId = JSON.parse(run(["tokens", "create", "ci", "--user", "bob", "--json"])).id)), { action: "tokens.create", after: { id: tokenId, name: "ci", username: "bob", role: "operator", scope: null } }, "token");
        cli(await one(s, "tokens revoke", async () => run(["tokens", "revoke", tokenId])), { action: "tokens.revoke", target: tokenId }, "revoke");
        cli(await one(s, "users delete", async () => run(["users", "delete", "bob"])), { action: "users.delete", target: "bob" }, "user delete");
        cli(await one(s, "events send", async () => run(["events", "send", "orders.new", "--payload", '{"n":1}'])), { action: "events.send", target: "orders.new" }, "event");
        cli(await one(s, "backfill", async () => run(["backfill", "daily", "--from", "2026-01-01", "--to", "2026-01-02", "--json"])), { action: "backfills.create", dagId: "daily" }, "backfill");
        // a running backfill (created here), cancelled by the CLI
        const { backfill } = await createBackfill(s, cliActor(), { dagId: "daily", from: Date.UTC(2026, 1, 1), to: Date.UTC(2026, 1, 20) });
        cli(await one(s, "backfill cancel", async () => run(["backfill", "cancel", String(backfill.backfillId)])), { action: "backfills.cancel", dagId: "daily" }, "backfill cancel");
        // connections, variables, grants and key rotation: the secret values never in an entry
        cli(await one(s, "connections add", async () => run(["connections", "add", "wh", "--uri-file", "-"], "postgres://etl:conn-secret-pw@db.example:5432/sales\n")), { action: "connections.add", target: "connection wh", before: null }, "connection");
        cli(await one(s, "connections delete", async () => run(["connections", "delete", "wh"])), { action: "connections.delete", target: "connection wh", after: null }, "connection delete");
        cli(await one(s, "variables set", async () => run(["variables", "set", "api_token", "--value-file", "-"], '"var-secret-value"\n')), { action: "variables.set", target: "variable api_token", before: null }, "variable");
        cli(await one(s, "variables delete", async () => run(["variables", "delete", "api_token"])), { action: "variables.delete", target: "variable api_token", after: null }, "variable delete");
        cli(await one(s, "users create", async () => run(["users", "create", "gina", "--role", "none", "--password-stdin"], "gina-password-1\n")), { action: "users.create", target: "gina" }, "user none");
        cli(await one(s, "grants add", async () => run(["grants", "add", "--user", "gina", "--role", "viewer", "--selector", "dag:simple"])), { action: "grants.add", before: null }, "grant");
        const grantId = (await s.store.grants.list())[0]!.grantId;
        cli(await one(s, "grants delete", async () => run(["grants", "delete", String(grantId)])), { action: "grants.delete", target: `grant ${grantId}`, after: null }, "grant delete");
        cli(await one(s, "secrets rotate-key", async () => run(["secrets", "rotate-key"])), { action: "secrets.rotateKey", target: "secret key" }, "rotate");
        const sent = JSON.stringify(await all(s));
        assert.ok(!sent.includes("bob-password"), "no password in any entry");
        assert.ok(!sent.includes("conn-secret-pw") && !sent.includes("var-secret-value"), "no connection or variable secret in any entry");

        // audit list: filters, text and JSON
        const list = (args: string[]) => JSON.parse(run(["audit", "list", ...args, "--json"])).entries as AuditRecord[];
        const everything = list([]);
        assert.equal(everything.length, (await all(s)).length);
        assert.deepEqual(new Set(list(["--action", "runs.trigger"]).map((e) => e.runId)), new Set([runId, ran]));
        assert.ok(list(["--dag", "daily"]).every((e) => e.dagId === "daily"));
        assert.equal(list(["--dag", "daily"]).length, 2 + 1); // two creates (CLI and here), one cancel
        assert.equal(list(["--user", OS_USER]).length, everything.length);
        assert.equal(list(["--user", "somebody-else"]).length, 0);
        assert.equal(list(["--since", "1h"]).length, everything.length);
        assert.equal(list(["--since", "2099-01-01T00:00:00Z"]).length, 0);
        assert.equal(list(["--limit", "2"]).length, 2);
        const text = run(["audit", "list", "--action", "pools.set"]);
        assert.match(text, /^AT\s+ACTOR\s+VIA\s+IP\s+ACTION/);
        assert.equal(text.trim().split("\n").length, 3, text);
        const badSince = spawnSync(process.execPath, [BIN, "audit", "list", "--since", "soon"], { cwd: sb.dir, env: { ...sb.env, ...env }, encoding: "utf8" });
        assert.equal(badSince.status, 2, badSince.stderr);
        assert.match(badSince.stderr, /--since: "soon" is neither a duration/);

        // retention: entries older than the cutoff go, and the deletion is one entry of its own
        const old = Date.now() - 10 * 86_400_000;
        await storeDb(s.store)
          .insertInto("audit_log")
          .values([1, 2, 3].map((i) => ({ at: old + i, actor: "ancient", via: "cli", action: "runs.trigger", ip: null, user_agent: null, dag_id: "simple", run_id: null, target: null, before: null, after: null, outcome: null })))
          .execute();
        const countBefore = (await all(s)).length;
        const clean = await one(s, "db clean", async () => assert.match(run(["db", "clean", "--audit-older-than", "7d"]), /deleted 3 audit entries older than/));
        cli(clean, { action: "audit.clean", target: "audit_log" }, "clean");
        assert.equal((clean.after as { deleted: number }).deleted, 3);
        assert.match((clean.after as { cutoff: string }).cutoff, /^\d{4}-\d\d-\d\dT/);
        assert.equal((await all(s)).length, countBefore - 3 + 1);
        assert.equal((await all(s)).filter((e) => e.actor === "ancient").length, 0);
        // run retention too: one entry per batch (each in its batch's transaction); a dry run records nothing
        const finished = (await s.store.runs.page({ limit: 1000, after: null })).filter((r) => r.state === "success" || r.state === "failed");
        assert.ok(finished.length >= 3, `finished runs: ${finished.length}`);
        await one(s, "db clean --dry-run (none)", async () => {
          run(["db", "clean", "--older-than", "1ms", "--dry-run"]);
          await s.store.audit.append({ actor: "marker", via: "system", action: "test.marker" }); // `one` wants exactly one
        });
        const maxId = (await all(s))[0]!.id;
        run(["db", "clean", "--older-than", "1ms", "--batch-size", "2"]);
        const batches = (await all(s)).filter((e) => e.id > maxId);
        assert.equal(batches.length, Math.ceil(finished.length / 2));
        for (const e of batches) cli(e, { action: "db.clean", target: "runs" }, "db clean");
        assert.equal(batches.reduce((n, e) => n + (e.after as { runs: number }).runs, 0), finished.length);

        const none = spawnSync(process.execPath, [BIN, "db", "clean"], { cwd: sb.dir, env: { ...sb.env, ...env }, encoding: "utf8" });
        assert.equal(none.status, 2);
        assert.match(none.stderr, /--older-than <duration> \(finished runs\) and\/or --audit-older-than/);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    test("the app layer's listing: a viewer sees entries about DAGs only; cleanAudit needs an admin", async () => {
      const db = await d.fresh(sb.dir);
      const simple = dag("simple", (g) => void g.task("a", async () => 1));
      const s = await Sluice.open(loadConfig({ home: join(sb.dir, `home-${++homes}`), dags: sb.dags, databaseUrl: db.url }, {}), { loadDags: false, dags: [simple] });
      try {
        const operator: Actor = { via: "token", name: "olga", role: "operator", ip: null, userAgent: "curl" };
        const viewer: Actor = { via: "session", name: "vera", role: "viewer" };
        await setDagPaused(s, operator, { dagId: "simple", paused: true });
        await setPool(s, operator, { name: "io", slots: 4 });
        assert.deepEqual((await listAudit(s, viewer, { limit: 10 })).map((e) => e.action), ["dags.setPaused"]);
        assert.deepEqual((await listAudit(s, cliActor(), { limit: 10 })).map((e) => e.action), ["pools.set", "dags.setPaused"]);
        await assert.rejects(cleanAudit(s, operator, { olderThanMs: 1 }), (e) => (e as { code?: string }).code === "FORBIDDEN");
      } finally {
        await s.close();
        await db.cleanup();
      }
    });
  });
}
