import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cdcCuts } from './gear.js';
import { chunkFile } from './index.js';
import { MiB, resolveOptions } from './options.js';
import { BufferSource } from './source.js';
import { collect, cutsOf, pseudoRandom, withFile } from '../testing/test-helpers.js';
import { makeZip, type ZipEntryIn, type ZipEntryOut } from '../testing/test-zip.js';
import { parseZip } from './torchzip.js';

const OPTS = resolveOptions();

/** Entries laid out as torch.save writes a state_dict. */
function torchEntries(seed = 3): ZipEntryIn[] {
  const sizes = [6 * MiB + 4, 256, 1 * MiB, 4096, 4096, 12, 9 * MiB, 512 * 1024, 300 * 1024, 4 * MiB];
  for (let i = 0; i < 200; i++) sizes.push(4 * (10 + ((i * 53) % 900)));
  const entries: ZipEntryIn[] = [
    { name: 'archive/data.pkl', data: pseudoRandom(5000, seed) },
    { name: 'archive/byteorder', data: Buffer.from('little') },
  ];
  sizes.forEach((n, i) => entries.push({ name: `archive/data/${i}`, data: pseudoRandom(n, seed * 7919 + i) }));
  entries.push({ name: 'archive/version', data: Buffer.from('3\n') });
  entries.push({ name: 'archive/.data/serialization_id', data: Buffer.from('1234567890123456789012345678901234567890') });
  return entries;
}

async function chunksOf(file: Buffer, readSize?: number): Promise<Buffer[]> {
  return withFile(file, (fh, size) => collect(chunkFile(fh, size, { readSize })));
}

function dataSegments(entries: readonly ZipEntryOut[]): { start: number; end: number }[] {
  return entries.filter((e) => e.end > e.start).map(({ start, end }) => ({ start, end }));
}

test('the parser finds every entry, with or without zip64 end records and a comment', async () => {
  for (const opts of [{}, { zip64: true }, { comment: 'PK\x05\x06 in a comment' }, { align: 0 }]) {
    const { file, entries } = makeZip(torchEntries(), opts);
    assert.deepEqual(await parseZip(new BufferSource(file)), dataSegments(entries), JSON.stringify(opts));
  }
});

test('cuts fall on entry boundaries', async () => {
  const { file, entries } = makeZip(torchEntries(), { zip64: true });
  for (const readSize of [undefined, 3 * MiB + 1]) {
    const chunks = await chunksOf(file, readSize);
    assert.ok(Buffer.concat(chunks).equals(file));
    const cuts = cutsOf(chunks);
    for (const e of entries) {
      if (e.end - e.start >= OPTS.minSize) assert.ok(cuts.includes(e.start) && cuts.includes(e.end), `${e.name} is not cut out`);
    }
    // No chunk mixes bytes of a large entry with anything outside it.
    let prev = 0;
    for (const c of cuts) {
      assert.ok(c - prev <= OPTS.maxSize);
      for (const e of entries) {
        if (e.end - e.start >= OPTS.minSize && prev < e.end && c > e.start) assert.ok(prev >= e.start && c <= e.end, `chunk [${prev}, ${c}) straddles ${e.name}`);
      }
      prev = c;
    }
    assert.ok(chunks.length < 40, `${chunks.length} chunks`);
  }
});

test('changing one entry changes only its chunks (and the CRC-bearing headers)', async () => {
  const base = torchEntries();
  const { file, entries, cdStart } = makeZip(base, { zip64: true });
  const before = await chunksOf(file);
  const cuts = cutsOf(before);
  for (const name of ['archive/data/6', 'archive/data/50', 'archive/data/1']) {
    const edited = base.map((e) => (e.name === name ? { name, data: Buffer.from(e.data).fill(1, e.data.length - 2) } : e));
    const { file: file2 } = makeZip(edited, { zip64: true });
    assert.equal(file2.length, file.length);
    const after = await chunksOf(file2);
    assert.deepEqual(cutsOf(after), cuts);
    const target = entries.find((e) => e.name === name)!;
    let changed = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i].equals(after[i])) continue;
      changed++;
      const start = i ? cuts[i - 1] : 0;
      // The entry's local header and the central directory hold its CRC.
      const coversEntry = start < target.end && cuts[i] > target.header;
      const coversDirectory = cuts[i] > cdStart;
      assert.ok(coversEntry || coversDirectory, `chunk ${i} [${start}, ${cuts[i]}) changed`);
    }
    assert.ok(changed <= 4, `${changed} chunks changed for ${name}`);
  }
});

test('an inconsistent zip falls back to CDC without throwing', async () => {
  const { file, entries, cdStart } = makeZip(torchEntries());
  const cases: [string, Buffer][] = [];
  const put = (what: string, f: (b: Buffer) => void): void => {
    const b = Buffer.from(file);
    f(b);
    cases.push([what, b]);
  };
  put('central directory signature', (b) => b.writeUInt32LE(0, cdStart));
  put('local header signature', (b) => b.writeUInt32LE(0, entries[5].header));
  put('local offset past the directory', (b) => b.writeUInt32LE(cdStart + 10, cdStart + 42));
  put('size mismatch', (b) => b.writeUInt32LE(entries[0].end - entries[0].start + 1, cdStart + 20));
  put('name mismatch', (b) => (b[entries[3].header + 30] ^= 1));
  put('entry count', (b) => b.writeUInt16LE(entries.length + 1, b.length - 22 + 10));
  cases.push(['truncated', file.subarray(0, file.length - 5)]);
  cases.push(['tail only', file.subarray(cdStart)]);
  const z64 = Buffer.from(makeZip(torchEntries(), { zip64: true }).file);
  z64.writeUInt32LE(0, z64.length - 22 - 20 - 56); // zip64 end record signature
  cases.push(['zip64 record', z64]);
  for (const [what, b] of cases) {
    assert.equal(await parseZip(new BufferSource(b)), null, what);
    const chunks = await chunksOf(b);
    assert.ok(Buffer.concat(chunks).equals(b), what);
    assert.deepEqual(cutsOf(chunks), cdcCuts(b, OPTS), what);
  }
});

test('an empty zip and one with empty entries', async () => {
  const empty = makeZip([]).file;
  assert.equal(await parseZip(new BufferSource(empty)), null);
  assert.equal((await chunksOf(empty)).length, 1);
  const { file } = makeZip([{ name: 'a', data: Buffer.alloc(0) }, { name: 'b', data: Buffer.from('xyz') }]);
  const segs = await parseZip(new BufferSource(file));
  assert.equal(segs?.length, 1);
  const chunks = await chunksOf(file);
  assert.ok(Buffer.concat(chunks).equals(file));
});
