// Every decoder of bytes from disk, fed mutated and random input: it must
// either decode or throw a CairnError — never crash, hang or return garbage
// that later code would trust. Seeded, so failures reproduce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initChecksum } from './checksum.js';
import { isCairnError } from './errors.js';
import { decodeFooter, decodeTrailer, encodeTrailer, FOOTER_SIZE, HEADER_SIZE, type PackEntry } from './pack/format.js';
import { decodeFile, decodeRecord, decodeTree, encodeFile, encodeRecord, encodeTree } from './objects.js';
import { encodeCanonical } from './codec.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(input);
  const kind = Math.floor(rand() * 4);
  if (kind === 0 && b.length > 0) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
  else if (kind === 1) return b.subarray(0, Math.floor(rand() * b.length));
  else if (kind === 2) return Buffer.concat([b, Buffer.from([Math.floor(rand() * 256)])]);
  else for (let i = 0; i < 4 && b.length > 0; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
  return b;
}

function survives(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isCairnError(err), `${what} threw a non-CairnError: ${(err as Error).stack}`);
  }
}

const id = (n: number) => Buffer.alloc(32, n).toString('hex');

test('object decoders survive mutated and random bytes', async () => {
  const rand = rng(42);
  const file = encodeFile({ size: 30, exec: true, chunks: [{ id: id(1), length: 10 }, { id: id(2), length: 20 }] });
  const tree = encodeTree([
    { name: 'a', kind: 'file', id: id(3), size: 1, exec: false },
    { name: 'l', kind: 'link', id: '../x', size: 0, exec: false },
  ]);
  const record = encodeRecord({ kind: 'x', n: [1, 2] }, [id(4)]);
  for (let i = 0; i < 3000; i++) {
    survives(() => decodeFile(mutate(file, rand), 'f'), 'decodeFile');
    survives(() => decodeTree(mutate(tree, rand), 't'), 'decodeTree');
    survives(() => decodeRecord(mutate(record, rand), 'r'), 'decodeRecord');
    const junk = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
    survives(() => decodeFile(junk, 'f'), 'decodeFile(junk)');
    survives(() => decodeTree(junk, 't'), 'decodeTree(junk)');
    survives(() => decodeRecord(junk, 'r'), 'decodeRecord(junk)');
  }
  // Names that would leave a folder are refused, whatever the rest says
  // (built by hand: encodeTree refuses to write them). More in objects.test.ts.
  for (const name of ['..', '.', 'a/b', '', 'x\0y']) {
    const bad = encodeCanonical({ v: 1, entries: [{ name, kind: 'file', id: Buffer.alloc(32, 3), size: 1, exec: false }] });
    assert.throws(() => decodeTree(bad, 't'), (e) => isCairnError(e, 'CORRUPT'));
  }
});

test('pack trailer and footer decoders survive mutated input', async () => {
  await initChecksum();
  const rand = rng(7);
  const entries: PackEntry[] = [
    { id: Buffer.alloc(32, 1), type: 'chunk', offset: HEADER_SIZE, length: 100, checksum: Buffer.alloc(8, 2), size: 100 },
    { id: Buffer.alloc(32, 3), type: 'file', offset: HEADER_SIZE + 100, length: 50, checksum: Buffer.alloc(8, 4), size: 100 },
  ];
  const tail = encodeTrailer(entries);
  const packSize = HEADER_SIZE + 150 + tail.length;
  const trailer = tail.subarray(0, tail.length - FOOTER_SIZE);
  const footer = tail.subarray(tail.length - FOOTER_SIZE);
  const { length, checksum } = decodeFooter(footer, packSize, 'p');
  assert.equal(length, trailer.length);
  assert.deepEqual(decodeTrailer(trailer, checksum, packSize, 'p').map((e) => e.offset), [HEADER_SIZE, HEADER_SIZE + 100]);
  for (let i = 0; i < 3000; i++) {
    survives(() => decodeFooter(mutate(footer, rand), packSize, 'p'), 'decodeFooter');
    const t = mutate(trailer, rand);
    // With a matching checksum the structure checks are what stand between damage and trust.
    const { xxh64 } = await import('./checksum.js');
    survives(() => decodeTrailer(t, xxh64(t), packSize, 'p'), 'decodeTrailer');
    survives(() => decodeTrailer(t, checksum, packSize, 'p'), 'decodeTrailer (stale checksum)');
  }
});
