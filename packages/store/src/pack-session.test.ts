// A file's new chunks lie in one pack (one pack per checkpoint of one big
// out), and packs of many small files still stop near their target size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PackSession } from './pack-session.js';
import { IndexDb } from './index-db.js';
import { sha256 } from './codec.js';
import { readPackEntries } from './pack/reader.js';
import { PACK_V2 } from './pack/format.js';
import { initChecksum } from './checksum.js';

const KiB = 1024;

/**
 * Runs `fn` with a session whose packs stop at 64 KiB, or 256 KiB while a
 * file is being put or for a blob under 1 KiB, or at 12 blobs; `blob(n)`
 * adds a blob of n bytes (40 KiB unless given). Returns the blob count of
 * each pack it sealed.
 */
async function packsOf(fn: (s: PackSession, blob: (n?: number) => Promise<void>) => Promise<void>): Promise<number[]> {
  await initChecksum();
  const work = await mkdtemp(join(tmpdir(), 'cairn-session-'));
  const index = await IndexDb.open(join(work, 'index'), 1000);
  try {
    const packs = join(work, 'packs');
    const session = new PackSession(packs, () => index, PACK_V2, { target: 64 * KiB, max: 256 * KiB, entries: 12, small: KiB });
    const blob = async (n = 40 * KiB) => {
      const data = randomBytes(n);
      const id = sha256(data);
      await session.add(id.toString('hex'), id, 'chunk', data, data.length);
    };
    await fn(session, blob);
    await session.flush();
    const counts: number[] = [];
    for (const aa of await readdir(packs)) {
      if (aa === 'tmp') continue;
      for (const f of await readdir(join(packs, aa))) counts.push((await readPackEntries(join(packs, aa, f))).entries.length);
    }
    return counts.sort((a, b) => a - b);
  } finally {
    await index.close();
    await rm(work, { recursive: true, force: true });
  }
}

test('blobs of no file in particular start a new pack when the open one would pass its target', async () => {
  assert.deepEqual(await packsOf(async (_, blob) => {
    for (let i = 0; i < 3; i++) await blob();
  }), [1, 1, 1]);
});

test("a file's blobs stay in one pack past the target, up to the most one pack may hold", async () => {
  assert.deepEqual(await packsOf(async (s, blob) => {
    const end = s.beginFile();
    for (let i = 0; i < 5; i++) await blob(); // 200 KiB: one pack
    end();
  }), [5]);
  assert.deepEqual(await packsOf(async (s, blob) => {
    const end = s.beginFile();
    for (let i = 0; i < 7; i++) await blob(); // 280 KiB: past the most, so a second pack
    end();
  }), [1, 6]);
});

test('the next file starts a new pack once the open one is past its target; one below it goes on filling it', async () => {
  assert.deepEqual(await packsOf(async (s, blob) => {
    let end = s.beginFile();
    await blob();
    await blob(); // 80 KiB, past the target
    end();
    end = s.beginFile();
    await blob();
    end();
  }), [1, 2]);
  assert.deepEqual(await packsOf(async (s, blob) => {
    let end = s.beginFile();
    await blob(); // 40 KiB
    end();
    end = s.beginFile();
    await blob();
    await blob();
    end();
  }), [3]);
});

test("small blobs after a file (its manifest, a checkpoint's tree and record) stay in the file's pack; a large one does not", async () => {
  assert.deepEqual(await packsOf(async (s, blob) => {
    const end = s.beginFile();
    for (let i = 0; i < 3; i++) await blob(); // 120 KiB, past the target
    end();
    await blob(300);
    await blob(200);
    await blob(); // 40 KiB: a pack of its own
  }), [1, 5]);
});

test('small blobs alone fill a pack up to the most blobs one pack holds', async () => {
  assert.deepEqual(await packsOf(async (_, blob) => {
    for (let i = 0; i < 30; i++) await blob(100);
  }), [6, 12, 12]);
});
