// `exp show --json` scaling (the experiments issue: DVC's exp show grew
// with every checkpoint). Two stores: 1 experiment × 10 checkpoints and
// E experiments × C checkpoints (100 × 100 by default), then the real CLI,
// `node packages/cli/bin/cairn.js --store DIR exp show --json`, timed from
// spawn to exit (Node start-up included, as a user sees it), alternating
// small and large. Targets: large ≤ 3× small and under 0.5 s.
//
// Building 10,000 checkpoints with appendCheckpoint() takes minutes (every
// append rewrites the experiment's summary and its ref file, fsynced), so
// the large store is built in bulk: per experiment, createExperiment(), the
// checkpoint records chained through their parents (lineage's own
// makeCheckpoint/putCheckpoint), one experiment state naming the tip, its
// summary written once with the rows appendCheckpoint would have
// accumulated, the ref advanced once. Outs are tiny files, one per step,
// shared by every experiment (exp show only shows their ID and size). Before
// trusting it, a 2 × 3 store is built both ways from identical inputs and
// the two `showData()` results must match byte for byte; if they do not,
// the harness says so and builds with appendCheckpoint(). The stores live on
// /dev/shm when there is one (fsync is free there; reads are page-cache
// reads either way).

import { existsSync } from 'node:fs';
import { mkdtemp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { run, summarize, dirBytes, rmrf, nowMs } from './measure.mjs';

export function parseExpShowSpec(text) {
  const m = /^(\d+)x(\d+)$/i.exec(String(text).trim());
  if (!m) throw new Error(`--exp-show wants EXPERIMENTSxCHECKPOINTS, like 100x100 (got ${text})`);
  return { experiments: Number(m[1]), checkpoints: Number(m[2]) };
}

const BASE_TIME = Date.UTC(2026, 0, 1);

function inputs(e, c, C, dep) {
  return {
    stage: 'train',
    cmd: 'python3 train.py',
    deps: { 'train.py': dep },
    params: { 'params.yaml': { lr: Number((0.001 * (e + 1)).toFixed(6)), epochs: C, seed: e } },
    metrics: { acc: Number((0.5 + (0.49 * c) / C).toFixed(4)), loss: Number((1 / (c + 1)).toFixed(4)) },
    created: new Date(BASE_TIME + e * 3_600_000 + c * 1000),
  };
}

async function loadLibs(root) {
  const store = await import(pathToFileURL(join(root, 'packages/store/dist/index.js')).href);
  const lineage = await import(pathToFileURL(join(root, 'packages/lineage/dist/index.js')).href);
  const records = await import(pathToFileURL(join(root, 'packages/lineage/dist/records.js')).href);
  const summary = await import(pathToFileURL(join(root, 'packages/lineage/dist/summary.js')).href);
  return { Store: store.Store, L: lineage, R: records, S: summary };
}

/** The out of step c: one tiny file per step, the same in every experiment (exp show only shows its ID and size). */
async function outEntries(store, C) {
  const outs = [];
  for (let c = 0; c < C; c++) {
    const data = Buffer.from(`model weights at step ${c}\n`);
    outs.push({ 'model.pt': { id: await store.putBuffer(data), size: data.length, kind: 'file', checkpoint: true } });
  }
  return outs;
}

async function depEntry(store) {
  const data = Buffer.from('print("train")\n');
  return { id: await store.putBuffer(data), size: data.length, kind: 'file' };
}

/** The public path: createExperiment + appendCheckpoint per checkpoint. */
async function buildAppend({ L }, store, E, C) {
  const dep = await depEntry(store);
  const outs = await outEntries(store, C);
  for (let e = 0; e < E; e++) {
    const name = `exp-${String(e).padStart(4, '0')}`;
    const base = inputs(e, 0, C, dep);
    await L.createExperiment(store, { name, baseline: { deps: base.deps, params: base.params }, created: base.created });
    for (let c = 0; c < C; c++) await L.appendCheckpoint(store, name, { ...inputs(e, c, C, dep), outs: outs[c] });
  }
}

/**
 * The bulk path: the same records, and per experiment one state, one summary
 * (the rows appendCheckpoint would have accumulated, written once) and one
 * ref update.
 */
async function buildBulk({ L, R, S }, store, E, C) {
  const dep = await depEntry(store);
  const outs = await outEntries(store, C);
  for (let e = 0; e < E; e++) {
    const name = `exp-${String(e).padStart(4, '0')}`;
    const base = inputs(e, 0, C, dep);
    const exp = await L.createExperiment(store, { name, baseline: { deps: base.deps, params: base.params }, created: base.created });
    let parent = exp.from;
    let first = null;
    let created = null;
    const rows = [];
    for (let c = 0; c < C; c++) {
      const x = inputs(e, c, C, dep);
      created = R.utcSeconds(x.created);
      const record = R.makeCheckpoint({ experiment: name, stage: x.stage, step: c, created, parent, outs: outs[c], deps: x.deps, params: x.params, metrics: x.metrics, cmd: x.cmd });
      parent = await R.putCheckpoint(store, record);
      first ??= parent;
      rows.unshift(S.rowOf(parent, record));
    }
    const state = await R.readExperimentState(store, exp.stateId, name);
    const next = { ...state, tip: parent, first, updated: created, checkpoints: state.checkpoints + C };
    const nextId = await R.putExperimentState(store, next);
    await S.writeSummary(store, nextId, S.summaryOf(next, rows));
    await store.refs.set(L.expRef(name), nextId, exp.stateId);
    await S.dropSummary(store, exp.stateId);
  }
}

async function build(libs, dir, E, C, how) {
  await libs.Store.init(dir);
  const store = await libs.Store.open(dir);
  try {
    await (how === 'bulk' ? buildBulk : buildAppend)(libs, store, E, C);
    return store;
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function showJson(libs, store) {
  return JSON.stringify(await libs.L.showData(store));
}

export async function runExpShow({ root, workRoot, spec, reps, log, keep = false }) {
  const { experiments: E, checkpoints: C } = spec;
  const base = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/cairn-bench-') : await mkdtemp(join(workRoot, 'expshow-'));
  const cli = join(root, 'packages/cli/bin/cairn.js');
  log(`\n== exp show --json: 1 × 10 vs ${E} × ${C} checkpoints (stores under ${base})`);
  try {
    const libs = await loadLibs(root);
    // Is the bulk builder faithful? Same inputs both ways, same exp show data.
    let how = 'bulk';
    let equivalence;
    try {
      const a = await build(libs, join(base, 'check-append'), 2, 3, 'append');
      const ja = await showJson(libs, a);
      await a.close();
      const b = await build(libs, join(base, 'check-bulk'), 2, 3, 'bulk');
      const jb = await showJson(libs, b);
      await b.close();
      equivalence = ja === jb;
    } catch (err) {
      equivalence = false;
      log(`  bulk builder check failed: ${err?.message ?? err}`);
    }
    if (!equivalence) {
      how = 'append';
      log('\n!!!!!!!! bench: the bulk store builder no longer matches appendCheckpoint(): building with appendCheckpoint (slow) !!!!!!!!\n');
    }
    const small = join(base, 'small');
    const large = join(base, 'large');
    let t = nowMs();
    await (await build(libs, small, 1, 10, 'append')).close();
    const st = await build(libs, large, E, C, how);
    await st.close();
    const buildMs = nowMs() - t;
    log(`  built in ${(buildMs / 1000).toFixed(1)} s (${how}); stores ${(await dirBytes(small)).size} B and ${((await dirBytes(large)).size / 1048576).toFixed(1)} MiB`);

    const cwd = join(base, 'cwd'); // no workspace here: the store comes from --store
    await mkdir(cwd, { recursive: true });
    const env = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('CAIRN_')) delete env[k];
    const show = async (dir) => {
      const r = await run(process.execPath, [cli, '--store', dir, 'exp', 'show', '--json'], { cwd, env });
      if (r.code !== 0) throw new Error(`exp show --json on ${dir} exited ${r.code}: ${r.stderr.trim()}`);
      return r;
    };
    // One untimed run each (disk cache, compiled code cache), then the reps, alternating.
    const check = async (dir, e, c) => {
      const data = JSON.parse((await show(dir)).stdout);
      const n = data.experiments?.length;
      const ok = n === e && data.experiments.every((x) => x.checkpoints.length === c);
      if (!ok) throw new Error(`exp show --json on ${dir}: expected ${e} experiments × ${c} checkpoints, got ${n}`);
    };
    await check(small, 1, 10);
    await check(large, E, C);
    const s = [];
    const l = [];
    const node = [];
    for (let r = 0; r < reps; r++) {
      if (r % 2 === 0) {
        s.push((await show(small)).ms);
        l.push((await show(large)).ms);
      } else {
        l.push((await show(large)).ms);
        s.push((await show(small)).ms);
      }
      node.push((await run(process.execPath, ['-e', '0'], { cwd })).ms);
    }
    const res = {
      experiments: E,
      checkpoints: C,
      builder: how,
      builderVerified: equivalence,
      buildMs,
      storeOn: base.startsWith('/dev/shm') ? 'tmpfs (/dev/shm)' : 'disk',
      small: summarize(s),
      large: summarize(l),
      nodeStartup: summarize(node),
    };
    res.ratio = res.large.median / res.small.median;
    log(
      `  1 × 10: ${res.small.median.toFixed(0)} ms; ${E} × ${C}: ${res.large.median.toFixed(0)} ms (${res.ratio.toFixed(2)}×); ` +
        `bare node start-up ${res.nodeStartup.median.toFixed(0)} ms`,
    );
    return res;
  } finally {
    if (!keep) await rmrf(base);
  }
}
