#!/usr/bin/env node
// cairn benchmark: ingest/restore of synthetic safetensors checkpoints vs
// `cp` + fsync, storage growth vs bytes actually changed, peak RSS.
//
//   node bench/run.mjs                                   quick: 64 MiB files, 10 checkpoints
//   node bench/run.mjs --size 4GiB --checkpoints 3       large
//   node bench/run.mjs --scenarios frozen,lora --reps 5 --out bench/results/x.json
//
// See bench/README.md. Progress goes to stderr, the Markdown report to stdout.

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { parseSize, fmtBytes, writeModel, rewriteTensors, checkSafetensors } from './gen-safetensors.mjs';
import { planScenario, SCENARIOS } from './scenarios.mjs';
import { summarize, median, settle, cpFsync, runChild, warmRead, sha256File, listFiles, dirBytes, freeBytes, rmrf } from './measure.mjs';
import { evaluateTargets, renderMarkdown, writeJson } from './report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string' },
    checkpoints: { type: 'string' },
    scenarios: { type: 'string', default: 'full,frozen,lora' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string' },
    'restore-checkpoint': { type: 'string', default: '5' },
    data: { type: 'string', default: 'weights' },
    work: { type: 'string', default: join(HERE, 'work') },
    keep: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  process.stdout.write(`usage: node bench/run.mjs [--size 64MiB] [--checkpoints 10] [--scenarios full,frozen,lora]
                         [--reps 3] [--out bench/results/<timestamp>.json] [--restore-checkpoint 5]
                         [--data weights|random] [--work bench/work] [--keep] [--strict]
quick mode (no --size): 64 MiB files, 10 checkpoints. Large: --size 4GiB --checkpoints 3.
`);
  process.exit(0);
}

const quick = opt.size === undefined;
const sizeBytes = parseSize(opt.size ?? '64MiB');
const N = Number(opt.checkpoints ?? (quick ? 10 : 3));
const reps = Number(opt.reps);
const scenarioNames = opt.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
const restoreWanted = Number(opt['restore-checkpoint']);
const restoreK = Math.min(restoreWanted, N - 1);
if (!Number.isInteger(N) || N < 1) throw new Error('--checkpoints must be a positive integer');
if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
if (!['weights', 'random'].includes(opt.data)) throw new Error('--data is weights or random');
for (const s of scenarioNames) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}`);

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outPath = resolve(opt.out ?? join(HERE, 'results', `${stamp}.json`));
const workRoot = resolve(opt.work);

if (!existsSync(join(ROOT, 'packages/store/dist/index.js'))) {
  log('bench: packages/store/dist/index.js is missing: build first (npx tsc -b, or npm run bench)');
  process.exit(2);
}

mkdirSync(workRoot, { recursive: true });

/** Bytes the store counts as "stored" for growth accounting: pack bytes on disk (trailers included). */
const storedOf = (s) => s.packBytes ?? s.storedBytes;

async function checkDisk(plan) {
  const f = plan.model.fileBytes;
  const growth = f * (1 + (N - 1) * plan.changingFrac);
  // working file + cp copy + restored copy, plus one store per rep (15% slack), plus 1 GiB headroom for others
  const need = 3 * f + reps * growth * 1.15 + 1024 ** 3;
  const free = await freeBytes(workRoot);
  if (free < need) {
    throw new Error(
      `not enough disk for scenario ${plan.name}: need ~${fmtBytes(need)}, ${fmtBytes(free)} free under ${workRoot}` +
        ` (try fewer --checkpoints or --reps)`,
    );
  }
  return { need, free };
}

async function runScenario(name) {
  const plan = planScenario(name, sizeBytes, N);
  const m = plan.model;
  const disk = await checkDisk(plan);
  const work = join(workRoot, `${name}-${process.pid}`);
  await rmrf(work);
  mkdirSync(work, { recursive: true });
  log(
    `\n== ${name}: ${plan.describe}\n   file ${fmtBytes(m.fileBytes)} (${m.config.tensors} tensors, ${m.config.layers} layers, d=${m.config.hidden}, vocab=${m.config.vocab}` +
      `${m.config.loraRank ? `, lora r=${m.config.loraRank}` : ''}); ${plan.changingTensors} tensors = ${fmtBytes(plan.changingBytes)} ` +
      `(${(plan.changingFrac * 100).toFixed(2)}%) change per checkpoint; disk free ${fmtBytes(disk.free)}, need ~${fmtBytes(disk.need)}`,
  );

  const file = join(work, 'model.safetensors');
  const cpDest = join(work, 'cp-copy.safetensors');
  const stores = Array.from({ length: reps }, (_, r) => join(work, `store-${r}`));
  const result = {
    name,
    describe: plan.describe,
    model: m.config,
    fileBytes: m.fileBytes,
    tensorBytes: m.tensorBytes,
    headerBytes: m.dataStart,
    changingTensors: plan.changingTensors,
    changingBytes: plan.changingBytes,
    changingFrac: plan.changingFrac,
    checkpoints: [],
    warnings: [],
  };

  try {
    let prevStats = null;
    for (const s of stores) {
      const r = await runChild('init', [s]);
      prevStats ??= r.stats;
    }
    let prevDir = await dirBytes(stores[0]);
    result.emptyStore = { stats: prevStats, dir: prevDir };
    let restoreSha = null;
    const ids = [];

    for (const step of plan.steps) {
      const { k } = step;
      const tg = Date.now();
      let changed;
      if (k === 0) {
        writeModel(file, m, { data: opt.data });
        checkSafetensors(file);
        changed = m.fileBytes;
      } else {
        changed = rewriteTensors(file, m, step.rewrite, { data: opt.data });
      }
      if (changed !== step.changedBytes) throw new Error(`generator changed ${changed} bytes, plan says ${step.changedBytes}`);
      const genMs = Date.now() - tg;
      warmRead([file]); // page-cache warm for both contenders
      if (k === restoreK) restoreSha = sha256File(file);

      const ing = [];
      const cps = [];
      for (let r = 0; r < reps; r++) {
        const doCp = async () => {
          await settle(work);
          cps.push(await cpFsync(file, cpDest));
          await rm(cpDest, { force: true });
        };
        const doCairn = async () => {
          await settle(work);
          ing.push({ r, ...(await runChild('ingest', [stores[r], file])) });
        };
        // Alternate who goes first, so slow drift on a noisy box hits both.
        if (r % 2 === 0) {
          await doCp();
          await doCairn();
        } else {
          await doCairn();
          await doCp();
        }
      }
      const r0 = ing.find((x) => x.r === 0);
      for (const x of ing) {
        if (x.id !== r0.id) result.warnings.push(`ckpt ${k}: rep ${x.r} got id ${x.id}, rep 0 got ${r0.id}`);
        if (storedOf(x.stats) !== storedOf(r0.stats)) result.warnings.push(`ckpt ${k}: rep ${x.r} stored ${storedOf(x.stats)} != rep 0 ${storedOf(r0.stats)}`);
      }
      ids.push(r0.id);
      const dir = await dirBytes(stores[0]);
      const stored = storedOf(r0.stats) - storedOf(prevStats);
      const ingestMs = ing.map((x) => x.opMs + x.closeMs);
      const cpMs = cps.map((x) => x.ms);
      const rec = {
        k,
        changedBytes: changed,
        fullyChanged: step.fullyChanged,
        id: r0.id,
        storedAdded: stored,
        blobAdded: r0.stats.storedBytes - prevStats.storedBytes,
        storeDirAdded: dir.size - prevDir.size,
        addedRatio: stored / changed,
        ingest: summarize(ingestMs),
        ingestPut: summarize(ing.map((x) => x.opMs)),
        ingestOpen: summarize(ing.map((x) => x.openMs)),
        ingestClose: summarize(ing.map((x) => x.closeMs)),
        ingestWall: summarize(ing.map((x) => x.wallMs)),
        cp: summarize(cpMs),
        ratio: median(ingestMs) / median(cpMs),
        peakRssKiB: Math.max(...ing.map((x) => x.maxRssKiB)),
        rssAfterOpenKiB: Math.max(...ing.map((x) => x.rssAfterOpenKiB)),
        sampledPeakKiB: Math.max(...ing.map((x) => x.sampledPeakKiB)),
        statsMs: summarize(ing.map((x) => x.statsMs)),
        stats: r0.stats,
        genMs,
      };
      result.checkpoints.push(rec);
      prevStats = r0.stats;
      prevDir = dir;
      log(
        `  ckpt ${k}: changed ${fmtBytes(changed)}, stored +${fmtBytes(stored)} (${rec.addedRatio.toFixed(3)}x), ` +
          `ingest ${rec.ingest.median.toFixed(0)} ms vs cp+fsync ${rec.cp.median.toFixed(0)} ms (${rec.ratio.toFixed(2)}x), ` +
          `peak RSS ${(rec.peakRssKiB / 1024).toFixed(0)} MiB`,
      );
    }

    // Restore phase: only store 0 is needed.
    for (const s of stores.slice(1)) await rmrf(s);
    const id = ids[restoreK];
    const restoreDest = join(work, 'restored.safetensors');
    const storeFiles = (await listFiles(stores[0])).map((f) => f.path);
    warmRead([...storeFiles, file]);
    const rs = [];
    const cps = [];
    let verified = null;
    for (let r = 0; r < reps; r++) {
      const doCp = async () => {
        await settle(work);
        cps.push(await cpFsync(file, cpDest));
        await rm(cpDest, { force: true });
      };
      const doCairn = async () => {
        await settle(work);
        rs.push(await runChild('restore', [stores[0], id, restoreDest]));
        if (verified === null) verified = sha256File(restoreDest) === restoreSha;
        await rm(restoreDest, { force: true });
      };
      if (r % 2 === 0) {
        await doCp();
        await doCairn();
      } else {
        await doCairn();
        await doCp();
      }
    }
    const restoreMs = rs.map((x) => x.opMs + x.closeMs);
    result.restore = {
      k: restoreK,
      id,
      verified,
      cairn: summarize(restoreMs),
      cairnOpen: summarize(rs.map((x) => x.openMs)),
      cairnWall: summarize(rs.map((x) => x.wallMs)),
      cp: summarize(cps.map((x) => x.ms)),
      ratio: median(restoreMs) / median(cps.map((x) => x.ms)),
      peakRssKiB: Math.max(...rs.map((x) => x.maxRssKiB)),
      sampledPeakKiB: Math.max(...rs.map((x) => x.sampledPeakKiB)),
    };
    if (!verified) result.warnings.push(`restore of checkpoint ${restoreK} did NOT match the original bytes`);
    log(
      `  restore ckpt ${restoreK}: ${result.restore.cairn.median.toFixed(0)} ms vs cp+fsync ${result.restore.cp.median.toFixed(0)} ms ` +
        `(${result.restore.ratio.toFixed(2)}x), verified=${verified}, peak RSS ${(result.restore.peakRssKiB / 1024).toFixed(0)} MiB`,
    );

    const dir = await dirBytes(stores[0]);
    const last = prevStats;
    result.totals = {
      checkpointBytes: N * m.fileBytes, // what a copy per checkpoint costs
      logicalBytes: last.logicalBytes,
      storedBytes: storedOf(last),
      blobBytes: last.storedBytes,
      storeDirBytes: dir.size,
      storeDirAllocated: dir.allocated,
      storedOverCheckpoint: storedOf(last) / (N * m.fileBytes),
      changedBytes: result.checkpoints.reduce((a, c) => a + c.changedBytes, 0),
      stats: last,
    };
    for (const w of result.warnings) log(`  WARNING: ${w}`);
  } finally {
    if (!opt.keep) await rmrf(work);
  }
  return result;
}

const results = {
  meta: {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'custom',
    sizeBytes,
    checkpoints: N,
    reps,
    restoreCheckpoint: restoreK,
    data: opt.data,
    argv: process.argv.slice(2),
    node: process.version,
    commit: (() => {
      try {
        return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return null;
      }
    })(),
    cpus: os.cpus().length,
    memBytes: os.totalmem(),
    loadavg: os.loadavg(),
    notes: [
      'Page cache cannot be dropped without root: every source file (the model file for cp and ingest, the store for restore) is read once before timing, so both sides read warm.',
      'ingest/restore ms = putPath/getToPath + close() inside a child process (Node start-up, import and Store.open excluded; open is reported separately). cp+fsync ms = real `cp` then `sync FILE DIR`, spawns included.',
      'stored + = growth of stats().packBytes (pack files on disk, trailers included) after the checkpoint; index (LevelDB) growth is in storeDirAdded.',
    ],
  },
  scenarios: [],
};

const t0 = Date.now();
try {
  for (const name of scenarioNames) results.scenarios.push(await runScenario(name));
} catch (err) {
  log(`bench: error: ${err?.message ?? err}`);
  process.exit(2);
}
results.meta.elapsedMs = Date.now() - t0;
results.meta.loadavgEnd = os.loadavg();
results.targets = evaluateTargets(results);
process.stdout.write(renderMarkdown(results));
writeJson(results, outPath);
log(`\nresults: ${outPath} (${(results.meta.elapsedMs / 1000).toFixed(1)} s)`);
// Exit 1 when a restore did not match; with --strict also when a target fails.
const badRestore = results.scenarios.some((s) => s.restore && !s.restore.verified);
const failed = results.targets.some((t) => t.pass === false);
process.exitCode = badRestore || (opt.strict && failed) ? 1 : 0;
