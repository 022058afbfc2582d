import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { cdcCuts } from './gear.js';
import { chunkFile, chunkStream, type ChunkerOptions } from './index.js';
import { KiB, MiB, resolveOptions } from './options.js';
import { collect, cutsOf, makeSafetensors, withFile } from '../testing/test-helpers.js';

const SIZES = [0, 1, 2, 3, 4095, 65537, 1_000_003, 5 * MiB + 7, 17 * MiB + 3];

async function* pieces(data: Buffer, seed: number): AsyncGenerator<Uint8Array> {
  let s = seed;
  for (let pos = 0; pos < data.length; ) {
    s = (s * 1103515245 + 12345) >>> 0;
    const n = Math.min(data.length - pos, s % 3 === 0 ? 1 + (s % 17) : 1 + (s % (3 * MiB)));
    // Plain Uint8Arrays at odd offsets, not Buffers.
    yield new Uint8Array(data.buffer, data.byteOffset + pos, n);
    pos += n;
  }
}

test('chunkFile reproduces the file exactly', async () => {
  for (const size of SIZES) {
    const data = randomBytes(size);
    for (const opts of [undefined, { readSize: 1 * MiB + 1 }] as (ChunkerOptions | undefined)[]) {
      const chunks = await withFile(data, (fh, n) => collect(chunkFile(fh, n, opts)));
      assert.ok(Buffer.concat(chunks).equals(data), `size ${size}`);
      assert.ok(chunks.every((c) => c.length > 0));
      // Not a known format, so CDC: the same cuts whatever the read size.
      assert.deepEqual(cutsOf(chunks), size ? cdcCuts(data, resolveOptions()) : []);
    }
  }
});

test('chunkStream reproduces the input exactly, with the same cuts as chunkFile', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-chunker-'));
  try {
    for (const [i, size] of SIZES.entries()) {
      const data = randomBytes(size);
      const expected = size ? cdcCuts(data, resolveOptions()) : [];
      const path = join(dir, `f${i}`);
      await writeFile(path, data);
      const inputs: [string, () => AsyncIterable<Uint8Array> | Readable][] = [
        ['async iterable', () => pieces(data, i + 1)],
        ['Readable.from', () => Readable.from([data.subarray(0, size >> 1), data.subarray(size >> 1)])],
        ['file stream', () => createReadStream(path, { highWaterMark: 64 * KiB })],
      ];
      for (const [what, input] of inputs) {
        const chunks = await collect(chunkStream(input()));
        assert.ok(Buffer.concat(chunks).equals(data), `${what}, size ${size}`);
        assert.deepEqual(cutsOf(chunks), expected, `${what}, size ${size}`);
      }
      const small = await collect(chunkStream(pieces(data, 5), { readSize: 100_003 }));
      assert.deepEqual(cutsOf(small), expected);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('chunks stay intact when the producer reuses its buffer', async () => {
  const data = randomBytes(9 * MiB + 11);
  async function* reusing(): AsyncGenerator<Uint8Array> {
    const buf = new Uint8Array(256 * KiB);
    for (let pos = 0; pos < data.length; pos += buf.length) {
      const n = Math.min(buf.length, data.length - pos);
      buf.set(data.subarray(pos, pos + n));
      yield buf.subarray(0, n);
      buf.fill(0xee);
    }
  }
  const chunks = await collect(chunkStream(reusing(), { readSize: 1 * MiB }));
  assert.ok(Buffer.concat(chunks).equals(data));
});

test('chunks handed out earlier are not overwritten by later reads', async () => {
  const data = randomBytes(20 * MiB + 1);
  await withFile(data, async (fh, size) => {
    const held: Buffer[] = [];
    for await (const c of chunkFile(fh, size, { readSize: 2 * MiB })) held.push(c);
    assert.ok(Buffer.concat(held).equals(data));
  });
});

test('a safetensors file streams through chunkStream as plain CDC', async () => {
  const { file } = makeSafetensors([{ name: 'w', elems: 2 * MiB }, { name: 'b', elems: 10 }]);
  const chunks = await collect(chunkStream(Readable.from([file])));
  assert.ok(Buffer.concat(chunks).equals(file));
  assert.deepEqual(cutsOf(chunks), cdcCuts(file, resolveOptions()));
});

test('a file that shrinks while being read is an error, not a short result', async () => {
  const data = randomBytes(3 * MiB);
  await assert.rejects(
    withFile(data, (fh) => collect(chunkFile(fh, data.length + 10))),
    (e: unknown) => isCairnError(e, 'FAILED'),
  );
});

test('option defaults and validation', async () => {
  assert.deepEqual(resolveOptions(), { minSize: 256 * KiB, avgSize: 1 * MiB, maxSize: 4 * MiB, readSize: 8 * MiB });
  assert.deepEqual(resolveOptions({ avgSize: 64 * KiB }), { minSize: 16 * KiB, avgSize: 64 * KiB, maxSize: 256 * KiB, readSize: 8 * MiB });
  for (const bad of [{ minSize: 2 * MiB }, { maxSize: 1000 }, { readSize: 0 }, { avgSize: 1.5 }] as ChunkerOptions[]) {
    assert.throws(() => resolveOptions(bad), (e: unknown) => isCairnError(e, 'BAD_INPUT'), JSON.stringify(bad));
  }
  const gen = chunkStream(pieces(Buffer.alloc(10), 1), { minSize: 10, avgSize: 5 });
  await assert.rejects(gen.next(), (e: unknown) => isCairnError(e, 'BAD_INPUT'));
});

test('text streams are refused', async () => {
  const r = Readable.from(['some text']);
  await assert.rejects(collect(chunkStream(r)), TypeError);
});

test('a consumer may stop early (the read-ahead is dropped quietly)', async () => {
  const data = randomBytes(6 * MiB);
  await withFile(data, async (fh, size) => {
    for await (const c of chunkFile(fh, size, { readSize: 1 * MiB })) {
      assert.ok(c.length > 0);
      break;
    }
  });
  await new Promise((r) => setTimeout(r, 50));
});
