import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { DirectWriter, PositionalWriter } from './direct.js';
import { arena, SLOT_DATA } from './arena.js';

/** Whether the filesystem of `dir` accepts O_DIRECT at all (tmpfs refuses it). */
async function directSupported(dir: string): Promise<boolean> {
  if (process.platform !== 'linux' || !constants.O_DIRECT) return false;
  const probe = join(dir, 'probe');
  const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT).catch(() => undefined);
  await fh?.close();
  return fh !== undefined;
}

/** Appends a mix of copied and arena-owned pieces (some at the right block offset, some not) and checks the file. */
async function roundTrip(direct: boolean, seed: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-direct-'));
  const old = process.env.CAIRN_NO_DIRECT_IO;
  if (direct) delete process.env.CAIRN_NO_DIRECT_IO;
  else process.env.CAIRN_NO_DIRECT_IO = '1';
  const A = arena();
  try {
    const path = join(dir, 'f');
    const out = await DirectWriter.create(path, 'wx');
    const expected: Buffer[] = [];
    let size = 0;
    let x = seed;
    const rand = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x % n;
    };
    for (let i = 0; i < 60; i++) {
      const kind = rand(4);
      const len = kind === 0 ? rand(5000) : kind === 1 ? rand(300_000) : 64 * 1024 + rand(SLOT_DATA - 64 * 1024);
      const data = randomBytes(len);
      if (kind < 2) {
        await out.append(data);
      } else {
        const slot = await A.take();
        // kind 2: at the file's block offset (written in place); kind 3: elsewhere (copied)
        const phase = kind === 2 ? size % 4096 : (size + 1 + rand(4000)) % 4096;
        const addr = A.addr(slot, phase);
        data.copy(A.view(addr, len));
        let released = 0;
        await out.appendOwned(addr, len, () => {
          released++;
          A.give(slot);
        });
        assert.ok(released <= 1);
      }
      expected.push(data);
      size += len;
      assert.equal(out.size, size);
    }
    await out.finish();
    // Without this, a writer that fell back to the page cache would pass unnoticed.
    assert.equal(out.directIO, direct && (await directSupported(dir)), 'direct I/O in effect exactly where the filesystem supports it');
    await out.fh.sync();
    await out.close();
    const got = await readFile(path);
    assert.equal(got.length, size);
    assert.ok(got.equals(Buffer.concat(expected)), 'file content');
    assert.equal(A.slotsInUse, 0, 'every arena slot given back');
  } finally {
    if (old === undefined) delete process.env.CAIRN_NO_DIRECT_IO;
    else process.env.CAIRN_NO_DIRECT_IO = old;
    await rm(dir, { recursive: true, force: true });
  }
}

test('a direct-written file holds exactly the bytes appended, copied or in place', async () => {
  await roundTrip(true, 1);
  await roundTrip(true, 2);
});

test('without direct I/O the same writes go through the page cache', async () => {
  await roundTrip(false, 3);
});

test('small and empty files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-direct-'));
  try {
    for (const n of [0, 1, 4095, 4096, 4097, 12_345]) {
      const path = join(dir, `f${n}`);
      const out = await DirectWriter.create(path, 'w');
      const data = randomBytes(n);
      await out.append(data);
      await out.finish();
      await out.close();
      assert.ok((await readFile(path)).equals(data), `${n} bytes`);
    }
    assert.equal(arena().slotsInUse, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Cuts a file into ranges of every shape (inside a block, across blocks,
 * many blocks), some of them zeros handed over as holes or as zero ranges
 * of a write, and hands them to a PositionalWriter all at once in a
 * shuffled order; checks the bytes, the holes, and that direct I/O stayed on.
 */
async function positionalRoundTrip(direct: boolean, seed: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-positional-'));
  const old = process.env.CAIRN_NO_DIRECT_IO;
  if (direct) delete process.env.CAIRN_NO_DIRECT_IO;
  else process.env.CAIRN_NO_DIRECT_IO = '1';
  const A = arena();
  let x = seed;
  const rand = (n: number) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x % n;
  };
  try {
    const ranges: Array<{ pos: number; len: number; kind: number }> = [];
    let size = 0;
    for (let i = 0; i < 80; i++) {
      const kind = rand(4); // 0: hole, 1: data with a zero stretch inside, 2, 3: data
      const len = 1 + (rand(3) === 0 ? rand(6000) : rand(SLOT_DATA - 1));
      ranges.push({ pos: size, len, kind });
      size += len;
    }
    // Ends in a partial block, and sometimes in a hole.
    const want = Buffer.alloc(size);
    const zeroRanges = new Map<number, Array<[number, number]>>();
    let holeBytes = 0;
    for (const r of ranges) {
      if (r.kind === 0) {
        holeBytes += r.len;
        continue;
      }
      randomBytes(r.len).copy(want, r.pos);
      if (r.kind === 1 && r.len > 3 * 4096) {
        const z0 = rand(r.len - 2 * 4096);
        const z1 = z0 + 2 * 4096 + rand(r.len - z0 - 2 * 4096);
        want.fill(0, r.pos + z0, r.pos + z1);
        zeroRanges.set(r.pos, [[z0, z1]]);
      }
    }
    const path = join(dir, 'f');
    const out = await PositionalWriter.create(path, 'wx', size);
    const order = ranges.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    await Promise.all(
      order.map(async (k) => {
        const r = ranges[k];
        if (r.kind === 0) return out.hole(r.pos, r.len);
        const slot = await A.take();
        try {
          // In the arena at the range's block offset, as restores place runs.
          const addr = A.addr(slot, r.pos % 4096);
          want.copy(A.view(addr, r.len), 0, r.pos, r.pos + r.len);
          await out.writeAt(A.view(addr, r.len), r.pos, zeroRanges.get(r.pos));
        } finally {
          A.give(slot);
        }
      }),
    );
    assert.equal(out.directIO, direct && (await directSupported(dir)), 'direct I/O in effect exactly where the filesystem supports it');
    await out.fh.sync();
    await out.close();
    const got = await readFile(path);
    assert.equal(got.length, size);
    assert.ok(got.equals(want), 'file content');
    const st = await stat(path);
    assert.ok(st.blocks * 512 < size - holeBytes / 2, `holes are not allocated (${st.blocks * 512} of ${size} bytes, ${holeBytes} in holes)`);
    assert.equal(A.slotsInUse, 0, 'every arena slot given back');
  } finally {
    if (old === undefined) delete process.env.CAIRN_NO_DIRECT_IO;
    else process.env.CAIRN_NO_DIRECT_IO = old;
    await rm(dir, { recursive: true, force: true });
  }
}

test('ranges written in any order, at once, make exactly the file, with its holes (direct I/O)', async () => {
  await positionalRoundTrip(true, 11);
  await positionalRoundTrip(true, 12);
});

test('ranges written in any order without direct I/O make the same file', async () => {
  await positionalRoundTrip(false, 13);
});
