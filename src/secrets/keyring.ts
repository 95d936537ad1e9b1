/**
 * The keys that encrypt secret values at rest (connections' passwords and extras, secret variables,
 * secret params): AES-256-GCM from node:crypto, a random 96-bit nonce per value, the value's place (e.g.
 * `connection:warehouse:password`) as additional authenticated data so that a ciphertext copied onto
 * another row does not decrypt there.
 *
 * A ciphertext names the key that made it (`sluice:v1:<keyId>:<base64url(nonce|ciphertext|tag)>`, the id a
 * hash of the key), so several keys can be configured at once: the first encrypts, all decrypt. Rotating
 * is: put the new key first, keep the old ones after it, run `sluice secrets rotate-key` (re-encrypts every
 * row under the first key), then drop the old ones. Anything that cannot be decrypted — a key not
 * configured here, a wrong key, a tampered value — fails closed with SECRET_KEY: never ciphertext, never a
 * partial value.
 *
 * Where the keys come from, first match wins:
 * 1. `SLUICE_SECRET_KEY`: comma-separated keys, each 32 bytes as base64 (44 characters) or hex (64);
 * 2. `SLUICE_SECRET_KEY_FILE`: a file of such keys, one per line (`#` comments), mode 0600 or stricter;
 * 3. `<home>/secret.key`, the same format, generated with mode 0600 the first time a key is needed and
 *    none is configured — as the first admin's password is. On PostgreSQL with several hosts, configure
 *    the same key everywhere (a host that generated its own fails closed on the others' values).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SluiceError } from "../errors.js";

const PREFIX = "sluice:v1:";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface KeySource {
  /** SLUICE_SECRET_KEY, unparsed. */
  keys?: string | null;
  /** SLUICE_SECRET_KEY_FILE, or the default file under the home. */
  file: string;
  /** True when `file` is the default (generated when missing); false when the operator named it. */
  generated: boolean;
}

interface Key {
  id: string;
  bytes: Buffer;
}

export class Keyring {
  private constructor(
    private readonly keys: readonly Key[],
    /** Where the keys came from, for messages ("SLUICE_SECRET_KEY", a file path). */
    readonly origin: string,
  ) {}

  /**
   * The configured keys; with `create` and nothing configured, a new key file. Without `create` and nothing
   * configured: null (a reader that finds no secret rows needs no key).
   */
  static load(src: KeySource, opts: { create: boolean }): Keyring | null {
    if (src.keys) return new Keyring(parseKeys(src.keys, "SLUICE_SECRET_KEY"), "SLUICE_SECRET_KEY");
    if (existsSync(src.file)) return new Keyring(readKeyFile(src.file), src.file);
    if (!src.generated) throw new SluiceError("SECRET_KEY", `the key file ${src.file} (SLUICE_SECRET_KEY_FILE) does not exist`);
    if (!opts.create) return null;
    return new Keyring([writeNewKeyFile(src.file)], src.file);
  }

  /** A keyring of the given keys (tests, and `rotate-key` which is handed the new list). */
  static of(keys: string, origin = "SLUICE_SECRET_KEY"): Keyring {
    return new Keyring(parseKeys(keys, origin), origin);
  }

  /** The id of the key that encrypts. */
  get primaryId(): string {
    return this.keys[0]!.id;
  }

  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** Encrypt `plaintext` for the place `aad` (the same string must be given to decrypt it). */
  encrypt(plaintext: string, aad: string): string {
    const key = this.keys[0]!;
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key.bytes, nonce);
    cipher.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return `${PREFIX}${key.id}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString("base64url")}`;
  }

  /** The plaintext of a value made by `encrypt` for the same `aad`, or SECRET_KEY. */
  decrypt(ciphertext: string, aad: string): string {
    const parsed = parseCiphertext(ciphertext);
    if (!parsed) throw new SluiceError("SECRET_KEY", `the secret value of ${aad} is not a Sluice ciphertext (a corrupt row?)`);
    const key = this.keys.find((k) => k.id === parsed.keyId);
    if (!key) {
      throw new SluiceError(
        "SECRET_KEY",
        `the secret value of ${aad} was encrypted with key ${parsed.keyId}, which is not among the keys of ${this.origin} (${this.keyIds.join(", ")}): configure that key too`,
      );
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.bytes, parsed.nonce);
      decipher.setAAD(Buffer.from(aad, "utf8"));
      decipher.setAuthTag(parsed.tag);
      return Buffer.concat([decipher.update(parsed.body), decipher.final()]).toString("utf8");
    } catch (e) {
      throw new SluiceError("SECRET_KEY", `the secret value of ${aad} does not decrypt with key ${key.id}: it was altered or belongs to another row`, { cause: e });
    }
  }

  /** Whether `ciphertext` is already under the primary key (rotate-key skips it). */
  isCurrent(ciphertext: string): boolean {
    return parseCiphertext(ciphertext)?.keyId === this.primaryId;
  }
}

/** Whether a stored value is a ciphertext of this format (readers show "set" rather than the bytes). */
export function isCiphertext(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** A new random key, as written to a key file and accepted by SLUICE_SECRET_KEY. */
export function newKey(): string {
  return randomBytes(32).toString("base64");
}

function keyId(bytes: Buffer): string {
  return createHash("sha256").update("sluice-key-id\0").update(bytes).digest("hex").slice(0, 12);
}

function parseKeys(text: string, origin: string): Key[] {
  const entries = text
    .split(/[,\n]/)
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean);
  if (entries.length === 0) throw new SluiceError("SECRET_KEY", `${origin} holds no key`);
  const keys = entries.map((entry, i) => {
    const bytes = /^[0-9a-fA-F]{64}$/.test(entry) ? Buffer.from(entry, "hex") : /^[A-Za-z0-9+/_-]{43}=?$/.test(entry) ? Buffer.from(entry, "base64") : null;
    if (!bytes || bytes.length !== 32) {
      throw new SluiceError(
        "SECRET_KEY",
        `${origin}: key ${i + 1} is not 32 bytes as base64 (44 characters) or hex (64 characters); make one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`,
      );
    }
    return { id: keyId(bytes), bytes };
  });
  return keys;
}

function readKeyFile(file: string): Key[] {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new SluiceError("SECRET_KEY", `cannot read the key file ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = fstatSync(fd);
    // like ssh with a private key: a key others can read is refused, not silently used
    if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
      throw new SluiceError("SECRET_KEY", `the key file ${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${file}`);
    }
    return parseKeys(readFileSync(fd, "utf8"), file);
  } finally {
    closeSync(fd);
  }
}

function writeNewKeyFile(file: string): Key {
  mkdirSync(dirname(file), { recursive: true });
  const text = newKey();
  let fd: number;
  try {
    // "wx": two processes starting at once must not both write a key; the loser reads the winner's
    fd = openSync(file, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return readKeyFile(file)[0]!;
    throw new SluiceError("SECRET_KEY", `cannot create the key file ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    writeSync(fd, `# Sluice's secret key (AES-256-GCM). Keep a copy: the secrets in the store cannot be read without it.\n${text}\n`);
  } finally {
    closeSync(fd);
  }
  return parseKeys(text, file)[0]!;
}

function parseCiphertext(value: string): { keyId: string; nonce: Buffer; body: Buffer; tag: Buffer } | null {
  if (!value.startsWith(PREFIX)) return null;
  const rest = value.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  if (colon <= 0) return null;
  const raw = Buffer.from(rest.slice(colon + 1), "base64url");
  if (raw.length < NONCE_BYTES + TAG_BYTES) return null;
  return {
    keyId: rest.slice(0, colon),
    nonce: raw.subarray(0, NONCE_BYTES),
    body: raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES),
    tag: raw.subarray(raw.length - TAG_BYTES),
  };
}
