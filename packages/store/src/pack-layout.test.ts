import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store, isCairnError } from './index.js';
import { tempDir } from './testing/temp.js';
import { listPackFiles } from './packfiles.js';
import { readPackEntries } from './pack/reader.js';
import { PACK_V1, PACK_V2 } from './pack/format.js';

/** A store of `format`, holding a 20 MiB file (the read pool's path) and a small one, each named by a ref; its packs. */
async function storeOf(format: 3 | 4) {
  const dir = join(await tempDir('cairn-layout-'), 'store');
  await Store.init(dir);
  if (format === 3) await writeFile(join(dir, 'CAIRN'), 'cairn store\nformat 3\n');
  const big = randomBytes(20 * 1024 * 1024);
  const small = randomBytes(1000);
  const src = join(dir, '..', 'big.bin');
  await writeFile(src, big);
  const ids = await Store.with(dir, async (s) => {
    const ids = [await s.putPath(src), await s.putBuffer(small)];
    for (const [i, id] of ids.entries()) await s.refs.set(`keep/${i}`, id);
    return ids;
  });
  const packs = await listPackFiles(join(dir, 'packs'));
  return { dir, ids, big, small, src, packs };
}

test('a new store is format 4: its packs start "CAIRNPK2", zeros to byte 4096, and blobs from there', async () => {
  const { dir, ids, big, small, packs } = await storeOf(4);
  assert.equal(await readFile(join(dir, 'CAIRN'), 'utf8'), 'cairn store\nformat 4\n');
  assert.ok(packs.length >= 1);
  for (const p of packs) {
    const bytes = await readFile(p.path);
    assert.equal(bytes.subarray(0, 8).toString('latin1'), 'CAIRNPK2');
    assert.ok(bytes.subarray(8, 4096).every((b) => b === 0));
    const { entries } = await readPackEntries(p.path);
    assert.equal(entries[0].offset, 4096);
  }
  await Store.with(dir, async (s) => {
    assert.deepEqual(await s.getBuffer(ids[1]), small);
    const out = join(dir, '..', 'out.bin');
    await s.getToPath(ids[0], out);
    assert.ok((await readFile(out)).equals(big));
    assert.equal((await s.verify({ readData: true })).problems.length, 0);
  });
});

test('a format-3 store keeps format 3 and its packs "CAIRNPK1" with blobs from byte 8, through puts and gc', async () => {
  const { dir, ids, big, packs } = await storeOf(3);
  const layouts = async () => Promise.all((await listPackFiles(join(dir, 'packs'))).map(async (p) => (await readFile(p.path)).subarray(0, 8).toString('latin1')));
  assert.deepEqual(new Set(await layouts()), new Set(['CAIRNPK1']));
  for (const p of packs) assert.equal((await readPackEntries(p.path)).entries[0].offset, PACK_V1.dataStart);
  // gc rewrites the pack that holds a dead blob among live ones: in the store's own layout.
  const pair = [randomBytes(300 * 1024), randomBytes(300 * 1024)];
  await Store.with(dir, async (s) => {
    // Both refs after both puts: a ref write seals the open pack, and one pack is wanted.
    const [a, b] = [await s.putBuffer(pair[0]), await s.putBuffer(pair[1])];
    await s.refs.set('keep/a', a);
    await s.refs.set('keep/b', b);
  });
  await Store.with(dir, async (s) => {
    await s.refs.delete('keep/1');
    await s.refs.delete('keep/b');
    const r = await s.gc();
    assert.ok(r.packsRewritten >= 1, JSON.stringify(r));
  });
  assert.deepEqual(new Set(await layouts()), new Set(['CAIRNPK1']));
  assert.equal(await readFile(join(dir, 'CAIRN'), 'utf8'), 'cairn store\nformat 3\n');
  await Store.with(dir, async (s) => {
    const out = join(dir, '..', 'out.bin');
    await s.getToPath(ids[0], out);
    assert.ok((await readFile(out)).equals(big));
    assert.deepEqual(await s.getBuffer(await s.refs.get('keep/a') as string), pair[0]);
    assert.equal((await s.verify({ readData: true })).problems.length, 0);
  });
});

test('a byte flipped in a format-4 pack header padding is damage: the pack is refused and fsck names it', async () => {
  const { dir, packs } = await storeOf(4);
  const p = packs[0].path;
  const bytes = await readFile(p);
  bytes[PACK_V2.dataStart - 1] = 1;
  await writeFile(p, bytes);
  await assert.rejects(readPackEntries(p), (e: unknown) => isCairnError(e, 'CORRUPT') && /header padding/.test((e as Error).message));
  const report = await Store.with(dir, (s) => s.verify());
  assert.ok(report.problems.some((q) => JSON.stringify(q).includes(packs[0].packId)), JSON.stringify(report.problems));
});

test('a pack whose magic names no layout is refused', async () => {
  const { packs } = await storeOf(4);
  const p = packs[0].path;
  const bytes = await readFile(p);
  bytes.write('CAIRNPK9', 0, 'latin1');
  await writeFile(p, bytes);
  await assert.rejects(readPackEntries(p), (e: unknown) => isCairnError(e, 'CORRUPT') && /bad header/.test((e as Error).message));
});
