// Black-box tests of what users do after exp run: apply, diff, list,
// rename, remove and gc (issue: the rest of the experiment workflow).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn } from './lib/cli.js';
import {
  makeWorkspace, showJson, findExp, runExpName, assertOk, assertNoStack, starts, sha256, storeGet, modelStep, modelLr, byStep, steps,
} from './lib/workspace.js';

async function run(ws: string, ...args: string[]) {
  const r = await cairn(['exp', 'run', ...args], { cwd: ws });
  assertOk(r, `exp run ${args.join(' ')}`);
  return runExpName(r.stdout);
}

test('apply of an experiment tip, then run: resumes that experiment', async () => {
  const ws = await makeWorkspace({ epochs: 3 });
  const a = await run(ws);
  const b = await run(ws, '-S', 'lr=0.3');
  assert.notEqual(a, b);
  const applied = await cairn(['exp', 'apply', a], { cwd: ws });
  assertOk(applied, 'exp apply');
  assert.match(await readFile(join(ws, 'params.yaml'), 'utf8'), /^lr: 0\.1/m);
  const model = await readFile(join(ws, 'model.bin'));
  assert.equal(modelStep(model), 2);
  assert.equal(modelLr(model), 0.1);
  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r);
  assert.match(r.stdout, new RegExp(`Resuming experiment '${a}'`));
  assert.deepEqual(steps(findExp(await showJson(ws), a)), [5, 4, 3, 2, 1, 0]);
  assert.equal((await starts(ws)).at(-1)!.loaded_step, 2);
});

test('apply of a mid-chain checkpoint, then run with changed params: branches from it', async () => {
  const ws = await makeWorkspace({ epochs: 4 });
  const a = await run(ws);
  const mid = byStep(findExp(await showJson(ws), a), 1);
  const applied = await cairn(['exp', 'apply', mid.id.slice(0, 7)], { cwd: ws });
  assertOk(applied, 'exp apply');
  const restored = await readFile(join(ws, 'model.bin'));
  assert.equal(sha256(restored), sha256(await storeGet(ws, mid.outs['model.bin'].id)));
  assert.equal(modelStep(restored), 1);
  const b = await run(ws, '-S', 'lr=0.2');
  const show = await showJson(ws);
  const eb = findExp(show, b);
  assert.equal(eb.parent, mid.id);
  assert.equal(byStep(eb, 2).parent, mid.id);
  assert.deepEqual(steps(eb), [5, 4, 3, 2]);
  assert.deepEqual(steps(findExp(show, a)), [3, 2, 1, 0], 'the applied experiment is unchanged');
});

test('apply refuses to overwrite an edited dep or param (exit 2, naming it); --force does', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const a = await run(ws);
  const first = byStep(findExp(await showJson(ws), a), 0);
  await appendFile(join(ws, 'train.py'), '\n# an edit not yet run\n');
  const refused = await cairn(['exp', 'apply', first.id.slice(0, 8)], { cwd: ws });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^cairn: error: .*train\.py/);
  assertNoStack(refused.stderr);
  assert.match(await readFile(join(ws, 'train.py'), 'utf8'), /an edit not yet run/, 'nothing was overwritten');
  const forced = await cairn(['exp', 'apply', first.id.slice(0, 8), '--force'], { cwd: ws });
  assertOk(forced, 'exp apply --force');
  assert.doesNotMatch(await readFile(join(ws, 'train.py'), 'utf8'), /an edit not yet run/);
  assert.equal(modelStep(await readFile(join(ws, 'model.bin'))), 0);
  const unknown = await cairn(['exp', 'apply', 'feedface'], { cwd: ws });
  assert.equal(unknown.code, 3);
});

test('diff of two checkpoints shows exactly the changed params and metrics', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const a = await run(ws);
  const b = await run(ws, '-S', 'lr=0.3', '--reset');
  const show = await showJson(ws);
  const ta = findExp(show, a).tip;
  const tb = findExp(show, b).tip;
  const r = await cairn(['exp', 'diff', ta.slice(0, 7), tb.slice(0, 7), '--json'], { cwd: ws });
  assertOk(r, 'exp diff');
  const d = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(d.params), ['lr']);
  assert.equal(d.params.lr.old, 0.1);
  assert.equal(d.params.lr.new, 0.3);
  const ca = findExp(show, a).checkpoints[0].metrics;
  const cb = findExp(show, b).checkpoints[0].metrics;
  const changed = Object.keys(ca).filter((k) => JSON.stringify(ca[k]) !== JSON.stringify(cb[k])).sort();
  assert.deepEqual(Object.keys(d.metrics).sort(), changed);
  for (const k of changed) assert.deepEqual({ old: d.metrics[k].old, new: d.metrics[k].new }, { old: ca[k], new: cb[k] });
  assert.deepEqual(Object.keys(d.outs), ['model.bin']);
  assert.deepEqual(d.deps, {});
  // Default: tip of the last experiment against the workspace, which matches it.
  const same = await cairn(['exp', 'diff', '--json'], { cwd: ws });
  assertOk(same);
  assert.deepEqual(JSON.parse(same.stdout), { params: {}, metrics: {}, outs: {}, deps: {} });
  await appendFile(join(ws, 'params.yaml'), 'extra: 1\n');
  const table = await cairn(['exp', 'diff', ta.slice(0, 7), tb.slice(0, 7)], { cwd: ws });
  assert.match(table.stdout, /lr/);
});

test('list, rename (a name in use is refused) and remove', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const a = await run(ws, '--name', 'first');
  const b = await run(ws, '-S', 'lr=0.3');
  const list = JSON.parse((await cairn(['exp', 'list', '--json'], { cwd: ws })).stdout);
  assert.deepEqual(list.map((e: { name: string }) => e.name), [b, a]);
  const show = await showJson(ws);
  assert.deepEqual(list[0], { name: b, tip: findExp(show, b).tip, parent: findExp(show, a).tip, checkpoints: 2 });
  const clash = await cairn(['exp', 'rename', b, 'first'], { cwd: ws });
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /^cairn: error: .*first.*in use/);
  assertOk(await cairn(['exp', 'rename', b, 'second'], { cwd: ws }), 'rename');
  assert.deepEqual((await showJson(ws)).experiments.map((e) => e.name), ['second', 'first']);
  const missing = await cairn(['exp', 'remove', 'nope', 'first'], { cwd: ws });
  assert.equal(missing.code, 3);
  assert.equal((await showJson(ws)).experiments.length, 2, 'an unknown name removes nothing');
  assertOk(await cairn(['exp', 'remove', 'first'], { cwd: ws }), 'remove');
  assert.deepEqual((await showJson(ws)).experiments.map((e) => e.name), ['second']);
  assertOk(await cairn(['exp', 'remove', '--all'], { cwd: ws }), 'remove --all');
  assert.deepEqual((await showJson(ws)).experiments, []);
});

test('remove + gc frees space; the remaining experiments restore bit for bit, shared parents included', async () => {
  const ws = await makeWorkspace({ epochs: 3 });
  const a = await run(ws);
  const b = await run(ws, '-S', 'lr=0.3');
  const c = await run(ws, '--reset', '-S', 'lr=0.7');
  const show = await showJson(ws);
  // b branched from a's tip, so a's whole chain stays reachable through b.
  const keep = [...findExp(show, b).checkpoints, ...findExp(show, a).checkpoints];
  const before = new Map<string, string>();
  for (const cp of keep) before.set(cp.id, sha256(await storeGet(ws, cp.outs['model.bin'].id)));
  const statsBefore = JSON.parse((await cairn(['store', 'stats', '--json'], { cwd: ws })).stdout);
  assertOk(await cairn(['exp', 'remove', a, c], { cwd: ws }), 'remove');
  const dry = await cairn(['gc', '--dry-run', '--json'], { cwd: ws });
  assertOk(dry, 'gc --dry-run');
  assert.ok(JSON.parse(dry.stdout).bytesFreed > 0);
  const gc = await cairn(['gc'], { cwd: ws });
  assertOk(gc, 'gc');
  assert.match(gc.stdout, /Freed/);
  const statsAfter = JSON.parse((await cairn(['store', 'stats', '--json'], { cwd: ws })).stdout);
  assert.ok(statsAfter.packBytes < statsBefore.packBytes, `${statsAfter.packBytes} < ${statsBefore.packBytes}`);
  assertOk(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck');
  for (const cp of keep) assert.equal(sha256(await storeGet(ws, cp.outs['model.bin'].id)), before.get(cp.id));
  const applyOld = await cairn(['exp', 'apply', '--force', findExp(show, a).checkpoints[1].id], { cwd: ws });
  assertOk(applyOld, 'apply a removed experiment\'s checkpoint that b descends from');
  const gone = await cairn(['exp', 'apply', '--force', findExp(show, c).tip], { cwd: ws });
  assert.equal(gone.code, 3, 'a collected checkpoint is not found');
});

test('a second exp run in the same workspace is refused (exit 4) while the first goes on', async () => {
  const ws = await makeWorkspace({ epochs: 4, sleep: 0.4 });
  const { startCairn, collect } = await import('./lib/cli.js');
  const first = startCairn(['exp', 'run'], { cwd: ws });
  const firstDone = collect(first);
  let out = '';
  first.stdout!.on('data', (d) => (out += d));
  while (!/Checkpoint experiment iteration/.test(out)) await new Promise((r) => setTimeout(r, 50));
  const second = await cairn(['exp', 'run'], { cwd: ws });
  assert.equal(second.code, 4);
  assert.match(second.stderr, /^cairn: error: another cairn exp run \(pid \d+\) is running/);
  assertNoStack(second.stderr);
  const r = await firstDone;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(steps(findExp(await showJson(ws), runExpName(r.stdout))), [3, 2, 1, 0]);
  // The lock goes with the run: a new run resumes.
  assertOk(await cairn(['exp', 'run', '--max-checkpoints', '1'], { cwd: ws }), 'run after the first finished');
});
