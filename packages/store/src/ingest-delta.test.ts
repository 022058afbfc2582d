// A file stored with `previous` (an earlier version of it) must get exactly
// the ID a full chunking gives, and restore to exactly its bytes, whatever
// changed: rewrites in place, insertions, truncation, growth, nothing, all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from './store.js';
import { MiB } from './chunker/options.js';
import { pseudoRandom } from './testing/test-helpers.js';
import { plainId, withStore } from './testing/file-ids.js';
import { arena } from './io/arena.js';
import { isCairnError } from './errors.js';
import { deltaPays, deltaStats } from './ingest-delta.js';
import { setPoolThreads } from './io/pool.js';

// Which path a put takes depends on the thread count (deltaPays): fixed here.
setPoolThreads(2);


/** Random bytes with a run of zeros and one of a short repeating pattern (where chunk chains take longest to meet). */
function rawFile(size: number, seed: number): Buffer {
  const b = pseudoRandom(size, seed);
  b.fill(0, 3 * MiB, 6 * MiB);
  for (let i = 12 * MiB; i < 15 * MiB && i < size; i++) b[i] = i % 13;
  return b;
}


const rewrite = (b: Buffer, at: number, len: number, seed: number) => {
  const c = Buffer.from(b);
  pseudoRandom(len, seed).copy(c, at);
  return c;
};

const EDITS: Array<[string, (b: Buffer) => Buffer]> = [
  ['nothing changed', (b) => Buffer.from(b)],
  ['ten scattered regions rewritten in place', (b) => {
    let c = b;
    for (let k = 0; k < 10; k++) c = rewrite(c, Math.floor((b.length / 10) * k + 12345 * k), 200_000, 100 + k);
    return c;
  }],
  ['three regions rewritten in place', (b) => rewrite(rewrite(rewrite(b, 2 * MiB, 50_000, 21), 10 * MiB + 7, 300_000, 22), 19 * MiB, 1, 23)],
  ['one byte flipped in the middle', (b) => {
    const c = Buffer.from(b);
    c[Math.floor(b.length / 2)] ^= 1;
    return c;
  }],
  ['first and last bytes changed', (b) => {
    const c = Buffer.from(b);
    c[0] ^= 0xff;
    c[c.length - 1] ^= 0xff;
    return c;
  }],
  ['bytes inserted past the middle (everything after shifts)', (b) => Buffer.concat([b.subarray(0, 16 * MiB), pseudoRandom(7777, 9), b.subarray(16 * MiB)])],
  ['bytes removed near the start', (b) => Buffer.concat([b.subarray(0, 100_000), b.subarray(100_000 + 4097)])],
  ['cut short', (b) => b.subarray(0, b.length - 3 * MiB - 17)],
  ['grown at the end', (b) => Buffer.concat([b, pseudoRandom(5 * MiB + 3, 11)])],
  ['every byte new', (b) => pseudoRandom(b.length, 99)],
  ['the run of zeros rewritten as zeros, shifted by one', (b) => Buffer.concat([Buffer.alloc(1), b.subarray(0, b.length - 1)])],
];

test('a file put with its previous version gets the ID of a full chunking and restores bit for bit, whatever changed', async () => {
  await withStore(async (work, dir) => {
    const src = join(work, 'weights.bin');
    const v1 = rawFile(24 * MiB + 321, 7);
    await writeFile(src, v1);
    const first = await Store.with(dir, (s) => s.putPath(src));
    assert.equal(first, await plainId(src));
    for (const [what, edit] of EDITS) {
      const v2 = edit(v1);
      await writeFile(src, v2);
      const id = await Store.with(dir, (s) => s.putPath(src, { previous: first }));
      assert.equal(id, await plainId(src), what);
      // Only what changed is read for chunking (in blocks, up to where the cuts meet again).
      if (what === 'nothing changed') assert.deepEqual(deltaStats, { taken: true, reused: v2.length, scanned: 0, readAhead: 0 });
      // Mostly rewritten or shifted (at 2 threads, past ~60%; ten regions touch most of this file's 24 chunks): chunked on every thread instead.
      const mostly = what === 'every byte new' || what.startsWith('bytes removed') || what.includes('shifted by one') || what.startsWith('ten scattered');
      assert.equal(deltaStats.taken, !mostly, what);
      const out = join(work, 'out.bin');
      await Store.with(dir, (s) => s.getToPath(id, out));
      assert.ok((await readFile(out)).equals(v2), `${what}: restored bytes`);
    }
    assert.equal(arena().slotsInUse, 0);
  });
});

test('only what changed is read for chunking: the chain of cuts meets the previous one a chunk or two after each change', async () => {
  await withStore(async (work, dir) => {
    const src = join(work, 'weights.bin');
    const v1 = pseudoRandom(32 * MiB, 3);
    await writeFile(src, v1);
    const first = await Store.with(dir, (s) => s.putPath(src));
    // Three regions, 0.35 MiB in all.
    const v2 = rewrite(rewrite(rewrite(v1, 2 * MiB, 50_000, 21), 13 * MiB + 7, 300_000, 22), 25 * MiB, 1, 23);
    await writeFile(src, v2);
    assert.equal(await Store.with(dir, (s) => s.putPath(src, { previous: first })), await plainId(src));
    assert.ok(deltaStats.reused >= 0.7 * v2.length && deltaStats.scanned <= 0.4 * v2.length, JSON.stringify(deltaStats));
  });
});

test('with four threads, three changes are read ahead at once: still the IDs of a full chunking, and every slot given back', async () => {
  setPoolThreads(4);
  try {
    await withStore(async (work, dir) => {
      const src = join(work, 'weights.bin');
      const v1 = pseudoRandom(40 * MiB, 5);
      await writeFile(src, v1);
      const first = await Store.with(dir, (s) => s.putPath(src));
      let v2 = v1;
      for (let k = 0; k < 6; k++) v2 = rewrite(v2, k * 6 * MiB + 1000 * k, 100_000, 40 + k);
      await writeFile(src, v2);
      const id = await Store.with(dir, (s) => s.putPath(src, { previous: first }));
      // Six changes: the first read when the walk gets there, most later ones before.
      assert.ok(deltaStats.taken && deltaStats.readAhead >= 3, JSON.stringify(deltaStats));
      assert.equal(id, await plainId(src));
      const out = join(work, 'out.bin');
      await Store.with(dir, (s) => s.getToPath(id, out));
      assert.ok((await readFile(out)).equals(v2));
      assert.equal(arena().slotsInUse, 0);
    });
  } finally {
    setPoolThreads(2);
  }
});

test('previous as a folder: each file is matched by name; a previous that is missing or of another kind is ignored', async () => {
  await withStore(async (work, dir) => {
    const folder = join(work, 'ckpt');
    await rm(folder, { recursive: true, force: true });
    await mkdir(join(folder, 'sub'), { recursive: true });
    const a = rawFile(18 * MiB, 1);
    const b = rawFile(17 * MiB, 2);
    await writeFile(join(folder, 'a.bin'), a);
    await writeFile(join(folder, 'sub', 'b.bin'), b);
    const [tree1, fileA] = await Store.with(dir, async (s) => [await s.putPath(folder), await s.putPath(join(folder, 'a.bin'))]);
    // a.bin and b.bin change in place; a.bin's previous in the tree is itself.
    await writeFile(join(folder, 'a.bin'), rewrite(a, 5 * MiB, 300_000, 3));
    await writeFile(join(folder, 'sub', 'b.bin'), rewrite(b, 1 * MiB, 10, 4));
    const fresh = await Store.with(dir, (s) => s.hashPath(folder));
    const tree2 = await Store.with(dir, (s) => s.putPath(folder, { previous: tree1 }));
    assert.equal(tree2, fresh, 'the same tree ID as a full put');
    // A file's previous that is a tree, a tree's that is a file, an ID the store lacks: a full put.
    const srcA = join(folder, 'a.bin');
    const want = await plainId(srcA);
    await Store.with(dir, async (s) => {
      assert.equal(await s.putPath(srcA, { previous: tree1 }), want);
      assert.equal(await s.putPath(folder, { previous: fileA }), fresh);
      assert.equal(await s.putPath(srcA, { previous: 'ab'.repeat(32) }), want);
    });
  });
});

test('CAIRN_FULL_HASH=1 hashes every byte and gives the same IDs', async () => {
  await withStore(async (work, dir) => {
    const src = join(work, 'w.bin');
    const v1 = rawFile(20 * MiB, 5);
    await writeFile(src, v1);
    const first = await Store.with(dir, (s) => s.putPath(src));
    await writeFile(src, rewrite(v1, 8 * MiB, 1000, 6));
    process.env.CAIRN_FULL_HASH = '1';
    try {
      assert.equal(await Store.with(dir, (s) => s.putPath(src, { previous: first })), await plainId(src));
    } finally {
      delete process.env.CAIRN_FULL_HASH;
    }
  });
});

test('a file that shrinks while it is put fails cleanly, leaving no slot taken', async () => {
  await withStore(async (work, dir) => {
    const src = join(work, 'w.bin');
    const v1 = rawFile(64 * MiB, 8);
    await writeFile(src, v1);
    const first = await Store.with(dir, (s) => s.putPath(src));
    await writeFile(src, rewrite(v1, 40 * MiB, 1000, 6));
    await Store.with(dir, async (s) => {
      let cut = false;
      // Cut short once the first chunks are taken: the read of the changed bytes at 40 MiB ends early.
      const put = s.putPath(src, {
        previous: first,
        onProgress: () => {
          if (!cut) truncateSync(src, 2 * MiB);
          cut = true;
        },
      });
      await assert.rejects(put, (err: unknown) => isCairnError(err) && err.code === 'FAILED' && /changed or truncated/.test(err.message));
    });
    assert.equal(arena().slotsInUse, 0);
  });
});

test('a rewrite is stored from its previous version only where that beats chunking on every thread', () => {
  assert.equal(deltaPays(0.9, 2), true);
  assert.equal(deltaPays(0.5, 2), true);
  assert.equal(deltaPays(0.3, 2), false);
  assert.equal(deltaPays(0.95, 16), true);
  assert.equal(deltaPays(0.85, 16), false);
  assert.equal(deltaPays(0, 2), false);
});
