import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isCairnError } from '@cairn/store';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from './blob-store.js';
import { FolderBlobStore } from './folder.js';
import { S3BlobStore } from './s3.js';
import { s3Env, s3Store, skipS3, tempDir, testBucket } from './testing/s3.js';
import { INCREMENTS, raceStep } from './testing/race.js';

const run = promisify(execFile);
const WRITERS = 8;

/** What one racer does: `create` puts create-only and says whether it won; `inc` adds 1 to a counter by compare-and-swap. */
type Race = (op: 'create' | 'inc', key: string, n: number) => Promise<string[]>;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function blobStoreTests(name: string, make: () => Promise<BlobStore>, race: (store: BlobStore) => Race): void {
  test(`${name}: put, get, head and delete`, async () => {
    const s = await make();
    const body = Buffer.from('some bytes');
    const { etag } = await s.put('a/b', body);
    const got = await s.get('a/b');
    assert.ok(got.data.equals(body));
    assert.equal(got.etag, etag);
    const head = await s.head('a/b');
    assert.equal(head?.size, body.length);
    assert.equal(head?.etag, etag);
    assert.ok(head!.modified instanceof Date);
    assert.equal(await s.head('a/c'), null);
    await assert.rejects(s.get('a/c'), (e) => isCairnError(e, 'NOT_FOUND'));
    await s.delete('a/b');
    await assert.rejects(s.get('a/b'), (e) => isCairnError(e, 'NOT_FOUND'));
    await s.close();
  });

  test(`${name}: keys that could escape or name internals are refused`, async () => {
    const s = await make();
    for (const key of ['', '../x', 'a/../b', '.tmp/x', 'a//b', '/a', 'a/', 'a b']) {
      await assert.rejects(s.put(key, Buffer.from('x')), (e) => isCairnError(e, 'BAD_INPUT'), JSON.stringify(key));
    }
    await s.close();
  });

  test(`${name}: create-only and if-match puts`, async () => {
    const s = await make();
    const first = await s.put('k', Buffer.from('one'), { ifNoneMatch: true });
    await assert.rejects(s.put('k', Buffer.from('two'), { ifNoneMatch: true }), (e) => isCairnError(e, 'CONFLICT'));
    assert.equal((await s.get('k')).data.toString(), 'one');
    const second = await s.put('k', Buffer.from('two'), { ifMatch: first.etag });
    await assert.rejects(s.put('k', Buffer.from('three'), { ifMatch: first.etag }), (e) => isCairnError(e, 'CONFLICT'));
    assert.equal((await s.get('k')).data.toString(), 'two');
    await s.put('k', Buffer.from('three'), { ifMatch: second.etag });
    assert.equal((await s.get('k')).data.toString(), 'three');
    await assert.rejects(s.put('missing', Buffer.from('x'), { ifMatch: first.etag }), (e) => isCairnError(e, 'CONFLICT'));
    assert.equal(await s.head('missing'), null);
    await s.close();
  });

  test(`${name}: ranges`, async () => {
    const s = await make();
    const body = randomBytes(1000);
    await s.put('r', body);
    assert.ok((await s.get('r', { offset: 100, length: 50 })).data.equals(body.subarray(100, 150)));
    assert.ok((await s.get('r', { offset: 0, length: 1000 })).data.equals(body));
    assert.ok((await s.get('r', { offset: 990, length: 50 })).data.equals(body.subarray(990)), 'a range past the end gives what is there');
    assert.equal((await s.get('r', { offset: 2000, length: 10 })).data.length, 0);
    assert.equal((await s.get('r', { offset: 10, length: 0 })).data.length, 0);
    await s.close();
  });

  test(`${name}: listing by prefix`, async () => {
    const s = await make();
    for (const [k, n] of [['a/b/c', 1], ['a/b/d', 2], ['a/e', 3], ['f', 4], ['ab', 5]] as const) await s.put(k, Buffer.alloc(n));
    const keys = async (p: string) => (await collect(s.list(p))).map((b) => `${b.key}:${b.size}`).sort();
    assert.deepEqual(await keys('a/'), ['a/b/c:1', 'a/b/d:2', 'a/e:3']);
    assert.deepEqual(await keys('a/b'), ['a/b/c:1', 'a/b/d:2']);
    assert.deepEqual(await keys('a'), ['a/b/c:1', 'a/b/d:2', 'a/e:3', 'ab:5']);
    assert.deepEqual(await keys(''), ['a/b/c:1', 'a/b/d:2', 'a/e:3', 'ab:5', 'f:4']);
    assert.deepEqual(await keys('zzz/'), []);
    for (const b of await collect(s.list('a/'))) assert.ok(b.modified instanceof Date);
    await s.close();
  });

  test(`${name}: of ${WRITERS} racing create-only writers exactly one wins`, async () => {
    const s = await make();
    for (let round = 0; round < 3; round++) {
      const results = await race(s)('create', `race/${round}`, WRITERS);
      assert.equal(results.filter((r) => r === 'won').length, 1, results.join(' '));
      assert.equal(results.filter((r) => r === 'lost').length, WRITERS - 1, results.join(' '));
      assert.match((await s.get(`race/${round}`)).data.toString(), /^writer \d+ /);
    }
    await s.close();
  });

  test(`${name}: ${WRITERS} writers adding to a counter by if-match lose no update`, async () => {
    const s = await make();
    const results = await race(s)('inc', 'counter', WRITERS);
    assert.deepEqual(results, Array(WRITERS).fill('done'));
    assert.equal(Number((await s.get('counter')).data.toString().split(' ')[0]), WRITERS * INCREMENTS);
    await s.close();
  });
}

// Folder racers are separate processes: the atomicity promised is between processes on one machine or mount.
const FOLDER_JS = new URL('./folder.js', import.meta.url).href;
const RACE_JS = new URL('./testing/race.js', import.meta.url).href;
const folderRace = (root: string): Race => async (op, key, n) => {
  const script = `
    const { FolderBlobStore } = await import(${JSON.stringify(FOLDER_JS)});
    const { raceStep } = await import(${JSON.stringify(RACE_JS)});
    process.stdout.write(await raceStep(new FolderBlobStore(process.argv[1]), process.argv[2], process.argv[3], Number(process.argv[4])));`;
  const runs = Array.from({ length: n }, (_, i) =>
    run(process.execPath, ['--input-type=module', '-e', script, root, op, key, String(i)]),
  );
  return (await Promise.all(runs)).map((r) => r.stdout.trim());
};

blobStoreTests('folder', async () => new FolderBlobStore(await tempDir()), (s) => folderRace((s as FolderBlobStore).root));

test('folder: a stale lock left by a dead process is broken', async () => {
  const root = await tempDir();
  const s = new FolderBlobStore(root);
  const { etag } = await s.put('k', Buffer.from('one'));
  const lock = join(root, '.locks', createHash('sha256').update('k').digest('hex').slice(0, 32));
  await mkdir(join(root, '.locks'), { recursive: true });
  await writeFile(lock, '999999 elsewhere\n');
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
  await s.put('k', Buffer.from('two'), { ifMatch: etag });
  assert.equal((await s.get('k')).data.toString(), 'two');
});

test('folder: temp files a killed writer left are removed by the next writer, fresh ones are not', async () => {
  const root = await tempDir();
  await mkdir(join(root, '.tmp'), { recursive: true });
  const old = join(root, '.tmp', 'old');
  const fresh = join(root, '.tmp', 'fresh');
  await writeFile(old, 'x');
  await writeFile(fresh, 'x');
  const long = new Date(Date.now() - 2 * 3600_000);
  await utimes(old, long, long);
  await new FolderBlobStore(root).put('k', Buffer.from('v'));
  assert.deepEqual((await readdir(join(root, '.tmp'))).sort(), ['fresh']);
});

test('folder: temp files and locks are not listed', async () => {
  const root = await tempDir();
  const s = new FolderBlobStore(root);
  const { etag } = await s.put('k', Buffer.from('one'));
  await s.put('k', Buffer.from('two'), { ifMatch: etag });
  assert.deepEqual((await collect(s.list(''))).map((b) => b.key), ['k']);
});

describe('S3', { skip: skipS3 }, () => {
  blobStoreTests('S3', () => s3Store(), (s) => async (op, key, n) => {
    // Each racer with its own client (own connections), as separate machines would be.
    const stores = await Promise.all(Array.from({ length: n }, () => S3BlobStore.open({ bucket: (s as unknown as { bucket: string }).bucket, prefix: s.url.split('/').slice(3).join('/'), env: s3Env })));
    try {
      return await Promise.all(stores.map((st, i) => raceStep(st, op, key, i)));
    } finally {
      await Promise.all(stores.map((st) => st.close()));
    }
  });

  /** Makes the store's PutObject answer HTTP 500 (after sending it when `send`), as radosgw does for some lost races. */
  function failPuts(s: S3BlobStore, send: boolean): void {
    const client = (s as unknown as { client: S3Client }).client;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'PutObjectCommand') return next(args);
        if (send) await next(args);
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), { name: 'InternalError', $metadata: { httpStatusCode: 500, attempts: 1 } });
      },
      { step: 'finalizeRequest', name: 'cairnFail500' },
    );
  }

  test('S3: a 500 on a conditional put is resolved by reading back: own bytes there is success, others a conflict', async () => {
    const prefix = randomBytes(6).toString('hex');
    const landed = await s3Store(prefix);
    failPuts(landed, true);
    const mine = Buffer.from(`mine ${randomBytes(8).toString('hex')}`);
    const { etag } = await landed.put('k', mine, { ifNoneMatch: true });
    assert.ok(etag);
    const next = Buffer.from(`next ${randomBytes(8).toString('hex')}`);
    await landed.put('k', next, { ifMatch: etag });
    const plain = await s3Store(prefix);
    assert.ok((await plain.get('k')).data.equals(next));

    const lost = await s3Store(prefix);
    failPuts(lost, false);
    await assert.rejects(lost.put('k', Buffer.from('other'), { ifNoneMatch: true }), (e) => isCairnError(e, 'CONFLICT'));
    await assert.rejects(lost.put('k', Buffer.from('other'), { ifMatch: (await plain.head('k'))!.etag }), (e) => isCairnError(e, 'CONFLICT'));
    // Nothing there and a 500: the write did not happen, and that is not a conflict.
    await assert.rejects(lost.put('nothing', Buffer.from('x'), { ifNoneMatch: true }), (e) => isCairnError(e, 'REMOTE') && /HTTP 500/.test(e.message));
    assert.ok((await plain.get('k')).data.equals(next));
    for (const st of [landed, plain, lost]) await st.close();
  });

  test('S3: failures name the remote and the HTTP status, never the secret', async () => {
    const bucket = await testBucket();
    const wrong = await S3BlobStore.open({ bucket, prefix: 'p', env: { ...s3Env, AWS_SECRET_ACCESS_KEY: 'not-the-secret-xyz' } });
    await assert.rejects(wrong.put('k', Buffer.from('x')), (e) => {
      assert.ok(isCairnError(e, 'REMOTE'), String(e));
      assert.match(e.message, new RegExp(`s3://${bucket}/p`));
      assert.match(e.message, /HTTP 403/);
      assert.equal(e.fields.found, 403);
      assert.doesNotMatch(JSON.stringify(e.toJSON()) + e.message, /not-the-secret-xyz|testsecret/);
      return true;
    });
    await wrong.close();
    // A missing bucket answers 404 like a missing key, but is not a missing key: a ref read there must fail, not read as absent.
    const nowhere = await S3BlobStore.open({ bucket: `${bucket}-missing`, prefix: 'p', env: s3Env });
    await assert.rejects(nowhere.get('refs/exp/a'), (e) => isCairnError(e, 'REMOTE') && /HTTP 404/.test(e.message) && /NoSuchBucket/.test(e.message) && /create the bucket/.test(e.hint ?? ''));
    await nowhere.close();
    const nobody = await S3BlobStore.open({ bucket, prefix: '', env: { ...s3Env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' } });
    await assert.rejects(nobody.head('k'), (e) => isCairnError(e, 'REMOTE') && e.message.includes(`s3://${bucket}`));
    await nobody.close();
  });
});
