#!/usr/bin/env node
// Why format-4 packs start their blobs at byte 4096 (docs/FORMAT.md, "Pack
// files"): the kernel's copy of a read from the page cache into memory, by
// where in a 4 KiB block the memory starts relative to the file offset.
// Ingest reads each chunk to the offset within a block it will have in the
// pack; with blobs from byte 8 (format 3) that is the file offset + 8.
//
//   node bench/read-alignment.mjs [FILE]    (default: 1 GiB of random bytes in bench/work/, made once)
//
// One thread, 4 MiB reads into a shared WebAssembly.Memory (as the arena),
// the file in the page cache; median of 3 passes per offset.

import { openSync, readSync, writeSync, closeSync, existsSync, mkdirSync, statSync, renameSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const READ = 4 * 1024 * 1024;
const OFFSETS = [0, 8, 16, 64, 1234, 4088];

let file = process.argv[2];
if (!file) {
  mkdirSync(join(HERE, 'work'), { recursive: true });
  file = join(HERE, 'work', 'read-alignment-1GiB.bin');
  if (!existsSync(file)) {
    const out = openSync(`${file}.tmp`, 'w');
    const buf = Buffer.alloc(64 * 1024 * 1024);
    for (let n = 0; n < 16; n++) writeSync(out, randomFillSync(buf));
    closeSync(out);
    renameSync(`${file}.tmp`, file);
  }
}
const size = statSync(file).size - (statSync(file).size % READ);
if (size < READ) throw new Error(`${file}: need at least 4 MiB`);

const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024, shared: true });
memory.grow(2 * (READ / 65536) + 1);
const fd = openSync(file, 'r');
// Once untimed: the file into the page cache, the memory's pages faulted in.
for (const off of [0, READ + 4096]) for (let pos = 0; pos < size; pos += 2 * READ) readSync(fd, Buffer.from(memory.buffer, off, READ), 0, READ, pos);

const pass = (off) => {
  const t = performance.now();
  for (let pos = 0, k = 0; pos < size; pos += READ, k++) {
    const at = (k % 2) * (READ + 65536) + off;
    readSync(fd, Buffer.from(memory.buffer, at, READ), 0, READ, pos);
  }
  return ((performance.now() - t) * 1024 ** 3) / size;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map();
for (let rep = 0; rep < 3; rep++) for (const off of OFFSETS) results.set(off, [...(results.get(off) ?? []), pass(off)]);
closeSync(fd);

console.log(`read ${(size / 1024 ** 2).toFixed(0)} MiB of ${file} in 4 MiB reads, ms per GiB (median of 3):`);
const base = median(results.get(0));
for (const off of OFFSETS) {
  const ms = median(results.get(off));
  console.log(`  memory offset ${String(off).padStart(4)} from the file's block alignment: ${ms.toFixed(0).padStart(5)} ms  (${(ms / base).toFixed(2)}x offset 0)`);
}
