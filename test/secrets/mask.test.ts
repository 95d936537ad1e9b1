import assert from "node:assert/strict";
import { test } from "node:test";
import { isSensitiveName, Masker } from "../../src/secrets/mask.js";

test("a secret and its base64, base64url and URL-encoded forms are masked; short values are not", () => {
  const m = new Masker();
  const s = "p@ss w/rd+?&=é";
  m.add(s);
  m.add("ab");
  const b64 = Buffer.from(s).toString("base64");
  const text = `plain=${s} b64=${b64} url=${encodeURIComponent(s)} form=${encodeURIComponent(s).replace(/%20/g, "+")} b64url=${Buffer.from(s).toString("base64url")} ab`;
  const masked = m.mask(text);
  assert.equal(masked, "plain=*** b64=*** url=*** form=*** b64url=*** ab");
  assert.equal(m.mask("nothing here"), "nothing here");
});

test("the longer secret wins when one contains another; JSON values are masked string by string", () => {
  const m = new Masker();
  m.add("secret");
  m.add("my-secret-value");
  assert.equal(m.mask("x my-secret-value y secret"), "x *** y ***");
  const j = new Masker();
  j.add({ token: "tok-123456", port: 5432, on: true, nested: ["deep-value"] });
  assert.deepEqual(j.maskJson({ a: "tok-123456", b: ["deep-value", 5432, true], "deep-value": 1 }), { a: "***", b: ["***", 5432, true], "***": 1 });
  assert.equal(j.mask("port 5432 on true"), "port 5432 on true");
});

test("sensitive names as Airflow's list has them", () => {
  for (const n of ["PASSWORD", "db_passwd", "API_KEY", "apikey", "GITHUB_TOKEN", "aws_secret_access_key", "private_key", "AUTH_HEADER", "gcp_credentials", "KEY"]) assert.ok(isSensitiveName(n), n);
  for (const n of ["PATH", "HOME", "MONKEY_COUNT", "keyboard", "LANG", "region"]) assert.ok(!isSensitiveName(n), n);
});
