#!/usr/bin/env node
// Issue 14, "Speed on the machines that train models": cairn's store
// operations against `cp` + fsync of the same bytes, in the same run, at
// each worker-pool size (CAIRN_THREADS). Medians of --reps repetitions.
//
//   node bench/speed.mjs                                   1 GiB cases + 4 GiB add, 3 reps, threads 1,2,4,… up to the cores
//   node bench/speed.mjs --size 64MiB --no-big --reps 1    quick mode (well under a minute)
//   node bench/speed.mjs --only restore --threads 1,2,4
//   node bench/speed.mjs --publish-only [bench/out/speed-X.json]   put a run in the README
//
// Cases (each one timed next to a cp + fsync of the same file, alternated
// rep by rep so that load drift hits both alike):
//   add        `store add` of SIZE (and --big) random bytes into an empty store (content-defined chunking path)
//   rewrite    SIZE random bytes stored, 10% rewritten in place (10 scattered regions), stored again with the previous version's ID (as exp run does)
//   restore    full / frozen / lora safetensors checkpoints of SIZE, restored from a cold page cache
//   small      --small random bytes: add, and restore from a cold page cache
//   tensor     add of a safetensors checkpoint of SIZE (the tensor-layout path)
//
// cairn is timed as a checkpoint pays it: Store.open + op + close inside a
// child process (bench/child.mjs; Node start-up excluded). The whole
// `cairn store add` / `store get` CLI process, spawn to exit, is a second column.
// Cold cache without root: every file is fsynced, then dropped from the page
// cache with `dd if=FILE iflag=nocache count=0` (posix_fadvise DONTNEED), and
// `fincore` checks that nothing stayed resident.
//
// See bench/README.md ("Speed"). Progress on stderr, Markdown on stdout,
// JSON + SVG + Markdown in bench/out/.

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, fsyncSync, readFileSync, writeFileSync, copyFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseSize, fmtBytes, keyStream, fillRandom } from './gen-safetensors.mjs';
import { planScenario, writeCheckpoint } from './scenarios.mjs';
import { summarize, settle, warmMemory, warmRead, sha256File, listFiles, freeBytes, rmrf, run, runChild, cpFsync } from './measure.mjs';
import { renderLineChart } from './chart.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const README = process.env.CAIRN_BENCH_README ?? join(ROOT, 'README.md');
const BEGIN = '<!-- bench:speed:begin -->';
const END = '<!-- bench:speed:end -->';
const t0 = Date.now();
const GROUPS = ['add', 'rewrite', 'restore', 'small', 'tensor'];
const MiB = 1024 * 1024;
const log = (...a) => process.stderr.write(a.join(' ') + '\n');
/** "1 GiB", "64 MiB", "1.5 GiB": case names. */
const fmtSize = (n) => {
  for (const [u, b] of [['GiB', 1024 ** 3], ['MiB', MiB], ['KiB', 1024]]) if (n >= b) return `${Number((n / b).toFixed(2))} ${u}`;
  return `${n} B`;
};

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '1GiB' },
    big: { type: 'string', default: '4GiB' },
    'no-big': { type: 'boolean', default: false },
    small: { type: 'string', default: '64MiB' },
    reps: { type: 'string', default: '3' },
    threads: { type: 'string' },
    only: { type: 'string', default: GROUPS.join(',') },
    work: { type: 'string', default: join(HERE, 'work') },
    out: { type: 'string' },
    seed: { type: 'string', default: 'cairn-speed-1' },
    baseline: { type: 'string' },
    'no-cli': { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    publish: { type: 'boolean', default: false },
    'publish-only': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 27).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

// ---------------------------------------------------------------- options

const sizeBytes = parseSize(opt.size);
const bigBytes = opt['no-big'] ? null : parseSize(opt.big);
const smallBytes = parseSize(opt.small);
const reps = Number(opt.reps);
if (!(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps must be a whole number ≥ 1, not ${opt.reps}`);
const cores = os.availableParallelism();
const defaultThreads = (() => {
  const t = [];
  for (let n = 1; n < cores; n *= 2) t.push(n);
  t.push(cores);
  return t;
})();
const threads = opt.threads ? opt.threads.split(',').map((s) => Number(s.trim())) : defaultThreads;
if (threads.some((t) => !(Number.isInteger(t) && t >= 1 && t <= 256))) throw new Error(`--threads: whole numbers from 1 to 256, not ${opt.threads}`);
// What cairn uses when nobody sets CAIRN_THREADS (packages/store/src/io/pool.ts): one thread per core, at least 2.
const poolDefault = Math.max(2, cores);
// Targets are judged at the pool size cairn runs with by default, else the largest measured.
const judgedThreads = threads.includes(poolDefault) ? poolDefault : Math.max(...threads);
const only = opt.only.split(',').map((s) => s.trim()).filter(Boolean);
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown case group ${g} (known: ${GROUPS.join(', ')})`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const outPath = resolve(opt.out ?? join(HERE, 'out', `speed-${stamp}.json`));
const workRoot = resolve(opt.work);
const baseline = (() => {
  if (!opt.baseline) return null;
  const b = JSON.parse(readFileSync(opt.baseline, 'utf8'));
  if (b.meta?.sizeBytes !== sizeBytes) {
    log(`bench:speed: --baseline ${opt.baseline} measured --size ${b.meta?.sizeBytes ? fmtSize(b.meta.sizeBytes) : '?'}, not ${fmtSize(sizeBytes)}: the tensor case is reported only`);
    return null;
  }
  return b;
})();

// Another build of the store (CAIRN_BENCH_STORE, read by child.mjs); its CLI beside it when there is one.
const storeSpec = process.env.CAIRN_BENCH_STORE ?? null;
const cliBin = (() => {
  if (process.env.CAIRN_BENCH_CLI) return resolve(process.env.CAIRN_BENCH_CLI);
  const m = storeSpec && /^(.*)\/packages\/store\/dist\/index\.js$/.exec(storeSpec);
  if (m && existsSync(join(m[1], 'packages/cli/bin/cairn.js'))) return join(m[1], 'packages/cli/bin/cairn.js');
  return join(ROOT, 'packages/cli/bin/cairn.js');
})();
const cliMismatch = storeSpec !== null && !process.env.CAIRN_BENCH_CLI && !cliBin.startsWith(storeSpec.replace(/\/packages\/store\/dist\/index\.js$/, '/'));
const useCli = !opt['no-cli'];

// ---------------------------------------------------------------- helpers

const hasFincore = (() => {
  try {
    execFileSync('fincore', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Every regular file among `paths` (files, or folders walked); missing ones are skipped. */
async function filesOf(paths) {
  const out = [];
  for (const p of paths) {
    let s;
    try {
      s = await stat(p);
    } catch {
      continue;
    }
    if (s.isDirectory()) out.push(...(await listFiles(p)).map((f) => f.path));
    else if (s.isFile()) out.push(p);
  }
  return out;
}

/** Bytes of `files` resident in the page cache (fincore), or null without fincore. */
async function residentBytes(files) {
  if (!hasFincore || files.length === 0) return hasFincore ? 0 : null;
  let total = 0;
  for (let i = 0; i < files.length; i += 500) {
    const r = await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files.slice(i, i + 500)]);
    if (r.code !== 0) throw new Error(`fincore failed: ${r.stderr}`);
    for (const line of r.stdout.split('\n')) if (line.trim()) total += Number(line.trim());
  }
  return total;
}

let evictWarned = false;
/**
 * Cold page cache for `paths` without root: fsync each file (dirty pages
 * cannot be dropped), then `dd iflag=nocache count=0` (POSIX_FADV_DONTNEED
 * on the whole file), then fincore to check. Untimed. Returns
 * { files, bytes, residentBytes }.
 */
async function evict(paths) {
  const files = await filesOf(paths);
  if (files.length === 0) return { files: 0, bytes: 0, residentBytes: 0 };
  for (let i = 0; i < files.length; i += 500) {
    const part = files.slice(i, i + 500);
    const s = await run('sync', part);
    if (s.code !== 0) throw new Error(`sync failed: ${s.stderr}`);
    const d = await run('sh', ['-c', 'for f do dd if="$f" iflag=nocache count=0 status=none || exit 1; done', 'evict', ...part]);
    if (d.code !== 0) throw new Error(`eviction (dd iflag=nocache) failed: ${d.stderr}`);
  }
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  const res = await residentBytes(files);
  if (res !== null && res > Math.max(1 * MiB, bytes * 0.01) && !evictWarned) {
    evictWarned = true;
    log(`  WARNING: ${fmtBytes(res)} of ${fmtBytes(bytes)} still in the page cache after eviction (another process reading them?)`);
  }
  return { files: files.length, bytes, residentBytes: res };
}

/** A file of `bytes` seeded random bytes (AES-CTR keystream), fsynced. */
function writeRandomFile(path, bytes, label) {
  const stream = keyStream(label);
  const buf = Buffer.allocUnsafe(8 * MiB);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const n = Math.min(buf.length, bytes - done);
      fillRandom(buf.subarray(0, n), 'random', stream);
      let w = 0;
      while (w < n) w += writeSync(fd, buf, w, n - w, done + w);
      done += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rewrites `frac` of the file in place as 10 regions, one at a seeded
 * position inside each tenth of the file (4 KiB aligned), with fresh seeded
 * random bytes; fsyncs. Returns the bytes rewritten.
 */
function rewriteScattered(path, bytes, frac, label) {
  const region = Math.max(4096, Math.floor((bytes * frac) / 10 / 4096) * 4096);
  const tenth = Math.floor(bytes / 10);
  const pos = keyStream(`${label}/positions`);
  const r = Buffer.alloc(40);
  pos.fill(r);
  const data = keyStream(`${label}/data`);
  const buf = Buffer.allocUnsafe(Math.min(region, 8 * MiB));
  const fd = openSync(path, 'r+');
  let total = 0;
  try {
    for (let i = 0; i < 10; i++) {
      const slack = Math.max(0, tenth - region);
      const at = Math.min(bytes - region, i * tenth + Math.floor(((r.readUInt32LE(i * 4) / 2 ** 32) * slack) / 4096) * 4096);
      for (let done = 0; done < region; ) {
        const n = Math.min(buf.length, region - done);
        fillRandom(buf.subarray(0, n), 'random', data);
        let w = 0;
        while (w < n) w += writeSync(fd, buf, w, n - w, at + done + w);
        done += n;
      }
      total += region;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return total;
}

const childEnv = (t) => ({ ...process.env, CAIRN_THREADS: String(t) });

let StoreClass = null;
/** A fresh empty store, made in this process (untimed; a child per init costs a Node start-up each rep). */
async function initStore(dir) {
  await rmrf(dir);
  if (!StoreClass) StoreClass = (await import(storeSpec ? (storeSpec.startsWith('/') ? pathToFileURL(storeSpec).href : storeSpec) : '@cairn/store')).Store;
  await StoreClass.init(dir);
}

/** cairn in a child: Store.open + putPath + close (Node start-up excluded). */
async function cairnAdd(store, file, t, previous) {
  const r = await runChild('ingest', [store, file, ...(previous ? [previous] : [])], { env: childEnv(t) });
  return { ms: r.openMs + r.opMs + r.closeMs, cpuMs: r.opCpuMs, rssKiB: r.maxRssKiB, id: r.id, openMs: r.openMs, opMs: r.opMs, closeMs: r.closeMs, coldMs: r.coldMs, wallMs: r.wallMs };
}

/** The CLI, spawn to exit (Node start-up, imports, open, add, close). */
async function cliAdd(store, file, t) {
  const r = await run(process.execPath, [cliBin, '--store', store, 'store', 'add', file], { env: childEnv(t), sampleRss: true });
  if (r.code !== 0) throw new Error(`cairn store add failed (exit ${r.code}): ${r.stderr}`);
  return { ms: r.ms, rssKiB: r.sampledPeakKiB, id: r.stdout.trim().split(/\s+/)[0] };
}

/** Restore into `dest`, then `sync DEST DESTDIR` (the directory entry, as cp's baseline pays), timed together. */
async function cairnRestore(store, id, dest, t) {
  const r = await runChild('restore', [store, id, dest], { env: childEnv(t) });
  const s = await run('sync', [dest, dirname(dest)]);
  return { ms: r.openMs + r.opMs + r.closeMs + s.ms, cpuMs: r.opCpuMs, rssKiB: r.maxRssKiB, openMs: r.openMs, opMs: r.opMs, closeMs: r.closeMs, syncMs: s.ms, coldMs: r.coldMs, wallMs: r.wallMs };
}

async function cliRestore(store, id, dest, t) {
  const t0 = performance.now();
  const r = await run(process.execPath, [cliBin, '--store', store, 'store', 'get', id, dest], { env: childEnv(t), sampleRss: true });
  if (r.code !== 0) throw new Error(`cairn store get failed (exit ${r.code}): ${r.stderr}`);
  const s = await run('sync', [dest, dirname(dest)]);
  return { ms: performance.now() - t0, rssKiB: r.sampledPeakKiB };
}

function verify(path, want, what) {
  const got = sha256File(path);
  if (got !== want) {
    log(`\nRESTORE DID NOT VERIFY: ${what}: sha256 ${got}, expected ${want}`);
    throw Object.assign(new Error(`restore did not verify: ${what}`), { verifyFailed: true });
  }
}

// ---------------------------------------------------------------- cases

/** Memory touched before every timed step (see warmMemory): enough for a cp's source and copy in the page cache, and then some. */
const WARM_FACTOR = 2;
const WARM_EXTRA = 512 * MiB;

const samples = []; // { case, threads, rep, cairn, cli, cp, evicted }
const caseInfo = new Map(); // id -> { id, group, label, bytes, target, targetText }

function defineCase(id, group, label, bytes, target, targetText = null) {
  caseInfo.set(id, { id, group, label, bytes, target, targetText: targetText ?? (target === null ? 'report' : `≤ ${target}×`) });
}

/**
 * Runs reps × threads measurements of one case: for each rep, each thread
 * count (in an order rotated by rep), cairn (child), the CLI and cp + fsync
 * in an order alternated by rep, so drift in load hits all of them alike.
 * `m` supplies prepare (untimed, per rep and thread count), cairn, cli, cp.
 */
async function measureCase(id, m) {
  const info = caseInfo.get(id);
  log(`- ${info.label} [${((Date.now() - t0) / 1000).toFixed(0)} s]`);
  for (let rep = 0; rep < reps; rep++) {
    const order = threads.map((_, i) => threads[(i + rep) % threads.length]);
    for (const t of order) {
      const ctx = { rep, t, iter: rep * threads.length + order.indexOf(t) };
      if (m.prepare) await m.prepare(ctx);
      const sample = { case: id, threads: t, rep };
      const steps = ['cairn', ...(useCli && m.cli ? ['cli'] : []), 'cp'];
      if ((rep + threads.indexOf(t)) % 2 === 1) steps.reverse();
      for (const k of steps) {
        // Untimed: the step's own set-up, then a flush of what earlier steps left dirty, then the timed part.
        if (m.pre?.[k]) await m.pre[k](ctx);
        await settle(workRoot);
        await warmMemory(WARM_FACTOR * info.bytes + WARM_EXTRA);
        sample[k] = await m[k](ctx);
        if (m.post?.[k]) await m.post[k](ctx);
      }
      sample.ratio = sample.cairn.ms / sample.cp.ms;
      if (sample.cli) sample.cliRatio = sample.cli.ms / sample.cp.ms;
      samples.push(sample);
      log(
        `    rep ${rep + 1}/${reps} threads ${t}: cairn ${sample.cairn.ms.toFixed(0)} ms (cpu ${sample.cairn.cpuMs?.toFixed(0) ?? '-'}), ` +
          `${sample.cli ? `cli ${sample.cli.ms.toFixed(0)} ms, ` : ''}cp+fsync ${sample.cp.ms.toFixed(0)} ms -> ${sample.ratio.toFixed(2)}x`,
      );
    }
  }
}

/** A file `src` added to an empty store by the child and by the CLI, vs cp + fsync of it; source warm for all. */
async function addCase(id, src, dir) {
  const store = join(dir, 'store');
  const dst = join(dir, 'copy');
  await measureCase(id, {
    prepare: async () => {
      await rmrf(dst);
      await rmrf(store);
      warmRead([src]);
    },
    pre: { cairn: () => initStore(store), cli: () => initStore(store) },
    post: { cairn: () => rmrf(store), cli: () => rmrf(store), cp: () => rmrf(dst) },
    cairn: ({ t }) => cairnAdd(store, src, t),
    cli: ({ t }) => cliAdd(store, src, t),
    cp: () => cpFsync(src, dst),
  });
}

/**
 * Restore of `id` from `store` into a fresh path, cold: the store's packs/
 * and index/ (and the destination, if one is left) evicted before cairn,
 * the source file evicted before cp + fsync of it. Every restore is
 * verified by SHA-256.
 */
async function restoreCase(id, store, objId, src, want, dir) {
  const dest = join(dir, 'restored');
  const dst = join(dir, 'copy');
  // Untimed before each restore: nothing left at the destination, the store's files dropped from the page cache.
  let ev = null;
  const coldStore = async () => {
    await rmrf(dest);
    ev = await evict([join(store, 'packs'), join(store, 'index'), dest]);
  };
  const coldSource = async () => {
    await rmrf(dst);
    ev = await evict([src]);
  };
  await measureCase(id, {
    pre: { cairn: coldStore, cli: coldStore, cp: coldSource },
    cairn: async ({ t }) => {
      const r = await cairnRestore(store, objId, dest, t);
      verify(dest, want, `${id}, threads ${t}`);
      await rmrf(dest);
      return { ...r, evicted: ev };
    },
    cli: async ({ t }) => {
      const r = await cliRestore(store, objId, dest, t);
      verify(dest, want, `${id} (cairn store get), threads ${t}`);
      await rmrf(dest);
      return { ...r, evicted: ev };
    },
    cp: async () => {
      const r = await cpFsync(src, dst);
      verify(dst, want, `${id} (cp baseline)`);
      await rmrf(dst);
      return { ...r, evicted: ev };
    },
  });
}

async function runAdd() {
  for (const bytes of [sizeBytes, ...(bigBytes ? [bigBytes] : [])]) {
    const id = `add ${fmtSize(bytes)}`;
    defineCase(id, 'add', `store add, ${fmtSize(bytes)} random bytes`, bytes, 1.2);
    const dir = join(workRoot, 'add');
    await rmrf(dir);
    await mkdir(dir, { recursive: true });
    const src = join(dir, 'random.bin');
    log(`  writing ${fmtSize(bytes)} of random bytes`);
    writeRandomFile(src, bytes, `${opt.seed}/add/${bytes}`);
    await addCase(id, src, dir);
    if (!opt.keep) await rmrf(dir);
  }
}

async function runRewrite() {
  const id = `rewrite ${fmtSize(sizeBytes)}`;
  defineCase(id, 'rewrite', `store add after 10% rewritten, ${fmtSize(sizeBytes)} random bytes`, sizeBytes, 0.6);
  const dir = join(workRoot, 'rewrite');
  await rmrf(dir);
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'random.bin');
  const dst = join(dir, 'copy');
  const storeA = join(dir, 'store-child');
  const storeB = join(dir, 'store-cli');
  log(`  writing ${fmtSize(sizeBytes)} of random bytes, storing it (untimed)`);
  writeRandomFile(src, sizeBytes, `${opt.seed}/rewrite`);
  // Both stores follow the same history: every version stored in each, so each timed add finds 90% already there.
  await initStore(storeA);
  // As `exp run` records a checkpoint: with the ID of the out's previous version (PutOptions.previous).
  let previous = (await cairnAdd(storeA, src, poolDefault)).id;
  if (useCli) {
    await initStore(storeB);
    await cairnAdd(storeB, src, poolDefault);
  }
  let rewritten = 0;
  await measureCase(id, {
    prepare: async ({ iter }) => {
      await rmrf(dst);
      rewritten = rewriteScattered(src, sizeBytes, 0.1, `${opt.seed}/rewrite/${iter}`);
      warmRead([src]);
    },
    cairn: async ({ t }) => {
      const r = await cairnAdd(storeA, src, t, previous);
      previous = r.id;
      return { ...r, rewritten };
    },
    cli: async ({ t }) => cliAdd(storeB, src, t),
    cp: async () => {
      const r = await cpFsync(src, dst);
      await rmrf(dst);
      return r;
    },
  });
  if (!opt.keep) await rmrf(dir);
}

async function runRestore() {
  for (const name of ['full', 'frozen', 'lora']) {
    const id = `restore ${name} ${fmtSize(sizeBytes)}`;
    defineCase(id, 'restore', `restore, ${name} checkpoint, ${fmtSize(sizeBytes)} safetensors (cold cache)`, sizeBytes, 1.1);
    const dir = join(workRoot, `restore-${name}`);
    await rmrf(dir);
    const ckpt = join(dir, 'ckpt');
    await mkdir(ckpt, { recursive: true });
    const plan = planScenario(name, sizeBytes, 2);
    const file = join(ckpt, plan.files[0].name);
    const store = join(dir, 'store');
    // Checkpoint 0 and 1 stored (untimed); checkpoint 1 is restored: for frozen and lora it shares most chunks with 0.
    log(`  ${name}: writing and storing checkpoints 0 and 1 (untimed)`);
    writeCheckpoint(plan, ckpt, 0, { seed: opt.seed });
    await initStore(store);
    await cairnAdd(store, file, poolDefault);
    writeCheckpoint(plan, ckpt, 1, { seed: opt.seed });
    const { id: objId } = await cairnAdd(store, file, poolDefault);
    const want = sha256File(file);
    await restoreCase(id, store, objId, file, want, dir);
    if (!opt.keep) await rmrf(dir);
  }
}

async function runSmall() {
  const dir = join(workRoot, 'small');
  await rmrf(dir);
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'random.bin');
  writeRandomFile(src, smallBytes, `${opt.seed}/small`);
  const addId = `add ${fmtSize(smallBytes)}`;
  if (caseInfo.has(addId)) {
    // --size equals --small (quick mode): the add case has run already, under the stricter 1.2× target.
    log(`- ${addId}: measured above (--size = --small)`);
  } else {
    defineCase(addId, 'small', `store add, ${fmtSize(smallBytes)} random bytes`, smallBytes, 1.5);
    await addCase(addId, src, dir);
  }
  const restId = `restore ${fmtSize(smallBytes)}`;
  defineCase(restId, 'small', `restore, ${fmtSize(smallBytes)} random bytes (cold cache)`, smallBytes, 1.5);
  const store = join(dir, 'store-restore');
  await initStore(store);
  const { id: objId } = await cairnAdd(store, src, poolDefault);
  await restoreCase(restId, store, objId, src, sha256File(src), dir);
  if (!opt.keep) await rmrf(dir);
}

async function runTensor() {
  const id = `tensor add ${fmtSize(sizeBytes)}`;
  // Target: no slower than before. With --baseline (an earlier speed JSON), ≤ its ratio at the same thread count + 10% (noise).
  defineCase(id, 'tensor', `store add, ${fmtSize(sizeBytes)} safetensors checkpoint (tensor layout)`, sizeBytes, null, baseline ? '≤ baseline + 10%' : 'report (no --baseline)');
  const dir = join(workRoot, 'tensor');
  await rmrf(dir);
  const ckpt = join(dir, 'ckpt');
  await mkdir(ckpt, { recursive: true });
  const plan = planScenario('full', sizeBytes, 1);
  log(`  writing a ${fmtSize(sizeBytes)} safetensors checkpoint`);
  writeCheckpoint(plan, ckpt, 0, { seed: opt.seed });
  await addCase(id, join(ckpt, plan.files[0].name), dir);
  if (!opt.keep) await rmrf(dir);
}

// ---------------------------------------------------------------- figures

function figures() {
  const out = [];
  for (const info of caseInfo.values()) {
    for (const t of threads) {
      const s = samples.filter((x) => x.case === info.id && x.threads === t);
      if (s.length === 0) continue;
      const ratio = summarize(s.map((x) => x.ratio));
      const f = {
        case: info.id,
        group: info.group,
        threads: t,
        n: s.length,
        cairnMs: summarize(s.map((x) => x.cairn.ms)),
        cairnCpuMs: summarize(s.map((x) => x.cairn.cpuMs)),
        cpMs: summarize(s.map((x) => x.cp.ms)),
        ratio,
        cliMs: s[0].cli ? summarize(s.map((x) => x.cli.ms)) : null,
        cliRatio: s[0].cli ? summarize(s.map((x) => x.cliRatio)) : null,
        maxRssKiB: Math.max(...s.map((x) => x.cairn.rssKiB ?? 0)),
        cliPeakKiB: s[0].cli ? Math.max(...s.map((x) => x.cli.rssKiB ?? 0)) : null,
        maxResidentAfterEvict: Math.max(0, ...s.flatMap((x) => [x.cairn.evicted?.residentBytes, x.cli?.evicted?.residentBytes, x.cp.evicted?.residentBytes]).filter(Number.isFinite)),
      };
      let target = info.target;
      if (info.group === 'tensor' && baseline) {
        const b = baseline.figures?.find((x) => x.group === 'tensor' && x.threads === t);
        target = b ? Number((b.ratio.median * 1.1).toFixed(3)) : null;
      }
      f.target = target;
      f.pass = target === null ? null : ratio.median <= target;
      out.push(f);
    }
  }
  return out;
}

function rssTarget(figs) {
  if (!bigBytes) return null;
  const f = figs.filter((x) => x.case === `add ${fmtSize(bigBytes)}`);
  if (f.length === 0) return null;
  const maxKiB = Math.max(...f.map((x) => x.maxRssKiB));
  return { case: `add ${fmtSize(bigBytes)}`, maxRssMiB: maxKiB / 1024, limitMiB: 300, pass: maxKiB / 1024 < 300, cliPeakMiB: Math.max(...f.map((x) => x.cliPeakKiB ?? 0)) / 1024 };
}

// ---------------------------------------------------------------- report

const fx = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const fms = (v) => (Number.isFinite(v) ? v.toFixed(0) : '–');
const passText = (p) => (p === null || p === undefined ? '–' : p ? 'pass' : '**FAIL**');

function renderMarkdown(results, { chart } = {}) {
  const { meta, figures: figs, rss } = results;
  const L = [];
  L.push(`# cairn speed vs cp + fsync (issue 14)`, '');
  L.push(`- **Command:** \`${meta.command}\` (${meta.date.slice(0, 16).replace('T', ' ')} UTC, ${(meta.elapsedMs / 1000).toFixed(0)} s, commit ${meta.commit ?? '?'}${meta.dirty ? ' + uncommitted changes in packages/' : ''})`);
  L.push(`- **Store:** ${meta.store ? `\`${meta.store}\` (CAIRN_BENCH_STORE)` : 'this checkout'}; CLI \`${meta.cli}\`${meta.cliMismatch ? ' (**not** the build CAIRN_BENCH_STORE names: set CAIRN_BENCH_CLI)' : ''}`);
  L.push(`- **Machine:** ${meta.machine.cpu} × ${meta.machine.cpus} cores (availableParallelism ${meta.machine.parallelism}), ${(meta.machine.memBytes / 1024 ** 3).toFixed(0)} GiB RAM, ${meta.machine.os} (Linux ${meta.machine.kernel})${meta.machine.disk ? `, scratch on ${meta.machine.disk}` : ''}`);
  L.push(`- **Load average:** ${meta.loadavg.map((x) => x.toFixed(2)).join(' ')} at start, ${meta.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} at end`);
  L.push(`- **Reps:** ${meta.reps} per case and thread count; threads ${meta.threads.join(', ')}; targets judged at ${meta.judgedThreads} thread${meta.judgedThreads > 1 ? 's' : ''} (cairn's default pool size here)`);
  if (!meta.fincore) L.push(`- **fincore missing:** eviction could not be checked`);
  L.push('');
  if (chart) L.push(`![ratio to cp + fsync vs threads](${chart})`, '');
  const verdicts = figs.filter((f) => f.threads === meta.judgedThreads && f.pass !== null);
  const failed = verdicts.filter((f) => !f.pass);
  L.push(
    `**Targets at ${meta.judgedThreads} thread${meta.judgedThreads > 1 ? 's' : ''}:** ${verdicts.length === 0 ? 'none judged in this run' : `${verdicts.length - failed.length} of ${verdicts.length} met`}${failed.length ? ` (missed: ${failed.map((f) => `${f.case} ${fx(f.ratio.median)}× > ${f.target}×`).join('; ')})` : ''}` +
      (rss ? `; peak RSS at ${fmtSize(meta.bigBytes)}: ${rss.maxRssMiB.toFixed(0)} MiB (< 300 MiB: ${rss.pass ? 'pass' : '**FAIL**'})` : '') +
      '.',
    '',
  );
  for (const t of meta.threads) {
    const rows = figs.filter((f) => f.threads === t);
    if (rows.length === 0) continue;
    L.push(`### ${t} thread${t > 1 ? 's' : ''} (CAIRN_THREADS=${t})${t > meta.machine.parallelism ? ' — oversubscribed' : ''}`, '');
    L.push(`| case | cairn ms | cairn CPU ms | cp + fsync ms | × cp (median [min–max]) | target | | CLI ms | CLI × cp | peak RSS MiB |`);
    L.push(`| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |`);
    for (const f of rows) {
      const info = meta.cases.find((c) => c.id === f.case);
      const target = f.target !== null ? `≤ ${f.target}×` : info.targetText;
      L.push(
        `| ${f.case} | ${fms(f.cairnMs.median)} | ${fms(f.cairnCpuMs.median)} | ${fms(f.cpMs.median)} | ${fx(f.ratio.median)} [${fx(f.ratio.min)}–${fx(f.ratio.max)}] | ${target} | ${passText(f.pass)} | ${f.cliMs ? fms(f.cliMs.median) : '–'} | ${f.cliRatio ? fx(f.cliRatio.median) : '–'} | ${f.maxRssKiB ? (f.maxRssKiB / 1024).toFixed(0) : '–'} |`,
      );
    }
    L.push('');
  }
  L.push(`### Scaling: × cp + fsync (median) by thread count`, '');
  L.push(`| case | target | ${meta.threads.map((t) => `${t} thr`).join(' | ')} | cairn CPU ms, ${meta.threads.map((t) => `${t} thr`).join(' / ')} |`);
  L.push(`| --- | ---: | ${meta.threads.map(() => '---:').join(' | ')} | ---: |`);
  for (const c of meta.cases) {
    const byT = meta.threads.map((t) => figs.find((f) => f.case === c.id && f.threads === t));
    L.push(`| ${c.id} | ${c.target !== null ? `≤ ${c.target}×` : c.targetText} | ${byT.map((f) => (f ? fx(f.ratio.median) : '–')).join(' | ')} | ${byT.map((f) => (f ? fms(f.cairnCpuMs.median) : '–')).join(' / ')} |`);
  }
  L.push('');
  L.push('### How it is measured', '');
  for (const n of [
    'cairn: `Store.open` + operation + `close` in a child process (`bench/child.mjs`), Node start-up excluded — what a checkpoint costs inside a running `cairn exp run`. CPU ms = the operation\'s CPU time, every thread. CLI: `cairn store add FILE` / `cairn store get ID DEST`, spawn to exit (Node start-up included). Restores, cairn\'s and the CLI\'s, are followed by a timed `sync DEST DESTDIR`, as the baseline fsyncs its copy and folder.',
    'Baseline: `cp SRC DST && sync DST DSTDIR`, spawn to exit, next to every cairn measurement (same rep, same thread count, order alternated rep by rep). Ratio = cairn ÷ that cp; the table shows the median of the per-rep ratios and the median ms of each side.',
    'Adds: the source file is in the page cache for both (a checkpoint just written), the store is empty (`add`, `tensor`) or holds every earlier version (`rewrite`: 10 regions of 1% each rewritten in place with new random bytes before every rep; cairn is given the ID of the version before, as `exp run` gives it for a checkpoint out, so unchanged chunks are recognised by their XXH64 instead of hashed again; the CLI column, `cairn store add`, has no previous version and hashes every byte).',
    'Restores: cold page cache without root: before every cairn restore the store\'s `packs/` and `index/` files are fsynced and dropped with `dd if=FILE iflag=nocache count=0` (POSIX_FADV_DONTNEED), before every baseline the cp source; `fincore` checks that nothing stayed resident. The restored checkpoint is checkpoint 1 of `bench/scenarios.mjs` (full: every tensor changed since checkpoint 0; frozen: ~10%; lora: ~1%), stored after checkpoint 0. Every restore, cairn\'s, the CLI\'s and cp\'s, is compared with the original by SHA-256.',
    'Peak RSS: the child\'s `process.resourceUsage().maxRSS`; the CLI\'s is sampled from /proc (VmHWM).',
    `Before every timed step an untimed \`sync -f\` flushes what earlier steps left dirty, then a short-lived process touches twice the case's size plus 512 MiB of memory (at most half the free memory): on a VM whose balloon hands free pages back to the host, the first touch of memory left free for a few seconds costs several times a normal page fault, which swung cp + fsync of 1 GiB between 0.6 and 2.4 s from one step to the next (\`bench/measure.mjs\`, warmMemory). The machine may be shared: load average is above; CPU time is the steadier figure under load.`,
  ])
    L.push(`- ${n}`);
  L.push('');
  return L.join('\n') + '\n';
}

function renderSvg(results) {
  const { meta, figures: figs } = results;
  const series = meta.cases.map((c) => ({
    label: c.id,
    target: c.target ?? figs.find((f) => f.case === c.id && f.target !== null)?.target ?? null,
    values: meta.threads.map((t) => figs.find((f) => f.case === c.id && f.threads === t)?.ratio.median ?? null),
  }));
  const m = meta.machine;
  return renderLineChart({
    title: 'cairn vs cp + fsync by worker threads (median × cp + fsync, lower is better)',
    subtitle: `${meta.date.slice(0, 10)} · commit ${meta.commit ?? '?'} · ${m.cpus} × ${m.cpu} · load ${meta.loadavg[0].toFixed(1)}–${meta.loadavgEnd[0].toFixed(1)} · ${meta.command}`,
    xs: meta.threads,
    series,
    footer: `Medians of ${meta.reps} reps; restores from a cold page cache (per-file eviction); every restore verified by SHA-256. Method: bench/README.md (Speed).`,
  });
}

// ---------------------------------------------------------------- publish

function newestRun() {
  const dir = join(HERE, 'out');
  const runs = (existsSync(dir) ? readdirSync(dir) : [])
    .filter((n) => /^speed-.*\.json$/.test(n))
    .map((n) => join(dir, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (runs.length === 0) {
    console.error('bench:speed:publish: no bench/out/speed-*.json: run npm run bench:speed first');
    process.exit(2);
  }
  return runs[0];
}

/** Copies a run's chart and report to bench/results/speed.{svg,md} and rewrites the README's speed block. */
function publish(jsonPath) {
  const results = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const svg = jsonPath.replace(/\.json$/, '.svg');
  if (!existsSync(svg)) {
    console.error(`bench:speed:publish: ${relative(ROOT, svg)} is missing (written beside the run's JSON)`);
    process.exit(2);
  }
  const text = readFileSync(README, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a === -1 || b === -1 || b < a) {
    console.error(`bench:speed:publish: ${README} has no ${BEGIN} … ${END} block to rewrite`);
    process.exit(2);
  }
  const { meta, figures: figs, rss } = results;
  const t = meta.judgedThreads;
  const rows = figs.filter((f) => f.threads === t);
  const block = [
    BEGIN,
    '![cairn vs cp + fsync by worker threads](bench/results/speed.svg)',
    '',
    `\`${meta.command}\` on ${meta.date.slice(0, 16).replace('T', ' ')} UTC (commit ${meta.commit ?? '?'}), ${(meta.elapsedMs / 1000).toFixed(0)} s, ${meta.machine.cpus} × ${meta.machine.cpu}, load ${meta.loadavg[0].toFixed(2)} at start, ${meta.loadavgEnd[0].toFixed(2)} at end. Full report with every thread count and the CLI column: [bench/results/speed.md](bench/results/speed.md).`,
    '',
    `| ${t} threads (cairn's default here) | cairn ms | cp + fsync ms | × cp, median [min–max] | target | |`,
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((f) => {
      const info = meta.cases.find((c) => c.id === f.case);
      return `| ${f.case} | ${fms(f.cairnMs.median)} | ${fms(f.cpMs.median)} | ${fx(f.ratio.median)} [${fx(f.ratio.min)}–${fx(f.ratio.max)}] | ${f.target !== null ? `≤ ${f.target}×` : info.targetText} | ${passText(f.pass)} |`;
    }),
    ...(rss ? [`| peak RSS, add ${fmtSize(meta.bigBytes)} | ${rss.maxRssMiB.toFixed(0)} MiB | | | < 300 MiB | ${passText(rss.pass)} |`] : []),
    '',
    `| × cp + fsync by threads | ${meta.threads.join(' | ')} |`,
    `| --- | ${meta.threads.map(() => '---:').join(' | ')} |`,
    ...meta.cases.map((c) => `| ${c.id} | ${meta.threads.map((th) => fx(figs.find((f) => f.case === c.id && f.threads === th)?.ratio.median)).join(' | ')} |`),
    END,
  ].join('\n');
  mkdirSync(join(HERE, 'results'), { recursive: true });
  copyFileSync(svg, join(HERE, 'results', 'speed.svg'));
  writeFileSync(join(HERE, 'results', 'speed.md'), renderMarkdown(results, { chart: 'speed.svg' }));
  writeFileSync(README, text.slice(0, a) + block + text.slice(b + END.length));
  console.log(`bench:speed:publish: ${relative(ROOT, jsonPath)} -> ${relative(ROOT, README)}, bench/results/speed.{svg,md}`);
}

// ---------------------------------------------------------------- main

function gitInfo() {
  const git = (args, env) => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let commit = null;
  let dirty = null;
  try {
    commit = git(['rev-parse', '--short', 'HEAD']);
    dirty = git(['status', '--porcelain', '--untracked-files=no', 'packages'], { GIT_OPTIONAL_LOCKS: '0' }) !== '';
  } catch {
    // not a git checkout
  }
  return { commit, dirty };
}

function machine() {
  const cpus = os.cpus();
  let disk = null;
  try {
    disk = execFileSync('df', ['-hT', workRoot], { encoding: 'utf8' }).trim().split('\n').pop().split(/\s+/).slice(0, 3).join(' ');
  } catch {
    // df missing
  }
  let osName = os.type();
  try {
    osName = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    // not Linux
  }
  return { cpu: cpus[0]?.model?.trim() ?? 'unknown', cpus: cpus.length, parallelism: cores, memBytes: os.totalmem(), os: osName, kernel: os.release(), disk };
}

/** Disk the chosen cases keep at once (cases run one after another; each deletes its folder). */
function diskNeeded() {
  const iters = reps * threads.length;
  const need = [];
  if (only.includes('add')) need.push(2 * Math.max(sizeBytes, bigBytes ?? 0) * 1.05);
  if (only.includes('rewrite')) need.push(sizeBytes * (2 + (useCli ? 2 : 1) * (1.05 + 0.12 * iters)));
  if (only.includes('restore')) need.push(sizeBytes * 5.2);
  if (only.includes('small')) need.push(smallBytes * 5);
  if (only.includes('tensor')) need.push(sizeBytes * 2.1);
  return Math.max(0, ...need) + 256 * MiB;
}

if (opt['publish-only']) {
  publish(resolve(positionals[0] ?? newestRun()));
  process.exit(0);
}

mkdirSync(workRoot, { recursive: true });
mkdirSync(dirname(outPath), { recursive: true });
const need = diskNeeded();
const free = await freeBytes(workRoot);
if (free < need) {
  log(`bench:speed: needs about ${fmtBytes(need)} free under ${workRoot}, has ${fmtBytes(free)}: try --size, --no-big, --only or --work`);
  process.exit(2);
}

const { commit, dirty } = gitInfo();
const meta = {
  date: new Date().toISOString(),
  command: `node bench/speed.mjs${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`,
  argv: process.argv.slice(2),
  sizeBytes,
  bigBytes,
  smallBytes,
  reps,
  threads,
  judgedThreads,
  only,
  seed: opt.seed,
  store: storeSpec,
  cli: relative(ROOT, cliBin) || cliBin,
  cliMismatch,
  fincore: hasFincore,
  baseline: opt.baseline ?? null,
  node: process.version,
  commit,
  dirty,
  machine: machine(),
  loadavg: os.loadavg(),
  diskNeededBytes: need,
  diskFreeBytes: free,
};
log(
  `bench:speed: ${only.join(', ')}; size ${fmtSize(sizeBytes)}${bigBytes && only.includes('add') ? `, big ${fmtSize(bigBytes)}` : ''}, small ${fmtSize(smallBytes)}; ${reps} reps; threads ${threads.join(',')}; ` +
    `store ${storeSpec ?? 'this checkout'}; needs ~${fmtBytes(need)} of disk, ${fmtBytes(free)} free; load ${os.loadavg()[0].toFixed(2)}`,
);
if (cliMismatch && useCli) log(`  note: CAIRN_BENCH_STORE is set but the CLI column runs ${cliBin}: set CAIRN_BENCH_CLI to that build's packages/cli/bin/cairn.js`);
if (!hasFincore) log('  note: fincore (util-linux) missing: eviction is done but not checked');

let verifyFailed = false;
try {
  if (only.includes('add')) await runAdd();
  if (only.includes('rewrite')) await runRewrite();
  if (only.includes('restore')) await runRestore();
  if (only.includes('small')) await runSmall();
  if (only.includes('tensor')) await runTensor();
} catch (err) {
  verifyFailed = Boolean(err?.verifyFailed);
  log(`bench:speed: error: ${err?.stack ?? err}`);
  if (!opt.keep) await rmrf(workRoot).catch(() => {});
  process.exit(verifyFailed ? 1 : 2);
}
if (!opt.keep) await rmrf(workRoot);
meta.elapsedMs = Date.now() - t0;
meta.loadavgEnd = os.loadavg();
meta.cases = [...caseInfo.values()];
const figs = figures();
const results = { meta, figures: figs, rss: rssTarget(figs), samples };
const svgPath = outPath.replace(/\.json$/, '') + '.svg';
const mdPath = outPath.replace(/\.json$/, '') + '.md';
writeFileSync(outPath, JSON.stringify(results, null, 1) + '\n');
writeFileSync(svgPath, renderSvg(results));
const md = renderMarkdown(results, { chart: basename(svgPath) });
writeFileSync(mdPath, md);
process.stdout.write(md);
log(`\nresults: ${outPath}\nchart:   ${svgPath}\nreport:  ${mdPath} (${(meta.elapsedMs / 1000).toFixed(1)} s)`);
if (opt.publish) publish(outPath);
const failed = figs.some((f) => f.threads === judgedThreads && f.pass === false) || results.rss?.pass === false;
process.exitCode = opt.strict && failed ? 1 : 0;
