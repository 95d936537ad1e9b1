/**
 * Password hashing with scrypt (node:crypto): a per-user random salt and the cost parameters are kept in
 * the stored string, so the parameters can be raised later without invalidating existing hashes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { SluiceError } from "../errors.js";

// N=2^15, r=8: ~50 ms and 32 MB per hash on a laptop core (OWASP's scrypt floor is N=2^17 with p=1 at
// 128 MB; 2^15 keeps logins fast on small servers and still costs an attacker ~10^4 x a SHA-256).
const PARAMS = { N: 1 << 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const MAX_MEM = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password.normalize("NFC"), salt, KEY_BYTES, { ...o, maxmem: MAX_MEM }, (e, key) => (e ? reject(e) : resolve(key))));
}

/** `scrypt$N$r$p$<salt b64url>$<hash b64url>` */
export async function hashPassword(password: string): Promise<string> {
  checkPassword(password);
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const expected = Buffer.from(parts[5]!, "base64url");
  const key = await derive(password, Buffer.from(parts[4]!, "base64url"), { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of a random password: compared against when the user does not exist, so both cost the same. */
let dummy: Promise<string> | null = null;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(generatePassword());
  return dummy;
}

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export function checkPassword(password: string, field = "password"): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw new SluiceError("INVALID_INPUT", `${field}: must be at least ${MIN_PASSWORD_LENGTH} characters`, { details: { field } });
  if (password.length > MAX_PASSWORD_LENGTH) throw new SluiceError("INVALID_INPUT", `${field}: must be at most ${MAX_PASSWORD_LENGTH} characters`, { details: { field } });
}

/** 20 random characters from an unambiguous alphabet (~115 bits). */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = randomBytes(20);
  let out = "";
  // 256 % 56 != 0 leaves a slight bias; at 20 characters it costs under a bit of entropy
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}
