#!/usr/bin/env node
// How long a checkpoint of a running `cairn exp run` waits for the store while other cairn
// commands run on the same store, each in a loop: `exp show --json`, `gc`, `exp export -o -`
// into a slow reader, `store add` of a big file, `exp import --force` of a tarball.
//
//   node bench/contention.mjs                                 # 60 checkpoints, every 200 ms, all loops
//   node bench/contention.mjs --loops show,gc --checkpoints 100
//   node bench/contention.mjs --add-size 1GiB                 # a longer store add
//
// The training script (standard-library Python) rewrites part of a model file and signals a
// checkpoint every --interval ms. The runner logs how long each checkpoint waited to open the
// store (CAIRN_TRACE_WAIT, see README "Environment"); this script prints max, p99 and median of
// those waits (target: max < 1 s), each loop's iterations and failures, and exits 1 when the run
// or any looped command failed.
//
// Flags: --checkpoints N (60), --interval MS (200), --model-size S (8MiB; a quarter changes per
// checkpoint), --add-size S (256MiB), --export-size N (checkpoints of the exported experiment, 8),
// --loops a,b (show,gc,export,add,import), --work DIR (bench/work/contention), --keep.
// CAIRN_BENCH_BIN=/path/to/cairn.js benchmarks another CLI build.

import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const BIN = process.env.CAIRN_BENCH_BIN || join(ROOT, 'packages/cli/bin/cairn.js');
const LOOPS = ['show', 'gc', 'export', 'add', 'import'];
const log = (...a) => process.stderr.write(`${a.join(' ')}\n`);

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(String(s));
  if (!m) throw new Error(`bad size '${s}'`);
  return Math.round(Number(m[1]) * { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 }[(m[2] ?? 'B').toLowerCase()]);
}

function args() {
  const a = { checkpoints: 60, interval: 200, modelSize: 8 * 2 ** 20, addSize: 256 * 2 ** 20, exportSize: 8, loops: LOOPS, work: join(HERE, 'work', 'contention'), keep: false };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === '--checkpoints') a.checkpoints = Number(v());
    else if (k === '--interval') a.interval = Number(v());
    else if (k === '--model-size') a.modelSize = parseSize(v());
    else if (k === '--add-size') a.addSize = parseSize(v());
    else if (k === '--export-size') a.exportSize = Number(v());
    else if (k === '--loops') a.loops = v().split(',').filter(Boolean);
    else if (k === '--work') a.work = resolve(v());
    else if (k === '--keep') a.keep = true;
    else throw new Error(`unknown flag ${k} (see the top of bench/contention.mjs)`);
  }
  for (const l of a.loops) if (!LOOPS.includes(l)) throw new Error(`unknown loop '${l}' (${LOOPS.join(', ')})`);
  return a;
}

const TRAIN_PY = `import os, sys, time
from cairn import make_checkpoint
size, n, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
if not os.path.exists("model.bin"):
    with open("model.bin", "wb") as f:
        f.write(os.urandom(size))
for i in range(n):
    with open("model.bin", "r+b") as f:
        f.seek((i % 4) * (size // 4))
        f.write(os.urandom(size // 4))
    make_checkpoint()
    time.sleep(pause)
`;

function workspace(dir, checkpoints, a) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.py'), TRAIN_PY);
  writeFileSync(
    join(dir, 'cairn.yaml'),
    `stages:\n  train:\n    cmd: python3 train.py ${a.modelSize} ${checkpoints} ${a.interval / 1000}\n    deps:\n      - train.py\n    outs:\n      - model.bin:\n          checkpoint: true\n`,
  );
}

/** Runs a command to its end: { code, ms, stderr }. `shell` runs a sh -c line instead. */
function run(argv, opts = {}) {
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const child = opts.shell
      ? spawn('sh', ['-c', opts.shell], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(process.execPath, [BIN, ...argv], { cwd: opts.cwd, env: opts.env, stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolvePromise({ code, ms: performance.now() - t0, stderr }));
  });
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function main() {
  const a = args();
  rmSync(a.work, { recursive: true, force: true });
  const store = join(a.work, 'store');
  const env = { ...process.env, CAIRN_STORE: store, NO_COLOR: '1' };
  mkdirSync(a.work, { recursive: true });
  const init = await run(['init'], { cwd: a.work, env });
  if (init.code !== 0) throw new Error(`cairn init: ${init.stderr}`);

  // What the loops work on: an experiment to export, its tarball to import, a big file to add.
  log(`preparing: an experiment of ${a.exportSize} checkpoints, a ${a.addSize >> 20} MiB file`);
  const prepWs = join(a.work, 'prep');
  workspace(prepWs, a.exportSize, { ...a, interval: 0 });
  const prep = await run(['exp', 'run', '--name', 'prep'], { cwd: prepWs, env });
  if (prep.code !== 0) throw new Error(`preparing exp run: ${prep.stderr}`);
  const tarball = join(a.work, 'prep.tar');
  const exp = await run(['exp', 'export', 'prep', '-o', tarball], { cwd: a.work, env });
  if (exp.code !== 0) throw new Error(`preparing exp export: ${exp.stderr}`);
  const big = join(a.work, 'big.bin');
  const fd = openSync(big, 'w');
  const buf = Buffer.alloc(4 * 2 ** 20);
  for (let done = 0; done < a.addSize; done += buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, a.addSize - done));
  closeSync(fd);

  const trace = join(a.work, 'waits.jsonl');
  const ws = join(a.work, 'train');
  workspace(ws, a.checkpoints, a);
  const commands = {
    show: () => run(['exp', 'show', '--json'], { cwd: ws, env }),
    gc: () => run(['gc'], { cwd: ws, env }),
    // A reader slower than the export: the pipe fills and the export blocks on it.
    export: () => run(null, { cwd: ws, env, shell: `"${process.execPath}" "${BIN}" exp export prep -o - | (sleep 1; cat > /dev/null)` }),
    add: () => run(['store', 'add', big], { cwd: ws, env }),
    import: () => run(['exp', 'import', '--force', tarball], { cwd: ws, env }),
  };
  log(`training: ${a.checkpoints} checkpoints every ${a.interval} ms of a ${a.modelSize >> 20} MiB model; loops: ${a.loops.join(', ')}`);
  let stop = false;
  const stats = {};
  const loops = a.loops.map(async (name) => {
    const s = (stats[name] = { runs: 0, failures: 0, maxMs: 0, errors: new Set() });
    while (!stop) {
      const r = await commands[name]();
      if (stop && r.code !== 0) break; // cut short by the end of the run: not counted
      s.runs++;
      s.maxMs = Math.max(s.maxMs, r.ms);
      if (r.code !== 0) {
        s.failures++;
        s.errors.add(r.stderr.trim().split('\n')[0]);
      }
    }
  });
  const t0 = performance.now();
  const training = await run(['exp', 'run', '--name', 'contended'], { cwd: ws, env: { ...env, CAIRN_TRACE_WAIT: trace } });
  const wall = performance.now() - t0;
  stop = true;
  await Promise.all(loops);

  const waits = existsSync(trace)
    ? readFileSync(trace, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).waitMs)
        .sort((x, y) => x - y)
    : [];
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  const lines = [
    `# checkpoint wait under contention`,
    '',
    `${waits.length} checkpoints in ${(wall / 1000).toFixed(1)} s (run exit ${training.code}); loops: ${a.loops.join(', ')}`,
    '',
    `| wait for the store | ms |`,
    `| --- | --- |`,
    `| max | ${fmt(waits.at(-1) ?? NaN)} |`,
    `| p99 | ${fmt(quantile(waits, 0.99))} |`,
    `| median | ${fmt(quantile(waits, 0.5))} |`,
    '',
    `| loop | runs | failures | longest run |`,
    `| --- | --- | --- | --- |`,
    ...a.loops.map((n) => `| ${n} | ${stats[n].runs} | ${stats[n].failures} | ${fmt(stats[n].maxMs)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const n of a.loops) for (const e of stats[n].errors) log(`${n} failed: ${e}`);
  if (training.code !== 0) log(`exp run failed: ${training.stderr.trim()}`);
  const target = (waits.at(-1) ?? Infinity) < 1000;
  log(`target max wait < 1 s: ${target ? 'met' : 'MISSED'}`);
  if (!a.keep) rmSync(a.work, { recursive: true, force: true });
  const failed = training.code !== 0 || a.loops.some((n) => stats[n].failures > 0);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  log(`contention bench: ${err.message}`);
  process.exit(1);
});
