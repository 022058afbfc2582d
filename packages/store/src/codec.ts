import { Packr } from 'msgpackr';
import { createHash } from 'node:crypto';
import { CairnError } from './errors.js';

// One Packr for all canonical encodings: plain maps (no msgpackr records, no
// structure sharing) so the bytes depend only on the value.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, variableMapSize: true });

/** Deep-copy `value` with every object's keys sorted, rejecting what has no canonical form. */
function canonicalize(value: unknown, path: string): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CairnError('BAD_INPUT', `cannot encode non-finite number at ${path || '<root>'}`);
    return value;
  }
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map((v, i) => canonicalize(v, `${path}[${i}]`));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined) continue;
      out[k] = canonicalize(v, path ? `${path}.${k}` : k);
    }
    return out;
  }
  throw new CairnError('BAD_INPUT', `cannot encode ${typeof value} at ${path || '<root>'}`);
}

/** The canonical msgpack encoding: equal values give equal bytes, whatever their key order. */
export function encodeCanonical(value: unknown): Buffer {
  return packr.pack(canonicalize(value, ''));
}

/** Decodes msgpack from disk; malformed bytes are a CORRUPT error, never a crash. */
export function decode(bytes: Uint8Array, where = 'object'): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new CairnError('CORRUPT', `${where}: does not decode (${(err as Error).message.split('\n')[0].slice(0, 80)})`);
  }
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
