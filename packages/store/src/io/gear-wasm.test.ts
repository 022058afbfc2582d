import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { cdcCuts, GearCdc, type CdcParams } from '../chunker/gear.js';
import { KiB, MiB } from '../chunker/options.js';
import { CutResolver, speculativeScan } from '../chunker/resync.js';
import { gearOver, installGearTable, GEAR_TABLE_ADDR } from './gear-wasm.js';
import { arena } from './arena.js';
import { pseudoRandom } from '../testing/test-helpers.js';

const SIZES: CdcParams[] = [
  { minSize: 256 * KiB, avgSize: 1 * MiB, maxSize: 4 * MiB },
  { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 32 * KiB },
  // Cuts every few bytes: a cut at each position of the unrolled loop, and runs shorter than one trip of it.
  { minSize: 1, avgSize: 16, maxSize: 64 },
  { minSize: 1000, avgSize: 3000, maxSize: 5000 },
];

/** A shared memory with the table installed and `data` copied in at `at`; the view of it there. */
function place(data: Uint8Array, at: number): { memory: WebAssembly.Memory; view: Buffer } {
  const memory = new WebAssembly.Memory({ initial: Math.ceil((at + data.length) / 65536) + 1, maximum: 65536, shared: true });
  installGearTable(memory);
  const view = Buffer.from(memory.buffer as unknown as SharedArrayBuffer, at, data.length);
  view.set(data);
  return { memory, view };
}

/** Cuts of `view` by a GearCdc given the compiled loop, fed in pieces of `piece` bytes. */
function fastCuts(view: Buffer, p: CdcParams, memory: WebAssembly.Memory, piece = view.length): number[] {
  const cdc = new GearCdc(p, gearOver(memory));
  const cuts: number[] = [];
  for (let pos = 0; pos < view.length; pos += piece) {
    const part = view.subarray(pos, Math.min(view.length, pos + piece));
    let i = 0;
    while (i < part.length) {
      const c = cdc.scan(part, i, part.length);
      if (c < 0) break;
      cuts.push(pos + c);
      i = c;
    }
  }
  if (cuts.at(-1) !== view.length && view.length > 0) cuts.push(view.length);
  return cuts;
}

test('the compiled gear loop makes exactly the JavaScript loop\'s cuts', () => {
  const data = randomBytes(6 * MiB + 3);
  for (const p of SIZES) {
    for (const at of [GEAR_TABLE_ADDR + 1024, 65536, 65536 + 1, 65536 + 7]) {
      const { memory, view } = place(data, at);
      assert.deepEqual(fastCuts(view, p, memory), cdcCuts(data, p), `sizes ${JSON.stringify(p)}, at ${at}`);
    }
  }
});

test('the compiled loop\'s cuts do not depend on how the input is split into buffers', () => {
  const data = randomBytes(1 * MiB + 5);
  const { memory, view } = place(data, 65536 + 3);
  for (const p of SIZES) {
    const whole = cdcCuts(data, p);
    for (const piece of [1, 7, 8, 9, 4093, 65536 + 1]) {
      if (piece < 64 && p.avgSize > 16) continue; // a byte at a time through 1 MiB chunks is slow and proves nothing more
      assert.deepEqual(fastCuts(view, p, memory, piece), whole, `sizes ${JSON.stringify(p)}, pieces of ${piece}`);
    }
  }
});

test('degenerate input (all zeros, all ones) is cut at maxSize by both loops', () => {
  for (const fill of [0, 0xff]) {
    const data = Buffer.alloc(3 * MiB + 11, fill);
    const p = SIZES[1];
    const { memory, view } = place(data, 65536);
    assert.deepEqual(fastCuts(view, p, memory), cdcCuts(data, p));
  }
});

test('the arena keeps its first page for the table, and the resolver given its loop finds the whole-file cuts', () => {
  const A = arena();
  assert.ok(A.addr(0) >= GEAR_TABLE_ADDR + 1024, 'slot 0 starts after the table');
  const data = pseudoRandom(9 * MiB, 7);
  const p = SIZES[0];
  const slots = [A.take(), A.take(), A.take()] as number[];
  try {
    // Three slots, not necessarily adjacent, a third of the file in each.
    const pieces = slots.map((s, k) => ({ pos: k * 3 * MiB, bytes: A.view(A.addr(s, 5), 3 * MiB) }));
    for (const x of pieces) x.bytes.set(data.subarray(x.pos, x.pos + 3 * MiB));
    const resolver = new CutResolver(p, A.gear);
    const got: number[] = [];
    for (const x of pieces) {
      const spec = speculativeScan(x.bytes, p, x.pos);
      got.push(...resolver.feed(x.pos, x.pos + x.bytes.length, spec.cuts, (from) => pieces.filter((y) => y.pos + y.bytes.length > from), spec.end));
    }
    // The resolver leaves the file's last piece to its caller.
    const want = cdcCuts(data, p);
    assert.deepEqual(got, want.slice(0, got.length));
    assert.ok(got.length >= want.length - 1);
  } finally {
    for (const s of slots) A.give(s);
  }
});
