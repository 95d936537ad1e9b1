/**
 * The egress policy (core/egress.ts) and Sluice's outbound HTTP under it (dsl/outbound.ts): link-local and
 * cloud metadata addresses are refused, by address and after DNS resolution (a name that resolves to a
 * denied address, a redirect to one); SLUICE_HTTP_ALLOW narrows the rest; the httpOk sensor fails, naming
 * the address, instead of poking a refused address forever.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { egressPolicy, egressRefusal, setEgressPolicy } from "../../src/core/egress.js";
import { outbound } from "../../src/dsl/outbound.js";
import { httpOk } from "../../src/dsl/sensors.js";
import { isSluiceError } from "../../src/errors.js";

test("the policy: default deny list, added denies, an allow list; entries that are not addresses, CIDRs or names are refused", () => {
  const d = egressPolicy();
  for (const [host, addr] of [
    ["169.254.169.254", "169.254.169.254"],
    ["metadata.google.internal", "169.254.169.254"],
    ["evil.example", "169.254.170.2"],
    ["evil.example", "::ffff:169.254.169.254"],
    ["evil.example", "fd00:ec2::254"],
    ["evil.example", "fe80::1"],
    ["evil.example", "100.100.100.200"],
  ]) assert.ok(egressRefusal(d, host!, addr!), `${host} ${addr} must be denied`);
  for (const [host, addr] of [["example.com", "93.184.216.34"], ["localhost", "127.0.0.1"], ["db", "10.1.2.3"], ["v6", "2001:db8::1"]]) assert.equal(egressRefusal(d, host!, addr!), null, `${host} ${addr}`);
  const custom = egressPolicy({ deny: "10.0.0.0/8, *.corp", allow: "*.example.com, 192.168.0.0/16" });
  assert.match(egressRefusal(custom, "db", "10.1.2.3")!, /denied/);
  assert.match(egressRefusal(custom, "wiki.corp", "192.168.1.1")!, /denied/);
  assert.equal(egressRefusal(custom, "api.example.com", "93.184.216.34"), null);
  assert.equal(egressRefusal(custom, "nas", "192.168.1.9"), null);
  assert.match(egressRefusal(custom, "other.org", "93.184.216.35")!, /not in SLUICE_HTTP_ALLOW/);
  assert.throws(() => egressPolicy({ deny: "10.0.0.0/40" }), (e: unknown) => isSluiceError(e, "CONFIG") && /SLUICE_HTTP_DENY: "10.0.0.0\/40"/.test((e as Error).message));
  assert.throws(() => egressPolicy({ allow: "http://x" }), (e: unknown) => isSluiceError(e, "CONFIG") && /SLUICE_HTTP_ALLOW/.test((e as Error).message));
});

let server: Server;
let port = 0;
before(async () => {
  server = createServer((req, res) => {
    if (req.url === "/to-metadata") {
      res.writeHead(302, { Location: "http://169.254.169.254/latest/meta-data/" }).end();
    } else if (req.url === "/hop") {
      res.writeHead(301, { Location: "/ok" }).end();
    } else {
      res.writeHead(200).end("healthy");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  setEgressPolicy(egressPolicy());
  server.close();
});

const refused = (e: unknown) => isSluiceError(e, "EGRESS_DENIED");

test("outbound HTTP: checked after DNS resolution, on every redirect hop, and before connecting to an address literal", async () => {
  setEgressPolicy(egressPolicy());
  assert.deepEqual(await outbound(`http://localhost:${port}/hop`), { status: 200, body: "healthy" }, "a redirect is followed");
  await assert.rejects(outbound(`http://localhost:${port}/to-metadata`), refused, "a redirect to the metadata service");
  await assert.rejects(outbound("http://169.254.169.254/latest/meta-data/"), refused);
  await assert.rejects(outbound("http://[::ffff:169.254.169.254]/"), refused);
  // a name is judged by what it resolves to: localhost is 127.0.0.1, denied here
  setEgressPolicy(egressPolicy({ deny: "127.0.0.0/8, ::1/128" }));
  await assert.rejects(outbound(`http://localhost:${port}/`), (e: unknown) => refused(e) && /localhost \((127\.0\.0\.1|::1)\) is denied/.test((e as Error).message));
  setEgressPolicy(egressPolicy({ allow: "api.example.com" }));
  await assert.rejects(outbound(`http://localhost:${port}/`), (e: unknown) => refused(e) && /not in SLUICE_HTTP_ALLOW/.test((e as Error).message));
  setEgressPolicy(egressPolicy());
});

test("the httpOk sensor fails on a refused address (no endless poking); an allowed one answers", async () => {
  setEgressPolicy(egressPolicy());
  const lines: string[] = [];
  const ctx = { signal: new AbortController().signal, log: { info: (...a: unknown[]) => lines.push(a.join(" ")), debug() {}, warn() {}, error() {} } } as never;
  const ok = await httpOk(`http://localhost:${port}/hop`)({}, ctx);
  assert.deepEqual(ok, { done: true, value: { status: 200, body: "healthy" } });
  await assert.rejects(httpOk(`http://localhost:${port}/to-metadata`)({}, ctx), refused);
});
