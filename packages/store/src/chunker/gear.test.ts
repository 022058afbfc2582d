import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { cdcCuts, GEAR, GearCdc, highMask, type CdcParams } from './gear.js';
import { KiB, MiB } from './options.js';
import { CdcSplitter } from './splitter.js';
import { cutsOf, pseudoRandom, sha } from '../testing/test-helpers.js';

const DEFAULT: CdcParams = { minSize: 256 * KiB, avgSize: 1 * MiB, maxSize: 4 * MiB };
const SMALL: CdcParams = { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 32 * KiB };

test('the gear table is pinned (it is part of the on-disk behaviour)', () => {
  const bytes = Buffer.from(GEAR.buffer, GEAR.byteOffset, GEAR.byteLength);
  assert.equal(sha(bytes), 'e0b9898065c38c9f8e06eed6d900db320604d7c01a3acb69a217d7dbcefd8c77');
  assert.equal(new Set(GEAR).size, 256);
});

test('cut points of a fixed input are pinned', () => {
  const data = pseudoRandom(24 * MiB, 42);
  assert.deepEqual(cdcCuts(data, DEFAULT), [
    1266761, 2335076, 2901382, 4238084, 5337155, 6884302, 7942870, 9579367, 10981280, 12169686, 13198866, 13766157,
    15236849, 16519396, 17926577, 19210691, 20456228, 21308115, 21984147, 23064242, 23374609, 24609447, 25165824,
  ]);
  assert.equal(sha(Buffer.from(JSON.stringify(cdcCuts(data.subarray(0, 2 * MiB), SMALL)))), '1cfd3606b4061d4f2fb1dd75295d676a8e68492eaf44efdbf2a1d3457bd1587a');
});

/** The algorithm as specified, one byte at a time, to check the optimised scanner against. */
function referenceCuts(data: Uint8Array, p: CdcParams): number[] {
  const bits = Math.round(Math.log2(p.avgSize));
  const maskS = highMask(Math.min(bits + 2, 31));
  const maskL = highMask(Math.max(bits - 2, 1));
  const cuts: number[] = [];
  let start = 0;
  while (start < data.length) {
    let cut = Math.min(start + p.maxSize, data.length);
    let h = 0;
    for (let i = start + p.minSize; i < cut; i++) {
      h = ((h << 1) + GEAR[data[i]]) | 0;
      const mask = i - start < p.avgSize ? maskS : maskL;
      if ((h & mask) === 0) {
        cut = i + 1;
        break;
      }
    }
    cuts.push(cut);
    start = cut;
  }
  return cuts;
}

test('the optimised scanner matches a plain byte-at-a-time implementation', () => {
  assert.equal(highMask(22) >>> 0, 0xfffffc00);
  const data = randomBytes(6 * MiB + 3);
  for (const p of [DEFAULT, SMALL, { minSize: 1, avgSize: 16, maxSize: 64 }, { minSize: 1000, avgSize: 3000, maxSize: 5000 }]) {
    for (const off of [0, 1, 2, 3]) {
      const d = data.subarray(off);
      assert.deepEqual(cdcCuts(d, p), referenceCuts(d, p), `sizes ${JSON.stringify(p)}, offset ${off}`);
    }
  }
});

/** Feeds data to a fresh splitter in pieces of the given sizes, each piece an unaligned copy to exercise the word loop's edges. */
function cutsBySplitting(data: Buffer, p: CdcParams, pieceSizes: () => number): number[] {
  const s = new CdcSplitter(p);
  const chunks: Buffer[] = [];
  for (let pos = 0; pos < data.length; ) {
    const n = Math.min(pieceSizes(), data.length - pos);
    const shift = n % 4;
    const holder = Buffer.alloc(n + shift);
    data.copy(holder, shift, pos, pos + n);
    chunks.push(...s.push(holder.subarray(shift)));
    pos += n;
  }
  chunks.push(...s.finish());
  assert.ok(Buffer.concat(chunks).equals(data));
  return cutsOf(chunks);
}

test('boundaries do not depend on how the input is split into buffers', () => {
  const data = randomBytes(3 * MiB + 5);
  for (const p of [SMALL, { minSize: 1, avgSize: 64, maxSize: 256 }, { minSize: 100, avgSize: 100, maxSize: 100 }]) {
    const ref = cdcCuts(data, p);
    let seed = 1;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    assert.deepEqual(cutsBySplitting(data, p, () => 1 + Math.floor(rnd() * 70000)), ref);
    assert.deepEqual(cutsBySplitting(data, p, () => 1 + Math.floor(rnd() * 9)), ref);
    assert.deepEqual(cutsBySplitting(data, p, () => 1 << 20), ref);
  }
  assert.deepEqual(cutsBySplitting(data, DEFAULT, () => 12345), cdcCuts(data, DEFAULT));
});

test('chunk sizes respect min and max, and the mean is near avgSize', () => {
  for (const [p, n] of [[SMALL, 16 * MiB], [DEFAULT, 96 * MiB]] as const) {
    const data = randomBytes(n);
    const cuts = cdcCuts(data, p);
    const sizes = cuts.map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]));
    for (const [i, s] of sizes.entries()) {
      assert.ok(s <= p.maxSize, `chunk ${i} is ${s} bytes`);
      if (i < sizes.length - 1) assert.ok(s >= p.minSize, `chunk ${i} is ${s} bytes`);
    }
    const mean = n / sizes.length;
    assert.ok(mean > 0.75 * p.avgSize && mean < 1.5 * p.avgSize, `mean ${mean} vs avg ${p.avgSize}`);
  }
});

test('degenerate input (all zeros) still respects maxSize', () => {
  const data = Buffer.alloc(10 * MiB);
  const cuts = cdcCuts(data, DEFAULT);
  assert.equal(cuts.at(-1), data.length);
  cuts.forEach((c, i) => assert.ok(c - (i ? cuts[i - 1] : 0) <= DEFAULT.maxSize));
});

test('inserting a few bytes near the start leaves most chunks unchanged', () => {
  const data = randomBytes(20 * MiB);
  const edited = Buffer.concat([data.subarray(0, 1000), Buffer.from('hello'), data.subarray(1000)]);
  const hashes = (d: Buffer): string[] => {
    const cuts = cdcCuts(d, DEFAULT);
    return cuts.map((c, i) => sha(d.subarray(i ? cuts[i - 1] : 0, c)));
  };
  const before = hashes(data);
  const after = hashes(edited);
  const old = new Set(before);
  const fresh = after.filter((h) => !old.has(h));
  assert.ok(fresh.length <= 2, `${fresh.length} of ${after.length} chunks changed`);
  assert.ok(after.length - fresh.length >= 0.8 * before.length);
});

test('GearCdc rejects inconsistent sizes', () => {
  assert.throws(() => new GearCdc({ minSize: 10, avgSize: 5, maxSize: 20 }), RangeError);
  assert.throws(() => new GearCdc({ minSize: 0, avgSize: 5, maxSize: 20 }), RangeError);
});
