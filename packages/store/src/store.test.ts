import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, mkdir, rm, readdir, open, stat, chmod, symlink, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Store, encodeCanonical, sha256, isCairnError } from './index.js';
import { tempDir } from './testing/temp.js';
import { listPackFiles } from './packfiles.js';
import { repositoryOf } from './store.js';

async function freshStore(): Promise<{ dir: string; work: string }> {
  const work = await tempDir('cairn-store-');
  const dir = join(work, 'store');
  await Store.init(dir);
  return { dir, work };
}

test('a file goes in and comes back bit for bit, with its exec bit', async () => {
  const { dir, work } = await freshStore();
  const src = join(work, 'model.bin');
  const data = randomBytes(9 * 1024 * 1024 + 17);
  await writeFile(src, data);
  await chmod(src, 0o755);
  const id = await Store.with(dir, (s) => s.putPath(src));
  assert.match(id, /^[0-9a-f]{64}$/);
  await Store.with(dir, async (s) => {
    await s.getToPath(id, join(work, 'out.bin'));
    assert.deepEqual(await readFile(join(work, 'out.bin')), data);
    assert.equal((await stat(join(work, 'out.bin'))).mode & 0o111, 0o111);
    assert.deepEqual(await s.getBuffer(id), data);
    assert.deepEqual(await s.stat(id), { id, type: 'file', size: data.length });
  });
});

test('storing the same content twice adds no bytes', async () => {
  const { dir, work } = await freshStore();
  const data = randomBytes(5 * 1024 * 1024);
  await writeFile(join(work, 'a'), data);
  await writeFile(join(work, 'b'), data);
  await Store.with(dir, async (s) => {
    const a = await s.putPath(join(work, 'a'));
    const before = await s.stats();
    const b = await s.putPath(join(work, 'b'));
    const after = await s.stats();
    assert.equal(a, b);
    assert.equal(after.storedBytes, before.storedBytes);
    assert.equal(after.packs, before.packs);
  });
});

test('folders round-trip, and restoring makes the folder equal the tree', async () => {
  const { dir, work } = await freshStore();
  const src = join(work, 'logs');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'alpha');
  await writeFile(join(src, 'sub', 'b.txt'), 'beta');
  await writeFile(join(src, 'empty'), '');
  await symlink('a.txt', join(src, 'link'));
  const id = await Store.with(dir, (s) => s.putPath(src));
  const dest = join(work, 'restored');
  await mkdir(dest);
  await writeFile(join(dest, 'stale'), 'x');
  await Store.with(dir, (s) => s.getToPath(id, dest));
  assert.deepEqual((await readdir(dest)).sort(), ['a.txt', 'empty', 'link', 'sub']);
  assert.equal(await readFile(join(dest, 'sub', 'b.txt'), 'utf8'), 'beta');
  assert.equal(await readlink(join(dest, 'link')), 'a.txt');
  const tree = await Store.with(dir, (s) => s.readTree(id));
  assert.deepEqual(tree.map((e) => e.name), ['a.txt', 'empty', 'link', 'sub']);
});

test('buffers and streams are stored as files', async () => {
  const { dir } = await freshStore();
  await Store.with(dir, async (s) => {
    const data = randomBytes(3 * 1024 * 1024);
    const a = await s.putBuffer(data);
    const { Readable } = await import('node:stream');
    const b = await s.putStream(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    assert.equal(a, b);
    assert.deepEqual(await s.getBuffer(a), data);
    assert.equal((await s.getBuffer(await s.putBuffer(Buffer.alloc(0)))).length, 0);
  });
});

test('equal records get equal IDs whatever their key order', async () => {
  assert.deepEqual(encodeCanonical({ x: 1, y: { b: 2, a: [1, 'z'] } }), encodeCanonical({ y: { a: [1, 'z'], b: 2 }, x: 1 }));
  const { dir } = await freshStore();
  await Store.with(dir, async (s) => {
    const a = await s.putRecord({ lr: 0.1, name: 'x' });
    const b = await s.putRecord({ name: 'x', lr: 0.1 });
    assert.equal(a, b);
    assert.deepEqual((await s.getRecord(a)).body, { lr: 0.1, name: 'x' });
    await assert.rejects(s.putRecord({}, ['0'.repeat(64)]), (e) => isCairnError(e, 'NOT_FOUND'));
  });
});

test('object IDs are the SHA-256 of the stored bytes', async () => {
  const { dir } = await freshStore();
  await Store.with(dir, async (s) => {
    const body = { hello: 'world' };
    const id = await s.putRecord(body);
    assert.equal(id, sha256(encodeCanonical({ v: 1, body, links: [] })).toString('hex'));
  });
});

test('prefixes resolve when unique, and fail clearly otherwise', async () => {
  const { dir } = await freshStore();
  await Store.with(dir, async (s) => {
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(await s.putRecord({ i }));
    assert.equal(await s.resolve(ids[0].slice(0, 12)), ids[0]);
    assert.equal(await s.resolve(ids[0].toUpperCase()), ids[0]);
    await assert.rejects(s.resolve('zzzz'), (e) => isCairnError(e, 'BAD_INPUT'));
    await assert.rejects(s.resolve('abc'), (e) => isCairnError(e, 'BAD_INPUT'));
    const absent = ['0000', '1111', 'ffff', 'abcd'].find((p) => !ids.some((id) => id.startsWith(p)))!;
    await assert.rejects(s.resolve(absent), (e) => isCairnError(e, 'NOT_FOUND'));
    // Add records until two share 4 hex digits (a birthday collision comes within a few hundred).
    const byPrefix = new Map(ids.map((id) => [id.slice(0, 4), id]));
    let shared: string | undefined;
    for (let i = 300; !shared && i < 20_000; i++) {
      const id = await s.putRecord({ i });
      if (byPrefix.has(id.slice(0, 4))) shared = id.slice(0, 4);
      byPrefix.set(id.slice(0, 4), id);
    }
    assert.ok(shared);
    await assert.rejects(s.resolve(shared), (e) => isCairnError(e, 'AMBIGUOUS'));
  });
});

test('refs compare-and-swap', async () => {
  const { dir } = await freshStore();
  await Store.with(dir, async (s) => {
    const a = await s.putRecord({ a: 1 });
    const b = await s.putRecord({ b: 1 });
    await s.refs.set('exp/one', a, null);
    await assert.rejects(s.refs.set('exp/one', b, null), (e) => isCairnError(e, 'CONFLICT'));
    await assert.rejects(s.refs.set('exp/one', b, b), (e) => isCairnError(e, 'CONFLICT'));
    await s.refs.set('exp/one', b, a);
    assert.equal(await s.refs.get('exp/one'), b);
    assert.deepEqual(await s.refs.list('exp/'), [{ name: 'exp/one', id: b }]);
    await assert.rejects(s.refs.set('../evil', a), (e) => isCairnError(e, 'BAD_INPUT'));
    await s.refs.delete('exp/one', b);
    assert.equal(await s.refs.get('exp/one'), null);
  });
});

test('a second process waits for the lock, then fails with LOCKED', async () => {
  const { dir } = await freshStore();
  const s = await Store.open(dir);
  try {
    const script = `import('${new URL('./index.js', import.meta.url).href}').then(async ({ Store }) => {
      try { await Store.open(process.argv[1], { lockTimeoutMs: 300 }); console.log('opened'); }
      catch (e) { console.log(e.code); }
    })`;
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['-e', script, dir]);
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('close', () => resolve(text.trim()));
    });
    assert.equal(out, 'LOCKED');
  } finally {
    await s.close();
  }
  await Store.with(dir, async () => {}, { lockTimeoutMs: 1000 });
});

test('verify finds a single flipped byte anywhere in a pack', async () => {
  const { dir, work } = await freshStore();
  await writeFile(join(work, 'f'), randomBytes(2 * 1024 * 1024));
  const id = await Store.with(dir, (s) => s.putPath(join(work, 'f')));
  await Store.with(dir, (s) => s.refs.set('keep', id));
  const [pack] = await listPackFiles(join(dir, 'packs'));
  assert.equal((await Store.with(dir, (s) => s.verify())).ok, true);
  for (let i = 0; i < 12; i++) {
    const offset = i === 0 ? 0 : i === 1 ? pack.size - 1 : Math.floor(Math.random() * pack.size);
    const fh = await open(pack.path, 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    const flipped = Buffer.from([b[0] ^ 0x01]);
    await fh.write(flipped, 0, 1, offset);
    const report = await Store.with(dir, (s) => s.verify({ readData: true }));
    await fh.write(b, 0, 1, offset);
    await fh.close();
    assert.equal(report.ok, false, `flip at ${offset} of ${pack.size} not detected`);
  }
  assert.equal((await Store.with(dir, (s) => s.verify({ readData: true }))).ok, true);
});

test('a deleted index is rebuilt from the packs and every object reads again', async () => {
  const { dir, work } = await freshStore();
  const data = randomBytes(3 * 1024 * 1024);
  await writeFile(join(work, 'f'), data);
  const id = await Store.with(dir, async (s) => {
    const id = await s.putPath(join(work, 'f'));
    await s.refs.set('keep', id);
    return id;
  });
  await rm(join(dir, 'index'), { recursive: true });
  await Store.with(dir, async (s) => {
    assert.deepEqual(await s.getBuffer(id), data);
    assert.equal((await s.verify({ readData: true })).ok, true);
  });
  // Explicit repair on a live index gives the same result.
  await Store.with(dir, async (s) => {
    const r = await s.repair();
    assert.ok(r.objectsIndexed >= 2);
    assert.deepEqual(await s.getBuffer(id), data);
  });
});

test('gc deletes what no ref reaches and keeps what one does', async () => {
  const { dir, work } = await freshStore();
  const keep = randomBytes(2 * 1024 * 1024);
  const drop = randomBytes(4 * 1024 * 1024);
  await writeFile(join(work, 'keep'), keep);
  await writeFile(join(work, 'drop'), drop);
  await Store.with(dir, async (s) => {
    const k = await s.putPath(join(work, 'keep'));
    const d = await s.putPath(join(work, 'drop'));
    const rec = await s.putRecord({ what: 'checkpoint' }, [k]);
    await s.refs.set('exp/a', rec);
    const dry = await s.gc({ dryRun: true });
    assert.ok(dry.bytesFreed >= drop.length, `dry run frees ${dry.bytesFreed}`);
    assert.equal(await s.has(d), true);
    const before = await s.stats();
    const r = await s.gc();
    const after = await s.stats();
    assert.ok(r.bytesFreed >= drop.length);
    assert.ok(before.packBytes - after.packBytes >= drop.length);
    assert.equal(await s.has(d), false);
    assert.deepEqual(await s.getBuffer(k), keep);
    assert.equal((await s.verify({ readData: true })).ok, true);
  });
});

test('gc rewrites a mostly dead pack, keeping its live objects', async () => {
  const { dir, work } = await freshStore();
  const src = join(work, 'd');
  await mkdir(src);
  const small = randomBytes(300 * 1024);
  await writeFile(join(src, 'small'), small);
  await writeFile(join(src, 'big'), randomBytes(6 * 1024 * 1024));
  await Store.with(dir, async (s) => {
    await s.putPath(src); // one pack holding both files
    const smallId = await s.putPath(join(src, 'small'));
    await s.refs.set('keep', smallId);
    const r = await s.gc();
    assert.equal(r.packsRewritten, 1);
    assert.deepEqual(await s.getBuffer(smallId), small);
    assert.equal((await s.verify({ readData: true })).ok, true);
  });
});

test('hashPath gives the ID putPath would, and writes nothing', async () => {
  const { dir, work } = await freshStore();
  const src = join(work, 'd');
  await mkdir(src);
  await writeFile(join(src, 'a'), randomBytes(700 * 1024));
  await writeFile(join(src, 'b'), 'b');
  await Store.with(dir, async (s) => {
    const before = await s.stats();
    const hashed = await s.hashPath(src);
    const fileHash = await s.hashPath(join(src, 'a'));
    assert.deepEqual(await s.stats(), before);
    assert.equal(await s.has(hashed), false);
    assert.equal(await s.putPath(src), hashed);
    assert.equal(await s.putPath(join(src, 'a')), fileHash);
  });
});

test('gc merges many small packs into one, keeping every object', async () => {
  const { dir } = await freshStore();
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    await Store.with(dir, async (s) => {
      const id = await s.putBuffer(randomBytes(10_000 + i));
      await s.refs.set(`keep/${i}`, id);
      ids.push(id);
    });
  }
  assert.equal((await listPackFiles(join(dir, 'packs'))).length, 20);
  await Store.with(dir, async (s) => {
    const r = await s.gc();
    assert.equal(r.packsRewritten, 20);
    assert.equal(r.packsWritten, 1);
  });
  assert.equal((await listPackFiles(join(dir, 'packs'))).length, 1);
  await Store.with(dir, async (s) => {
    for (const id of ids) assert.equal((await s.getBuffer(id)).length > 10_000 - 1, true);
    assert.equal((await s.verify({ readData: true })).ok, true);
  });
});

test('a pack left unindexed by a killed writer is a note for fsck, not a problem; gc deletes it', async () => {
  const { dir, work } = await freshStore();
  await writeFile(join(work, 'kept'), randomBytes(2 * 1024 * 1024));
  await writeFile(join(work, 'lost'), randomBytes(3 * 1024 * 1024));
  const kept = await Store.with(dir, async (s) => {
    const id = await s.putFile(join(work, 'kept'));
    await s.refs.set('keep', id, null);
    return id;
  });
  // A second session whose index write never happened: its pack is sealed, none of its objects indexed.
  const before = new Set((await listPackFiles(join(dir, 'packs'))).map((p) => p.packId));
  const lost = await Store.with(dir, (s) => s.putFile(join(work, 'lost')));
  const orphan = (await listPackFiles(join(dir, 'packs'))).find((p) => !before.has(p.packId))!;
  await Store.with(dir, async (s) => {
    for (const o of await s.reachable([lost])) await repositoryOf(s).index.obj.del(o);
    const report = await s.verify({ readData: true });
    assert.deepEqual(report.problems, []);
    assert.equal(report.notes.length, 1);
    assert.match(report.notes[0], new RegExp(`pack ${orphan.packId}: none of its \\d+ objects is indexed`));
    // Some objects of an indexed pack gone from the index is still a problem.
    await repositoryOf(s).index.obj.del(kept);
    assert.match((await s.verify()).problems.map((p) => p.message).join('\n'), /1 objects in packs are not in the index/);
    await s.repair();
  });
  await Store.with(dir, async (s) => {
    for (const o of await s.reachable([lost])) await repositoryOf(s).index.obj.del(o);
    await s.gc();
    assert.equal((await listPackFiles(join(dir, 'packs'))).some((p) => p.packId === orphan.packId), false);
    assert.deepEqual((await s.verify({ readData: true })).problems, []);
  });
});

test('a checkpoint with two outs seals one pack: stat and has see unflushed puts', async () => {
  const { dir, work } = await freshStore();
  await writeFile(join(work, 'model.bin'), randomBytes(2 * 1024 * 1024));
  await mkdir(join(work, 'logs'));
  await writeFile(join(work, 'logs', 'a.txt'), 'step 1\n');
  // As the runner records one: each out put and stat'ed, then the record linking them, then the ref.
  await Store.with(dir, async (s) => {
    const outs: string[] = [];
    for (const p of ['model.bin', 'logs']) {
      const id = await s.putPath(join(work, p));
      assert.ok((await s.stat(id)).size > 0);
      assert.equal((await s.statMany([id]))[0].id, id);
      outs.push(id);
    }
    assert.deepEqual(await listPackFiles(join(dir, 'packs')), [], 'nothing sealed before the ref');
    const record = await s.putRecord({ kind: 'checkpoint', step: 1 }, outs);
    assert.ok(await s.has(record));
    assert.equal((await s.stat(record)).type, 'record');
    await s.refs.set('exp/one', record);
  });
  assert.equal((await listPackFiles(join(dir, 'packs'))).length, 1);
  await Store.with(dir, async (s) => assert.equal((await s.verify({ readData: true })).ok, true));
});

test('reading an object stored before does not seal the pack a session is filling; reading one it wrote does', async () => {
  const dir = join(await tempDir('cairn-onepack-'), 'store');
  await Store.init(dir);
  const old = randomBytes(1000);
  const oldId = await Store.with(dir, async (s) => {
    const id = await s.putBuffer(old);
    await s.refs.set('keep/old', id);
    return id;
  });
  const packs = async () => (await listPackFiles(join(dir, 'packs'))).length;
  const before = await packs();
  // As a checkpoint: an out, a read of the parent record, the new record, the ref.
  const [a, b] = [randomBytes(200 * 1024), randomBytes(1000)];
  await Store.with(dir, async (s) => {
    const ida = await s.putBuffer(a);
    assert.deepEqual(await s.getBuffer(oldId), old);
    const idb = await s.putBuffer(b);
    await s.refs.set('keep/new', idb);
    await s.refs.set('keep/a', ida);
  });
  assert.equal(await packs(), before + 1, 'one pack for the session');
  await Store.with(dir, async (s) => {
    const c = randomBytes(5000);
    const idc = await s.putBuffer(c);
    // Not yet in a sealed pack: the read flushes first.
    assert.deepEqual(await s.getBuffer(idc), c);
    assert.deepEqual(await s.getBuffer((await s.refs.get('keep/a'))!), a);
  });
});
