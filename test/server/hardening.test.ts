/**
 * HTTP hardening (issue 11): a browser's state-changing request from another site is refused on top of
 * the CSRF token (Origin, Sec-Fetch-Site), login included; the session cookie is Secure when the server
 * is reached over HTTPS — SLUICE_PUBLIC_URL says so, or a proxy trusted by SLUICE_TRUST_PROXY — and not
 * because any client sent X-Forwarded-Proto.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { sandbox } from "../helpers.js";
import { ADMIN_PASSWORD, deploy, type Deployment } from "./harness.js";

const sb = sandbox("sluice-hardening-");
after(() => sb.cleanup());
sb.write("simple.ts", `import { dag } from "sluice";\nexport default dag("simple", (d) => { d.task("a", async () => 1); });\n`);

async function login(url: string, headers: Record<string, string> = {}): Promise<{ status: number; cookie: string | null; setCookie: string; csrf: string | null }> {
  const res = await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }) });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("sluice_session=")) ?? "";
  const json = (await res.json()) as { csrfToken?: string };
  return { status: res.status, cookie: /^sluice_session=([^;]*)/.exec(setCookie)?.[1] ?? null, setCookie, csrf: json.csrfToken ?? null };
}

describe("same-origin checks on state-changing requests", () => {
  let dep: Deployment;
  after(async () => dep?.stop());

  test("with a valid session and CSRF token, a request from another origin or site is refused; the same origin and scripts pass", async () => {
    dep = await deploy(sb, { worker: false });
    const s = await login(dep.url);
    assert.equal(s.status, 200);
    const pause = (headers: Record<string, string>) =>
      fetch(`${dep.url}/api/v1/dags/simple`, {
        method: "PATCH",
        headers: { "Content-Type": "application/json", Cookie: `sluice_session=${s.cookie}`, "X-CSRF-Token": s.csrf!, ...headers },
        body: JSON.stringify({ paused: true }),
      });
    const own = new URL(dep.url).origin;
    for (const [headers, status] of [
      [{ Origin: "https://evil.example" }, 403],
      [{ "Sec-Fetch-Site": "cross-site" }, 403],
      [{ "Sec-Fetch-Site": "same-site", Origin: own }, 403],
      [{ Origin: "null" }, 403],
      [{ Origin: own, "Sec-Fetch-Site": "same-origin" }, 200],
      [{}, 200], // curl, scripts: neither header
    ] as [Record<string, string>, number][]) {
      const r = await pause(headers);
      const text = await r.text();
      assert.equal(r.status, status, `${JSON.stringify(headers)}: ${text}`);
      if (status === 403) assert.match(text, /cross-origin request refused/);
    }
    // login too (login CSRF: planting the attacker's session in the victim's browser)
    assert.equal((await login(dep.url, { Origin: "https://evil.example" })).status, 403);
    assert.equal((await login(dep.url, { "Sec-Fetch-Site": "cross-site" })).status, 403);
    // reads are not affected (no state changes)
    const read = await fetch(`${dep.url}/api/v1/dags`, { headers: { Cookie: `sluice_session=${s.cookie}`, Origin: "https://evil.example" } });
    assert.equal(read.status, 200);
  });
});

describe("the session cookie's Secure flag", () => {
  test("plain http: not Secure, even when a client claims X-Forwarded-Proto: https", async () => {
    const dep = await deploy(sb, { worker: false });
    try {
      assert.doesNotMatch((await login(dep.url)).setCookie, /;\s*Secure/i);
      assert.doesNotMatch((await login(dep.url, { "X-Forwarded-Proto": "https" })).setCookie, /;\s*Secure/i, "an untrusted header decides nothing");
    } finally {
      await dep.stop();
    }
  });

  test("SLUICE_TRUST_PROXY: the proxy's X-Forwarded-Proto makes it Secure, and the origin it names is the server's", async () => {
    const dep = await deploy(sb, { worker: false, env: { SLUICE_TRUST_PROXY: "true" } });
    try {
      const s = await login(dep.url, { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sluice.example.com" });
      assert.match(s.setCookie, /;\s*Secure/i);
      assert.equal((await login(dep.url, { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sluice.example.com", Origin: "https://sluice.example.com" })).status, 200);
      assert.equal((await login(dep.url, { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sluice.example.com", Origin: "http://sluice.example.com" })).status, 403);
    } finally {
      await dep.stop();
    }
  });

  test("SLUICE_PUBLIC_URL=https://…: Secure, and only that origin may change state", async () => {
    const dep = await deploy(sb, { worker: false, env: { SLUICE_PUBLIC_URL: "https://sluice.example.com" } });
    try {
      assert.match((await login(dep.url)).setCookie, /;\s*Secure/i);
      assert.equal((await login(dep.url, { Origin: "https://sluice.example.com" })).status, 200);
      assert.equal((await login(dep.url, { Origin: new URL(dep.url).origin })).status, 403);
    } finally {
      await dep.stop();
    }
  });
});
