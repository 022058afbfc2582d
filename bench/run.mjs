#!/usr/bin/env node
// cairn benchmark: cairn against what people would use instead — restic,
// git + git-lfs, whole-file content addressing — and the physical bound
// (cp + fsync), on the same generated checkpoints in the same run; plus,
// for cairn alone, signal-to-resume latency of a real `cairn exp run` and
// `exp show --json` scaling.
//
//   node bench/run.mjs                           quick: 64 MiB, 10 checkpoints, 5 scenarios, every peer (< 3 min)
//   node bench/run.mjs --size 8GiB               large (see bench/README.md for disk and time)
//   node bench/run.mjs --no-peers --scenarios frozen,lora
//
// See bench/README.md. Progress goes to stderr, the Markdown report to
// stdout, JSON + SVG chart to bench/out/ (npm run bench:publish shows the
// latest in the README).

import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { parseSize, fmtBytes } from './gen-safetensors.mjs';
import { planScenario, writeCheckpoint, SCENARIO_NAMES } from './scenarios.mjs';
import { summarize, settle, warmRead, sha256File, listFiles, dirBytes, freeBytes, rmrf } from './measure.mjs';
import { TOOLS, PEER_NAMES, byName, resolveTools } from './peers/index.mjs';
import { snapshotTree, writtenSince, syncPaths } from './peers/common.mjs';
import { runResume, parseResumeSpec } from './resume.mjs';
import { runExpShow, parseExpShowSpec } from './expshow.mjs';
import { evaluateTargets, evaluateClaims, renderMarkdown, writeJson } from './report.mjs';
import { renderChart } from './chart.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

const { values: opt } = parseArgs({
  options: {
    size: { type: 'string' },
    checkpoints: { type: 'string', default: '10' },
    scenarios: { type: 'string', default: SCENARIO_NAMES.join(',') },
    tools: { type: 'string' },
    peers: { type: 'boolean', default: true },
    'no-peers': { type: 'boolean', default: false },
    'install-peers': { type: 'boolean', default: false },
    reps: { type: 'string', default: '3' },
    order: { type: 'string', default: 'auto' },
    'restore-checkpoint': { type: 'string', default: '5' },
    resume: { type: 'string' },
    'no-resume': { type: 'boolean', default: false },
    'exp-show': { type: 'string', default: '100x100' },
    'no-exp-show': { type: 'boolean', default: false },
    data: { type: 'string', default: 'weights' },
    seed: { type: 'string', default: 'cairn-bench-1' },
    out: { type: 'string' },
    work: { type: 'string', default: join(HERE, 'work') },
    keep: { type: 'boolean', default: false },
    strict: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (opt.help) {
  process.stdout.write(`usage: node bench/run.mjs [options]
  --size S                 checkpoint model size (default 64MiB = quick mode; up to 8GiB)
  --checkpoints N          checkpoints per scenario (default 10)
  --scenarios a,b          ${SCENARIO_NAMES.join(',')} (default: all; none: only the cairn-only parts)
  --no-peers               cairn and cp+fsync only (--peers, the default, adds ${PEER_NAMES.join(', ')})
  --tools a,b              exact tool list (cp and cairn are always in)
  --install-peers          apt-get install missing peers first (root)
  --reps R                 restore repetitions, and of the cairn-only timings (default 3)
  --order auto|interleaved|sequential
                           interleaved: every tool adds checkpoint k before k+1 is written (one file, drift hits all
                           alike); sequential: one tool's whole sequence at a time, its data deleted after (disk = one
                           tool's worth); auto: interleaved when the disk holds every tool at once (default)
  --restore-checkpoint K   which checkpoint to restore (default 5)
  --resume 10MiB:21,1GiB:6 signal-to-resume: out size:checkpoints per exp run (quick default 10MiB:21,
                           with --size 10MiB:21,1GiB:6; --no-resume to skip)
  --exp-show 100x100       exp show scaling: experiments x checkpoints of the large store (--no-exp-show to skip)
  --data weights|random    tensor content (default weights: float32 in ±0.05)
  --seed S                 content seed (every tool sees identical bytes; same seed = same files)
  --out FILE               JSON results (default bench/out/<timestamp>.json; chart beside it)
  --work DIR               scratch folder (default bench/work); --keep keeps it
  --strict                 exit 1 when a target or claim fails
`);
  process.exit(0);
}

const quick = opt.size === undefined;
const sizeBytes = parseSize(opt.size ?? '64MiB');
const N = Number(opt.checkpoints);
const reps = Number(opt.reps);
const scenarioNames = opt.scenarios === 'none' ? [] : opt.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
const restoreK = Math.min(Number(opt['restore-checkpoint']), N - 1);
if (!Number.isInteger(N) || N < 1) throw new Error('--checkpoints must be a positive integer');
if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
if (!['weights', 'random'].includes(opt.data)) throw new Error('--data is weights or random');
if (!['auto', 'interleaved', 'sequential'].includes(opt.order)) throw new Error('--order is auto, interleaved or sequential');
for (const s of scenarioNames) if (!SCENARIO_NAMES.includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIO_NAMES.join(', ')})`);
const withPeers = opt.peers && !opt['no-peers'];
const wanted = opt.tools
  ? [...new Set(['cp', 'cairn', ...opt.tools.split(',').map((s) => s.trim()).filter(Boolean)])]
  : ['cp', 'cairn', ...(withPeers ? PEER_NAMES : [])];
for (const n of wanted) if (!byName(n)) throw new Error(`unknown tool ${n} (known: ${TOOLS.map((t) => t.name).join(', ')})`);
// Signal-to-resume: 10 MiB (SPEC: "well under 100 ms"), 20 timed checkpoints for a p95. The 1 GiB out costs
// ~30 s (writing and storing it), so quick mode leaves it to larger runs or an explicit --resume.
const resumeSpec = opt['no-resume'] ? [] : parseResumeSpec(opt.resume ?? (quick ? '10MiB:21' : '10MiB:21,1GiB:6'));
const expShowSpec = opt['no-exp-show'] ? null : parseExpShowSpec(opt['exp-show']);

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
// bench/out/ is ignored: a run never dirties the tree; `npm run bench:publish` puts a chosen run in the README.
const outPath = resolve(opt.out ?? join(HERE, 'out', `${stamp}.json`));
mkdirSync(dirname(outPath), { recursive: true });
const workRoot = resolve(opt.work);

if (!existsSync(join(ROOT, 'packages/store/dist/index.js')) || !existsSync(join(ROOT, 'packages/cli/dist/main.js'))) {
  log('bench: the packages are not built: run npx tsc -b (or npm run bench, which builds first)');
  process.exit(2);
}
mkdirSync(workRoot, { recursive: true });

const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

/** Upper bound of what one tool keeps on disk for a scenario. */
function toolDisk(tool, plan) {
  if (tool.name === 'cp') return plan.totalBytes; // one transient copy
  const changingFile = plan.files.map((f) => ({ bytes: f.bytes, changes: f.changing.length > 0 }));
  if (tool.name === 'git-lfs' || tool.name === 'wholefile') return changingFile.reduce((a, f) => a + (f.changes ? N : 1) * f.bytes, 0) * 1.02;
  return (plan.totalBytes + (N - 1) * plan.changingBytes) * 1.15 + 64 * 1024 * 1024; // chunked stores: changes plus slack for boundaries
}

async function pickOrder(plan, tools) {
  const fixed = 3 * plan.totalBytes + 1024 ** 3; // working checkpoint, a restore, a cp copy, 1 GiB headroom for everyone else
  const all = tools.reduce((a, t) => a + toolDisk(t, plan), 0) + fixed;
  const one = Math.max(...tools.map((t) => toolDisk(t, plan))) + fixed;
  const free = await freeBytes(workRoot);
  let order = opt.order;
  if (order === 'auto') order = free >= all ? 'interleaved' : 'sequential';
  const need = order === 'interleaved' ? all : one;
  if (free < need) {
    throw new Error(
      `not enough disk for scenario ${plan.name}: ${order} needs ~${fmtBytes(need)}, ${fmtBytes(free)} free under ${workRoot}` +
        ` (try fewer --checkpoints, a smaller --size, or fewer --tools)`,
    );
  }
  return { order, need, free };
}

/** One tool operation with the harness's bookkeeping: time it, then fsync what the tool wrote (timed too). */
async function ingestOp(tool, t, k) {
  const repo = tool.repo(t);
  const before = repo ? await snapshotTree(repo) : null;
  const r = await tool.ingest(t, k);
  let syncMs = 0;
  if (repo) {
    const w = await writtenSince(repo, before);
    syncMs = await syncPaths([...w.files, ...w.dirs]);
  }
  return { ...r, opMs: r.ms, syncMs, ms: r.ms + syncMs };
}

async function restoreOp(tool, t, ref, dest) {
  await rmrf(dest);
  const r = await tool.restore(t, ref, dest);
  let syncMs = 0;
  if (tool.name !== 'cp') {
    const files = (await listFiles(dest)).map((f) => f.path);
    syncMs = await syncPaths([...files, ...new Set(files.map((f) => dirname(f))), dest]);
  }
  return { ...r, opMs: r.ms, syncMs, ms: r.ms + syncMs };
}

/**
 * Runs the checkpoint sequence once with `pass` (cp first in the list), each
 * tool adding checkpoint k right after it is written, in an order rotated
 * by k; then restores checkpoint K `reps` times per tool. Fills result.tools.
 */
async function runPass(plan, work, pass, result) {
  const ckptDir = join(work, 'ckpt');
  await rmrf(ckptDir);
  await mkdir(ckptDir, { recursive: true });
  const files = plan.files.map((f) => f.name);
  const ctx = new Map();
  for (const tool of pass) {
    const t = { dir: join(work, tool.name), runDir: workRoot, workDir: work, ckptDir, files, folder: plan.folder, totalBytes: plan.totalBytes };
    await rmrf(t.dir);
    await mkdir(t.dir, { recursive: true });
    await tool.setup(t);
    ctx.set(tool.name, t);
  }
  const own = pass.filter((t) => !t.baseline);
  for (const tool of own) result.tools[tool.name] = { ingest: [], restore: [], verified: null };
  const cpSamples = [];
  const refs = new Map(pass.map((t) => [t.name, []]));
  let shas = null;
  // Growth per checkpoint counts from the freshly set-up repository (an empty store, restic's keys, git's first commit).
  const prevStored = new Map();
  for (const tool of pass) {
    const repo = tool.repo(ctx.get(tool.name));
    prevStored.set(tool.name, repo ? (await dirBytes(repo)).size : 0);
  }

  for (const step of plan.steps) {
    const { k } = step;
    const tg = Date.now();
    const changed = writeCheckpoint(plan, ckptDir, k, { data: opt.data, seed: opt.seed });
    if (changed !== step.changedBytes) throw new Error(`generator changed ${changed} bytes, plan says ${step.changedBytes}`);
    const genMs = Date.now() - tg;
    const paths = files.map((f) => join(ckptDir, f));
    warmRead(paths); // page cache warm for every contender alike
    if (k === restoreK) shas = Object.fromEntries(files.map((f, i) => [f, sha256File(paths[i])]));
    if (!result.steps[k]) result.steps[k] = { k, changedBytes: changed, fullyChanged: step.fullyChanged, genMs };

    const line = [];
    let cpMs = null;
    const done = [];
    // Untimed: flush what generation and earlier steps (and other users of the disk) left dirty. Every tool
    // fsyncs what it writes inside its timing, so between tools only deletions and caches remain dirty.
    await settle(work);
    for (const tool of rotate(pass, k)) {
      const t = ctx.get(tool.name);
      const r = await ingestOp(tool, t, k);
      refs.get(tool.name)[k] = r.ref;
      const repo = tool.repo(t);
      const stored = repo ? (await dirBytes(repo)).size : tool.storedBytes(t);
      const added = stored - prevStored.get(tool.name);
      prevStored.set(tool.name, stored);
      if (tool.baseline) cpMs = r.ms;
      done.push({ tool, rec: { k, ms: r.ms, opMs: r.opMs, syncMs: r.syncMs, rssKiB: r.rssKiB, stored, added, ...(r.extra ?? {}) } });
    }
    cpSamples.push(cpMs);
    for (const { tool, rec } of done) {
      if (tool.baseline) continue;
      rec.cpMs = cpMs;
      result.tools[tool.name].ingest.push(rec);
    }
    for (const { tool, rec } of [...done].sort((a, b) => pass.indexOf(a.tool) - pass.indexOf(b.tool))) {
      line.push(tool.baseline ? `cp ${rec.ms.toFixed(0)}` : `${tool.name} ${rec.ms.toFixed(0)} (+${fmtBytes(rec.added)})`);
    }
    log(`  ckpt ${k}: changed ${fmtBytes(changed)} | ms: ${line.join(' | ')}`);
  }
  if (!result.tools.cp) result.tools.cp = { ingest: cpSamples.map((ms, k) => ({ k, ms })), restore: [], verified: true };

  // Restore checkpoint K: every repository read once first (warm, like the source files for ingest).
  for (const tool of pass) {
    const repo = tool.repo(ctx.get(tool.name));
    if (repo) warmRead((await listFiles(repo)).map((f) => f.path));
  }
  warmRead(files.map((f) => join(ckptDir, f)));
  const dest = join(work, 'restored');
  const cpRestore = [];
  for (let r = 0; r < reps; r++) {
    let cpMs = null;
    const rs = [];
    await settle(work);
    for (const tool of rotate(pass, r)) {
      const t = ctx.get(tool.name);
      const x = await restoreOp(tool, t, refs.get(tool.name)[restoreK], dest);
      if (tool.baseline) cpMs = x.ms;
      else {
        // The first restore of each tool is compared, file by file, with the original checkpoint K.
        if (r === 0) result.tools[tool.name].verified = files.every((f) => existsSync(join(x.root, f)) && sha256File(join(x.root, f)) === shas[f]);
        rs.push({ tool, rec: { ms: x.ms, opMs: x.opMs, syncMs: x.syncMs, rssKiB: x.rssKiB, ...(x.extra ?? {}) } });
      }
      await rmrf(dest);
    }
    cpRestore.push(cpMs);
    for (const { tool, rec } of rs) result.tools[tool.name].restore.push({ ...rec, cpMs });
  }
  if (!result.tools.cp.restore.length) result.tools.cp.restore = cpRestore.map((ms) => ({ ms, cpMs: ms }));

  for (const tool of pass) {
    const t = ctx.get(tool.name);
    const res = result.tools[tool.name];
    const repo = tool.repo(t);
    if (!tool.baseline || res.storedBytes === undefined) {
      res.storedBytes = repo ? (await dirBytes(repo)).size : tool.storedBytes(t);
      if (repo) res.storedAllocated = (await dirBytes(repo)).allocated;
    }
    if (tool.name === 'cairn') res.stats = await tool.stats(t);
    if (tool.name === 'restic') res.repoVersion = t.repoVersion;
    if (tool.name === 'restic') res.cacheBytes = (await dirBytes(t.cache)).size;
    if (!tool.baseline) {
      const r = res.restore.map((x) => x.ms);
      log(
        `  ${tool.name}: restore ckpt ${restoreK} ${summarize(r).median.toFixed(0)} ms (cp ${summarize(cpRestore).median.toFixed(0)}), ` +
          `verified=${res.verified}, stored ${fmtBytes(res.storedBytes)}`,
      );
    }
    await tool.teardown?.(t);
  }
}

async function runScenario(name, tools) {
  const plan = planScenario(name, sizeBytes, N);
  const { order, need, free } = await pickOrder(plan, tools);
  const work = join(workRoot, `${name}-${process.pid}`);
  await rmrf(work);
  mkdirSync(work, { recursive: true });
  const m = plan.model.config;
  log(
    `\n== ${name}: ${plan.describe}\n   ${plan.files.map((f) => `${f.name} ${fmtBytes(f.bytes)} (${f.format}, ${f.tensors} tensors)`).join(' + ')}; ` +
      `model ${m.layers} layers, d=${m.hidden}, vocab=${m.vocab}${m.loraRank ? `, lora r=${m.loraRank}` : ''}; ` +
      `${plan.changingTensors} tensors = ${fmtBytes(plan.changingBytes)} (${(plan.changingFrac * 100).toFixed(2)}%) change per checkpoint; ` +
      `${order}, disk free ${fmtBytes(free)}, need ~${fmtBytes(need)}`,
  );
  const result = {
    name,
    describe: plan.describe,
    short: plan.short,
    model: m,
    files: plan.files.map((f) => ({ name: f.name, format: f.format, bytes: f.bytes, tensors: f.tensors, changingTensors: f.changing.length })),
    folder: plan.folder,
    totalBytes: plan.totalBytes,
    tensorBytes: plan.tensorBytes,
    changingTensors: plan.changingTensors,
    changingBytes: plan.changingBytes,
    changingFrac: plan.changingFrac,
    order,
    restoreK,
    steps: [],
    tools: {},
  };
  try {
    const cp = tools.find((t) => t.baseline);
    const others = tools.filter((t) => !t.baseline);
    const passes = order === 'interleaved' ? [[cp, ...others]] : others.map((t) => [cp, t]);
    for (const pass of passes) {
      if (order === 'sequential') log(`  -- pass: ${pass.map((t) => t.name).join(' + ')}`);
      await runPass(plan, work, pass, result);
      if (order === 'sequential') for (const t of pass) await rmrf(join(work, t.name));
    }
  } finally {
    if (!opt.keep) await rmrf(work);
  }
  return result;
}

const commit = (() => {
  try {
    return execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
})();
const dirty = (() => {
  try {
    // GIT_OPTIONAL_LOCKS=0: status must not refresh (write) the index.
    const env = { ...process.env, GIT_OPTIONAL_LOCKS: '0' };
    return execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no', 'packages'], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    return null;
  }
})();

const results = {
  meta: {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'custom',
    command: `node bench/run.mjs${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    sizeBytes,
    checkpoints: N,
    reps,
    restoreCheckpoint: restoreK,
    data: opt.data,
    seed: opt.seed,
    argv: process.argv.slice(2),
    node: process.version,
    commit,
    dirty,
    machine: machine(),
    loadavg: os.loadavg(),
  },
  scenarios: [],
};

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
    osName = /PRETTY_NAME="([^"]+)"/.exec(execFileSync('cat', ['/etc/os-release'], { encoding: 'utf8' }))?.[1] ?? osName;
  } catch {
    // not Linux
  }
  return { cpu: cpus[0]?.model?.trim() ?? 'unknown', cpus: cpus.length, memBytes: os.totalmem(), os: osName, kernel: os.release(), disk, hostname: os.hostname() };
}

const t0 = Date.now();
try {
  const { tools, skipped, versions } = await resolveTools(wanted, { install: opt['install-peers'], log });
  results.meta.tools = tools.map((t) => ({ name: t.name, label: t.label, describe: t.describe, version: versions[t.name] }));
  results.meta.skipped = skipped;
  log(`bench: ${tools.map((t) => `${t.name} (${versions[t.name]})`).join(', ')}; ${fmtBytes(sizeBytes)}, ${N} checkpoints, restore ckpt ${restoreK} x${reps}`);
  try {
    for (const name of scenarioNames) results.scenarios.push(await runScenario(name, tools));
  } finally {
    for (const t of tools) await t.cleanup?.();
  }
  if (resumeSpec.length) results.resume = await runResume({ root: ROOT, workRoot, spec: resumeSpec, reps, log, keep: opt.keep });
  if (expShowSpec) results.expShow = await runExpShow({ root: ROOT, workRoot, spec: expShowSpec, reps: Math.max(reps, 5), log, keep: opt.keep });
} catch (err) {
  log(`bench: error: ${err?.stack ?? err}`);
  process.exit(2);
}
results.meta.elapsedMs = Date.now() - t0;
results.meta.loadavgEnd = os.loadavg();
results.targets = evaluateTargets(results);
results.claims = evaluateClaims(results);
const chartPath = outPath.replace(/\.json$/, '') + '.svg';
results.meta.chart = chartPath;
const md = renderMarkdown(results, { chart: results.scenarios.length ? chartPath : null });
process.stdout.write(md);
writeJson(results, outPath);
const charted = results.scenarios.length > 0;
if (charted) writeFileSync(chartPath, renderChart(results));
else results.meta.chart = null;
log(`\nresults: ${outPath}${charted ? `\nchart:   ${chartPath}` : ''} (${(results.meta.elapsedMs / 1000).toFixed(1)} s)`);
const badRestore = results.scenarios.some((s) => Object.values(s.tools).some((t) => t.verified === false));
const failed = results.targets.some((t) => t.pass === false) || results.claims.some((c) => c.pass === false);
process.exitCode = badRestore || (opt.strict && failed) ? 1 : 0;
