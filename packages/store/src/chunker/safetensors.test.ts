import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cdcCuts } from './gear.js';
import { chunkFile } from './index.js';
import { KiB, MiB, resolveOptions } from './options.js';
import { parseSafetensors } from './safetensors.js';
import { BufferSource } from './source.js';
import { collect, cutsOf, makeSafetensors, withFile, type TestTensor } from '../testing/test-helpers.js';

const OPTS = resolveOptions();

function layout(): TestTensor[] {
  const t: TestTensor[] = [
    { name: 'embed.weight', elems: (6 * MiB + 100) / 4, shape: [(6 * MiB + 100) / 4] }, // > maxSize, not a multiple of it
    { name: 'layer0.weight', elems: (1 * MiB) / 4 },
  ];
  for (let i = 0; i < 300; i++) t.push({ name: `layer0.bias${i}`, elems: 16 + ((i * 37) % 700) });
  t.push({ name: 'layer1.weight', elems: (9 * MiB) / 4, shape: [1024, (9 * MiB) / 4 / 1024] });
  t.push({ name: 'layer1.bias', elems: 1024 });
  t.push({ name: 'norm.weight', elems: (300 * KiB) / 4 });
  t.push({ name: 'empty', elems: 0, shape: [0, 5] });
  t.push({ name: 'head.weight', elems: (5 * MiB) / 4 });
  return t;
}

async function chunksOf(file: Buffer, readSize?: number): Promise<Buffer[]> {
  return withFile(file, (fh, size) => collect(chunkFile(fh, size, { readSize })));
}

test('the parser finds the header and every tensor', async () => {
  const { file, ranges, headerLen } = makeSafetensors(layout());
  const segs = await parseSafetensors(new BufferSource(file));
  assert.ok(segs);
  assert.deepEqual(segs[0], { start: 0, end: headerLen, solo: true });
  const expected = [...ranges.values()].map(([start, end]) => ({ start, end }));
  assert.deepEqual(segs.slice(1), expected);
});

test('cuts fall on tensor boundaries (or fixed splits inside large tensors)', async () => {
  const { file, ranges, headerLen } = makeSafetensors(layout());
  for (const readSize of [undefined, 1 * MiB + 3]) {
    const chunks = await chunksOf(file, readSize);
    assert.ok(Buffer.concat(chunks).equals(file));
    const cuts = cutsOf(chunks);
    assert.equal(cuts[0], headerLen, 'the header is its own chunk');
    const allowed = new Set([headerLen, file.length]);
    for (const [a, b] of ranges.values()) {
      allowed.add(a).add(b);
      for (let at = a + OPTS.maxSize; at < b; at += OPTS.maxSize) allowed.add(at);
    }
    for (const c of cuts) assert.ok(allowed.has(c), `cut ${c} is not on a tensor boundary`);
    for (const [name, [a, b]] of ranges) {
      if (b - a >= OPTS.minSize) assert.ok(cuts.includes(a) && cuts.includes(b), `${name} is not cut out`);
    }
    const sizes = chunks.map((c) => c.length);
    assert.ok(Math.max(...sizes) <= OPTS.maxSize);
    // 300 small biases merge into far fewer chunks.
    assert.ok(chunks.length < 40, `${chunks.length} chunks`);
  }
});

test('changing one tensor changes only the chunks covering it', async () => {
  const { file, ranges } = makeSafetensors(layout());
  const before = await chunksOf(file);
  const cuts = cutsOf(before);
  for (const name of ['layer1.weight', 'layer0.bias17', 'head.weight']) {
    const [a, b] = ranges.get(name)!;
    const edited = Buffer.from(file);
    // One byte near the end of the tensor: for a split tensor only its last piece changes.
    edited[b - 3] ^= 0xff;
    const after = await chunksOf(edited);
    assert.deepEqual(cutsOf(after), cuts);
    let changed = 0;
    for (let i = 0; i < before.length; i++) {
      const start = i ? cuts[i - 1] : 0;
      const overlaps = start < b && cuts[i] > a;
      if (!before[i].equals(after[i])) {
        changed++;
        assert.ok(overlaps, `chunk ${i} changed but does not cover ${name}`);
      }
    }
    assert.equal(changed, 1, name);
  }
});

test('a corrupted header falls back to CDC without throwing', async () => {
  const { file, headerLen } = makeSafetensors(layout());
  const variants: Buffer[] = [];
  const broken = Buffer.from(file);
  broken[headerLen - 20] = 0x7b; // stray brace inside the JSON
  variants.push(broken);
  const hugeLen = Buffer.from(file);
  hugeLen.writeBigUInt64LE(1n << 40n, 0);
  variants.push(hugeLen);
  for (const v of variants) {
    assert.equal(await parseSafetensors(new BufferSource(v)), null);
    const chunks = await chunksOf(v);
    assert.ok(Buffer.concat(chunks).equals(v));
    assert.deepEqual(cutsOf(chunks), cdcCuts(v, OPTS));
  }
});

function withHeader(header: unknown, dataLen: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataLen)]);
}

test('the parser says null to anything doubtful', async () => {
  const t = (offs: unknown, extra: object = {}): object => ({ a: { dtype: 'F32', shape: [4], data_offsets: offs, ...extra } });
  const bad: Buffer[] = [
    withHeader(t([0, 32]), 16), // past the end of the file
    withHeader({ ...t([0, 16]), b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 32), // overlap
    withHeader(t([0, 20]), 32), // size does not match shape x dtype
    withHeader(t([16, 0]), 32), // reversed
    withHeader(t([0, 16], { shape: [-4] }), 16),
    withHeader(t([0, 16], { dtype: 7 }), 16),
    withHeader(t([0.5, 16]), 16),
    withHeader([1, 2, 3], 16),
    withHeader({ a: 'x' }, 16),
    withHeader({ __metadata__: 'x' }, 16),
    Buffer.from('not a safetensors file at all'),
    Buffer.alloc(9),
  ];
  const junkLen = Buffer.alloc(64, 0x20);
  junkLen.writeBigUInt64LE(10n, 0);
  bad.push(junkLen); // header of spaces
  for (const [i, b] of bad.entries()) assert.equal(await parseSafetensors(new BufferSource(b)), null, `case ${i}`);

  const ok = await parseSafetensors(new BufferSource(withHeader({ ...t([0, 16]), x: { dtype: 'NEW_TYPE', shape: [3], data_offsets: [16, 19] } }, 19)));
  assert.ok(ok, 'unknown dtypes are accepted when the offsets are sane');
  assert.equal(ok.length, 3);
});
