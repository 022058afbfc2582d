/**
 * Honest resume (issue 10, item 5): `exp run` only continues a chain when
 * the checkpoint outs on disk are that chain's tip. A missing out is restored
 * from the tip first (and the run says so); an out that differs from the tip
 * (a run killed after writing it, before its checkpoint; or an edit) is moved
 * aside, never deleted, and the tip's restored, so the chain goes on from what
 * it recorded.
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

test('model.bin changed since the tip, then exp run: the changed file is moved aside, the tip\'s restored, the chain goes on from it', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first run');
  const name = runExpName(first.stdout);
  const before = findExp(await showJson(ws), name);
  const tipModel = await readFile(join(ws, 'model.bin'));

  // Same step in the header (so the script would accept it), other weights: what a hand edit leaves.
  const model = Buffer.from(tipModel);
  assert.equal(modelStep(model), 1);
  model[model.length - 1] ^= 0xff;
  await writeFile(join(ws, 'model.bin'), model);

  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r, 'run with a changed model.bin');
  const line = r.stdout.split('\n').find((l) => l.includes('differs from checkpoint'));
  assert.ok(line, `one line says why:\n${r.stdout}`);
  assert.match(line, new RegExp(`^'model\\.bin' differs from checkpoint ${before.tip.slice(0, 7)}, .*moved it to 'model\\.bin\\.unrecorded'`));
  assert.ok((await readFile(join(ws, 'model.bin.unrecorded'))).equals(model), 'the changed file is kept, byte for byte');
  assert.equal((await starts(ws)).at(-1)!.loaded_sha256, sha256(tipModel), "the script loaded the tip's model");
  const e = findExp(await showJson(ws), name);
  assert.deepEqual(steps(e), [3, 2, 1, 0], 'the chain goes on from its tip');
  assertChain(e, null);
});

test('a run killed after writing its out and before the checkpoint: the next run restores the last recorded model and records steps that happened', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first run');
  const name = runExpName(first.stdout);
  const e0 = findExp(await showJson(ws), name);
  const model = await readFile(join(ws, 'model.bin'));
  // What a run killed between writing step 2's model and its checkpoint leaves.
  const next = Buffer.from(model);
  next.writeBigInt64LE(BigInt(modelStep(model) + 1), 8);
  await writeFile(join(ws, 'model.bin'), next);
  const r = await cairn(['exp', 'run', '--max-checkpoints', '1'], { cwd: ws });
  assertOk(r, 'the run after the unrecorded write');
  const e = findExp(await showJson(ws), name);
  assert.equal(e.checkpoints[0].step, e0.checkpoints[0].step + 1, 'one step on from the last recorded one');
  assert.equal(modelStep(await readFile(join(ws, 'model.bin'))), e.checkpoints[0].step, 'the model on disk is the step recorded');
  assert.equal((await starts(ws)).at(-1)!.loaded_step, e0.checkpoints[0].step, 'the script started from the last recorded step');
});
