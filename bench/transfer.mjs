#!/usr/bin/env node
// `cairn exp export` / `cairn exp import` against GNU tar of the same model files.
//
//   node bench/transfer.mjs                                # 10 checkpoints of a 64 MiB file, 3 reps
//   node bench/transfer.mjs --size 1GiB --checkpoints 4    # a 4 GiB experiment: the peak-RSS check
//   node bench/transfer.mjs --change 0.1                   # each checkpoint rewrites 10% of the file
//
// Builds one experiment through the library (@cairn/store + @cairn/lineage, compiled dist/), keeping
// a copy of every checkpoint's model file in models/. Then, per rep, times (wall clock, whole
// processes, page cache warm for both sides):
//   export:  cairn --store SRC exp export bench -o out.tar     vs  tar cf models.tar models/
//   import:  cairn --store DST exp import out.tar (fresh DST)  vs  tar xf models.tar (fresh folder)
// and prints medians, throughput, the ratio cairn/tar (target: ≤ 1.5x) and cairn's peak RSS
// (VmHWM polled from /proc; target: < 300 MiB whatever the size). Every step starts after a `sync`,
// so none pays for the previous one's writeback. The baselines give the same guarantees as cairn:
// an export, like `tar cf`, leaves its file to the page cache (no fsync); an import must have every
// object on disk before any experiment appears (crash safety), so it is held against `tar xf + sync`
// (`tar xf` alone, which leaves its writes in memory, and `tar cf + sync` are shown too).
// A `cairn --help` is timed as the CLI's fixed cost.
//
// Flags: --size S (64MiB), --checkpoints N (10), --reps R (3), --change F (1.0: every byte changes
// at every checkpoint, so nothing dedups — cairn's worst case against tar), --work DIR
// (bench/work/transfer), --keep. CAIRN_BENCH_BIN=/path/to/cairn.js benchmarks another CLI build;
// BENCH_TRACE=1 prints every rep's export and import time (to see noise behind a median).

import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, rmSync, statSync, copyFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const BIN = process.env.CAIRN_BENCH_BIN || join(ROOT, 'packages/cli/bin/cairn.js');

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/i.exec(String(s));
  if (!m) throw new Error(`bad size '${s}'`);
  const unit = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, kb: 1e3, mb: 1e6, gb: 1e9 }[(m[2] ?? 'B').toLowerCase()];
  return Math.round(Number(m[1]) * unit);
}

function args() {
  const a = { size: 64 * 2 ** 20, checkpoints: 10, reps: 3, change: 1, work: join(HERE, 'work', 'transfer'), keep: false };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--size') a.size = parseSize(v());
    else if (k === '--checkpoints') a.checkpoints = Number(v());
    else if (k === '--reps') a.reps = Number(v());
    else if (k === '--change') a.change = Number(v());
    else if (k === '--work') a.work = resolve(v());
    else if (k === '--keep') a.keep = true;
    else throw new Error(`unknown flag ${k}`);
  }
  return a;
}

const mib = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function hwmKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Runs a command; resolves { ms, peakKiB, stdout, stderr }; rejects on a non-zero exit. */
function run(cmd, argv, { cwd } = {}) {
  return new Promise((ok, fail) => {
    const t0 = nowMs();
    const p = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = 0;
    let stdout = '';
    let stderr = '';
    const timer = setInterval(() => (peak = Math.max(peak, hwmKiB(p.pid))), 5);
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', fail);
    p.on('close', (code) => {
      clearInterval(timer);
      const ms = nowMs() - t0;
      if (code !== 0) fail(new Error(`${cmd} ${argv.join(' ')} exited ${code}\n${stderr}`));
      else ok({ ms, peakKiB: peak, stdout, stderr });
    });
  });
}

const cairn = (argv) => run(process.execPath, [BIN, ...argv]);

/** Flushes dirty pages before each timed step, so no step pays for the previous one's writeback. */
const settle = () => run('sync', []);

/** Writes `len` random bytes at `offset` of `path`, in 8 MiB pieces. */
function fillRandom(path, offset, len, flags) {
  const fd = openSync(path, flags);
  const buf = Buffer.allocUnsafe(8 * 2 ** 20);
  for (let done = 0; done < len; ) {
    const n = Math.min(buf.length, len - done);
    randomFillSync(buf, 0, n);
    writeSync(fd, buf, 0, n, offset + done);
    done += n;
  }
  closeSync(fd);
}

async function build(a) {
  const { Store } = await import(join(ROOT, 'packages/store/dist/index.js'));
  const { createExperiment, appendCheckpoint } = await import(join(ROOT, 'packages/lineage/dist/index.js'));
  const src = join(a.work, 'src');
  const models = join(a.work, 'models');
  mkdirSync(models, { recursive: true });
  await Store.init(src);
  const model = join(a.work, 'model.bin');
  fillRandom(model, 0, a.size, 'w');
  await Store.with(src, async (store) => {
    await createExperiment(store, { name: 'bench', baseline: { deps: {}, params: { 'params.yaml': { lr: 0.1 } } } });
    for (let i = 0; i < a.checkpoints; i++) {
      if (i > 0) {
        const len = Math.round(a.size * a.change);
        fillRandom(model, Math.floor(Math.random() * (a.size - len + 1)), len, 'r+');
      }
      const id = await store.putFile(model);
      await appendCheckpoint(store, 'bench', {
        stage: 'train',
        cmd: 'python train.py',
        outs: { 'model.bin': { id, size: a.size, kind: 'file', checkpoint: true } },
        deps: {},
        params: { 'params.yaml': { lr: 0.1 } },
        metrics: { step: i },
      });
      copyFileSync(model, join(models, `ckpt-${String(i).padStart(3, '0')}.bin`));
      process.stderr.write(`\rcheckpoint ${i + 1}/${a.checkpoints}`);
    }
    process.stderr.write('\n');
  });
  return { src, stored: (await Store.with(src, (s) => s.stats())).storedBytes };
}

async function main() {
  const a = args();
  if (!existsSync(BIN)) throw new Error(`no cairn CLI at ${BIN} (run npx tsc -b)`);
  rmSync(a.work, { recursive: true, force: true });
  mkdirSync(a.work, { recursive: true });
  const logical = a.size * a.checkpoints;
  process.stderr.write(`building: ${a.checkpoints} checkpoints of ${mib(a.size)} (change ${a.change * 100}% each) in ${a.work}\n`);
  const { src, stored } = await build(a);
  const out = join(a.work, 'out.tar');
  const tarFile = join(a.work, 'models.tar');
  const t = { export: [], tarc: [], tarcSync: [], import: [], tarx: [], tarxSync: [], help: [] };
  let exportPeak = 0;
  let importPeak = 0;
  for (let rep = 0; rep < a.reps; rep++) {
    process.stderr.write(`rep ${rep + 1}/${a.reps}\n`);
    t.help.push((await cairn(['--help'])).ms);
    rmSync(out, { force: true });
    await settle();
    const e = await cairn(['--store', src, 'exp', 'export', 'bench', '-o', out]);
    t.export.push(e.ms);
    if (process.env.BENCH_TRACE) process.stderr.write(`export ${e.ms.toFixed(0)} ms\n`);
    exportPeak = Math.max(exportPeak, e.peakKiB);

    rmSync(tarFile, { force: true });
    await settle();
    t.tarc.push((await run('tar', ['cf', tarFile, '-C', a.work, 'models'])).ms);
    rmSync(tarFile, { force: true });
    await settle();
    t.tarcSync.push((await run('sh', ['-c', `tar cf "${tarFile}" -C "${a.work}" models && sync -f "${tarFile}"`])).ms);

    const dst = join(a.work, 'dst');
    rmSync(dst, { recursive: true, force: true });
    await cairn(['--store', dst, 'init']);
    await settle();
    const i = await cairn(['--store', dst, 'exp', 'import', out]);
    t.import.push(i.ms);
    if (process.env.BENCH_TRACE) process.stderr.write(`import ${i.ms.toFixed(0)} ms\n`);
    importPeak = Math.max(importPeak, i.peakKiB);

    const xdir = join(a.work, 'x');
    rmSync(xdir, { recursive: true, force: true });
    mkdirSync(xdir);
    await settle();
    t.tarx.push((await run('tar', ['xf', tarFile, '-C', xdir])).ms);
    rmSync(xdir, { recursive: true, force: true });
    mkdirSync(xdir);
    await settle();
    t.tarxSync.push((await run('sh', ['-c', `tar xf "${tarFile}" -C "${xdir}" && sync -f "${xdir}"/models/*`])).ms);
  }
  // The import is what the source holds.
  const show = async (store) => JSON.stringify(JSON.parse((await cairn(['--store', store, 'exp', 'show', '--json'])).stdout).experiments);
  const same = (await show(src)) === (await show(join(a.work, 'dst')));

  const tarBytes = statSync(out).size;
  const gnuBytes = statSync(tarFile).size;
  const row = (what, ms, bytes) => `| ${what} | ${(ms / 1000).toFixed(2)} s | ${(bytes / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s |`;
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  const lines = [
    `# cairn exp export/import vs GNU tar`,
    ``,
    `${a.checkpoints} checkpoints of ${mib(a.size)} (${a.change * 100}% rewritten per checkpoint): logical ${mib(logical)}, stored ${mib(stored)};`,
    `cairn tarball ${mib(tarBytes)}, GNU tar of the model files ${mib(gnuBytes)}. Medians of ${a.reps} reps; node ${process.version}.`,
    ``,
    `| operation | time | throughput (of the tar's bytes) |`,
    `| --- | --- | --- |`,
    row('cairn exp export', m.export, tarBytes),
    row('tar cf', m.tarc, gnuBytes),
    row('tar cf + sync', m.tarcSync, gnuBytes),
    row('cairn exp import', m.import, tarBytes),
    row('tar xf', m.tarx, gnuBytes),
    row('tar xf + sync', m.tarxSync, gnuBytes),
    `| (cairn --help: start-up alone) | ${(m.help / 1000).toFixed(2)} s | |`,
    ``,
    `export / tar cf: ${(m.export / m.tarc).toFixed(2)}x  (target ≤ 1.5x: ${m.export / m.tarc <= 1.5 ? 'met' : 'MISSED'}); / (tar cf + sync): ${(m.export / m.tarcSync).toFixed(2)}x`,
    `import / (tar xf + sync): ${(m.import / m.tarxSync).toFixed(2)}x  (target ≤ 1.5x: ${m.import / m.tarxSync <= 1.5 ? 'met' : 'MISSED'}); / tar xf: ${(m.import / m.tarx).toFixed(2)}x`,
    `without the CLI's start-up (--help time): export ${((m.export - m.help) / m.tarc).toFixed(2)}x tar cf, import ${((m.import - m.help) / m.tarxSync).toFixed(2)}x tar xf + sync`,
    `peak RSS: export ${mib(exportPeak * 1024)}, import ${mib(importPeak * 1024)} (target < 300 MiB: ${Math.max(exportPeak, importPeak) * 1024 < 300 * 2 ** 20 ? 'met' : 'MISSED'})`,
    `imported exp show equals the source: ${same ? 'yes' : 'NO'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!a.keep) rmSync(a.work, { recursive: true, force: true });
  if (!same) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench/transfer: ${err.stack ?? err}\n`);
  process.exit(1);
});
