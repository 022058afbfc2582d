#!/usr/bin/env node
// Throughput of the content-defined chunker's boundary scan at the store's
// default sizes, both loops: the JavaScript one (cdcCuts; small files and
// streams) and the WebAssembly one over shared memory (io/gear-wasm.ts;
// what the read pool runs over the arena). Both must make the same cuts: a measurement, so it lives here and not in the
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

const { gearOver, installGearTable } = await import(pathToFileURL(join(ROOT, 'packages/store/dist/io/gear-wasm.js')).href);
const { GearCdc } = await import(pathToFileURL(gear).href);
const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536) + 1, maximum: 65536, shared: true });
installGearTable(memory);
const data = Buffer.from(memory.buffer, 65536, size);
data.set(randomBytes(size));

/** Cuts of the whole buffer by a GearCdc with the compiled loop. */
const wasmCuts = () => {
  const cdc = new GearCdc(DEFAULT, gearOver(memory));
  const out = [];
  for (let i = 0; i < size; ) {
    const c = cdc.scan(data, i, size);
    if (c < 0) break;
    out.push(c);
    i = c;
  }
  if (out.at(-1) !== size) out.push(size);
  return out;
};

const best = { js: Infinity, wasm: Infinity };
let cuts = { js: [], wasm: [] };
for (let r = 0; r < reps; r++) {
  for (const [k, f] of [['js', () => cdcCuts(data, DEFAULT)], ['wasm', wasmCuts]]) {
    const t = process.hrtime.bigint();
    cuts[k] = f();
    best[k] = Math.min(best[k], Number(process.hrtime.bigint() - t) / 1e9);
  }
}
if (JSON.stringify(cuts.js) !== JSON.stringify(cuts.wasm)) {
  console.error('bench:cdc: the two loops made different cuts');
  process.exit(1);
}
const gbs = (k) => (size / best[k] / 1e9).toFixed(2);
console.log(`CDC throughput (default sizes ${fmtBytes(DEFAULT.minSize)}/${fmtBytes(DEFAULT.avgSize)}/${fmtBytes(DEFAULT.maxSize)}, best of ${reps} over ${fmtBytes(size)}, ${cuts.js.length} chunks, same cuts): JavaScript ${gbs('js')} GB/s, WebAssembly ${gbs('wasm')} GB/s (${(best.js / best.wasm).toFixed(2)}x)`);
