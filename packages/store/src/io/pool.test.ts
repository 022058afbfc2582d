import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { readPool } from './pool.js';
import { arena } from './arena.js';
import { xxh64, initChecksum } from '../checksum.js';
import { pseudoRandom, withFile } from '../testing/test-helpers.js';
import { isCairnError } from '../errors.js';

test('the read pool reads ranges into the arena and hashes them there', async () => {
  await initChecksum();
  const data = pseudoRandom(3_000_000, 5);
  const pool = readPool();
  const A = arena();
  await withFile(data, async (fh) => {
    const slots = [await A.take(), await A.take()];
    try {
      // One job: two reads into one slot (at an odd offset), SHA-256 of all, XXH64 of three parts.
      const addr = A.addr(slots[0], 123);
      const r = await pool.run({
        reads: [
          { fd: fh.fd, pos: 10, len: 1000, addr },
          { fd: fh.fd, pos: 2_000_000, len: 500_000, addr: addr + 1000 },
        ],
        sha: { addr, len: 501_000 },
        xxh: [
          { addr, len: 1000 },
          { addr: addr + 1000, len: 7 },
          { addr: addr + 1007, len: 499_993 },
        ],
      });
      const got = Buffer.concat([data.subarray(10, 1010), data.subarray(2_000_000, 2_500_000)]);
      assert.ok(A.view(addr, got.length).equals(got));
      assert.deepEqual(r.sha, createHash('sha256').update(got).digest());
      assert.deepEqual(r.xxh, [xxh64(got.subarray(0, 1000)), xxh64(got.subarray(1000, 1007)), xxh64(got.subarray(1007))]);

      // Many jobs at once, spread over the threads.
      const jobs = Array.from({ length: 24 }, (_, i) =>
        pool.run({ reads: [{ fd: fh.fd, pos: i * 100_000, len: 100_000, addr: A.addr(slots[1], i * 100_000) }], sha: { addr: A.addr(slots[1], i * 100_000), len: 100_000 } }),
      );
      const results = await Promise.all(jobs);
      results.forEach((res, i) => assert.deepEqual(res.sha, createHash('sha256').update(data.subarray(i * 100_000, (i + 1) * 100_000)).digest()));

      // A read past the end of the file is an error, by default FAILED (the file changed).
      await assert.rejects(pool.run({ reads: [{ fd: fh.fd, pos: 2_999_000, len: 5000, addr }] }), (err: unknown) => isCairnError(err) && err.code === 'FAILED' && /ended at byte 3000000/.test(err.message));
      await assert.rejects(
        pool.run({ reads: [{ fd: fh.fd, pos: 2_999_000, len: 5000, addr }] }, (read, at) => new Error(`short ${read.len} ${at}`)),
        /short 5000 3000000/,
      );
      // A bad descriptor is the system's error.
      await assert.rejects(pool.run({ reads: [{ fd: 987654, pos: 0, len: 10, addr }] }), /EBADF|bad file descriptor/i);
    } finally {
      for (const s of slots) A.give(s);
    }
  });
});

test('the pool is sized by CAIRN_THREADS, else by the cores, and a bad value is one clear error', async () => {
  const { poolThreads, MAX_THREADS } = await import('./pool.js');
  const { availableParallelism } = await import('node:os');
  assert.equal(poolThreads({ CAIRN_THREADS: '1' }), 1);
  assert.equal(poolThreads({ CAIRN_THREADS: ' 16 ' }), 16);
  assert.equal(poolThreads({}), Math.max(2, Math.min(MAX_THREADS, availableParallelism())));
  for (const bad of ['0', '-2', 'four', '2.5', String(MAX_THREADS + 1)]) {
    assert.throws(() => poolThreads({ CAIRN_THREADS: bad }), (e: unknown) => isCairnError(e) && e.code === 'BAD_INPUT' && e.message.includes('CAIRN_THREADS'));
  }
});

test('a pool resized smaller retires idle threads and still runs jobs', async () => {
  const { ReadPool } = await import('./pool.js');
  const data = pseudoRandom(100_000, 9);
  const pool = new ReadPool(4);
  const A = arena();
  await withFile(data, async (fh) => {
    const slot = await A.take();
    try {
      const addr = A.addr(slot);
      const job = () => pool.run({ reads: [{ fd: fh.fd, pos: 0, len: data.length, addr }], sha: { addr, len: data.length } });
      await Promise.all([job(), job(), job(), job()]);
      pool.resize(1);
      assert.equal(pool.threadCount, 1);
      const r = await job();
      assert.deepEqual(r.sha, createHash('sha256').update(data).digest());
    } finally {
      A.give(slot);
    }
  });
});
