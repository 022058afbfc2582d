/**
 * `exp apply` is all or nothing (issue 10, item 4): a refused apply changes
 * no file of the workspace, and an apply killed at any of its workspace write
 * points is finished or undone by the next command, so the next `exp run`
 * resumes exactly one experiment with that experiment's model and params.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, tempDir } from './lib/cli.js';
import { cairnFaulty, writePoints } from './lib/faultfs.js';
import { assertNoStack, assertOk, makeWorkspace, modelLr, modelStep, paramsYaml, showJson } from './lib/workspace.js';

let ws: string;
// The store lives outside the workspace, so the fault shim's point numbers count the workspace's writes only.
let env: Record<string, string>;
const run = (args: string[]) => cairn(args, { cwd: ws, env });

// xx: lr 0.1, steps 0-1. yy: branched from xx's tip with lr 0.3 and 20 epochs (steps 2-21),
// so a model of one experiment can never pass for the other's by its step.
before(async () => {
  ws = await makeWorkspace({ epochs: 2, init: false });
  const storeDir = join(await tempDir('cairn-store-'), 'store');
  env = { CAIRN_STORE: storeDir };
  assertOk(await cairn(['--store', storeDir, 'init'], { cwd: ws }), 'init');
  assertOk(await run(['exp', 'run', '-n', 'xx']), 'run xx');
  assertOk(await run(['exp', 'run', '-n', 'yy', '-S', 'lr=0.3', '-S', 'epochs=20']), 'run yy');
});

/** Every file of the workspace (not the store) with its content. */
async function snapshot(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of (await readdir(ws)).sort()) out.set(n, (await readFile(join(ws, n))).toString('base64'));
  return out;
}

async function leftovers(): Promise<string[]> {
  return (await readdir(ws)).filter((n) => n === 'cairn.journal' || /\.cairn-(new|old)-/.test(n));
}

test('exp apply Y --force with a params.yaml that does not parse: exit 2, nothing changed, and exp run does not append Y\'s model to X', async () => {
  assertOk(await run(['exp', 'apply', 'xx', '--force']), 'apply xx');
  await writeFile(join(ws, 'params.yaml'), 'lr: [0.1\nepochs: 2\n');
  const before = await snapshot();
  const r = await run(['exp', 'apply', 'yy', '--force']);
  assert.equal(r.code, 2, `exit 2\n${r.stderr}`);
  assert.match(r.stderr.split('\n')[0], /^cairn: error: params\.yaml(:\d+)?: /);
  assertNoStack(r.stderr);
  assert.deepEqual(await snapshot(), before, 'no file of the workspace changed (model.bin, params.yaml, cairn.lock)');
  assert.deepEqual(await leftovers(), []);

  // The user fixes params.yaml; the workspace is still exactly xx's tip, so the run resumes xx with xx's model.
  await writeFile(join(ws, 'params.yaml'), paramsYaml({ epochs: 2 }));
  const again = await run(['exp', 'run', '--max-checkpoints', '1']);
  assertOk(again, 'exp run after the refused apply');
  assert.match(again.stdout, /^Resuming experiment 'xx'\.$/m);
  const model = await readFile(join(ws, 'model.bin'));
  assert.equal(modelLr(model), 0.1, "xx's chain holds xx's model, not yy's");
  assert.equal(modelStep(model), 2);
});

test('an exp apply killed at any workspace write point is finished or undone by the next exp run', async () => {
  assertOk(await run(['exp', 'apply', 'xx', '--force']), 'apply xx');
  const faulty = { ...env, FAULTFS_OPS: 'create,sync,rename' };
  const logged = await writePoints(['exp', 'apply', 'yy', '--force'], ws, ws, faulty);
  assertOk(logged.run, 'logged apply');
  const points = logged.points;
  const here = points.map((l) => l.split(' '));
  const commit = here.filter(([, op, p]) => op === 'rename' && p === join(ws, 'cairn.journal'))[1];
  assert.ok(commit, `the apply renames its journal twice (staging, commit):\n${points.join('\n')}`);
  const chosen = here.filter(([, op]) => op === 'rename').concat([here[0], here[here.length - 1]]);
  for (const [n, op, p] of chosen) {
    const at = Number(n);
    assertOk(await run(['exp', 'apply', 'xx', '--force']), `reset before point ${at}`);
    const shown = await showJson(ws, env);
    const tips = Object.fromEntries(shown.experiments.map((e) => [e.name, e.checkpoints[0].step]));
    const killed = await cairnFaulty(['exp', 'apply', 'yy', '--force'], ws, ws, { kind: 'kill', at }, faulty);
    assert.equal(killed.signal, 'SIGKILL', `killed before point ${at} (${op} ${p})\n${killed.stderr}`);

    const next = await run(['exp', 'run', '--max-checkpoints', '1']);
    assertOk(next, `exp run after a kill before point ${at} (${op} ${p})`);
    // Before the journal's commit phase is durable the apply is undone; after it, finished.
    const expected = at <= Number(commit[0]) ? 'xx' : 'yy';
    assert.match(next.stdout, new RegExp(`^Resuming experiment '${expected}'\\.$`, 'm'), `point ${at} (${op} ${p}): resumes ${expected}\n${next.stdout}`);
    const model = await readFile(join(ws, 'model.bin'));
    assert.equal(modelLr(model), expected === 'xx' ? 0.1 : 0.3, `point ${at}: the model is ${expected}'s`);
    assert.equal(modelStep(model), tips[expected] + 1, `point ${at}: continued from ${expected}'s tip`);
    assert.deepEqual(await leftovers(), [], `point ${at}: no journal or temp file left`);
  }
});
