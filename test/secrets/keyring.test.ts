import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isSluiceError } from "../../src/errors.js";
import { isCiphertext, Keyring, newKey } from "../../src/secrets/keyring.js";

const fails = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => isSluiceError(e, "SECRET_KEY") && re.test((e as Error).message));

test("a value encrypts to a fresh ciphertext each time and decrypts only at its own place", () => {
  const k = Keyring.of(newKey());
  const a = k.encrypt("hunter2-password", "connection:db:password");
  const b = k.encrypt("hunter2-password", "connection:db:password");
  assert.ok(isCiphertext(a));
  assert.notEqual(a, b, "a random nonce per value");
  assert.ok(!a.includes("hunter2"));
  assert.equal(k.decrypt(a, "connection:db:password"), "hunter2-password");
  fails(() => k.decrypt(a, "connection:other:password"), /altered or belongs to another row/);
});

test("a wrong key, a tampered value or garbage fails closed with SECRET_KEY", () => {
  const k1 = Keyring.of(newKey());
  const k2 = Keyring.of(newKey());
  const c = k1.encrypt("s3cret", "variable:x");
  fails(() => k2.decrypt(c, "variable:x"), /encrypted with key .* not among the keys/);
  const tampered = c.slice(0, -3) + (c.endsWith("A") ? "BBB" : "AAA");
  fails(() => k1.decrypt(tampered, "variable:x"), /altered/);
  fails(() => k1.decrypt("plain text", "variable:x"), /not a Sluice ciphertext/);
});

test("several keys: the first encrypts, all decrypt; isCurrent tells what rotation must redo", () => {
  const oldKey = newKey();
  const newer = newKey();
  const before = Keyring.of(oldKey);
  const c = before.encrypt("v", "variable:y");
  const both = Keyring.of(`${newer},${oldKey}`);
  assert.equal(both.decrypt(c, "variable:y"), "v");
  assert.equal(both.isCurrent(c), false);
  const again = both.encrypt(both.decrypt(c, "variable:y"), "variable:y");
  assert.equal(both.isCurrent(again), true);
  fails(() => before.decrypt(again, "variable:y"), /not among the keys/);
});

test("keys: hex or base64 of 32 bytes; anything else is refused naming where it came from", () => {
  Keyring.of("a".repeat(64));
  fails(() => Keyring.of("tooshort"), /SLUICE_SECRET_KEY: key 1 is not 32 bytes/);
  fails(() => Keyring.of(`${newKey()},${"b".repeat(10)}`), /key 2 is not 32 bytes/);
  fails(() => Keyring.of(" , "), /holds no key/);
});

test("the default key file is generated once with mode 0600; a readable or missing named file is refused", () => {
  const home = mkdtempSync(join(tmpdir(), "sluice-keyring-"));
  const file = join(home, "secret.key");
  assert.equal(Keyring.load({ file, generated: true }, { create: false }), null);
  const k = Keyring.load({ file, generated: true }, { create: true })!;
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = Keyring.load({ file, generated: true }, { create: true })!;
  assert.equal(again.primaryId, k.primaryId, "the second start reads the same key");
  assert.equal(again.decrypt(k.encrypt("x", "p"), "p"), "x");
  assert.match(readFileSync(file, "utf8"), /Keep a copy/);
  chmodSync(file, 0o644);
  fails(() => Keyring.load({ file, generated: true }, { create: true }), /can be read by other users \(mode 644\)/);
  fails(() => Keyring.load({ file: join(home, "nope.key"), generated: false }, { create: true }), /does not exist/);
  const env = Keyring.load({ keys: newKey(), file, generated: true }, { create: true })!;
  assert.equal(env.origin, "SLUICE_SECRET_KEY", "SLUICE_SECRET_KEY wins over any file");
  writeFileSync(join(home, "bad.key"), "# nothing\n", { mode: 0o600 });
  fails(() => Keyring.load({ file: join(home, "bad.key"), generated: false }, { create: true }), /holds no key/);
});
