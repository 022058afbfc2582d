import { createHash } from 'node:crypto';
import { CairnError } from './errors.js';

/*
 * Canonical msgpack (docs/FORMAT.md, "Canonical msgpack"): the encoding of
 * every content-addressed object, so an ID depends on the value alone. A
 * general msgpack library will not do: msgpackr writes integers of 2^32 and
 * more as float64, and a JS object keeps integer-like keys ("9", "10") ahead
 * of the others whatever order they were added in. Kept small so that the
 * rules a second implementation must follow are all visible here.
 */

/** Largest integer written as a msgpack integer; every other number is a float64. */
const MAX_INT = Number.MAX_SAFE_INTEGER;

class Writer {
  buf = Buffer.allocUnsafe(256);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }
  head(b: number, n: number, size: 1 | 2 | 4 | 8): void {
    this.room(1 + size);
    this.buf[this.len++] = b;
    if (size === 1) this.buf.writeUInt8(n, this.len);
    else if (size === 2) this.buf.writeUInt16BE(n, this.len);
    else if (size === 4) this.buf.writeUInt32BE(n, this.len);
    else this.buf.writeBigUInt64BE(BigInt(n), this.len);
    this.len += size;
  }
  signed(b: number, n: number, size: 1 | 2 | 4 | 8): void {
    this.room(1 + size);
    this.buf[this.len++] = b;
    if (size === 1) this.buf.writeInt8(n, this.len);
    else if (size === 2) this.buf.writeInt16BE(n, this.len);
    else if (size === 4) this.buf.writeInt32BE(n, this.len);
    else this.buf.writeBigInt64BE(BigInt(n), this.len);
    this.len += size;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  float(x: number): void {
    this.room(9);
    this.buf[this.len++] = 0xcb;
    this.buf.writeDoubleBE(x, this.len);
    this.len += 8;
  }
}

function writeInt(w: Writer, n: number): void {
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n <= 0xff) w.head(0xcc, n, 1);
    else if (n <= 0xffff) w.head(0xcd, n, 2);
    else if (n <= 0xffffffff) w.head(0xce, n, 4);
    else w.head(0xcf, n, 8);
  } else if (n >= -32) w.u8(n & 0xff);
  else if (n >= -0x80) w.signed(0xd0, n, 1);
  else if (n >= -0x8000) w.signed(0xd1, n, 2);
  else if (n >= -0x80000000) w.signed(0xd2, n, 4);
  else w.signed(0xd3, n, 8);
}

/** A length header: the fix form when `fix` allows it, else the smallest of the three sizes. */
function writeLength(w: Writer, n: number, fix: number | null, fixMax: number, codes: [number, number, number]): void {
  if (fix !== null && n <= fixMax) w.u8(fix | n);
  else if (codes[0] !== 0 && n <= 0xff) w.head(codes[0], n, 1);
  else if (n <= 0xffff) w.head(codes[1], n, 2);
  else if (n <= 0xffffffff) w.head(codes[2], n, 4);
  else throw new CairnError('BAD_INPUT', `cannot encode a string, binary, array or map of ${n} elements`);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const badInput = (what: string, path: string) => new CairnError('BAD_INPUT', `cannot encode ${what} at ${path || '<root>'}`);

function writeValue(w: Writer, value: unknown, path: string): void {
  if (value === null) w.u8(0xc0);
  else if (value === false) w.u8(0xc2);
  else if (value === true) w.u8(0xc3);
  else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw badInput('a non-finite number', path);
    // -0 is an integer value and is written as 0: one encoding per number.
    if (Number.isInteger(value) && Math.abs(value) <= MAX_INT) writeInt(w, value === 0 ? 0 : value);
    else w.float(value);
  } else if (typeof value === 'string') {
    // A lone surrogate has no UTF-8 form: Buffer.from would silently write U+FFFD.
    if (LONE_SURROGATE.test(value)) throw badInput('a string with a lone surrogate', path);
    const b = Buffer.from(value, 'utf8');
    writeLength(w, b.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    w.bytes(b);
  } else if (value instanceof Uint8Array) {
    writeLength(w, value.length, null, 0, [0xc4, 0xc5, 0xc6]);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 15, [0, 0xdc, 0xdd]);
    value.forEach((v, i) => {
      if (v === undefined) throw badInput('undefined', `${path}[${i}]`);
      writeValue(w, v, `${path}[${i}]`);
    });
  } else if (typeof value === 'object' && isPlain(value)) {
    const keys = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => {
        if (LONE_SURROGATE.test(k)) throw badInput('a key with a lone surrogate', path);
        return { k, b: Buffer.from(k, 'utf8') };
      })
      .sort((a, b) => Buffer.compare(a.b, b.b));
    writeLength(w, keys.length, 0x80, 15, [0, 0xde, 0xdf]);
    for (const { k, b } of keys) {
      writeLength(w, b.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
      w.bytes(b);
      writeValue(w, (value as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    }
  } else {
    throw badInput(typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : `a ${typeof value}`, path);
  }
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * The canonical msgpack encoding: equal values give equal bytes, whatever
 * their key order. Maps are plain objects (keys sorted by UTF-8 bytes,
 * undefined values left out); integers up to 2^53 - 1 in magnitude take the
 * smallest integer form (uint64 from 2^32), other numbers float64; strings
 * are `str`, Uint8Arrays `bin`. Anything else (a Date, a Map, a bigint) is
 * refused rather than given some encoding.
 */
export function encodeCanonical(value: unknown): Buffer {
  const w = new Writer();
  writeValue(w, value, '');
  return Buffer.from(w.buf.subarray(0, w.len));
}

class Reader {
  pos = 0;
  constructor(readonly b: Buffer) {}
  take(n: number): number {
    const at = this.pos;
    if (n > this.b.length - at) throw new Error('truncated');
    this.pos += n;
    return at;
  }
}

const MAX_DEPTH = 512;

function readValue(r: Reader, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error('nested too deeply');
  const b = r.b;
  const t = b[r.take(1)];
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t >= 0xa0 && t <= 0xbf) return readStr(r, t & 0x1f);
  if (t >= 0x90 && t <= 0x9f) return readArray(r, t & 0x0f, depth);
  if (t >= 0x80 && t <= 0x8f) return readMap(r, t & 0x0f, depth);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return readBin(r, b[r.take(1)]);
    case 0xc5: return readBin(r, b.readUInt16BE(r.take(2)));
    case 0xc6: return readBin(r, b.readUInt32BE(r.take(4)));
    case 0xca: return b.readFloatBE(r.take(4));
    case 0xcb: {
      const x = b.readDoubleBE(r.take(8));
      if (!Number.isFinite(x)) throw new Error('non-finite number');
      return x;
    }
    case 0xcc: return b[r.take(1)];
    case 0xcd: return b.readUInt16BE(r.take(2));
    case 0xce: return b.readUInt32BE(r.take(4));
    // Out-of-range values come back rounded; the re-encoding then differs and refuses them.
    case 0xcf: return Number(b.readBigUInt64BE(r.take(8)));
    case 0xd0: return b.readInt8(r.take(1));
    case 0xd1: return b.readInt16BE(r.take(2));
    case 0xd2: return b.readInt32BE(r.take(4));
    case 0xd3: return Number(b.readBigInt64BE(r.take(8)));
    case 0xd9: return readStr(r, b[r.take(1)]);
    case 0xda: return readStr(r, b.readUInt16BE(r.take(2)));
    case 0xdb: return readStr(r, b.readUInt32BE(r.take(4)));
    case 0xdc: return readArray(r, b.readUInt16BE(r.take(2)), depth);
    case 0xdd: return readArray(r, b.readUInt32BE(r.take(4)), depth);
    case 0xde: return readMap(r, b.readUInt16BE(r.take(2)), depth);
    case 0xdf: return readMap(r, b.readUInt32BE(r.take(4)), depth);
    default: throw new Error(`type byte 0x${t.toString(16)} is not part of the format`);
  }
}

function readStr(r: Reader, n: number): string {
  const at = r.take(n);
  // Invalid UTF-8 decodes with U+FFFD; the re-encoding then differs and refuses it.
  return r.b.toString('utf8', at, at + n);
}

function readBin(r: Reader, n: number): Buffer {
  const at = r.take(n);
  return r.b.subarray(at, at + n);
}

function readArray(r: Reader, n: number, depth: number): unknown[] {
  // Every element takes at least a byte: a huge count in a short input fails here, not in an allocation.
  if (n > r.b.length - r.pos) throw new Error('truncated');
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = readValue(r, depth + 1);
  return out;
}

function readMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  if (n > (r.b.length - r.pos) / 2) throw new Error('truncated');
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readValue(r, depth + 1);
    if (typeof k !== 'string') throw new Error('a map key that is not a string');
    const v = readValue(r, depth + 1);
    // Assigning '__proto__' would set the prototype instead of a key.
    if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    else out[k] = v;
  }
  return out;
}

/**
 * Decodes an object's bytes, accepting only the canonical encoding: the value
 * is re-encoded and must give the same bytes back. Otherwise two byte strings
 * (two IDs) would read as one value, and a writer's bug would pass unnoticed.
 * Malformed or non-canonical bytes are a CORRUPT error, never a crash.
 */
export function decode(bytes: Uint8Array, where = 'object'): unknown {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let value: unknown;
  try {
    const r = new Reader(b);
    value = readValue(r, 0);
    if (r.pos !== b.length) throw new Error(`${b.length - r.pos} bytes after the value`);
  } catch (err) {
    throw new CairnError('CORRUPT', `${where}: does not decode (${(err as Error).message.split('\n')[0].slice(0, 80)})`);
  }
  let again: Buffer;
  try {
    again = encodeCanonical(value);
  } catch {
    again = Buffer.alloc(0);
  }
  if (!again.equals(b)) {
    throw new CairnError('CORRUPT', `${where}: not in canonical msgpack form (${firstDifference(b, again)})`, {
      hint: 'written by a writer that does not follow docs/FORMAT.md; run cairn fsck',
    });
  }
  return value;
}

function firstDifference(a: Buffer, b: Buffer): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `bytes differ from the canonical encoding at offset ${i}`;
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
