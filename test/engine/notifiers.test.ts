/**
 * Notifiers (decision 0019) against real servers started here: a JSON webhook (its HMAC-SHA256 signature
 * checked with the secret), a Slack-style incoming webhook, email through a real SMTP server with
 * STARTTLS (a self-signed certificate made with openssl, trusted through the connection's `ca`) and a
 * login, and an unreachable URL: logged with the notifier's name and the reason, retried, the run
 * unaffected. No secret reaches a log line.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SMTPServer } from "smtp-server";
import { dag, email, slack, webhook } from "sluice";
import { ManualClock, Sluice, loadConfig } from "sluice/runtime";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-notifiers-");
after(() => sb.cleanup());

const SECRET = "whsec-test-0123456789";
const SMTP_PASSWORD = "smtp-pass-s3cret";

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

function httpServer(status: () => number): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.statusCode = status();
      res.end("ok");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })));
}

let hook: Awaited<ReturnType<typeof httpServer>>;
let chat: Awaited<ReturnType<typeof httpServer>>;
let smtp: SMTPServer;
let smtpPort = 0;
let cert = "";
const mails: { from: string; to: string[]; raw: string; user: string; secure: boolean }[] = [];
let closedPort = 0;

before(async () => {
  hook = await httpServer(() => 200);
  chat = await httpServer(() => 200);
  // a self-signed certificate for 127.0.0.1: the client verifies it against the connection's `ca`
  const key = join(sb.dir, "smtp.key");
  const crt = join(sb.dir, "smtp.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stdio: "ignore" });
  cert = readFileSync(crt, "utf8");
  smtp = new SMTPServer({
    key: readFileSync(key),
    cert,
    authOptional: false,
    // no AUTH before STARTTLS: the client must upgrade, as `requireTLS` makes it
    allowInsecureAuth: false,
    onAuth(auth, _session, cb) {
      if (auth.username === "alerts" && auth.password === SMTP_PASSWORD) cb(null, { user: auth.username });
      else cb(new Error("Invalid username or password"));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          user: String(session.user),
          secure: session.secure,
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  // a port nothing listens on: a server started and closed
  const gone = createServer();
  await new Promise<void>((resolve) => gone.listen(0, "127.0.0.1", () => resolve()));
  closedPort = (gone.address() as AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
});
after(async () => {
  hook?.server.close();
  chat?.server.close();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
});

const dags = () => [
  dag(
    "nt_failing",
    {
      notify: {
        onFailure: [
          webhook({ url: `${hook.url}/hooks/sluice?team=data`, secret: SECRET, name: "ops-webhook" }),
          slack({ url: `${chat.url}/services/T000/B000/XXXSECRETXXX`, channel: "#alerts" }),
          email({ to: ["oncall@example.com"], connection: "smtp", from: "sluice@example.com" }),
        ],
      },
    },
    (d) => {
      d.task("load", async () => {
        throw new Error("table <orders> is locked\nat line 2");
      });
    },
  ),
  dag("nt_unreachable", { onFailure: webhook({ url: `http://127.0.0.1:${closedPort}/hook`, secret: SECRET }) }, (d) => {
    d.task("t", async () => {
      throw new Error("boom");
    });
  }),
  dag("nt_badlogin", { onFailure: email({ to: "oncall@example.com", connection: "smtp_wrong" }) }, (d) => {
    d.task("t", async () => {
      throw new Error("boom");
    });
  }),
];

describe("notifiers against real servers", () => {
  let s: Sluice;
  const lines: string[] = [];
  const clock = new ManualClock();
  before(async () => {
    const conn = (password: string) => JSON.stringify({ conn_type: "smtp", host: "127.0.0.1", port: smtpPort, login: "alerts", password, extra: { ca: cert } });
    s = await Sluice.open(
      loadConfig(
        { home: sb.home, dags: sb.dags, databaseUrl: `sqlite:${sb.dir}/notifiers.sqlite` },
        { SLUICE_PUBLIC_URL: "https://sluice.example.com", SLUICE_CONN_SMTP: conn(SMTP_PASSWORD), SLUICE_CONN_SMTP_WRONG: conn("not-the-password") },
      ),
      { clock, dags: dags() },
    );
    s.engine.callbacks.configure({ log: (l) => lines.push(l) });
  });
  after(() => s?.close());

  test("a failure POSTs a signed JSON body, posts to the chat webhook and sends an email over STARTTLS with a login", async () => {
    const summary = await s.run("nt_failing");
    assert.equal(summary.state, "failed");

    // webhook: the documented body, signed over its exact bytes
    assert.equal(hook.received.length, 1);
    const h = hook.received[0]!;
    assert.equal(h.path, "/hooks/sluice?team=data");
    assert.equal(h.headers["content-type"], "application/json");
    assert.equal(h.headers["x-sluice-event"], "failure");
    assert.equal(h.headers["x-sluice-signature"], `sha256=${createHmac("sha256", SECRET).update(h.body).digest("hex")}`);
    assert.notEqual(h.headers["x-sluice-signature"], `sha256=${createHmac("sha256", "another secret").update(h.body).digest("hex")}`);
    const body = JSON.parse(h.body);
    assert.equal(h.headers["x-sluice-delivery"], body.id);
    assert.equal(body.version, 1);
    assert.equal(body.event, "failure");
    assert.deepEqual(body.dag.id, "nt_failing");
    assert.equal(body.run.id, summary.runId);
    assert.equal(body.run.state, "failed");
    assert.equal(body.task, null);
    assert.equal(body.url, `https://sluice.example.com/dags/nt_failing?run=${summary.runId}`);
    assert.match(body.message, /^Run of DAG nt_failing failed \(run .*, logical date 2026-01-01T00:00:00.000Z\)/);

    // slack: { text, channel }
    assert.equal(chat.received.length, 1);
    const msg = JSON.parse(chat.received[0]!.body);
    assert.equal(msg.channel, "#alerts");
    assert.match(msg.text, /^Run of DAG nt_failing failed/);
    assert.ok(msg.text.endsWith(`https://sluice.example.com/dags/nt_failing?run=${summary.runId}`));

    // email: STARTTLS, logged in, plain text and HTML with the values escaped
    assert.equal(mails.length, 1);
    const m = mails[0]!;
    assert.equal(m.secure, true, "upgraded with STARTTLS before the login");
    assert.equal(m.user, "alerts");
    assert.equal(m.from, "sluice@example.com");
    assert.deepEqual(m.to, ["oncall@example.com"]);
    assert.match(m.raw, /Subject: Run of DAG nt_failing failed/);
    assert.match(m.raw, /Content-Type: text\/plain/);
    assert.match(m.raw, /Content-Type: text\/html/);
    const rows = await s.store.callbacks.ofRun(summary.runId);
    assert.deepEqual(rows.map((r) => [r.name, r.state]), [["ops-webhook", "done"], ["slack(127.0.0.1:" + new URL(chat.url).port + ")", "done"], ["email(oncall@example.com)", "done"]]);
    assert.ok(!lines.join("\n").includes(SECRET) && !lines.join("\n").includes(SMTP_PASSWORD) && !lines.join("\n").includes("XXXSECRETXXX"), lines.join("\n"));
  });

  test("a task's error reaches the message escaped in HTML, its first line only in the subject", async () => {
    mails.length = 0;
    const errorDag = dag("nt_task", { defaults: { onFailure: email({ to: "oncall@example.com", connection: "smtp" }) } }, (d) => {
      d.task("load", async () => {
        throw new Error("table <orders> & more\nsecond line");
      });
    });
    const s2 = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: `sqlite:${sb.dir}/notifiers2.sqlite` }, { SLUICE_CONN_SMTP: JSON.stringify({ conn_type: "smtp", host: "127.0.0.1", port: smtpPort, login: "alerts", password: SMTP_PASSWORD, extra: { ca: cert } }) }), { clock: new ManualClock(), dags: [errorDag] });
    try {
      await s2.run("nt_task");
      assert.equal(mails.length, 1);
      // unfold the headers and the quoted-printable soft line breaks
      const raw = mails[0]!.raw.replace(/=\r?\n/g, "").replace(/\r\n /g, " ");
      assert.match(raw, /Subject: Task load of DAG nt_task failed \(run .*\): table <orders> & more/);
      assert.match(raw, /table &lt;orders&gt; &amp; more/);
      assert.doesNotMatch(raw.split(/Content-Type: text\/html/)[1]!, /<orders>/);
    } finally {
      await s2.close();
    }
  });

  test("an unreachable URL is logged with the notifier's name and the reason, retried, and the run is unaffected", async () => {
    lines.length = 0;
    const summary = await s.run("nt_unreachable");
    assert.equal(summary.state, "failed");
    assert.equal(summary.tasks[0]!.attempts, 1);
    const [row] = await s.store.callbacks.ofRun(summary.runId);
    assert.equal(row!.state, "pending");
    assert.equal(row!.tries, 1);
    assert.match(row!.lastError!, new RegExp(`webhook\\(127\\.0\\.0\\.1:${closedPort}\\): 127\\.0\\.0\\.1:${closedPort} unreachable: ECONNREFUSED`));
    assert.ok(lines.some((l) => l.includes(`callback webhook(127.0.0.1:${closedPort}) (failure in run ${summary.runId}): failed (try 1 of 5)`) && l.includes("ECONNREFUSED") && l.includes("trying again in 10s")), lines.join("\n"));
    clock.advance(10_000);
    assert.equal(await s.engine.callbacks.runDue(), 1);
    const [again] = await s.store.callbacks.ofRun(summary.runId);
    assert.equal(again!.tries, 2);
    assert.equal(again!.state, "pending");
    assert.equal((await s.store.runs.get(summary.runId))!.state, "failed");
    assert.ok(!lines.join("\n").includes(SECRET));
  });

  test("a rejected SMTP login is logged with the notifier's name and the reason; the password is not", async () => {
    lines.length = 0;
    const summary = await s.run("nt_badlogin");
    const [row] = await s.store.callbacks.ofRun(summary.runId);
    assert.equal(row!.state, "pending");
    assert.match(row!.lastError!, /^email\(oncall@example\.com\): SMTP login rejected \(535\)/);
    assert.ok(lines.some((l) => l.includes("callback email(oncall@example.com)") && l.includes("SMTP login rejected")), lines.join("\n"));
    assert.ok(!lines.join("\n").includes("not-the-password"));
  });
});
