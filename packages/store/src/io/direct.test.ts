import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { DirectWriter } from './direct.js';
import { arena, SLOT_DATA } from './arena.js';

/** Whether the filesystem of `dir` accepts O_DIRECT at all (tmpfs refuses it). */
async function directSupported(dir: string): Promise<boolean> {
  if (process.platform !== 'linux' || !constants.O_DIRECT) return false;
  const probe = join(dir, 'probe');
  const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT).catch(() => undefined);
  await fh?.close();
  return fh !== undefined;
}

/** Appends a mix of copied and arena-owned pieces (some at the right block offset, some not) and checks the file. */
async function roundTrip(direct: boolean, seed: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-direct-'));
  const old = process.env.CAIRN_NO_DIRECT_IO;
  if (direct) delete process.env.CAIRN_NO_DIRECT_IO;
  else process.env.CAIRN_NO_DIRECT_IO = '1';
  const A = arena();
  try {
    const path = join(dir, 'f');
    const out = await DirectWriter.create(path, 'wx');
    const expected: Buffer[] = [];
    let size = 0;
    let x = seed;
    const rand = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x % n;
    };
    for (let i = 0; i < 60; i++) {
      const kind = rand(4);
      const len = kind === 0 ? rand(5000) : kind === 1 ? rand(300_000) : 64 * 1024 + rand(SLOT_DATA - 64 * 1024);
      const data = randomBytes(len);
      if (kind < 2) {
        await out.append(data);
      } else {
        const slot = await A.take();
        // kind 2: at the file's block offset (written in place); kind 3: elsewhere (copied)
        const phase = kind === 2 ? size % 4096 : (size + 1 + rand(4000)) % 4096;
        const addr = A.addr(slot, phase);
        data.copy(A.view(addr, len));
        let released = 0;
        await out.appendOwned(addr, len, () => {
          released++;
          A.give(slot);
        });
        assert.ok(released <= 1);
      }
      expected.push(data);
      size += len;
      assert.equal(out.size, size);
    }
    await out.finish();
    // Without this, a writer that fell back to the page cache would pass unnoticed.
    assert.equal(out.directIO, direct && (await directSupported(dir)), 'direct I/O in effect exactly where the filesystem supports it');
    await out.fh.sync();
    await out.close();
    const got = await readFile(path);
    assert.equal(got.length, size);
    assert.ok(got.equals(Buffer.concat(expected)), 'file content');
    assert.equal(A.slotsInUse, 0, 'every arena slot given back');
  } finally {
    if (old === undefined) delete process.env.CAIRN_NO_DIRECT_IO;
    else process.env.CAIRN_NO_DIRECT_IO = old;
    await rm(dir, { recursive: true, force: true });
  }
}

test('a direct-written file holds exactly the bytes appended, copied or in place', async () => {
  await roundTrip(true, 1);
  await roundTrip(true, 2);
});

test('without direct I/O the same writes go through the page cache', async () => {
  await roundTrip(false, 3);
});

test('small and empty files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-direct-'));
  try {
    for (const n of [0, 1, 4095, 4096, 4097, 12_345]) {
      const path = join(dir, `f${n}`);
      const out = await DirectWriter.create(path, 'w');
      const data = randomBytes(n);
      await out.append(data);
      await out.finish();
      await out.close();
      assert.ok((await readFile(path)).equals(data), `${n} bytes`);
    }
    assert.equal(arena().slotsInUse, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
