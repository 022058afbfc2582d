import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, readdir, truncate, stat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store, isCairnError } from './index.js';
import { tempDir } from './testing/temp.js';
import { listPackFiles } from './packfiles.js';
import { scanTrailer } from './repair.js';
import { indexError, isIndexDamage } from './index-db.js';
import { encodeTrailer, HEADER_SIZE, PACK_V1, PACK_V2, type PackEntry } from './pack/format.js';
import { xxh64, initChecksum } from './checksum.js';
import { sha256 } from './codec.js';

async function storeWith(files: number): Promise<{ dir: string; ids: string[]; data: Buffer[] }> {
  const work = await tempDir('cairn-repair-');
  const dir = join(work, 'store');
  await Store.init(dir);
  const data = Array.from({ length: files }, () => randomBytes(300 * 1024));
  const ids = await Store.with(dir, async (s) => {
    const ids: string[] = [];
    for (const d of data) ids.push(await s.putBuffer(d));
    // Refs after every put: a ref write seals the open pack, and one pack is wanted.
    for (const [i, id] of ids.entries()) await s.refs.set(`keep/${i}`, id);
    return ids;
  });
  return { dir, ids, data };
}

test('scanTrailer reads the entries before the cut of a trailer, and nothing from a pack without one', async () => {
  await initChecksum();
  const blobs = [randomBytes(100), randomBytes(70_000), randomBytes(5)];
  const entries: PackEntry[] = [];
  let offset = HEADER_SIZE;
  for (const b of blobs) {
    entries.push({ id: sha256(b), type: 'chunk', offset, length: b.length, checksum: xxh64(b), size: b.length });
    offset += b.length;
  }
  const whole = Buffer.concat([PACK_V1.magic, ...blobs, encodeTrailer(entries)]);
  assert.deepEqual(scanTrailer(whole).map((e) => e.offset), entries.map((e) => e.offset));
  // Cut inside the last entry: the first two are still read.
  assert.deepEqual(scanTrailer(whole.subarray(0, whole.length - 24 - 10)).map((e) => e.id.toString('hex')), entries.slice(0, 2).map((e) => e.id.toString('hex')));
  assert.deepEqual(scanTrailer(Buffer.concat([PACK_V1.magic, ...blobs])), []);
});

test('LevelDB errors: damage says run fsck --repair and names the folder; ENOSPC, EIO, EACCES are not damage', () => {
  const wrap = (message: string, code?: string) => Object.assign(new Error('Database is not open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: Object.assign(new Error(message), { code }) });
  const damaged = indexError(wrap('Corruption: checksum mismatch', 'LEVEL_CORRUPTION'), '/s/index');
  assert.ok(isIndexDamage(damaged));
  assert.match(damaged.message, /\/s\/index is damaged.*run cairn fsck --repair/);
  assert.ok(isIndexDamage(indexError(wrap('IO error: /s/index/garbage: No such file or directory', 'LEVEL_IO_ERROR'), '/s/index')));
  for (const [message, expect] of [
    ['IO error: /s/index/000005.log: No space left on device', /disk is full.*\/s\/index/],
    ['IO error: /s/index/LOCK: Input/output error', /I\/O error on the store index at \/s\/index/],
    ['IO error: /s/index/LOCK: Permission denied', /permission denied on the store index at \/s\/index/],
  ] as const) {
    const e = indexError(wrap(message, 'LEVEL_IO_ERROR'), '/s/index');
    assert.equal(e.code, 'IO', message);
    assert.ok(!isIndexDamage(e), message);
    assert.match(e.message, expect);
  }
});

test('repair keeps every object of a pack whose trailer was cut off, using the old index, and quarantines the pack', async () => {
  const { dir, ids, data } = await storeWith(4);
  const [pack] = await listPackFiles(join(dir, 'packs'));
  await truncate(pack.path, pack.size - 100);
  const r = await Store.with(dir, (s) => s.repair());
  assert.equal(r.packsDamaged.length, 1);
  assert.equal(r.packsDamaged[0].path, pack.path);
  assert.equal(r.packsDamaged[0].lost, 0);
  assert.equal(r.objectsSalvaged, r.packsDamaged[0].salvaged);
  assert.ok(r.objectsSalvaged >= 4);
  assert.ok(r.quarantine && r.packsDamaged[0].quarantinedTo?.startsWith(r.quarantine));
  assert.equal((await stat(r.packsDamaged[0].quarantinedTo!)).size, pack.size - 100);
  await Store.with(dir, async (s) => {
    for (const [i, id] of ids.entries()) assert.deepEqual(await s.getBuffer(id), data[i]);
    assert.equal((await s.verify({ readData: true })).ok, true);
  });
  // A second repair finds nothing left to do.
  const again = await Store.with(dir, (s) => s.repair());
  assert.equal(again.packsDamaged.length, 0);
  assert.equal(again.quarantine, null);
});

test('a blob whose bytes changed is not salvaged: only what verifies is kept', async () => {
  const { dir, ids, data } = await storeWith(2);
  const [pack] = await listPackFiles(join(dir, 'packs'));
  const bytes = await readFile(pack.path);
  bytes[PACK_V2.dataStart + 10] ^= 0xff; // inside the first chunk
  await writeFile(pack.path, bytes.subarray(0, bytes.length - 100));
  const r = await Store.with(dir, (s) => s.repair());
  assert.equal(r.packsDamaged[0].lost, 1);
  await Store.with(dir, async (s) => {
    assert.deepEqual(await s.getBuffer(ids[1]), data[1]);
    await assert.rejects(s.getBuffer(ids[0]), (e: unknown) => isCairnError(e, 'NOT_FOUND'));
  });
});

test('refs.list names a damaged ref file, or hands it to onDamaged and lists the rest; repair moves it into quarantine', async () => {
  const { dir, ids } = await storeWith(1);
  await writeFile(join(dir, 'refs', 'keep', 'garbage'), 'nope\n');
  await mkdir(join(dir, 'refs', 'bad name'), { recursive: true });
  await writeFile(join(dir, 'refs', 'bad name', 'x'), `${ids[0]}\n`);
  await Store.with(dir, async (s) => {
    await assert.rejects(s.refs.list(), (e: unknown) => isCairnError(e, 'CORRUPT') && /ref file .*refs\/(keep\/garbage|bad name\/x) is damaged/.test((e as Error).message));
    await assert.rejects(s.refs.get('keep/garbage'), /ref file .*refs\/keep\/garbage is damaged/);
    const seen: string[] = [];
    const refs = await s.refs.list('', { onDamaged: (d) => seen.push(d.name) });
    assert.deepEqual(refs.map((r) => r.name), ['keep/0']);
    assert.deepEqual(seen.sort(), ['bad name/x', 'keep/garbage']);
    // gc refuses: what a damaged ref points to would look dead.
    await assert.rejects(s.gc(), /gc refused: ref file .* is damaged.*fsck --repair/);
    const r = await s.repair();
    assert.deepEqual(r.refsQuarantined.map((q) => q.name).sort(), ['bad name/x', 'keep/garbage']);
    assert.deepEqual(await s.refs.damaged(), []);
  });
  const q = await readdir(join(dir, 'quarantine'));
  assert.equal(q.length, 1);
  assert.equal(await readFile(join(dir, 'quarantine', q[0], 'refs', 'keep', 'garbage'), 'utf8'), 'nope\n');
});

test('an index LevelDB cannot open: open fails naming it; open for repair moves it aside and repair rebuilds it', async () => {
  const { dir, ids, data } = await storeWith(2);
  await writeFile(join(dir, 'index', 'CURRENT'), 'garbage\n');
  await assert.rejects(Store.open(dir), (e: unknown) => isCairnError(e, 'CORRUPT') && (e as Error).message.includes(join(dir, 'index')));
  const r = await Store.with(dir, (s) => s.repair(), { repairIndex: true });
  assert.ok(r.indexQuarantined?.includes('quarantine'));
  assert.equal(await readFile(join(r.indexQuarantined!, 'CURRENT'), 'utf8'), 'garbage\n');
  await Store.with(dir, async (s) => {
    for (const [i, id] of ids.entries()) assert.deepEqual(await s.getBuffer(id), data[i]);
  });
});
