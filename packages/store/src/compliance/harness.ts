import { createHash } from 'node:crypto';
import type { ObjectBackend } from '../backend.js';
import { encodeFile, encodeRecord, encodeTree } from '../objects.js';
import type { ObjectId, ObjectType } from '../types.js';

/** A backend under test, on storage of its own. */
export interface BackendHarness {
  backend: ObjectBackend;
  /** Closes the open backend and opens the same storage again: what was flushed must be there. */
  reopen(): Promise<ObjectBackend>;
  /** Closes whatever is open and removes the storage. */
  dispose(): Promise<void>;
}

/** Makes a fresh, empty backend for each test; the suite disposes of it. */
export type BackendFactory = () => Promise<BackendHarness>;

/** Runs `fn` on a fresh backend and disposes of it whatever happens. */
export async function withBackend(factory: BackendFactory, fn: (h: BackendHarness) => Promise<void>): Promise<void> {
  const h = await factory();
  try {
    await fn(h);
  } finally {
    await h.dispose();
  }
}

export interface Sample {
  id: ObjectId;
  type: ObjectType;
  data: Buffer;
  /** What stat() must report as its size. */
  size: number;
}

function sample(type: ObjectType, data: Buffer, size = data.length): Sample {
  return { id: createHash('sha256').update(data).digest('hex'), type, data, size };
}

/** Deterministic bytes, so failures reproduce. */
export function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * One object of each type that links up as a store's would: two chunks
 * (one large enough for a backend's bulk path), a file of them, a tree
 * holding the file, and a record linking the tree.
 */
export function samples(): { small: Sample; large: Sample; file: Sample; tree: Sample; record: Sample; all: Sample[] } {
  const small = sample('chunk', bytes(1000, 1));
  const large = sample('chunk', bytes(200 * 1024, 2));
  const fileSize = small.size + large.size;
  const file = sample('file', encodeFile({ size: fileSize, exec: false, mode: 0o644, chunks: [{ id: small.id, length: small.size }, { id: large.id, length: large.size }] }), fileSize);
  const tree = sample('tree', encodeTree([{ name: 'model.bin', kind: 'file', id: file.id, size: fileSize, exec: false }]), fileSize);
  const record = sample('record', encodeRecord({ kind: 'compliance', step: 1 }, [tree.id]));
  return { small, large, file, tree, record, all: [small, large, file, tree, record] };
}

/** Puts every sample, in link order. */
export async function putAll(backend: ObjectBackend, all: Sample[]): Promise<void> {
  for (const s of all) await backend.put(s.id, s.type, s.data);
}

/** An ID nothing hashes to in these tests. */
export const MISSING_ID = 'f'.repeat(64);
