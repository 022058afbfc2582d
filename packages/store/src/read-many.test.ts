import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store, sha256, isCairnError, type ObjectId } from './index.js';
import { tempDir } from './testing/temp.js';
import { listPackFiles } from './packfiles.js';
import { arena } from './io/arena.js';

async function freshStore(): Promise<{ dir: string; work: string }> {
  const work = await tempDir('cairn-readmany-');
  const dir = join(work, 'store');
  await Store.init(dir);
  return { dir, work };
}

/** A store with two files' chunks, records, and a record larger than an arena slot; returns every object ID. */
async function populated(): Promise<{ dir: string; ids: ObjectId[] }> {
  const { dir, work } = await freshStore();
  await writeFile(join(work, 'a.bin'), randomBytes(9 * 1024 * 1024 + 123));
  await writeFile(join(work, 'b.bin'), randomBytes(3 * 1024 * 1024));
  const ids = await Store.with(dir, async (s) => {
    const a = await s.putFile(join(work, 'a.bin'));
    const b = await s.putFile(join(work, 'b.bin'));
    const r1 = await s.putRecord({ note: 'small' }, [a]);
    const big = await s.putRecord({ blob: randomBytes(5 * 1024 * 1024).toString('base64') }, [b]);
    return [...(await s.reachable([r1, big]))];
  });
  return { dir, ids };
}

test('readObjects returns every object in the asked order, as readObject does, and gives its memory back', async () => {
  const { dir, ids } = await populated();
  // An order unlike the packs': reversed, with an ID asked twice.
  const order = [...ids].reverse();
  order.splice(2, 0, order[0]);
  await Store.with(dir, async (s) => {
    const before = arena().slotsInUse;
    const got: Array<{ id: ObjectId; type: string; data: Buffer }> = [];
    for await (const batch of s.readObjects(order, { window: 2 })) {
      for (const o of batch.objects) got.push({ id: o.id, type: o.type, data: Buffer.from(o.data) });
      batch.release();
      batch.release(); // a second release does nothing
    }
    assert.deepEqual(
      got.map((o) => o.id),
      order,
    );
    for (const o of got) {
      const want = await s.readObject(o.id);
      assert.equal(o.type, want.type);
      assert.ok(o.data.equals(want.data), `bytes of ${o.id.slice(0, 8)}`);
      assert.equal(sha256(o.data).toString('hex'), o.id);
    }
    assert.ok(got.some((o) => o.data.length > 4.2 * 1024 * 1024), 'an object larger than an arena slot is included');
    assert.equal(arena().slotsInUse, before, 'every slot given back');
  });
});

test('readObjects gives slots back when the consumer stops early', async () => {
  const { dir, ids } = await populated();
  await Store.with(dir, async (s) => {
    const before = arena().slotsInUse;
    for await (const batch of s.readObjects(ids, { window: 4 })) {
      batch.release();
      break;
    }
    assert.equal(arena().slotsInUse, before);
  });
});

test('readObjects refuses a damaged object and an unknown ID', async () => {
  const { dir, ids } = await populated();
  const packs = await listPackFiles(join(dir, 'packs'));
  // Flip a byte in the middle of the largest pack: some blob's data.
  const largest = packs.reduce((x, y) => (y.size > x.size ? y : x));
  const fh = await open(largest.path, 'r+');
  const at = Math.floor(largest.size / 2);
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
  await Store.with(dir, async (s) => {
    const before = arena().slotsInUse;
    await assert.rejects(
      async () => {
        for await (const batch of s.readObjects(ids)) batch.release();
      },
      (err: unknown) => isCairnError(err, 'CORRUPT') && /checksum mismatch/.test((err as Error).message),
    );
    await assert.rejects(
      async () => {
        for await (const batch of s.readObjects(['ab'.repeat(32)])) batch.release();
      },
      (err: unknown) => isCairnError(err, 'NOT_FOUND'),
    );
    assert.equal(arena().slotsInUse, before);
  });
});

test('putObject of large objects (hashed on the read pool) checks IDs, skips duplicates, and stores bytes that read back', async () => {
  const src = await populated();
  const { dir } = await freshStore();
  const objects: Array<{ id: ObjectId; type: Parameters<Store['putObject']>[1]; data: Buffer }> = [];
  await Store.with(src.dir, async (s) => {
    for (const id of src.ids) {
      const o = await s.readObject(id);
      objects.push({ id, type: o.type, data: o.data });
    }
  });
  await Store.with(dir, async (s) => {
    const before = arena().slotsInUse;
    const big = objects.find((o) => o.data.length > 1024 * 1024)!;
    const tampered = Buffer.from(big.data);
    tampered[tampered.length >> 1] ^= 1;
    await assert.rejects(s.putObject(big.id, big.type, tampered), (err: unknown) => isCairnError(err, 'BAD_INPUT') && /does not match its ID/.test((err as Error).message));
    // Overlapping puts, as an importer makes them, each added once.
    const added = await Promise.all(objects.map((o) => s.putObject(o.id, o.type, o.data)));
    assert.ok(added.every((x) => x));
    assert.deepEqual(await Promise.all(objects.slice(0, 3).map((o) => s.putObject(o.id, o.type, o.data))), [false, false, false]);
    await s.flush();
    assert.equal(arena().slotsInUse, before, 'every slot given back');
  });
  await Store.with(dir, async (s) => {
    for (const o of objects) assert.ok((await s.readObject(o.id)).data.equals(o.data));
    const report = await s.verify({ readData: true });
    assert.equal(report.problems.length, 0, JSON.stringify(report.problems));
  });
});

test('copyObjectsTo writes each object at its position, checked; a deadline stops it between batches', async () => {
  const { dir, ids } = await populated();
  const { work } = await freshStore();
  const out = join(work, 'out.bin');
  await Store.with(dir, async (s) => {
    const sizes = await s.statMany(ids);
    // Gaps between the objects, as headers would leave in a container file.
    let pos = 100;
    const items = sizes.map((st) => {
      const item = { id: st.id, position: pos };
      pos += st.stored + 7;
      return item;
    });
    const fh = await open(out, 'w+');
    try {
      const progress: number[] = [];
      assert.equal(await s.copyObjectsTo(items, fh.fd, { window: 2, onCopied: (_n, bytes) => progress.push(bytes) }), items.length);
      assert.equal(
        progress.reduce((a, b) => a + b, 0),
        sizes.reduce((a, st) => a + st.stored, 0),
      );
      for (const [i, item] of items.entries()) {
        const want = (await s.readObject(item.id)).data;
        const got = Buffer.alloc(want.length);
        await fh.read(got, 0, got.length, item.position);
        assert.ok(got.equals(want), `object ${i} at ${item.position}`);
      }
      // A deadline already passed: one batch still goes, so a caller always makes progress.
      const n = await s.copyObjectsTo(items, fh.fd, { deadline: Date.now() - 1 });
      assert.ok(n >= 1 && n < items.length, `${n} of ${items.length}`);
    } finally {
      await fh.close();
    }
    assert.equal(arena().slotsInUse, 0);
  });
});
