// The store side of restore fidelity: holes through the direct writer and
// the arena restore path, and the store format marker (docs/FORMAT.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile, stat, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store, isCairnError } from './index.js';
import { DirectWriter } from './io/direct.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { makeSafetensors } from './testing/test-helpers.js';

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

for (const direct of [true, false]) {
  test(`DirectWriter.skip leaves holes that read back as zeros (direct I/O ${direct ? 'on' : 'off'})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-holes-'));
    const A = arena();
    const inUse = A.slotsInUse;
    try {
      await withDirectIo(direct, async () => {
        const path = join(dir, 'f');
        const out = await DirectWriter.create(path, 'wx');
        const parts: Buffer[] = [];
        let x = 12345;
        const rand = (n: number) => {
          x = (x * 1103515245 + 12345) >>> 0;
          return x % n;
        };
        let holeBytes = 0;
        for (let i = 0; i < 40; i++) {
          const kind = rand(4);
          if (kind === 0) {
            // Holes of every shape: inside a block, across blocks, many blocks.
            const len = [rand(100), 4096 - rand(10), 4096 * (1 + rand(8)) + rand(4096), 8 * 1024 * 1024 + rand(9000)][rand(4)];
            await out.skip(len);
            parts.push(Buffer.alloc(len));
            holeBytes += len;
          } else if (kind === 1) {
            const data = randomBytes(rand(20_000));
            await out.append(data);
            parts.push(data);
          } else {
            const len = 64 * 1024 + rand(SLOT_DATA - 64 * 1024);
            const slot = await A.take();
            const addr = A.addr(slot, out.size % 4096);
            const data = randomBytes(len);
            data.copy(A.view(addr, len));
            await out.appendOwned(addr, len, () => A.give(slot));
            parts.push(data);
          }
        }
        // It ends in a hole: the size is still the whole.
        await out.skip(5 * 1024 * 1024 + 7);
        parts.push(Buffer.alloc(5 * 1024 * 1024 + 7));
        holeBytes += 5 * 1024 * 1024 + 7;
        await out.finish();
        await out.close();
        const want = Buffer.concat(parts);
        const got = await readFile(path);
        assert.equal(got.length, want.length);
        assert.ok(got.equals(want), 'the bytes are the bytes appended, zeros where skipped');
        const st = await stat(path);
        assert.ok(st.blocks * 512 < want.length - holeBytes / 2, `holes are not allocated (${st.blocks * 512} of ${want.length} bytes, ${holeBytes} skipped)`);
      });
      assert.equal(A.slotsInUse, inUse, 'every arena slot is given back');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

for (const direct of [true, false]) {
  test(`zero chunks among data chunks restore as holes through the arena (direct I/O ${direct ? 'on' : 'off'})`, async () => {
    const work = await mkdtemp(join(tmpdir(), 'cairn-holes-'));
    const A = arena();
    const inUse = A.slotsInUse;
    try {
      // A safetensors file is cut at its tensors: 1 MiB tensors, every other one zeros, so a read run mixes both.
      const tensors = Array.from({ length: 24 }, (_, i) => ({ name: `t${String(i).padStart(2, '0')}`, elems: 256 * 1024 }));
      const { file, ranges } = makeSafetensors(tensors);
      for (const [name, [from, to]] of ranges) if (Number(name.slice(1)) % 2 === 1) file.fill(0, from, to);
      const src = join(work, 'model.safetensors');
      await writeFile(src, file);
      const dir = join(work, 'store');
      await Store.init(dir);
      const id = await Store.with(dir, (s) => s.putPath(src));
      const dest = join(work, 'out.safetensors');
      await withDirectIo(direct, () => Store.with(dir, (s) => s.getToPath(id, dest)));
      assert.ok((await readFile(dest)).equals(file));
      const st = await stat(dest);
      assert.ok(st.blocks * 512 < file.length * 0.6, `the zero tensors are holes (${st.blocks * 512} of ${file.length} bytes allocated)`);
      assert.equal(A.slotsInUse, inUse, 'every arena slot is given back');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** Every path under `dir` with its size and mtime: what "nothing written" compares. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    const st = await stat(p);
    out.push(`${p} ${e.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
  }
  return out.sort();
}

test('a store of any other format is refused with one FORMAT_VERSION error, and nothing is written to it', async () => {
  const work = await mkdtemp(join(tmpdir(), 'cairn-format-'));
  try {
    const dir = join(work, 'store');
    await Store.init(dir);
    assert.equal(await readFile(join(dir, 'CAIRN'), 'utf8'), 'cairn store\nformat 4\n');
    await Store.with(dir, (s) => s.putBuffer(Buffer.from('some data')));
    for (const [marker, format] of [['cairn store\nformat 2\n', 2], ['cairn store\n', 1], ['cairn store\nformat 5\n', 5]] as const) {
      await writeFile(join(dir, 'CAIRN'), marker);
      const before = await snapshot(dir);
      await assert.rejects(
        Store.open(dir),
        (e) => isCairnError(e, 'FORMAT_VERSION') && e.message.includes(`format ${format}`) && e.message.includes('formats 3 and 4') && !e.message.includes('\n') && !!e.hint,
      );
      // Refused before taking the lock or touching the index: the folder is as it was.
      assert.deepEqual(await snapshot(dir), before, `format ${format}`);
      assert.equal(await readFile(join(dir, 'CAIRN'), 'utf8'), marker);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
