#!/usr/bin/env node
// Two builds of the store, interleaved in one run: is a change faster or
// slower? On a shared, noisy machine a ratio to cp drifts with the load
// from one run to the next; alternating the two builds operation by
// operation puts both under the same load, so their ratio is what changed.
//
//   node bench/ab.mjs --base /other/checkout/packages/store/dist/index.js [--size 256MiB] [--reps 5]
//
// Each rep, for each build (order alternating): a fresh store; ingest of a
// safetensors model, then of the same model with ~10% of its tensors
// rewritten; the same two steps for a file of random bytes (content-defined
// chunking, no tensor layout) with 10% of it rewritten; restore of each
// second version. Timed in the child (bench/child.mjs): the operation's
// wall time and CPU time (all threads; steadier when the machine is
// loaded). Prints medians per build and after/base ratios.

import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { parseSize, fmtBytes, buildModel, writeModel, rewriteTensors } from './gen-safetensors.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = join(HERE, 'child.mjs');
const { values: opt } = parseArgs({
  options: {
    base: { type: 'string' },
    after: { type: 'string', default: resolve(HERE, '../packages/store/dist/index.js') },
    size: { type: 'string', default: '256MiB' },
    reps: { type: 'string', default: '5' },
    work: { type: 'string', default: os.tmpdir() },
  },
});
if (!opt.base || !existsSync(opt.base) || !existsSync(opt.after)) {
  console.error('usage: node bench/ab.mjs --base /abs/path/to/store/dist/index.js [--after PATH] [--size 256MiB] [--reps 5]');
  process.exit(2);
}
const size = parseSize(opt.size);
const reps = Number(opt.reps);
const work = mkdtempSync(join(opt.work, 'cairn-ab-'));
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

function child(build, op, args) {
  const r = spawnSync(process.execPath, [CHILD, op, ...args], { env: { ...process.env, CAIRN_BENCH_STORE: build }, encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() || '{}';
  const out = JSON.parse(line);
  if (r.status !== 0 || out.error) throw new Error(`${op} with ${build}: ${out.error ?? r.stderr}`);
  return out;
}

function rewriteRandom(path, frac) {
  // Ten evenly spaced regions, frac of the file in all: what a partly changed raw checkpoint looks like.
  const fd = openSync(path, 'r+');
  const region = Math.floor((size * frac) / 10);
  for (let i = 0; i < 10; i++) writeSync(fd, randomBytes(region), 0, region, Math.floor((i * size) / 10));
  closeSync(fd);
}

try {
  const model = buildModel(size);
  const st = [join(work, 'model0.safetensors'), join(work, 'model1.safetensors')];
  writeModel(st[0], model, { seed: 'ab', k: 0 });
  writeModel(st[1], model, { seed: 'ab', k: 0 });
  const changed = model.tensors.filter((_, i) => i % 10 === 0);
  rewriteTensors(st[1], model, changed, { seed: 'ab', k: 1 });
  const raw = [join(work, 'raw0.bin'), join(work, 'raw1.bin')];
  const fd = openSync(raw[0], 'w');
  for (let done = 0; done < size; done += 16 << 20) writeSync(fd, randomBytes(Math.min(16 << 20, size - done)));
  closeSync(fd);
  spawnSync('cp', [raw[0], raw[1]]);
  rewriteRandom(raw[1], 0.1);
  spawnSync('sync');
  log(`ab: ${fmtBytes(size)}, ${reps} reps; base ${opt.base}; after ${opt.after}`);

  const builds = { base: opt.base, after: opt.after };
  const times = { base: {}, after: {} };
  const add = (b, k, v) => (times[b][k] ??= []).push(v);
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? ['base', 'after'] : ['after', 'base'];
    for (const b of order) {
      const store = join(work, `store-${b}`);
      rmSync(store, { recursive: true, force: true });
      child(builds[b], 'init', [store]);
      for (const [label, files] of [['safetensors', st], ['raw', raw]]) {
        const first = child(builds[b], 'ingest', [store, files[0]]);
        add(b, `${label} ingest first`, first);
        const second = child(builds[b], 'ingest', [store, files[1]]);
        add(b, `${label} ingest 10% changed`, second);
        const dest = join(work, `restored-${b}`);
        rmSync(dest, { force: true });
        add(b, `${label} restore`, child(builds[b], 'restore', [store, second.id, dest]));
        rmSync(dest, { force: true });
      }
      rmSync(store, { recursive: true, force: true });
      log(`  rep ${r + 1} ${b} done`);
    }
  }
  const med = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(`| ${fmtBytes(size)}, median of ${reps} | base ms | after ms | after / base | base CPU ms | after CPU ms | after / base (CPU) |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const k of Object.keys(times.base)) {
    const [a, b] = [med(times.base[k].map((r) => r.opMs)), med(times.after[k].map((r) => r.opMs))];
    const [ac, bc] = [med(times.base[k].map((r) => r.opCpuMs)), med(times.after[k].map((r) => r.opCpuMs))];
    console.log(`| ${k} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(3)} | ${ac.toFixed(0)} | ${bc.toFixed(0)} | ${(bc / ac).toFixed(3)} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
