/**
 * Honest resume (issue 10, item 5): `exp run` only continues a chain when
 * the checkpoint outs on disk are that chain's tip. A missing out is restored
 * from the tip first (and the run says so); an out that differs from the tip
 * is kept, and the run starts a new experiment from the tip instead of
 * appending to its chain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn } from './lib/cli.js';
import { assertChain, assertOk, findExp, makeWorkspace, modelStep, runExpName, sha256, showJson, starts, steps } from './lib/workspace.js';

test('rm model.bin, then exp run: the tip\'s model is restored (and said so), the chain continues from it', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first run');
  const name = runExpName(first.stdout);
  const tipModel = await readFile(join(ws, 'model.bin'));
  const tip = findExp(await showJson(ws), name).tip;

  await rm(join(ws, 'model.bin'));
  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r, 'run after rm model.bin');
  assert.match(r.stdout, new RegExp(`^Restored 'model\\.bin' from checkpoint ${tip.slice(0, 7)} \\(it was missing\\)\\.$`, 'm'));
  assert.match(r.stdout, new RegExp(`^Resuming experiment '${name}'\\.$`, 'm'));
  const s = await starts(ws);
  assert.equal(s.at(-1)!.loaded_sha256, sha256(tipModel), "the script loaded the tip's model, not nothing");
  const e = findExp(await showJson(ws), name);
  assert.deepEqual(steps(e), [3, 2, 1, 0], 'steps go on from the tip, never back to 0');
  assertChain(e, null);
});

test('model.bin changed since the tip, then exp run: a new experiment from the tip, the old chain untouched', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first run');
  const name = runExpName(first.stdout);
  const before = findExp(await showJson(ws), name);

  // Same step in the header (so the script accepts it), other weights: what a hand edit or an unrecorded write leaves.
  const model = await readFile(join(ws, 'model.bin'));
  assert.equal(modelStep(model), 1);
  model[model.length - 1] ^= 0xff;
  await writeFile(join(ws, 'model.bin'), model);

  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r, 'run with a changed model.bin');
  assert.doesNotMatch(r.stdout, /Resuming/);
  const line = r.stdout.split('\n').find((l) => l.includes('differs from checkpoint'));
  assert.ok(line, `one line says why:\n${r.stdout}`);
  assert.match(line, new RegExp(`^'model\\.bin' differs from checkpoint ${before.tip.slice(0, 7)} of '${name}'`));
  const newName = runExpName(r.stdout);
  assert.notEqual(newName, name);

  const show = await showJson(ws);
  assert.deepEqual(findExp(show, name), before, 'the old experiment is exactly as it was');
  const branch = findExp(show, newName);
  assert.equal(branch.parent, before.tip, 'the new experiment starts from the tip');
  assert.deepEqual(steps(branch), [3, 2]);
  assertChain(branch, before.tip);
  assert.equal((await starts(ws)).at(-1)!.loaded_sha256, sha256(model), 'the changed model was kept and loaded');
});
