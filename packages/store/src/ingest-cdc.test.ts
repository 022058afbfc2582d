// Large files without a model layout go through content-defined chunking on
// the pool's threads: the IDs must be exactly those of the single-threaded
// chunker (else dedup against older checkpoints would break), at any thread
// count, with dedup of rewrites, clean failures and no arena slot left.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFile, writeFile } from 'node:fs/promises';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from './store.js';
import { isCairnError } from './errors.js';
import { KiB, MiB } from './chunker/options.js';
import { pseudoRandom } from './testing/test-helpers.js';
import { plainId, withStore } from './testing/file-ids.js';
import { arena } from './io/arena.js';
import { poolThreads, readPool, setPoolThreads, warmPool } from './io/pool.js';


/** Random bytes with runs of zeros and of a short repeating pattern, where chunk chains take longest to meet. */
function rawFile(size: number, seed: number): Buffer {
  const b = pseudoRandom(size, seed);
  b.fill(0, 5 * MiB, 11 * MiB);
  for (let i = 20 * MiB; i < 27 * MiB && i < size; i++) b[i] = i % 13;
  return b;
}


for (const threads of [1, 3]) {
  test(`a large raw file gets the single-threaded chunk IDs on ${threads} thread(s), restores exactly, and a rewrite dedups`, async () => {
    const before = poolThreads();
    setPoolThreads(threads);
    try {
      await withStore(async (work, dir) => {
        const file = rawFile(45 * MiB + 12345, 11);
        const src = join(work, 'weights.bin');
        await writeFile(src, file, { mode: 0o644 });
        const expected = await plainId(src);
        const id = await Store.with(dir, async (s) => {
          assert.equal(await s.hashPath(src), expected);
          assert.equal((await s.stats()).packs, 0, 'hashPath writes nothing');
          let progress = 0;
          const got = await s.putPath(src, { onProgress: (n) => (progress = n) });
          assert.equal(progress, file.length);
          return got;
        });
        assert.equal(id, expected);
        const out = join(work, 'restored.bin');
        await Store.with(dir, (s) => s.getToPath(id, out));
        assert.ok((await readFile(out)).equals(file));

        // 10% rewritten in three places: what is stored grows by about that, plus the chunks the edits touch.
        const v2 = Buffer.from(file);
        for (const at of [1 * MiB, 17 * MiB, 33 * MiB]) pseudoRandom(1_500_000, at).copy(v2, at);
        await writeFile(src, v2);
        const s1 = await Store.with(dir, (s) => s.stats());
        const id2 = await Store.with(dir, (s) => s.putPath(src));
        assert.equal(id2, await plainId(src));
        const added = (await Store.with(dir, (s) => s.stats())).storedBytes - s1.storedBytes;
        assert.ok(added >= 4_500_000 && added < 4_500_000 + 6 * 4 * MiB, `stored ${added} bytes for 4.5 MB rewritten`);
        await Store.with(dir, async (s) => {
          await s.getToPath(id2, out);
          assert.ok((await readFile(out)).equals(v2));
          assert.equal((await s.verify({ readData: true })).ok, true);
        });
        assert.equal(arena().slotsInUse, 0, 'every arena slot given back');
      });
    } finally {
      setPoolThreads(before);
    }
  });
}

test('a raw file whose size is a multiple of the segment size, and one a byte over, keep the single-threaded IDs', async () => {
  await withStore(async (work, dir) => {
    for (const size of [32 * MiB, 16 * MiB + 1, 16 * MiB]) {
      const src = join(work, `f${size}`);
      await writeFile(src, pseudoRandom(size, size % 1000));
      const id = await Store.with(dir, (s) => s.putPath(src));
      assert.equal(id, await plainId(src), `size ${size}`);
    }
    assert.equal(arena().slotsInUse, 0);
  });
});

test('a large raw file that shrinks while it is read fails cleanly, leaving no slot taken', async () => {
  await withStore(async (work, dir) => {
    const src = join(work, 'weights.bin');
    await writeFile(src, pseudoRandom(192 * MiB, 5));
    await Store.with(dir, async (s) => {
      let cut = false;
      const put = s.putPath(src, {
        onProgress: () => {
          if (!cut) truncateSync(src, 20 * MiB + 3 * KiB);
          cut = true;
        },
      });
      await assert.rejects(put, (err: unknown) => isCairnError(err) && err.code === 'FAILED' && /changed or truncated/.test(err.message));
    });
    assert.equal(arena().slotsInUse, 0);
  });
});

test('once the pool has started, files from 1 MiB take its path, with the single-threaded IDs, and smaller ones do not', async () => {
  warmPool();
  await withStore(async (work, dir) => {
    for (const size of [MiB, MiB + 12345, 4 * MiB, 9 * MiB + 7, 16 * MiB - 1, MiB - 1, 100 * KiB]) {
      const src = join(work, `f${size}`);
      const bytes = pseudoRandom(size, size % 997);
      bytes.fill(0, Math.floor(size / 3), Math.floor(size / 2)); // a run of zeros, where chunk chains meet late
      await writeFile(src, bytes);
      const before = readPool().jobsRun;
      const id = await Store.with(dir, (s) => s.putPath(src));
      assert.equal(id, await plainId(src), `size ${size}`);
      assert.equal(readPool().jobsRun > before, size >= MiB, `size ${size}: pool path taken`);
      const out = join(work, `r${size}`);
      await Store.with(dir, (s) => s.getToPath(id, out));
      assert.ok((await readFile(out)).equals(await readFile(src)), `size ${size}: restored`);
    }
    assert.equal(arena().slotsInUse, 0);
  });
});
