// cairn's remotes against what people use instead to put checkpoints on S3:
// `rclone copy` (the common way to mirror files to a bucket: it sends whole
// files, the bound for a tool that does not look inside them) and restic's
// S3 backend (chunked and deduplicating, like cairn: the bound for "only
// what changed"). All on the same S3 server and the same generated
// checkpoints (scenarios.mjs).
//
//   node bench/remote.mjs --start-s3                 # starts and stops its own radosgw (tools/s3)
//   node bench/remote.mjs --endpoint http://127.0.0.1:9300 --access-key test --secret-key testsecret
//
// Per checkpoint k of full / frozen / lora: the checkpoint is recorded into
// a local store as `exp run` records it (Store.with + putPath +
// appendCheckpoint, untimed: it is not the network part), then, in an order
// rotated by k, each tool sends it, timed spawn to exit as a user runs it:
// `cairn exp push`, `rclone copy` into its own ckpt-k/ folder (to keep every
// checkpoint as cairn and restic do), `restic backup`. Bytes sent: cairn's
// own `--json` report, checked against its prefix's growth; rclone and
// restic: their prefix's growth. Then pulls of the last checkpoint into a
// fresh folder: `cairn exp pull` + `cairn store get` vs `rclone copy` vs
// `restic restore` (fresh cache: a new machine has none), each verified.
// Last, "blocked by --push": bench/resume_train.py under `cairn exp run`
// with and without `--push`, time per make_checkpoint().

import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg, cpus } from 'node:os';
import { S3Client, CreateBucketCommand, ListObjectsV2Command, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { Store } from '@cairn/store';
import { createExperiment, appendCheckpoint } from '@cairn/lineage';
import { planScenario, writeCheckpoint } from './scenarios.mjs';
import { parseSize, fmtBytes } from './gen-safetensors.mjs';
import { run, summarize, settle, sha256File, warmRead, rmrf } from './measure.mjs';
import { PIPELINE, percentile } from './resume.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = resolve(HERE, '..');
const CLI = join(ROOT, 'packages/cli/bin/cairn.js');

function parseArgs(argv) {
  const o = {
    size: '256MiB',
    checkpoints: 4,
    scenarios: 'full,frozen,lora',
    reps: 3,
    endpoint: process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? 'http://127.0.0.1:9300',
    accessKey: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    secretKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'testsecret',
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    bucket: 'cairn-bench',
    startS3: false,
    s3Dir: '/tmp/cairn-bench-s3',
    blocked: '64MiB:6',
    stepS: 4,
    peers: true,
    work: join(HERE, 'work'),
    out: null,
    keep: false,
    seed: 'cairn-bench-1',
  };
  const need = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const map = { '--size': 'size', '--checkpoints': 'checkpoints', '--scenarios': 'scenarios', '--reps': 'reps', '--endpoint': 'endpoint', '--access-key': 'accessKey', '--secret-key': 'secretKey', '--region': 'region', '--bucket': 'bucket', '--s3-dir': 's3Dir', '--blocked': 'blocked', '--step-s': 'stepS', '--work': 'work', '--out': 'out', '--seed': 'seed' };
    if (map[a]) o[map[a]] = need(i++);
    else if (a === '--start-s3') o.startS3 = true;
    else if (a === '--no-peers') o.peers = false;
    else if (a === '--no-blocked') o.blocked = null;
    else if (a === '--keep') o.keep = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown flag ${a}\n${USAGE}`);
  }
  o.sizeBytes = parseSize(o.size);
  o.checkpoints = Number(o.checkpoints);
  o.reps = Number(o.reps);
  o.stepS = Number(o.stepS);
  if (!Number.isInteger(o.checkpoints) || o.checkpoints < 2) throw new Error('--checkpoints needs an integer ≥ 2');
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error('--reps needs an integer ≥ 1');
  o.scenarioList = o.scenarios.split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
  if (o.blocked) {
    const [s, n] = o.blocked.split(':');
    o.blockedSpec = { size: parseSize(s), checkpoints: Number(n ?? 6), label: s };
  }
  return o;
}

const USAGE = `node bench/remote.mjs [--start-s3] [--endpoint URL] [--access-key K] [--secret-key S] [--bucket B]
  [--size 256MiB] [--checkpoints 4] [--scenarios full,frozen,lora] [--reps 3] [--no-peers]
  [--blocked 64MiB:6 | --no-blocked] [--step-s 4] [--out FILE] [--work DIR] [--keep]
`;

const log = (s) => process.stderr.write(s + '\n');
const ms = (x) => (Number.isFinite(x) ? (x >= 10000 ? `${(x / 1000).toFixed(1)} s` : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`) : '—');
const MiB = (b) => `${(b / 2 ** 20).toFixed(b < 10 * 2 ** 20 ? 2 : 1)} MiB`;
const x = (r, d = 2) => (Number.isFinite(r) ? `${r.toFixed(d)}×` : '—');

function must(r, what) {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`);
  return r;
}

/** A shell script of tools/s3 with our port and folder. */
function s3Script(name, o) {
  const port = new URL(o.endpoint).port || '80';
  return new Promise((res, rej) => {
    const p = spawn(join(ROOT, 'tools/s3', name), [], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, S3_PORT: port, S3_DIR: o.s3Dir, S3_OSD_STORE: 'memstore', S3_ACCESS_KEY: o.accessKey, S3_SECRET_KEY: o.secretKey },
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', rej);
    p.on('close', (code) => (code === 0 ? res(out.trim()) : rej(new Error(`tools/s3/${name} exited ${code}: ${out.trim()}`))));
  });
}

class Bucket {
  constructor(o) {
    this.name = o.bucket;
    this.s3 = new S3Client({ endpoint: o.endpoint, region: o.region, forcePathStyle: true, credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey } });
  }
  async ensure() {
    try {
      await this.s3.send(new CreateBucketCommand({ Bucket: this.name }));
    } catch (e) {
      if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
    }
  }
  async *objects(prefix) {
    let token;
    do {
      const r = await this.s3.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }));
      for (const c of r.Contents ?? []) yield c;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }
  async bytes(prefix) {
    let n = 0;
    for await (const c of this.objects(prefix)) n += c.Size ?? 0;
    return n;
  }
  async removeAll(prefix) {
    let batch = [];
    const flush = async () => {
      if (batch.length) await this.s3.send(new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: batch, Quiet: true } }));
      batch = [];
    };
    for await (const c of this.objects(prefix)) {
      batch.push({ Key: c.Key });
      if (batch.length === 1000) await flush();
    }
    await flush();
  }
}

/**
 * Credentials only in the child's environment: rclone's remote "bench" is
 * defined by RCLONE_CONFIG_BENCH_*, restic and cairn read AWS_*; no file
 * with a secret is written. `--config ""` keeps rclone off any config file.
 */
function toolEnv(o, extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('CAIRN_') || k.startsWith('RCLONE_') || k.startsWith('AWS_')) delete env[k];
  return {
    ...env,
    AWS_ACCESS_KEY_ID: o.accessKey,
    AWS_SECRET_ACCESS_KEY: o.secretKey,
    AWS_REGION: o.region,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
    RCLONE_CONFIG_BENCH_ENDPOINT: o.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: o.accessKey,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: o.secretKey,
    RCLONE_CONFIG_BENCH_REGION: o.region,
    RESTIC_PASSWORD: 'cairn-bench',
    RESTIC_PROGRESS_FPS: '0.0001',
    ...extra,
  };
}

const cairn = (args, opts) => run(process.execPath, [CLI, ...args], opts);
const rclone = (args, opts) => run('rclone', ['--config', '', ...args], opts);
const restic = (args, opts) => run('restic', args, opts);

async function versionOf(cmd, args) {
  try {
    const r = await run(cmd, args);
    return r.code === 0 ? r.stdout.trim().split('\n')[0] : null;
  } catch {
    return null;
  }
}

/** Records checkpoint k of `file` into the store as `exp run` does per checkpoint: one locked session, putPath, appendCheckpoint. */
async function recordCheckpoint(storeDir, name, file, k) {
  return Store.with(storeDir, async (store) => {
    if (k === 0) await createExperiment(store, { name, baseline: { deps: {}, params: {} } });
    const id = await store.putPath(file);
    const size = (await store.stat(id))?.size;
    const r = await appendCheckpoint(store, name, {
      stage: 'train',
      cmd: 'python3 train.py',
      outs: { 'model.safetensors': { id, size: size ?? 0, kind: 'file', checkpoint: true } },
      deps: {},
      params: {},
      metrics: { step: k },
    });
    return { out: id, checkpoint: r.id };
  });
}

async function scenarioPass(o, bucket, runPrefix, name, rep, env) {
  const plan = planScenario(name, o.sizeBytes, o.checkpoints);
  const dir = join(o.work, `${name}-${rep}`);
  await rmrf(dir);
  const ckpt = join(dir, 'ckpt');
  const ws = join(dir, 'ws');
  await mkdir(ckpt, { recursive: true });
  await mkdir(ws, { recursive: true });
  const file = join(ckpt, 'model.safetensors');
  const prefix = `${runPrefix}/${name}-${rep}`;
  const pre = { cairn: `${prefix}/cairn/`, rclone: `${prefix}/rclone/`, restic: `${prefix}/restic/` };
  const resticRepo = `s3:${o.endpoint}/${o.bucket}/${prefix}/restic`;
  const resticCache = join(dir, 'restic-cache');
  const exp = `bench-${name}`;
  const storeDir = join(ws, '.cairn');

  must(await cairn(['init', '-q'], { cwd: ws, env }), 'cairn init');
  must(await cairn(['remote', 'add', 'bench', `s3://${o.bucket}/${prefix}/cairn`, '--endpoint', o.endpoint], { cwd: ws, env }), 'cairn remote add');
  if (o.peers) must(await restic(['-r', resticRepo, 'init'], { env }), 'restic init');

  const tools = o.peers ? ['cairn', 'rclone', 'restic'] : ['cairn'];
  const steps = [];
  let last = null;
  for (let k = 0; k < o.checkpoints; k++) {
    const changed = writeCheckpoint(plan, ckpt, k, { seed: o.seed });
    warmRead([file]);
    await settle(dir);
    const t0 = performance.now();
    last = await recordCheckpoint(storeDir, exp, file, k);
    const recordMs = performance.now() - t0;
    const step = { k, changed, recordMs, tools: {} };
    const order = tools.map((_, i) => tools[(i + k) % tools.length]);
    for (const tool of order) {
      const before = await bucket.bytes(pre[tool]);
      await settle(dir);
      let r;
      let reported = null;
      if (tool === 'cairn') {
        r = must(await cairn(['exp', 'push', exp, '-r', 'bench', '--json'], { cwd: ws, env }), 'cairn exp push');
        const j = JSON.parse(r.stdout);
        reported = j.bytes;
        if (j.experiments?.[0]?.action === 'diverged') throw new Error('cairn exp push: diverged');
      } else if (tool === 'rclone') {
        r = must(await rclone(['copy', file, `bench:${o.bucket}/${pre.rclone}ckpt-${k}/`], { env }), 'rclone copy');
      } else {
        r = must(await restic(['-r', resticRepo, '--cache-dir', resticCache, 'backup', '--host', 'bench', '--tag', `ckpt-${k}`, 'model.safetensors'], { cwd: ckpt, env }), 'restic backup');
      }
      const growth = (await bucket.bytes(pre[tool])) - before;
      step.tools[tool] = { ms: r.ms, sent: reported ?? growth, growth, reported };
    }
    steps.push(step);
    log(
      `  ${name} rep ${rep} ckpt ${k}: changed ${MiB(changed)}; ` +
        tools.map((t) => `${t} ${ms(step.tools[t].ms)} ${MiB(step.tools[t].sent)}`).join(', ') +
        `; record ${ms(recordMs)}`,
    );
  }

  // What a command costs with nothing to send (start-up, SDK, listing the remote): the floor under every push time above.
  const idle = {};
  for (const tool of tools.filter((t) => t !== 'restic')) {
    await settle(dir);
    const r =
      tool === 'cairn'
        ? must(await cairn(['exp', 'push', exp, '-r', 'bench', '--json'], { cwd: ws, env }), 'cairn exp push (nothing to send)')
        : must(await rclone(['copy', file, `bench:${o.bucket}/${pre.rclone}ckpt-${o.checkpoints - 1}/`], { env }), 'rclone copy (nothing to send)');
    if (tool === 'cairn' && JSON.parse(r.stdout).bytes !== 0) throw new Error('a second cairn exp push sent bytes');
    idle[tool] = r.ms;
  }

  // Pull the last checkpoint into fresh folders; every result is checked against the original.
  const want = sha256File(file);
  const pulls = {};
  for (const tool of tools) {
    const dest = join(dir, `pull-${tool}`);
    await rmrf(dest);
    await mkdir(dest, { recursive: true });
    await settle(dir);
    let total;
    let got;
    const parts = {};
    if (tool === 'cairn') {
      must(await cairn(['init', '-q'], { cwd: dest, env }), 'cairn init');
      must(await cairn(['remote', 'add', 'bench', `s3://${o.bucket}/${prefix}/cairn`, '--endpoint', o.endpoint], { cwd: dest, env }), 'cairn remote add');
      const p = must(await cairn(['exp', 'pull', exp, '-r', 'bench', '--json'], { cwd: dest, env }), 'cairn exp pull');
      parts.received = JSON.parse(p.stdout).bytes;
      got = join(dest, 'model.safetensors');
      const g = must(await cairn(['store', 'get', last.out, got], { cwd: dest, env }), 'cairn store get');
      parts.pullMs = p.ms;
      parts.getMs = g.ms;
      total = p.ms + g.ms;
    } else if (tool === 'rclone') {
      const p = must(await rclone(['copy', `bench:${o.bucket}/${pre.rclone}ckpt-${o.checkpoints - 1}/`, dest], { env }), 'rclone copy down');
      total = p.ms;
      got = join(dest, 'model.safetensors');
      parts.received = plan.totalBytes;
    } else {
      const p = must(await restic(['-r', resticRepo, '--cache-dir', join(dest, '.cache'), 'restore', 'latest', '--target', join(dest, 'out')], { env }), 'restic restore');
      total = p.ms;
      got = join(dest, 'out', 'model.safetensors');
    }
    if (sha256File(got) !== want) throw new Error(`${tool}: the pulled checkpoint differs from the original`);
    pulls[tool] = { ms: total, ...parts };
    if (!o.keep) await rmrf(dest);
  }
  log(`  ${name} rep ${rep} pull: ` + tools.map((t) => `${t} ${ms(pulls[t].ms)}`).join(', '));
  if (!o.keep) {
    await rmrf(dir);
    // A test server keeps objects in memory (memstore): one pass's objects at a time
    // keeps later passes from running against a server slowed by earlier ones.
    await bucket.removeAll(`${prefix}/`);
  }
  return { scenario: name, rep, fileBytes: plan.totalBytes, changingBytes: plan.changingBytes, steps, pulls, idle };
}

/** One `exp run` of resume_train.py, with or without --push; make_checkpoint() latencies. */
async function blockedRun(o, runPrefix, spec, push, i, env) {
  const ws = join(o.work, `blocked-${push ? 'push' : 'local'}-${i}`);
  await rmrf(ws);
  await mkdir(ws, { recursive: true });
  try {
    await writeFile(join(ws, 'cairn.yaml'), PIPELINE);
    await copyFile(join(HERE, 'resume_train.py'), join(ws, 'train.py'));
    must(await cairn(['init', '-q'], { cwd: ws, env }), 'cairn init');
    must(await cairn(['remote', 'add', 'bench', `s3://${o.bucket}/${runPrefix}/blocked-${i}`, '--endpoint', o.endpoint], { cwd: ws, env }), 'cairn remote add');
    const resultFile = join(ws, 'latencies.json');
    const e = { ...env, BENCH_SIZE: String(spec.size), BENCH_CHECKPOINTS: String(spec.checkpoints), BENCH_CHANGE: '1', BENCH_RESULT: resultFile, BENCH_STEP_S: String(o.stepS) };
    await settle(ws);
    const r = must(await cairn(['exp', 'run', ...(push ? ['--push', '-r', 'bench'] : [])], { cwd: ws, env: e }), `cairn exp run${push ? ' --push' : ''}`);
    if (push && !/Pushed experiment/.test(r.stdout + r.stderr)) throw new Error(`exp run --push did not report its push: ${(r.stdout + r.stderr).slice(-400)}`);
    const lat = JSON.parse(await readFile(resultFile, 'utf8')).latencies_ms;
    return { push, latencies: lat, runMs: r.ms };
  } finally {
    if (!o.keep) await rmrf(ws);
  }
}

function fig(values) {
  const s = summarize(values);
  return { median: s.median, min: s.min, max: s.max, n: s.n };
}

function analyse(o, passes) {
  const out = {};
  for (const name of o.scenarioList) {
    const ps = passes.filter((p) => p.scenario === name);
    const tools = Object.keys(ps[0].steps[0].tools);
    const t = {};
    for (const tool of tools) {
      // Later checkpoints (k ≥ 1) are the steady state; checkpoint 0 sends the whole file for everyone.
      const later = ps.flatMap((p) => p.steps.slice(1).map((s) => s.tools[tool]));
      const first = ps.map((p) => p.steps[0].tools[tool]);
      t[tool] = {
        ms: fig(later.map((s) => s.ms)),
        sent: fig(later.map((s) => s.sent)),
        firstMs: fig(first.map((s) => s.ms)),
        firstSent: fig(first.map((s) => s.sent)),
        pullMs: fig(ps.map((p) => p.pulls[tool].ms)),
        idleMs: tool in ps[0].idle ? fig(ps.map((p) => p.idle[tool])) : null,
      };
    }
    const c = t.cairn;
    // The worst checkpoint, not the median: the goal is per checkpoint.
    const worstSentRatio = Math.max(...ps.flatMap((p) => p.steps.slice(1).map((s) => s.tools.cairn.sent / s.changed)));
    const growthVsReport = Math.max(...ps.flatMap((p) => p.steps.map((s) => Math.abs(s.tools.cairn.growth - s.tools.cairn.sent) / Math.max(1, s.changed))));
    out[name] = {
      fileBytes: ps[0].fileBytes,
      changedBytes: ps[0].changingBytes,
      tools: t,
      cairnSentOverChanged: c.sent.median / ps[0].changingBytes,
      cairnSentOverChangedWorst: worstSentRatio,
      cairnReportVsGrowth: growthVsReport,
      cairnOverRclone: t.rclone ? c.ms.median / t.rclone.ms.median : NaN,
      cairnOverRcloneFirst: t.rclone ? c.firstMs.median / t.rclone.firstMs.median : NaN,
      cairnOverRestic: t.restic ? c.ms.median / t.restic.ms.median : NaN,
      pullOverRclone: t.rclone ? c.pullMs.median / t.rclone.pullMs.median : NaN,
      pullOverRestic: t.restic ? c.pullMs.median / t.restic.pullMs.median : NaN,
      cairnPullReceived: fig(ps.map((p) => p.pulls.cairn.received)),
    };
  }
  return out;
}

function blockedFigures(runs) {
  const steady = (push) => runs.filter((r) => r.push === push).flatMap((r) => r.latencies.slice(1));
  const first = (push) => runs.filter((r) => r.push === push).map((r) => r.latencies[0]);
  const a = steady(false);
  const b = steady(true);
  return {
    local: { ...fig(a), p95: percentile(a, 95), first: fig(first(false)) },
    push: { ...fig(b), p95: percentile(b, 95), first: fig(first(true)) },
    ratio: summarize(b).median / summarize(a).median,
    ratioP95: percentile(b, 95) / percentile(a, 95),
  };
}

const ok = (pass) => (pass ? 'met' : '**missed**');

function report(o, meta, res, blocked) {
  const L = [];
  L.push(`# cairn remote benchmark`, '');
  L.push(`\`${meta.command}\` — ${meta.date}, commit ${meta.commit}, ${meta.cpus} CPUs, load ${meta.loadStart.map((l) => l.toFixed(1)).join('/')} → ${meta.loadEnd.map((l) => l.toFixed(1)).join('/')}`);
  L.push(`S3: ${meta.endpoint} (${meta.server}); ${meta.versions.rclone ?? 'rclone missing'}; ${meta.versions.restic ?? 'restic missing'}`);
  const tools = Object.keys(Object.values(res)[0]?.tools ?? {});
  if (tools.length) L.push(`${fmtBytes(o.sizeBytes)} model, ${o.checkpoints} checkpoints per scenario, ${o.reps} rep(s); medians over checkpoints 1..${o.checkpoints - 1} of every rep (checkpoint 0 sends the whole file for everyone).`);
  L.push('');
  if (tools.length) L.push('| scenario | changed / ckpt | tool | sent / ckpt | time / ckpt | first ckpt | nothing to send | pull last ckpt |');
  if (tools.length) L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, r] of Object.entries(res)) {
    for (const tool of tools) {
      const t = r.tools[tool];
      L.push(`| ${name} | ${MiB(r.changedBytes)} | ${tool} | ${MiB(t.sent.median)} | ${ms(t.ms.median)} (${ms(t.ms.min)}–${ms(t.ms.max)}) | ${ms(t.firstMs.median)} | ${t.idleMs ? ms(t.idleMs.median) : '—'} | ${ms(t.pullMs.median)} |`);
    }
  }
  if (tools.length) L.push('', '| scenario | cairn sent ÷ changed (worst ckpt) | cairn ÷ rclone time | first ckpt: cairn ÷ rclone | cairn ÷ restic time | pull: cairn ÷ rclone | pull: cairn ÷ restic | cairn pull received |');
  if (tools.length) L.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, r] of Object.entries(res)) {
    L.push(`| ${name} | ${x(r.cairnSentOverChanged, 3)} (${x(r.cairnSentOverChangedWorst, 3)}) | ${x(r.cairnOverRclone)} | ${x(r.cairnOverRcloneFirst)} | ${x(r.cairnOverRestic)} | ${x(r.pullOverRclone)} | ${x(r.pullOverRestic)} | ${MiB(r.cairnPullReceived.median)} |`);
  }
  L.push('');
  if (blocked) {
    L.push(`Training blocked per checkpoint (\`make_checkpoint()\`, ${blocked.spec.label} model fully rewritten, ${blocked.spec.checkpoints} checkpoints, ${o.stepS} s of "training" between them, ${blocked.runs} run(s) each, medians of checkpoints 1..${blocked.spec.checkpoints - 1}):`, '');
    L.push('| `exp run` | median | p95 | min–max | first |');
    L.push('| --- | --- | --- | --- | --- |');
    for (const [k, label] of [['local', 'without --push'], ['push', '--push']]) {
      const b = blocked.fig[k];
      L.push(`| ${label} | ${ms(b.median)} | ${ms(b.p95)} | ${ms(b.min)}–${ms(b.max)} | ${ms(b.first.median)} |`);
    }
    L.push(`| ratio | ${x(blocked.fig.ratio)} | ${x(blocked.fig.ratioP95)} | | |`, '');
  }
  L.push('Goals:', '');
  L.push('| goal | measured | |');
  L.push('| --- | --- | --- |');
  const goals = [];
  for (const [name, r] of Object.entries(res)) {
    goals.push({ goal: `${name}: bytes sent ≤ 1.1× changed bytes (every later checkpoint)`, measured: x(r.cairnSentOverChangedWorst, 3), pass: r.cairnSentOverChangedWorst <= 1.1 });
  }
  if (res.full && Number.isFinite(res.full.cairnOverRclone)) {
    goals.push({ goal: 'full: push time ≤ 1.2× rclone', measured: x(res.full.cairnOverRclone), pass: res.full.cairnOverRclone <= 1.2 });
  }
  for (const name of ['frozen', 'lora']) {
    if (res[name] && Number.isFinite(res[name].cairnOverRclone)) {
      // "far below": judged as at most half of rclone's time.
      goals.push({ goal: `${name}: push time far below rclone (≤ 0.5×)`, measured: x(res[name].cairnOverRclone), pass: res[name].cairnOverRclone <= 0.5 });
    }
  }
  if (blocked) goals.push({ goal: 'training blocked by --push ≤ 1.1× without', measured: x(blocked.fig.ratio), pass: blocked.fig.ratio <= 1.1 });
  for (const g of goals) L.push(`| ${g.goal} | ${g.measured} | ${ok(g.pass)} |`);
  L.push('');
  return { md: L.join('\n'), goals };
}

async function main() {
  // The harness's own S3 client would otherwise print the SDK's notice about future Node versions.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const o = parseArgs(process.argv.slice(2));
  o.work = resolve(o.work, `remote-${process.pid}`);
  const meta = {
    command: ['node', 'bench/remote.mjs', ...process.argv.slice(2)].join(' '),
    date: new Date().toISOString(),
    cpus: cpus().length,
    loadStart: loadavg(),
    endpoint: o.endpoint,
    server: o.startS3 ? 'one-node Ceph radosgw started by this run (tools/s3, memstore)' : 'given',
  };
  meta.commit = (await versionOf('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])) ?? 'unknown';
  if ((await run('git', ['-C', ROOT, 'diff', '--quiet', 'HEAD', '--', 'bench', 'packages'])).code === 1) meta.commit += ' (with uncommitted changes)';
  meta.versions = { rclone: await versionOf('rclone', ['version']), restic: await versionOf('restic', ['version']) };
  if (o.peers && (!meta.versions.rclone || !meta.versions.restic)) {
    throw new Error('rclone and restic are the peers: apt-get install -y rclone restic (or --no-peers)');
  }
  if (o.startS3) {
    log(`starting S3 (tools/s3/start-s3.sh, ${o.s3Dir})...`);
    log(await s3Script('start-s3.sh', o));
  }
  const bucket = new Bucket(o);
  const runPrefix = `run-${Date.now()}-${process.pid}`;
  const env = toolEnv(o);
  let result;
  try {
    await bucket.ensure().catch((e) => {
      throw new Error(`S3 at ${o.endpoint}: ${e.name}: ${e.message}${o.startS3 ? '' : ' (no server there? --start-s3 starts one with tools/s3)'}`);
    });
    await mkdir(o.work, { recursive: true });
    const passes = [];
    for (let rep = 0; rep < o.reps; rep++) {
      for (const name of o.scenarioList) {
        log(`== ${name}, rep ${rep + 1}/${o.reps}`);
        passes.push(await scenarioPass(o, bucket, runPrefix, name, rep, env));
      }
    }
    const res = passes.length ? analyse(o, passes) : {};
    let blocked = null;
    if (o.blockedSpec) {
      const runs = [];
      for (let i = 0; i < o.reps; i++) {
        // Alternated, so both see the same load.
        for (const push of i % 2 ? [true, false] : [false, true]) {
          const r = await blockedRun(o, runPrefix, o.blockedSpec, push, i, env);
          log(`== blocked ${push ? '--push' : 'local '} run ${i + 1}: ${r.latencies.map((v) => v.toFixed(0)).join(', ')} ms; exp run ${ms(r.runMs)}`);
          runs.push(r);
        }
      }
      blocked = { spec: o.blockedSpec, runs: o.reps, fig: blockedFigures(runs), raw: runs };
    }
    meta.loadEnd = loadavg();
    const { md, goals } = report(o, meta, res, blocked);
    result = { meta, options: { size: o.sizeBytes, checkpoints: o.checkpoints, scenarios: o.scenarioList, reps: o.reps, stepS: o.stepS }, scenarios: res, blocked, goals, passes };
    process.stdout.write(md + '\n');
    const outFile = o.out ?? join(HERE, 'out', `remote-${meta.date.replace(/[:.]/g, '-')}.json`);
    await mkdir(resolve(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify(result, null, 2));
    log(`JSON: ${outFile}`);
  } finally {
    if (!o.keep) {
      await rmrf(o.work);
      if (!o.startS3) await bucket.removeAll(`${runPrefix}/`).catch((e) => log(`could not empty ${runPrefix}/: ${e.message}`));
    }
    if (o.startS3) log(await s3Script('stop-s3.sh', o).catch((e) => e.message));
  }
}

main().catch((e) => {
  log(`bench/remote.mjs: ${e.stack ?? e}`);
  process.exitCode = 1;
});
