#!/usr/bin/env node
// Throughput of the content-defined chunker's boundary scan (cdcCuts) at the
// store's default sizes: a measurement, so it lives here and not in the
// tests, where it asserted nothing and cost 128 MiB and seconds every run.
//
//   npm run bench:cdc                      128 MiB of random bytes, best of 4
//   node bench/cdc-throughput.mjs --size 512MiB --reps 8
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSize, fmtBytes } from './gen-safetensors.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({ options: { size: { type: 'string', default: '128MiB' }, reps: { type: 'string', default: '4' } } });
const size = parseSize(opt.size);
const reps = Number(opt.reps);
if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');

// The scanner is internal to @cairn/store, so this reads the compiled module itself.
const gear = join(ROOT, 'packages/store/dist/chunker/gear.js');
if (!existsSync(gear)) {
  console.error(`bench:cdc: ${gear} is missing: run npx tsc -b (npm run bench:cdc builds first), or the chunker has moved`);
  process.exit(2);
}
const { cdcCuts } = await import(pathToFileURL(gear).href);
const MiB = 1024 * 1024;
const DEFAULT = { minSize: 256 * 1024, avgSize: 1 * MiB, maxSize: 4 * MiB };

const data = randomBytes(size);
let best = Infinity;
let cuts = 0;
for (let r = 0; r < reps; r++) {
  const t = process.hrtime.bigint();
  cuts = cdcCuts(data, DEFAULT).length;
  best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
}
console.log(`CDC throughput (default sizes ${fmtBytes(DEFAULT.minSize)}/${fmtBytes(DEFAULT.avgSize)}/${fmtBytes(DEFAULT.maxSize)}, best of ${reps} over ${fmtBytes(size)}, ${cuts} chunks): ${(size / best / 1e9).toFixed(2)} GB/s`);
