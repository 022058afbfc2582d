import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCuts, type Segment } from './plan.js';

const P = { minSize: 100, maxSize: 400 };

function assertCovers(size: number, cuts: number[]): void {
  if (size === 0) return assert.deepEqual(cuts, []);
  assert.equal(cuts.at(-1), size);
  cuts.forEach((c, i) => assert.ok(c > (i ? cuts[i - 1] : 0), `cut ${i} (${c}) not ascending`));
}

test('empty and segment-free inputs', () => {
  assert.deepEqual(planCuts(0, [], P), []);
  // The whole file is one gap: a large gap is split like any large segment.
  assert.deepEqual(planCuts(50, [], P), [50]);
  assert.deepEqual(planCuts(1000, [], P), [400, 800, 1000]);
});

test('large segments are split into fixed pieces counted from their own start', () => {
  const cuts = planCuts(1100, [{ start: 10, end: 1010 }], P);
  assert.deepEqual(cuts, [10, 410, 810, 1010, 1100]);
});

test('small segments merge up to minSize, never across a large one', () => {
  const segs: Segment[] = [
    { start: 0, end: 30 },
    { start: 30, end: 60 },
    { start: 60, end: 90 },
    { start: 90, end: 120 }, // would make 120 > 100: starts a new run
    { start: 120, end: 300 }, // large: stands alone
    { start: 300, end: 310 },
    { start: 310, end: 320 },
  ];
  assert.deepEqual(planCuts(320, segs, P), [90, 120, 300, 320]);
});

test('a segment of exactly minSize is not merged with neighbours', () => {
  const segs: Segment[] = [{ start: 0, end: 10 }, { start: 10, end: 110 }, { start: 110, end: 120 }];
  assert.deepEqual(planCuts(120, segs, P), [10, 110, 120]);
});

test('gaps become segments and merge with small neighbours', () => {
  // Gap [0,5), tiny segment, gap [20,25), large segment, trailing gap.
  const cuts = planCuts(600, [{ start: 5, end: 20 }, { start: 25, end: 525 }], P);
  assert.deepEqual(cuts, [25, 425, 525, 600]);
});

test('solo segments stand alone even when small', () => {
  const cuts = planCuts(60, [{ start: 0, end: 20, solo: true }, { start: 20, end: 40 }, { start: 40, end: 60 }], P);
  assert.deepEqual(cuts, [20, 60]);
});

test('zero-length segments are ignored', () => {
  assert.deepEqual(planCuts(30, [{ start: 10, end: 10 }, { start: 10, end: 30 }], P), [30]);
});

test('random layouts are covered exactly and chunks stay within maxSize', () => {
  let seed = 99;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  for (let round = 0; round < 200; round++) {
    const segs: Segment[] = [];
    let pos = 0;
    for (let k = rnd(30); k > 0; k--) {
      const start = pos + (rnd(3) === 0 ? rnd(50) : 0);
      const end = start + (rnd(4) === 0 ? rnd(2000) : rnd(80));
      segs.push({ start, end, solo: rnd(10) === 0 });
      pos = end;
    }
    const size = pos + rnd(300);
    const cuts = planCuts(size, segs, P);
    assertCovers(size, cuts);
    cuts.forEach((c, i) => assert.ok(c - (i ? cuts[i - 1] : 0) <= P.maxSize));
    // Every segment of minSize or more has its boundaries as cuts.
    const cutSet = new Set([0, ...cuts]);
    for (const s of segs) {
      if (s.end - s.start >= P.minSize || (s.solo && s.end > s.start)) {
        assert.ok(cutSet.has(s.start) && cutSet.has(s.end), `segment [${s.start}, ${s.end}) not cut out in round ${round}`);
      }
    }
  }
});

test('overlapping or out-of-range segments are a programming error', () => {
  assert.throws(() => planCuts(100, [{ start: 0, end: 50 }, { start: 40, end: 60 }], P), RangeError);
  assert.throws(() => planCuts(100, [{ start: 0, end: 150 }], P), RangeError);
  assert.throws(() => planCuts(100, [{ start: 20, end: 10 }], P), RangeError);
});
