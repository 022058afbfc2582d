import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cdcCuts, type CdcParams } from './gear.js';
import { KiB, MiB } from './options.js';
import { CutResolver, speculativeScan } from './resync.js';
import { pseudoRandom } from '../testing/test-helpers.js';

const DEFAULT: CdcParams = { minSize: 256 * KiB, avgSize: 1 * MiB, maxSize: 4 * MiB };
const TINY: CdcParams = { minSize: 64, avgSize: 256, maxSize: 1024 };

/** The cuts of `data` found segment by segment, as the parallel ingest does, pieces of `piece` bytes. */
function parallelCuts(data: Uint8Array, p: CdcParams, segment: number, piece = segment, carry = true): number[] {
  const r = new CutResolver(p);
  const cuts: number[] = [];
  // Pieces aligned to `piece`, as arena slots are, starting with the one holding `from`.
  const bytes = function* (from: number) {
    for (let pos = Math.floor(from / piece) * piece; pos < data.length; pos += piece) yield { pos, bytes: data.subarray(pos, pos + piece) };
  };
  for (let start = 0; start < data.length; start += segment) {
    const end = Math.min(data.length, start + segment);
    const spec = speculativeScan(data.subarray(start, end), p, start);
    cuts.push(...r.feed(start, end, spec.cuts, bytes, carry ? spec.end : undefined));
  }
  if (r.openChunkStart < data.length) cuts.push(data.length);
  return cuts;
}

test('segment-parallel cuts equal the single-threaded cuts on random data', () => {
  const data = pseudoRandom(40 * MiB, 7);
  const want = cdcCuts(data, DEFAULT);
  for (const segment of [4 * MiB, 16 * MiB, 5 * MiB + 12345, 3 * MiB]) {
    assert.deepEqual(parallelCuts(data, DEFAULT, segment, Math.min(segment, 4 * MiB)), want, `segment ${segment}`);
    assert.deepEqual(parallelCuts(data, DEFAULT, segment, Math.min(segment, 4 * MiB), false), want, `segment ${segment}, no end states`);
  }
});

test('segment-parallel cuts equal the single-threaded cuts at every segment size with tiny chunks', () => {
  const data = pseudoRandom(40 * KiB, 3);
  const want = cdcCuts(data, TINY);
  for (let segment = 1; segment <= 3000; segment += segment < 40 ? 1 : 97) {
    assert.deepEqual(parallelCuts(data, TINY, segment, Math.max(1, Math.floor(segment / 3))), want, `segment ${segment}`);
    assert.deepEqual(parallelCuts(data, TINY, segment, Math.max(1, Math.floor(segment / 3)), false), want, `segment ${segment}, no end states`);
  }
});

test('segment-parallel cuts hold on data whose chains rarely meet (zeros, a repeating pattern, text)', () => {
  const zeros = new Uint8Array(30 * KiB);
  const pattern = Buffer.alloc(30 * KiB);
  for (let i = 0; i < pattern.length; i++) pattern[i] = i % 251;
  const text = Buffer.from('the quick brown fox jumps over the lazy dog. '.repeat(800));
  const mixed = Buffer.concat([pseudoRandom(10 * KiB, 1), zeros, pseudoRandom(5 * KiB, 2), pattern]);
  for (const data of [zeros, pattern, text, mixed]) {
    const want = cdcCuts(data, TINY);
    for (const segment of [100, 1000, 1024, 4096, 7777]) assert.deepEqual(parallelCuts(data, TINY, segment), want);
  }
});

test('a segment must follow the last one', () => {
  const r = new CutResolver(TINY);
  assert.throws(() => r.feed(10, 20, [], () => []), RangeError);
});
