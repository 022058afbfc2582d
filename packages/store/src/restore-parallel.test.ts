// Large files restored in parallel (restore.ts writeParallel): runs of
// chunks read and verified on the pool's threads (or on the main thread
// until they have started) and written at their place in any order. The
// file must still be exact, have its holes and mode, appear only whole, and
// leave no arena slot taken, whatever fails in the middle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Store } from './store.js';
import { isCairnError } from './errors.js';
import { poolWarmForTests } from './restore.js';
import { arena } from './io/arena.js';
import { makeSafetensors, type TestTensor } from './testing/test-helpers.js';

const MiB = 1024 * 1024;

/** ~40 MiB of tensors of many sizes (so runs end at many offsets within a block), every third one zeros. */
function model(): { file: Buffer; zeroBytes: number } {
  const t: TestTensor[] = [];
  for (let i = 0; i < 36; i++) t.push({ name: `t${String(i).padStart(2, '0')}`, elems: (MiB + 4100 * i) / 4 });
  const { file, ranges } = makeSafetensors(t);
  let zeroBytes = 0;
  for (const [name, [from, to]] of ranges) {
    if (Number(name.slice(1)) % 3 === 1) {
      file.fill(0, from, to);
      zeroBytes += to - from;
    }
  }
  assert.ok(file.length > 32 * MiB);
  return { file, zeroBytes };
}

async function withDirectIo<T>(direct: boolean, fn: () => Promise<T>): Promise<T> {
  const old = process.env.CAIRN_NO_DIRECT_IO;
  if (!direct) process.env.CAIRN_NO_DIRECT_IO = '1';
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env.CAIRN_NO_DIRECT_IO;
    else process.env.CAIRN_NO_DIRECT_IO = old;
  }
}

async function packFiles(dir: string): Promise<string[]> {
  const packs: string[] = [];
  for (const sub of await readdir(join(dir, 'packs'))) {
    if (sub === 'tmp') continue;
    for (const f of await readdir(join(dir, 'packs', sub))) if (f.endsWith('.pack')) packs.push(join(dir, 'packs', sub, f));
  }
  return packs;
}

for (const direct of [true, false]) {
  for (const cold of [true, false]) {
    test(`a large file restores exactly, with its holes and mode, in parallel (direct I/O ${direct ? 'on' : 'off'}, pool ${cold ? 'starting' : 'warm'})`, async () => {
      const work = await mkdtemp(join(tmpdir(), 'cairn-par-'));
      try {
        const { file, zeroBytes } = model();
        const src = join(work, 'model.safetensors');
        await writeFile(src, file, { mode: 0o640 });
        const dir = join(work, 'store');
        await Store.init(dir);
        const id = await Store.with(dir, (s) => s.putPath(src));
        const dest = join(work, 'out', 'model.safetensors');
        await withDirectIo(direct, () =>
          Store.with(dir, async (s) => {
            poolWarmForTests(!cold);
            await s.getToPath(id, dest);
          }),
        );
        assert.ok((await readFile(dest)).equals(file), 'restored bytes are exact');
        const st = await stat(dest);
        assert.equal(st.mode & 0o777, 0o640);
        assert.ok(st.blocks * 512 < file.length - zeroBytes / 2, `the zero tensors are holes (${st.blocks * 512} of ${file.length} bytes allocated)`);
        assert.deepEqual(await readdir(join(work, 'out')), ['model.safetensors'], 'no temp file left');
        assert.equal(arena().slotsInUse, 0, 'every arena slot is given back');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }
}

/** A stored large file, and a destination that already holds other content (which a failed restore must leave as it was). */
async function damagedSetup(): Promise<{ work: string; dir: string; id: string; dest: string; pack: string; size: number }> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-par-'));
  const { file } = model();
  const src = join(work, 'model.safetensors');
  await writeFile(src, file);
  const dir = join(work, 'store');
  await Store.init(dir);
  const id = await Store.with(dir, (s) => s.putPath(src));
  await rm(src);
  const dest = join(work, 'out', 'model.safetensors');
  await Store.with(dir, (s) => s.getToPath(id, dest));
  await writeFile(dest, 'the previous version');
  const packs = await packFiles(dir);
  const sizes = await Promise.all(packs.map(async (p) => (await stat(p)).size));
  const size = Math.max(...sizes);
  return { work, dir, id, dest, pack: packs[sizes.indexOf(size)], size };
}

async function assertNothingReplaced(work: string, dest: string): Promise<void> {
  assert.deepEqual(await readdir(join(work, 'out')), ['model.safetensors'], 'no temp or partial file left');
  assert.equal(await readFile(dest, 'utf8'), 'the previous version', 'the destination is untouched');
  assert.equal(arena().slotsInUse, 0, 'every arena slot is given back');
}

for (const direct of [true, false]) {
  for (const cold of [true, false]) {
    test(`a damaged chunk in the middle of a parallel restore fails it, naming the pack, and leaves no partial file (direct I/O ${direct ? 'on' : 'off'}, pool ${cold ? 'starting' : 'warm'})`, async () => {
      const { work, dir, id, dest, pack, size } = await damagedSetup();
      try {
        const fh = await open(pack, 'r+');
        const at = Math.floor(size / 2);
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, at);
        b[0] ^= 0x40;
        await fh.write(b, 0, 1, at);
        await fh.close();
        const packId = basename(pack, '.pack');
        await withDirectIo(direct, () =>
          Store.with(dir, async (s) => {
            poolWarmForTests(!cold);
            await assert.rejects(s.getToPath(id, dest), (err: unknown) => isCairnError(err) && err.code === 'CORRUPT' && /checksum mismatch/.test(err.message) && err.message.includes(packId));
          }),
        );
        await assertNothingReplaced(work, dest);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }
}

test('a pack cut short under a parallel restore fails it, naming the pack, and leaves no partial file', async () => {
  const { work, dir, id, dest, pack, size } = await damagedSetup();
  try {
    await truncate(pack, Math.floor(size / 2));
    const packId = basename(pack, '.pack');
    for (const warm of [true, false]) {
      await Store.with(dir, async (s) => {
        poolWarmForTests(warm);
        await assert.rejects(s.getToPath(id, dest), (err: unknown) => isCairnError(err) && err.code === 'CORRUPT' && err.message.includes(packId));
      });
    }
    await assertNothingReplaced(work, dest);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
