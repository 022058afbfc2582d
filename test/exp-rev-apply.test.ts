/**
 * What DVC 2.x users expect of a checkpoint they go back to: `exp run --rev`
 * starts from that checkpoint's code and params as well as its model (as
 * checking out its commit did), with -S on top; `exp apply` brings back the
 * metrics files recorded with the model, so the workspace row of `exp show`
 * and `exp diff` describe the model that is in the workspace.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cairn } from './lib/cli.js';
import {
  TRAIN_PY,
  assertMetrics,
  assertNoStack,
  assertOk,
  byStep,
  checkpointLines,
  findExp,
  makeWorkspace,
  modelLr,
  modelStep,
  paramsYaml,
  runExpName,
  showJson,
  starts,
} from './lib/workspace.js';

/** train.py with one visible change: every start it records says `version: 2`. */
const TRAIN_PY_V2 = TRAIN_PY.replace('"loaded_sha256": None,\n', '"loaded_sha256": None,\n        "version": 2,\n');

/** The `version` a start of train.py recorded (absent for the original train.py). */
const version = (s: object): unknown => (s as { version?: number }).version;

async function diffJson(ws: string, args: string[]): Promise<{ params: Record<string, unknown>; metrics: Record<string, unknown>; deps: Record<string, unknown>; outs: Record<string, unknown> }> {
  const r = await cairn(['exp', 'diff', ...args, '--json'], { cwd: ws });
  assertOk(r, `exp diff ${args.join(' ')}`);
  return JSON.parse(r.stdout);
}

test('exp run --rev brings back the checkpoint\'s params and code before the script starts; -S applies on top', async () => {
  assert.notEqual(TRAIN_PY_V2, TRAIN_PY);
  const ws = await makeWorkspace({ epochs: 2 });
  const a = await cairn(['exp', 'run', '--name', 'a'], { cwd: ws });
  assertOk(a, 'run A');
  const aFirst = byStep(findExp(await showJson(ws), 'a'), 0);

  // B: new code and another lr.
  await writeFile(join(ws, 'train.py'), TRAIN_PY_V2);
  assertOk(await cairn(['exp', 'run', '--name', 'b', '-S', 'lr=0.3'], { cwd: ws }), 'run B');
  assert.equal(version((await starts(ws)).at(-1)!), 2, 'B ran the new code');

  const r = await cairn(['exp', 'run', '--rev', aFirst.id.slice(0, 7), '--name', 'back'], { cwd: ws });
  assertOk(r, 'exp run --rev');
  assert.match(r.stdout, new RegExp(`^Restored checkpoint '${aFirst.id.slice(0, 7)}' \\(.*model\\.bin.*train\\.py.*params\\.yaml.*\\); new experiment 'back'`, 'm'));
  const s = (await starts(ws)).at(-1)!;
  assert.equal(s.exp, 'back');
  assert.equal(version(s), undefined, "the script that ran was A's train.py");
  assert.equal(s.loaded_step, 0, "it loaded A's model");
  assert.equal(await readFile(join(ws, 'train.py'), 'utf8'), TRAIN_PY, "train.py is A's, byte for byte");
  // Written into the file's text: its comments and layout stay.
  assert.equal(await readFile(join(ws, 'params.yaml'), 'utf8'), paramsYaml({ epochs: 2 }), 'params.yaml holds lr 0.1 again');
  assert.equal(modelLr(await readFile(join(ws, 'model.bin'))), 0.1, 'trained with lr 0.1');

  const back = findExp(await showJson(ws), 'back');
  assert.equal(back.parent, aFirst.id);
  for (const c of back.checkpoints) assert.equal(c.params.lr, 0.1, `step ${c.step} records lr 0.1`);
  // The new experiment's record holds A's code, not B's.
  const d = await diffJson(ws, [aFirst.id, back.checkpoints.at(-1)!.id]);
  assert.deepEqual([d.params, d.deps], [{}, {}], 'same params and deps as the checkpoint it came from');

  // -S still applies, on top of what --rev brought back.
  const again = await cairn(['exp', 'run', '--rev', aFirst.id.slice(0, 7), '--name', 'faster', '-S', 'lr=0.5'], { cwd: ws });
  assertOk(again, 'exp run --rev -S');
  const faster = findExp(await showJson(ws), 'faster');
  for (const c of faster.checkpoints) assert.equal(c.params.lr, 0.5, `step ${c.step} records lr 0.5`);
  assert.equal(modelLr(await readFile(join(ws, 'model.bin'))), 0.5);
  assert.equal(await readFile(join(ws, 'train.py'), 'utf8'), TRAIN_PY);
});

test('exp run --rev over an unrecorded edit of a dep: one error line, exit 2, nothing written', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  assertOk(await cairn(['exp', 'run', '--name', 'a'], { cwd: ws }), 'run A');
  const first = byStep(findExp(await showJson(ws), 'a'), 0);
  await writeFile(join(ws, 'train.py'), TRAIN_PY_V2);
  const listing = async () => {
    const out: Record<string, string> = {};
    for (const n of (await readdir(ws)).sort()) if (n !== '.cairn') out[n] = (await readFile(join(ws, n))).toString('base64');
    return out;
  };
  const before = await listing();

  const r = await cairn(['exp', 'run', '--rev', first.id.slice(0, 7), '-S', 'lr=0.5'], { cwd: ws });
  assert.equal(r.code, 2, `exit 2\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.split('\n');
  assert.equal(lines[0], 'cairn: error: uncommitted changes would be overwritten: train.py');
  assert.match(r.stderr, /cairn exp apply \S+ --force/, 'says how to discard them');
  assertNoStack(r.stderr);
  assert.equal(checkpointLines(r.stdout).length, 0);
  assert.deepEqual(await listing(), before, 'no workspace file changed, -S included');
  assert.equal(findExp(await showJson(ws), 'a').checkpoints.length, 2);
  assert.equal((await showJson(ws)).experiments.length, 1, 'no experiment started');
});

test('exp apply of a mid-chain checkpoint brings back its metrics file: the workspace row and exp diff agree with the model', async () => {
  const ws = await makeWorkspace({ epochs: 3 });
  const run = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(run, 'exp run');
  const name = runExpName(run.stdout);
  const e = findExp(await showJson(ws), name);
  const mid = byStep(e, 1);
  const tip = byStep(e, 2);
  assertMetrics(mid.metrics, 1, 0.1, 'recorded at step 1');

  assertOk(await cairn(['exp', 'apply', mid.id.slice(0, 7)], { cwd: ws }), 'exp apply');
  assert.equal(modelStep(await readFile(join(ws, 'model.bin'))), 1, 'the model of step 1 is in the workspace');
  assert.deepEqual(JSON.parse(await readFile(join(ws, 'metrics.json'), 'utf8')), mid.metrics, 'metrics.json is the one recorded at step 1');
  assert.deepEqual((await showJson(ws)).workspace.metrics, mid.metrics, 'the workspace row shows step 1');
  assert.deepEqual((await diffJson(ws, [mid.id])).metrics, {}, 'no metric differs from the applied checkpoint');
  // Against the default (the tip), the workspace differs exactly as step 1 differs from the tip.
  assert.deepEqual((await diffJson(ws, [])).metrics, (await diffJson(ws, [tip.id, mid.id])).metrics);
});
