/**
 * A canonical byte encoding of a value, for hashing (the cache key's inputs, core/cache.ts).
 *
 * Why not the bytes outputs are stored in (V8's structured clone, artifacts/serialize.ts): V8 writes a
 * number by how the engine holds it at that moment — an object field or array element kept as a small
 * integer is written as int32, the same 0 in a field V8 has widened to a double (because another object of
 * the same shape once held 0.01 there) as float64. The same value, decoded from the same stored bytes, can
 * thus encode differently depending on what else the process decoded before: the ML example's `evaluate`
 * missed its cache on one unchanged re-run in three. Here every number is its float64 bits, object keys are
 * sorted (key order is not part of a value's meaning for a cache), and each type has its own tag.
 *
 * Covers what structured clone carries: primitives, arrays, plain objects, Date, RegExp, Map, Set,
 * ArrayBuffer and its views, Error; repeated references and cycles are written as back-references.
 */

/** Tags: one byte before each value. */
const T = {
  undefined: 0x75, // u
  null: 0x6e, // n
  true: 0x54, // T
  false: 0x46, // F
  number: 0x64, // d
  bigint: 0x62, // b
  string: 0x73, // s
  array: 0x61, // a
  hole: 0x68, // h
  object: 0x6f, // o
  date: 0x44, // D
  regexp: 0x72, // r
  map: 0x4d, // M
  set: 0x53, // S
  bytes: 0x42, // B
  error: 0x45, // E
  ref: 0x52, // R
} as const;

/** One growing buffer (a chunk per value would cost an allocation per number: 70× slower on big inputs). */
class Writer {
  private buf = Buffer.allocUnsafe(1024);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  tag(t: number): void {
    this.room(1);
    this.buf[this.at++] = t;
  }
  uint(n: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32BE(n >>> 0, this.at);
  }
  float(n: number): void {
    this.room(8);
    // one NaN and one zero: their bit patterns may differ without the values differing
    this.at = this.buf.writeDoubleBE(Number.isNaN(n) ? Number.NaN : n === 0 ? 0 : n, this.at);
  }
  text(s: string): void {
    const length = Buffer.byteLength(s, "utf8");
    this.uint(length);
    this.room(length);
    this.at += this.buf.write(s, this.at, "utf8");
  }
  raw(b: Uint8Array): void {
    this.uint(b.byteLength);
    this.room(b.byteLength);
    this.buf.set(b, this.at);
    this.at += b.byteLength;
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.at)); // a copy: the working buffer is larger
  }
}

export function canonicalBytes(value: unknown): Buffer {
  const w = new Writer();
  const seen = new Map<object, number>();
  const walk = (v: unknown): void => {
    switch (typeof v) {
      case "undefined":
        return w.tag(T.undefined);
      case "boolean":
        return w.tag(v ? T.true : T.false);
      case "number":
        w.tag(T.number);
        return w.float(v);
      case "bigint":
        w.tag(T.bigint);
        return w.text(v.toString());
      case "string":
        w.tag(T.string);
        return w.text(v);
      case "function":
      case "symbol":
        throw new TypeError(`a ${typeof v} has no canonical encoding`);
    }
    if (v === null) return w.tag(T.null);
    const o = v as object;
    const at = seen.get(o);
    if (at !== undefined) {
      w.tag(T.ref);
      return w.uint(at);
    }
    seen.set(o, seen.size);
    if (Array.isArray(o)) {
      w.tag(T.array);
      w.uint(o.length);
      for (let i = 0; i < o.length; i++) {
        if (i in o) walk(o[i]);
        else w.tag(T.hole);
      }
    } else if (o instanceof Date) {
      w.tag(T.date);
      w.float(o.getTime());
    } else if (o instanceof RegExp) {
      w.tag(T.regexp);
      w.text(`${o.source}/${o.flags}`);
    } else if (o instanceof Map) {
      // insertion order is part of a Map's meaning (iteration), so it is kept
      w.tag(T.map);
      w.uint(o.size);
      for (const [k, x] of o) {
        walk(k);
        walk(x);
      }
    } else if (o instanceof Set) {
      w.tag(T.set);
      w.uint(o.size);
      for (const x of o) walk(x);
    } else if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer) {
      w.tag(T.bytes);
      w.text(ArrayBuffer.isView(o) ? o.constructor.name : "ArrayBuffer");
      w.raw(ArrayBuffer.isView(o) ? new Uint8Array(o.buffer, o.byteOffset, o.byteLength) : new Uint8Array(o));
    } else if (o instanceof Error) {
      w.tag(T.error);
      w.text(o.name);
      w.text(o.message);
    } else {
      const keys = Object.keys(o).sort();
      w.tag(T.object);
      w.uint(keys.length);
      for (const k of keys) {
        w.text(k);
        walk((o as Record<string, unknown>)[k]);
      }
    }
  };
  walk(value);
  return w.done();
}
