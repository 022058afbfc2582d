// Files large enough for the store's read pool and arena (16 MiB and up):
// the same IDs as the plain chunker path, exact restores, dedup of updates,
// damage found, and no arena slot left behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, open, readFile, rm, writeFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '../store.js';
import { isCairnError } from '../errors.js';
import { sha256 } from '../codec.js';
import { encodeFile } from '../objects.js';
import { chunkFile } from './index.js';
import { KiB, MiB } from './options.js';
import { makeSafetensors, pseudoRandom, type TestTensor } from '../testing/test-helpers.js';
import { arena } from '../io/arena.js';

function layout(): TestTensor[] {
  const t: TestTensor[] = [{ name: 'embed.weight', elems: (9 * MiB + 44) / 4 }];
  for (let i = 0; i < 6; i++) {
    t.push({ name: `layers.${i}.weight`, elems: (2 * MiB + 12 * KiB) / 4 });
    for (let j = 0; j < 20; j++) t.push({ name: `layers.${i}.bias${j}`, elems: 100 + 37 * j });
  }
  t.push({ name: 'head.weight', elems: (3 * MiB) / 4 });
  return t;
}

/** The file ID the plain path (chunkFile, then SHA-256 of each chunk) gives. */
async function plainId(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const chunks: Array<{ id: string; length: number }> = [];
    for await (const c of chunkFile(fh, size)) chunks.push({ id: sha256(c).toString('hex'), length: c.length });
    return sha256(encodeFile({ size, exec: false, chunks })).toString('hex');
  } finally {
    await fh.close();
  }
}

async function setup(): Promise<{ work: string; dir: string; file: Buffer; ranges: Map<string, [number, number]> }> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-large-'));
  const dir = join(work, 'store');
  await Store.init(dir);
  const { file, ranges } = makeSafetensors(layout());
  assert.ok(file.length >= 16 * MiB);
  return { work, dir, file, ranges };
}

for (const direct of [true, false]) {
  test(`a large model file round-trips through the read pool${direct ? '' : ' (no direct I/O)'}`, async () => {
    const old = process.env.CAIRN_NO_DIRECT_IO;
    if (!direct) process.env.CAIRN_NO_DIRECT_IO = '1';
    const { work, dir, file, ranges } = await setup();
    try {
      const src = join(work, 'model.safetensors');
      await writeFile(src, file);
      const expected = await plainId(src);

      // hashPath: the same ID, nothing written.
      const id = await Store.with(dir, async (s) => {
        assert.equal(await s.hashPath(src), expected);
        assert.equal((await s.stats()).packs, 0);
        let progress = 0;
        const got = await s.putPath(src, { onProgress: (n) => (progress = n) });
        assert.equal(progress, file.length);
        return got;
      });
      assert.equal(id, expected);

      const out = join(work, 'out', 'restored.safetensors');
      await Store.with(dir, async (s) => {
        await s.getToPath(id, out);
        assert.ok((await s.getBuffer(id)).equals(file));
      });
      assert.ok((await readFile(out)).equals(file));

      // An update that rewrites one tensor stores little more than that tensor.
      const [b, e] = ranges.get('layers.3.weight')!;
      const v2 = Buffer.from(file);
      pseudoRandom(e - b, 99).copy(v2, b);
      await writeFile(src, v2);
      const before = await Store.with(dir, (s) => s.stats());
      const id2 = await Store.with(dir, (s) => s.putPath(src));
      assert.equal(id2, await plainId(src));
      const after = await Store.with(dir, (s) => s.stats());
      const added = after.storedBytes - before.storedBytes;
      assert.ok(added >= e - b && added < e - b + 64 * KiB, `stored ${added} for ${e - b} changed`);

      await Store.with(dir, async (s) => {
        await s.getToPath(id2, out);
        assert.ok((await readFile(out)).equals(v2));
        await s.getToPath(id, out);
        assert.ok((await readFile(out)).equals(file));
        assert.equal((await s.verify({ readData: true })).ok, true);
      });
      assert.equal(arena().slotsInUse, 0, 'every arena slot given back');
    } finally {
      if (old === undefined) delete process.env.CAIRN_NO_DIRECT_IO;
      else process.env.CAIRN_NO_DIRECT_IO = old;
      await rm(work, { recursive: true, force: true });
    }
  });
}

test('a damaged chunk of a large file is found on restore, and nothing is left behind', async () => {
  const { work, dir, file } = await setup();
  try {
    const src = join(work, 'model.safetensors');
    await writeFile(src, file);
    const id = await Store.with(dir, (s) => s.putPath(src));
    // Flip one byte in the middle of the biggest pack.
    const packs: string[] = [];
    for (const sub of await readdir(join(dir, 'packs'))) {
      if (sub === 'tmp') continue;
      for (const f of await readdir(join(dir, 'packs', sub))) packs.push(join(dir, 'packs', sub, f));
    }
    const sizes = await Promise.all(packs.map(async (p) => (await stat(p)).size));
    const pack = packs[sizes.indexOf(Math.max(...sizes))];
    const fh = await open(pack, 'r+');
    const at = Math.floor(Math.max(...sizes) / 2);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0x40;
    await fh.write(b, 0, 1, at);
    await fh.close();
    const out = join(work, 'restored');
    await Store.with(dir, async (s) => {
      await assert.rejects(s.getToPath(id, out), (err: unknown) => isCairnError(err) && err.code === 'CORRUPT' && /checksum mismatch/.test(err.message));
    });
    assert.deepEqual((await readdir(work)).sort(), ['model.safetensors', 'store'], 'no restored or temp file left');
    assert.equal(arena().slotsInUse, 0);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('a large file that shrinks while it is read fails cleanly', async () => {
  const { work, dir } = await setup();
  try {
    // 48 MiB: the truncation at the first progress call comes before the
    // reads of the last chunks are even issued (8 are in flight at most).
    const { file } = makeSafetensors([...layout(), { name: 'z.weight', elems: (26 * MiB) / 4 }]);
    assert.ok(file.length > 48 * MiB);
    const src = join(work, 'model.safetensors');
    await writeFile(src, file);
    await Store.with(dir, async (s) => {
      let cut = false;
      const put = s.putPath(src, {
        onProgress: () => {
          if (!cut) truncateSync(src, 8 * MiB);
          cut = true;
        },
      });
      await assert.rejects(put, (err: unknown) => isCairnError(err) && err.code === 'FAILED' && /changed or truncated/.test(err.message));
    });
    assert.equal(arena().slotsInUse, 0);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
