import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import type { ObjectId } from '@cairn/store';
import type { BlobStore } from './blob-store.js';
import { FolderBlobStore } from './folder.js';
import { collectRemote, parseDuration, type RemoteWalk } from './gc.js';
import { RemoteBackend } from './remote-backend.js';
import { s3Store, skipS3, tempDir } from './testing/s3.js';

const HOUR = 3_600_000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function chunk(): { id: string; data: Buffer } {
  const data = randomBytes(1000);
  return { id: sha(data), data };
}

async function keys(store: BlobStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list(prefix)) out.push(b.key);
  return out.sort();
}

/** The pack layer only: objects are chunks, and which one "links" to which is this map (the record walk is the caller's). */
function walkOf(links: Map<ObjectId, ObjectId[]>): RemoteWalk {
  return async (roots, seen) => {
    const todo = roots.map((r) => r.id);
    for (let id = todo.pop(); id; id = todo.pop()) {
      seen.add(id);
      for (const l of links.get(id) ?? []) if (!seen.has(l)) todo.push(l);
    }
  };
}

function gcTests(name: string, make: () => Promise<BlobStore>): void {
  test(`${name}: unreachable packs are condemned, deleted a grace later, and a removed ref's tombstone goes`, async () => {
    const store = await make();
    const [a, b, c] = [chunk(), chunk(), chunk()];
    const links = new Map([[a.id, [b.id]]]);
    const w = new RemoteBackend(store);
    await w.put(c.id, 'chunk', c.data);
    await w.refs.set('exp/gone', c.id);
    await w.put(b.id, 'chunk', b.data);
    await w.put(a.id, 'chunk', a.data);
    await w.refs.set('exp/kept', a.id);
    await w.refs.delete('exp/gone');
    await w.close();
    const packsBefore = await keys(store, 'packs/');
    assert.equal(packsBefore.length, 2);

    const run = async (ahead: number, dryRun = false) => {
      const g = new RemoteBackend(store);
      const r = await collectRemote(g, { graceMs: HOUR, dryRun, now: () => Date.now() + ahead, walk: walkOf(links) });
      return r;
    };
    assert.equal((await run(0)).packsCondemned, 0, 'young packs stay');
    const first = await run(2 * HOUR);
    assert.deepEqual([first.packsCondemned, first.packsDeleted, first.tombstonesRemoved], [1, 0, 1]);
    assert.equal((await keys(store, 'condemned/')).length, 1);
    assert.deepEqual(await keys(store, 'refs/'), ['refs/exp/kept']);
    const reader = new RemoteBackend(store);
    assert.equal(await reader.has(c.id), false, 'a condemned pack reads as absent to writers');
    assert.ok((await reader.get(c.id)).data.equals(c.data), 'but is still readable');
    const dry = await run(4 * HOUR, true);
    assert.deepEqual([dry.packsDeleted, dry.objectsFreed], [1, 1]);
    assert.equal((await keys(store, 'packs/')).length, 2, 'a dry run deletes nothing');
    const second = await run(4 * HOUR);
    assert.deepEqual({ ...second, dryRun: true }, dry);
    assert.equal((await keys(store, 'packs/')).length, 1);
    assert.deepEqual(await keys(store, 'condemned/'), []);
    const after = new RemoteBackend(store);
    assert.equal(await after.has(c.id), false);
    for (const o of [a, b]) assert.ok((await after.get(o.id)).data.equals(o.data));
  });

  test(`${name}: a condemned pack that a ref reaches again is un-condemned; --grace 0s frees in one run`, async () => {
    const store = await make();
    const [a, c] = [chunk(), chunk()];
    const w = new RemoteBackend(store);
    await w.put(c.id, 'chunk', c.data);
    await w.flush();
    await w.put(a.id, 'chunk', a.data);
    await w.refs.set('exp/a', a.id);
    await w.close();
    const walk = walkOf(new Map());
    const first = await collectRemote(new RemoteBackend(store), { graceMs: HOUR, now: () => Date.now() + 2 * HOUR, walk });
    assert.equal(first.packsCondemned, 1);
    await new RemoteBackend(store).refs.set('exp/c', c.id);
    const again = await collectRemote(new RemoteBackend(store), { graceMs: HOUR, now: () => Date.now() + 4 * HOUR, walk });
    assert.deepEqual([again.packsRestored, again.packsDeleted], [1, 0]);
    assert.deepEqual(await keys(store, 'condemned/'), []);
    await new RemoteBackend(store).refs.delete('exp/c');
    const now = await collectRemote(new RemoteBackend(store), { graceMs: 0, walk });
    assert.deepEqual([now.packsDeleted, now.objectsFreed, now.tombstonesRemoved], [1, 1, 1]);
    assert.equal((await keys(store, 'packs/')).length, 1);
  });
}

test('durations', () => {
  assert.equal(parseDuration('24h'), 24 * HOUR);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(parseDuration('7d'), 7 * 24 * HOUR);
  assert.throws(() => parseDuration('soon'), /not a duration/);
  assert.throws(() => parseDuration('-1h'), /not a duration/);
});

gcTests('folder', async () => new FolderBlobStore(await tempDir()));
describe('S3', { skip: skipS3 }, () => gcTests('S3', () => s3Store()));
