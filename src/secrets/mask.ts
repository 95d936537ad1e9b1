/**
 * Masking of secret values (docs/decisions/0016-secrets.md): a Masker holds the secrets one attempt can
 * reach and replaces each of them — and its base64 (standard and URL-safe) and URL-encoded forms, the
 * encodings a secret most often leaks in (basic-auth headers, query strings) — by `***` in any text before
 * it is written anywhere. Airflow's secrets masker does the same for the values a task fetched.
 *
 * Values shorter than MIN_SECRET_LENGTH are not masked: masking "1" or "db" would turn every log into
 * asterisks and tell a reader more than it hides.
 */

export const MASK = "***";
export const MIN_SECRET_LENGTH = 4;

/**
 * Names of environment variables, params and fields whose values are treated as secrets (Airflow's
 * DEFAULT_SENSITIVE_FIELDS, plus `credential` and `key` as a word).
 */
const SENSITIVE_NAME = /pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|(^|[-_.])key($|[-_.])|credential|auth|access[-_]?key|service[-_]?account/i;

export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

export class Masker {
  /** Every form of every secret, longest first once sorted (so a secret inside another is not half-masked). */
  private forms = new Set<string>();
  private pattern: RegExp | null = null;

  /** Mask `value` from now on (and its encoded forms). Non-strings are masked as their JSON text. */
  add(value: unknown): void {
    if (value === null || value === undefined) return;
    const text = typeof value === "string" ? value : JSON.stringify(value);
    if (text === undefined || text.length < MIN_SECRET_LENGTH) return;
    const before = this.forms.size;
    for (const form of encodedForms(text)) if (form.length >= MIN_SECRET_LENGTH) this.forms.add(form);
    // a JSON value is also masked string by string (a task may print one field of it); numbers and
    // booleans are not: masking every "true" or "5432" would hide more than the secret
    if (typeof value === "object") for (const leaf of stringLeaves(value)) this.add(leaf);
    if (this.forms.size !== before) this.pattern = null;
  }

  get size(): number {
    return this.forms.size;
  }

  /** `text` with every known secret replaced by `***`. */
  mask(text: string): string {
    if (this.forms.size === 0 || text.length < MIN_SECRET_LENGTH) return text;
    this.pattern ??= new RegExp([...this.forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "g");
    return text.replace(this.pattern, MASK);
  }

  /**
   * A value with every string in it (keys too) masked: JSON values, and the rest of what a task may return
   * (Maps, Sets, Buffers and Uint8Arrays whose UTF-8 text holds a secret: a Buffer.from(secret) must not
   * reach the store either). Other values are returned as they are.
   */
  maskJson<T>(value: T): T {
    if (this.forms.size === 0) return value;
    return maskDeep(value, (s) => this.mask(s), new Map()) as T;
  }
}

function encodedForms(text: string): string[] {
  const buf = Buffer.from(text, "utf8");
  const b64 = buf.toString("base64");
  return [
    text,
    encodeURIComponent(text),
    // form encoding (application/x-www-form-urlencoded) writes spaces as "+"
    encodeURIComponent(text).replace(/%20/g, "+"),
    b64,
    // without padding, as a secret often sits in the middle of a longer base64 text
    b64.replace(/=+$/, ""),
    buf.toString("base64url"),
  ];
}

function stringLeaves(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeaves);
  if (value && typeof value === "object") return Object.values(value).flatMap(stringLeaves);
  return [];
}

function maskDeep(value: unknown, mask: (s: string) => string, seen: Map<object, unknown>): unknown {
  if (typeof value === "string") return mask(value);
  if (typeof value !== "object" || value === null) return value;
  // cycles (a returned value may have them: structured clone keeps them) are masked once
  if (seen.has(value)) return seen.get(value);
  if (value instanceof Uint8Array) {
    const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8");
    const masked = mask(text);
    if (masked === text) return value;
    const bytes = Buffer.from(masked, "utf8");
    return Buffer.isBuffer(value) ? bytes : new Uint8Array(bytes);
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(maskDeep(v, mask, seen));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value) out.set(maskDeep(k, mask, seen), maskDeep(v, mask, seen));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    seen.set(value, out);
    for (const v of value) out.add(maskDeep(v, mask, seen));
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const out: Record<string, unknown> = {};
    seen.set(value, out);
    for (const [k, v] of Object.entries(value)) out[mask(k)] = maskDeep(v, mask, seen);
    return out;
  }
  // an Error a task returned: its message and stack are text it wrote
  if (value instanceof Error) {
    const out = new Error(mask(value.message));
    out.name = value.name;
    out.stack = value.stack === undefined ? undefined : mask(value.stack);
    return out;
  }
  return value;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
