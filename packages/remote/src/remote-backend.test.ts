import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isCairnError } from '@cairn/store';
import type { BlobStore } from './blob-store.js';
import { FolderBlobStore } from './folder.js';
import { openRemote, parseRemoteUrl } from './index.js';
import { INDEX_MAGIC, PACK_MAGIC, RemoteBackend } from './remote-backend.js';
import { s3Store, skipS3, tempDir } from './testing/s3.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function chunk(n: number): { id: string; data: Buffer } {
  const data = randomBytes(n);
  return { id: sha(data), data };
}

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list(prefix)) out.push(b.key);
  return out.sort();
}

/** An index object by hand: entries [id, type code, offset, length, size]. */
function indexBytes(pack: string, entries: Array<[string, number, number, number, number]>): Buffer {
  const head = Buffer.alloc(44);
  INDEX_MAGIC.copy(head);
  Buffer.from(pack, 'hex').copy(head, 8);
  head.writeUInt32BE(entries.length, 40);
  return Buffer.concat([
    head,
    ...entries.map(([id, type, offset, length, size]) => {
      const e = Buffer.alloc(57);
      Buffer.from(id, 'hex').copy(e);
      e[32] = type;
      e.writeBigUInt64BE(BigInt(offset), 33);
      e.writeBigUInt64BE(BigInt(length), 41);
      e.writeBigUInt64BE(BigInt(size), 49);
      return e;
    }),
  ]);
}

function hostileTests(name: string, make: () => Promise<BlobStore>): void {
  test(`${name}: the layout: packs and index objects named by their hashes, refs with a nonce`, async () => {
    const store = await make();
    const b = new RemoteBackend(store, { packSize: 64 * 1024 });
    const objs = Array.from({ length: 5 }, () => chunk(30 * 1024));
    for (const o of objs) await b.put(o.id, 'chunk', o.data);
    await b.refs.set('exp/a', objs[0].id);
    const packs = await keys(store, 'packs/');
    const indexes = await keys(store, 'index/');
    assert.equal(packs.length, 3, 'two objects of 30 KiB fit a 64 KiB pack, a third does not');
    assert.equal(indexes.length, 3);
    for (const k of [...packs, ...indexes]) assert.equal(sha((await store.get(k)).data), k.split('/')[1]);
    for (const k of packs) assert.ok((await store.get(k)).data.subarray(0, 8).equals(PACK_MAGIC));
    assert.match((await store.get('refs/exp/a')).data.toString(), new RegExp(`^${objs[0].id} [0-9a-f]{32}\\n$`));
    await b.close();
  });

  test(`${name}: a flipped byte in a remote pack is refused on get`, async () => {
    const store = await make();
    const b = new RemoteBackend(store);
    const objs = [chunk(1000), chunk(5000)];
    for (const o of objs) await b.put(o.id, 'chunk', o.data);
    await b.close();
    const [pack] = await keys(store, 'packs/');
    const bytes = (await store.get(pack)).data;
    bytes[8 + 1000 + 17] ^= 0x01;
    await store.put(pack, bytes);
    const again = new RemoteBackend(await reopen(store));
    assert.ok((await again.get(objs[0].id)).data.equals(objs[0].data), 'the other object is intact');
    await assert.rejects(again.get(objs[1].id), (e) => isCairnError(e, 'CORRUPT') && e.fields.id === objs[1].id);
    await again.close();
  });

  test(`${name}: getMany reads objects back to back in a pack in ranges, in the order asked, checked as get checks them`, async () => {
    const store = await make();
    const b = new RemoteBackend(store, { packSize: 64 * 1024 });
    const objs = Array.from({ length: 7 }, (_, i) => chunk(5000 + i * 3000));
    // putVerified as a push from a local store puts them: not hashed again, sizes given.
    for (const o of objs) assert.equal(await b.putVerified(o.id, 'chunk', o.data, o.data.length), true);
    assert.equal(await b.putVerified(objs[0].id, 'chunk', objs[0].data, objs[0].data.length), false, 'a second put of an object is a no-op');
    await b.close();
    assert.ok((await keys(store, 'packs/')).length >= 2, 'over more than one pack');
    const again = new RemoteBackend(await reopen(store));
    const order = [objs[3], objs[0], objs[1], objs[2], objs[6], objs[4], objs[5]];
    const got = [];
    for await (const o of again.getMany(order.map((o) => o.id))) got.push(o);
    assert.deepEqual(
      got.map((o) => o.id),
      order.map((o) => o.id),
    );
    got.forEach((o, i) => assert.ok(o.type === 'chunk' && o.data.equals(order[i].data)));
    await assert.rejects(
      (async () => {
        for await (const _ of again.getMany([objs[0].id, sha(Buffer.from('absent'))])) void _;
      })(),
      (e) => isCairnError(e, 'NOT_FOUND'),
    );
    // A flipped byte in the second of two objects read in one range: the first is yielded, the second refused.
    const [pack] = await keys(store, 'packs/');
    const bytes = (await store.get(pack)).data;
    const index = new RemoteBackend(await reopen(store));
    const inPack = (await Promise.all(objs.map(async (o) => ((await store.get(pack)).data.indexOf(o.data.subarray(0, 64)) > 0 ? o : null)))).filter((o) => o !== null);
    assert.ok(inPack.length >= 2);
    const at = bytes.indexOf(inPack[1]!.data.subarray(0, 64));
    bytes[at + 10] ^= 0x01;
    await store.put(pack, bytes);
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const o of index.getMany([inPack[0]!.id, inPack[1]!.id])) seen.push(o.id);
      })(),
      (e) => isCairnError(e, 'CORRUPT') && e.fields.id === inPack[1]!.id,
    );
    assert.deepEqual(seen, [inPack[0]!.id]);
    await again.close();
    await index.close();
  });

  test(`${name}: a pack cut short is refused on get`, async () => {
    const store = await make();
    const b = new RemoteBackend(store);
    const o = chunk(3000);
    await b.put(o.id, 'chunk', o.data);
    await b.close();
    const [pack] = await keys(store, 'packs/');
    const bytes = (await store.get(pack)).data;
    await store.put(pack, bytes.subarray(0, bytes.length - 10));
    // The listed size no longer matches the index: refused before any object is trusted.
    await assert.rejects(new RemoteBackend(await reopen(store)).has(o.id), (e) => isCairnError(e, 'CORRUPT'));
  });

  test(`${name}: hostile index objects are refused`, async () => {
    const o = chunk(100);
    const pack = Buffer.concat([PACK_MAGIC, o.data]);
    const packHash = sha(pack);
    const cases: Array<[string, Buffer, string?]> = [
      ['not named by its hash', indexBytes(packHash, [[o.id, 1, 8, 100, 100]]), 'f'.repeat(64)],
      ['past the end of its pack', indexBytes(packHash, [[o.id, 1, 8, 200, 200]])],
      ['leaving pack bytes unaccounted for', indexBytes(packHash, [[o.id, 1, 8, 50, 50]])],
      ['overlapping the pack header', indexBytes(packHash, [[o.id, 1, 0, 108, 108]])],
      ['an unknown type', indexBytes(packHash, [[o.id, 9, 8, 100, 100]])],
      ['a chunk whose size is not its length', indexBytes(packHash, [[o.id, 1, 8, 100, 5]])],
      ['its pack missing', indexBytes('e'.repeat(64), [[o.id, 1, 8, 100, 100]])],
      ['a bad header', Buffer.concat([Buffer.from('XAIRNRI1'), indexBytes(packHash, [[o.id, 1, 8, 100, 100]]).subarray(8)])],
      ['trailing bytes', Buffer.concat([indexBytes(packHash, [[o.id, 1, 8, 100, 100]]), Buffer.alloc(3)])],
      ['a count larger than its entries', (() => { const x = indexBytes(packHash, [[o.id, 1, 8, 100, 100]]); x.writeUInt32BE(0xffffffff, 40); return x; })()],
    ];
    for (const [why, bytes, name] of cases) {
      const store = await make();
      await store.put(`packs/${packHash}`, pack);
      await store.put(`index/${name ?? sha(bytes)}`, bytes);
      const b = new RemoteBackend(store);
      await assert.rejects(b.get(o.id), (e) => isCairnError(e, 'CORRUPT'), why);
      await assert.rejects(b.has(o.id), (e) => isCairnError(e, 'CORRUPT'), why);
    }
    // The same, well formed, is accepted.
    const store = await make();
    await store.put(`packs/${packHash}`, pack);
    const good = indexBytes(packHash, [[o.id, 1, 8, 100, 100]]);
    await store.put(`index/${sha(good)}`, good);
    assert.ok((await new RemoteBackend(store).get(o.id)).data.equals(o.data));
  });

  test(`${name}: an index that lies about an object's ID is caught on get`, async () => {
    const store = await make();
    const o = chunk(100);
    const pack = Buffer.concat([PACK_MAGIC, o.data]);
    const claimed = 'a'.repeat(64);
    const bytes = indexBytes(sha(pack), [[claimed, 1, 8, 100, 100]]);
    await store.put(`packs/${sha(pack)}`, pack);
    await store.put(`index/${sha(bytes)}`, bytes);
    await assert.rejects(new RemoteBackend(store).get(claimed), (e) => isCairnError(e, 'CORRUPT'));
  });

  test(`${name}: damaged refs are CORRUPT, a deleted ref can be created again`, async () => {
    const store = await make();
    const b = new RemoteBackend(store);
    const o = chunk(10);
    await b.put(o.id, 'chunk', o.data);
    await store.put('refs/exp/bad', Buffer.from('not an id\n'));
    await assert.rejects(b.refs.get('exp/bad'), (e) => isCairnError(e, 'CORRUPT') && e.fields.ref === 'exp/bad');
    await assert.rejects(b.refs.list('exp/'), (e) => isCairnError(e, 'CORRUPT'));
    await store.delete('refs/exp/bad');
    await b.refs.set('exp/a', o.id, null);
    await b.refs.delete('exp/a', o.id);
    assert.equal(await b.refs.get('exp/a'), null);
    assert.deepEqual(await b.refs.list(), []);
    await assert.rejects(b.refs.delete('exp/a'), (e) => isCairnError(e, 'NOT_FOUND'));
    await assert.rejects(b.refs.set('exp/a', o.id, o.id), (e) => isCairnError(e, 'CONFLICT'));
    await b.refs.set('exp/a', o.id, null);
    assert.equal(await b.refs.get('exp/a'), o.id);
    await assert.rejects(b.refs.get('../x'), (e) => isCairnError(e, 'BAD_INPUT'));
    await b.close();
  });

  test(`${name}: of 8 backends moving one ref by compare-and-swap exactly one wins`, async () => {
    const store = await make();
    const first = new RemoteBackend(store);
    const base = chunk(10);
    await first.put(base.id, 'chunk', base.data);
    await first.refs.set('exp/race', base.id, null);
    const racers = await Promise.all(Array.from({ length: 8 }, async () => new RemoteBackend(await reopen(store))));
    const mine = racers.map(() => chunk(20));
    const results = await Promise.allSettled(racers.map(async (r, i) => {
      await r.put(mine[i].id, 'chunk', mine[i].data);
      await r.refs.set('exp/race', mine[i].id, base.id);
    }));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    assert.equal(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'won'))));
    for (const r of results) if (r.status === 'rejected') assert.ok(isCairnError(r.reason, 'CONFLICT'), String(r.reason));
    assert.equal(await first.refs.get('exp/race'), mine[won[0]].id);
    // What the winner's ref names is durable and readable by anyone.
    assert.ok((await new RemoteBackend(await reopen(store)).get(mine[won[0]].id)).data.equals(mine[won[0]].data));
    await Promise.all([first, ...racers].map((r) => r.close()));
  });

  test(`${name}: refresh sees what another writer added; index objects are cached when asked`, async () => {
    const store = await make();
    const cacheDir = await tempDir();
    const reader = new RemoteBackend(await reopen(store), { cacheDir });
    const writer = new RemoteBackend(store);
    const a = chunk(100);
    assert.equal(await reader.has(a.id), false);
    await writer.put(a.id, 'chunk', a.data);
    await writer.flush();
    assert.equal(await reader.has(a.id), false, 'indexes are read once');
    reader.refresh();
    assert.equal(await reader.has(a.id), true);
    const cached = await readdir(join(cacheDir, 'index'));
    assert.deepEqual(cached, (await keys(store, 'index/')).map((k) => k.slice('index/'.length)));
    // A damaged cache entry is not trusted: the remote's copy is read again.
    await writeFile(join(cacheDir, 'index', cached[0]), 'junk');
    const again = new RemoteBackend(await reopen(store), { cacheDir });
    assert.ok((await again.get(a.id)).data.equals(a.data));
    assert.equal(sha(await readFile(join(cacheDir, 'index', cached[0]))), cached[0]);
  });
}

test('a pack write that fails surfaces on flush and a ref change, keeps its objects readable, and is tried again', async () => {
  const folder = new FolderBlobStore(await tempDir());
  let failures = 1;
  const flaky: BlobStore = Object.assign(Object.create(folder) as FolderBlobStore, {
    put: async (key: string, body: Buffer, cond?: Parameters<BlobStore['put']>[2]) => {
      if (key.startsWith('packs/') && failures-- > 0) throw new Error('network down');
      return folder.put(key, body, cond);
    },
  });
  const b = new RemoteBackend(flaky, { packSize: 64 * 1024 });
  const objs = Array.from({ length: 4 }, () => chunk(40 * 1024));
  for (const o of objs) await b.put(o.id, 'chunk', o.data);
  await assert.rejects(b.refs.set('exp/a', objs[0].id), /network down/);
  assert.equal(await b.refs.get('exp/a'), null, 'no ref names what is not durable');
  for (const o of objs) assert.ok((await b.get(o.id)).data.equals(o.data));
  await b.refs.set('exp/a', objs[0].id);
  const again = new RemoteBackend(new FolderBlobStore(folder.root));
  for (const o of objs) assert.ok((await again.get(o.id)).data.equals(o.data));
  assert.equal(await again.refs.get('exp/a'), objs[0].id);
});

test('index objects are published in put order, though a later pack uploads first', async () => {
  const folder = new FolderBlobStore(await tempDir());
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let packsWritten = 0;
  let firstPack = true;
  const indexOrder: string[] = [];
  const slow: BlobStore = Object.assign(Object.create(folder) as FolderBlobStore, {
    put: async (key: string, body: Buffer, cond?: Parameters<BlobStore['put']>[2]) => {
      if (key.startsWith('packs/') && firstPack) {
        firstPack = false;
        await gate;
      }
      const r = await folder.put(key, body, cond);
      if (key.startsWith('packs/')) packsWritten++;
      if (key.startsWith('index/')) indexOrder.push(body.subarray(8, 40).toString('hex'));
      return r;
    },
  });
  const b = new RemoteBackend(slow, { packSize: 64 * 1024 });
  // The first pack holds what the second one's objects link to; a push killed now must leave neither published.
  const objs = Array.from({ length: 3 }, () => chunk(40 * 1024));
  await b.put(objs[0].id, 'chunk', objs[0].data);
  await b.put(objs[1].id, 'chunk', objs[1].data);
  const flushing = b.flush();
  for (let i = 0; i < 200 && packsWritten < 1; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(packsWritten, 1, 'the second pack uploaded while the first was held');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await keys(folder, 'index/'), [], 'no index is published before the earlier pack is');
  release();
  await flushing;
  const packOrder: string[] = [];
  for (const o of objs.slice(0, 2)) {
    const again = new RemoteBackend(new FolderBlobStore(folder.root));
    assert.ok((await again.get(o.id)).data.equals(o.data));
  }
  for (const k of await keys(folder, 'packs/')) {
    const data = (await folder.get(k)).data;
    packOrder[data.subarray(8).equals(objs[0].data) ? 0 : 1] = k.slice('packs/'.length);
  }
  assert.deepEqual(indexOrder, packOrder);
  await b.close();
});

/** Another BlobStore on the same place, as another process would open it. */
async function reopen(store: BlobStore): Promise<BlobStore> {
  if (store instanceof FolderBlobStore) return new FolderBlobStore(store.root);
  const prefix = store.url.replace(/^s3:\/\/[^/]+\//, '');
  return s3Store(prefix);
}

hostileTests('folder', async () => new FolderBlobStore(await tempDir()));
describe('S3', { skip: skipS3 }, () => hostileTests('S3', () => s3Store()));

test('remote URLs: s3:// and file:// parse, anything else is BAD_INPUT', async () => {
  assert.deepEqual(parseRemoteUrl('s3://my-bucket/some/prefix/'), { kind: 's3', bucket: 'my-bucket', prefix: 'some/prefix' });
  assert.deepEqual(parseRemoteUrl('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseRemoteUrl('file:///mnt/shared/cairn'), { kind: 'file', path: '/mnt/shared/cairn' });
  for (const bad of ['', 'my-bucket', 'https://x/y', 's3://', 's3://Bad_Bucket/x', 's3://b', 's3://bucket/../x', 's3://bucket/a//b', 'file:relative', 'file://host/x', 'ftp://x/y']) {
    assert.throws(() => parseRemoteUrl(bad), (e) => isCairnError(e, 'BAD_INPUT'), bad);
    await assert.rejects(openRemote(bad), (e) => isCairnError(e, 'BAD_INPUT'), bad);
  }
  const dir = join(await tempDir(), 'new', 'remote');
  const r = await openRemote(pathToFileURL(dir).href);
  const o = chunk(10);
  await r.put(o.id, 'chunk', o.data);
  await r.close();
  assert.equal((await readdir(join(dir, 'packs'))).length, 1);
});
