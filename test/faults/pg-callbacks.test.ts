/**
 * A callback survives the crash of the process that was running it (decision 0019), with real processes
 * on real PostgreSQL: `sluice worker` A runs a task that fails; the failure's webhook is due from the
 * failure's own transaction; A claims it and sends it, and the receiving server kills A with SIGKILL the
 * moment the request arrives, before answering. Worker B, started after, takes the callback over once A's
 * claim's lease ends and delivers it: acknowledged once, with the same delivery id and a valid signature,
 * the task's and the run's states untouched.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { freshSchema, pgSkip, querySchema } from "../dialects.js";
import { cli, cliSpawn, sandbox, waitFor } from "../helpers.js";

const SECRET = "kill-test-secret-value";

const query = querySchema;

describe("PostgreSQL: a callback outlives the worker running it", { skip: pgSkip(1) }, () => {
  test("a worker killed with SIGKILL mid-delivery: another worker delivers the failure notification, acknowledged once", async () => {
    const sb = sandbox("sluice-pgcb-");
    const schema = await freshSchema();
    const procs: ChildProcess[] = [];
    const outs = new Map<ChildProcess, string>();
    let victim: ChildProcess | null = null;
    const received: { headers: IncomingMessage["headers"]; body: string; answered: boolean }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const first = received.length === 0;
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), answered: !first });
        if (first) {
          // the worker dies mid-delivery: its try never ends, its claim stays "running" until its lease ends
          victim!.kill("SIGKILL");
          req.socket.destroy();
          return;
        }
        res.end("ok");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    after(async () => {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once("exit", r)))));
      server.close();
      await schema.drop();
      sb.cleanup();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    sb.write(
      "fail.ts",
      `import { dag, webhook } from "sluice";
export default dag("fail_notify", { onFailure: webhook({ url: ${JSON.stringify(url)}, secret: ${JSON.stringify(SECRET)} }) }, (d) => {
  d.task("boom", async () => { throw new Error("the warehouse is down"); });
});
`,
    );
    const env: NodeJS.ProcessEnv = { SLUICE_DATABASE_URL: schema.url, SLUICE_LEASE_MS: "2000", SLUICE_HEARTBEAT_MS: "300", SLUICE_DB_POOL_SIZE: "3", SLUICE_PORT: "0" };
    const m = cli(sb, ["db", "migrate"], env);
    assert.equal(m.code, 0, m.stderr);
    const start = () => {
      const p = cliSpawn(sb, ["worker", "--concurrency", "2", "--quiet"], env);
      outs.set(p, "");
      p.stdout?.on("data", (d) => outs.set(p, outs.get(p) + String(d)));
      p.stderr?.on("data", (d) => outs.set(p, outs.get(p) + String(d)));
      procs.push(p);
      return p;
    };
    // only A at first: the task, and then its failure's callback, can only be A's
    victim = start();
    const t = cli(sb, ["trigger", "fail_notify"], env);
    assert.equal(t.code, 0, t.stderr);
    await waitFor(() => victim!.signalCode === "SIGKILL", 60_000, "worker A to start the delivery (and be killed)");
    const [run] = await query<{ run_id: string; state: string }>(schema, "select run_id, state from runs");
    assert.equal(run!.state, "failed", "the failure was committed before the callback ran");
    const [held] = await query<{ state: string; tries: number; claimed_by: string }>(schema, "select state, tries, claimed_by from callbacks");
    assert.deepEqual([held!.state, held!.tries], ["running", 1], "A's claim is left running");

    const b = start();
    await waitFor(async () => (await query<{ state: string }>(schema, "select state from callbacks"))[0]?.state === "done", 60_000, "worker B to deliver the notification");
    const [row] = await query<{ state: string; tries: number; claimed_by: string }>(schema, "select state, tries, claimed_by from callbacks");
    assert.equal(row!.tries, 2);
    assert.notEqual(row!.claimed_by, held!.claimed_by, "delivered by another process");
    assert.equal(received.filter((r) => r.answered).length, 1, "acknowledged exactly once");
    assert.equal(received.length, 2);
    // the same delivery (a receiver drops repeats by its id), each signed
    assert.equal(received[0]!.headers["x-sluice-delivery"], received[1]!.headers["x-sluice-delivery"]);
    for (const r of received) assert.equal(r.headers["x-sluice-signature"], `sha256=${createHmac("sha256", SECRET).update(r.body).digest("hex")}`);
    const body = JSON.parse(received[1]!.body);
    assert.equal(body.event, "failure");
    assert.equal(body.run.id, run!.run_id);
    await waitFor(() => outs.get(b)!.includes("(try 2)"), 30_000, "B's log line");
    assert.match(outs.get(b)!, /callback webhook\(127\.0\.0\.1:\d+\) \(failure in run .*\): done \(try 2\)/);
    assert.ok(![...outs.values()].some((o) => o.includes(SECRET)), "the secret is in no log");
    const [after_] = await query<{ state: string }>(schema, "select state from task_instances where task_id = 'boom'");
    assert.equal(after_!.state, "failed");
  });
});
