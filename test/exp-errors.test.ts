/**
 * Black-box tests of `cairn exp run` on bad input and failing commands
 * (SPEC "Bad input gets a clear error and loses nothing"): the right exit
 * code, one `cairn: error: ...` line, no stack trace, and every checkpoint
 * recorded before still there.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, type RunResult } from './lib/cli.js';
import {
  CAIRN_YAML,
  assertChain,
  assertNoStack,
  assertOk,
  checkpointLines,
  makeWorkspace,
  modelStep,
  runExpName,
  showJson,
  steps,
  storeGet,
  type ShowJson,
} from './lib/workspace.js';

let ws: string;
let expName: string;
let recorded: ShowJson;

before(async () => {
  ws = await makeWorkspace({ epochs: 2 });
  const r = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(r, 'setup exp run');
  expName = runExpName(r.stdout);
  recorded = await showJson(ws);
  assert.deepEqual(steps(recorded.experiments[0]), [1, 0]);
});

/** The first stderr line, after checking the error shape. */
function errorLine(r: RunResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${code}, got ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const first = r.stderr.split('\n')[0];
  assert.match(first, /^cairn: error: \S/, `${what}: stderr starts with 'cairn: error: '\n${r.stderr}`);
  assertNoStack(r.stderr);
  assert.equal(checkpointLines(r.stdout).length, 0, `${what}: no checkpoint`);
  return first;
}

/** exp show --json still works and shows exactly the data recorded before. */
async function assertNothingLost(what: string): Promise<void> {
  const now = await showJson(ws);
  assert.deepEqual(now.experiments, recorded.experiments, `${what}: experiments unchanged`);
}

/** Runs `exp run ARGS` with `yaml` as cairn.yaml, then puts the good one back. */
async function runWithPipeline(yaml: string, args: string[] = []): Promise<RunResult> {
  await writeFile(join(ws, 'cairn.yaml'), yaml);
  try {
    return await cairn(['exp', 'run', ...args], { cwd: ws });
  } finally {
    await writeFile(join(ws, 'cairn.yaml'), CAIRN_YAML);
  }
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

test('a typo key in cairn.yaml: exit 2, cairn.yaml:<line> and the key named', async () => {
  const outTypo = CAIRN_YAML.replace('checkpoint: true', 'checkpont: true');
  let first = errorLine(await runWithPipeline(outTypo), 2, 'typo in an out');
  assert.match(first, new RegExp(`^cairn: error: cairn\\.yaml:${lineOf(outTypo, 'checkpont')}: .*checkpont`));
  const stageTypo = CAIRN_YAML.replace('    params:', '    parms:');
  first = errorLine(await runWithPipeline(stageTypo), 2, 'typo in a stage');
  assert.match(first, new RegExp(`^cairn: error: cairn\\.yaml:${lineOf(stageTypo, 'parms')}: .*parms`));
  await assertNothingLost('typo');
});

test('a stage without cmd: exit 2 naming cmd', async () => {
  const noCmd = CAIRN_YAML.replace(/^ {4}cmd: .*\n/m, '');
  assert.ok(!noCmd.includes('cmd:'));
  const first = errorLine(await runWithPipeline(noCmd), 2, 'missing cmd');
  assert.match(first, /^cairn: error: cairn\.yaml(:\d+)?: .*\bcmd\b/);
  await assertNothingLost('missing cmd');
});

test('malformed YAML in cairn.yaml: exit 2 naming the file', async () => {
  const first = errorLine(await runWithPipeline('stages:\n  train:\n    cmd: [unclosed\n    deps: {\n'), 2, 'malformed YAML');
  assert.match(first, /^cairn: error: cairn\.yaml(:\d+)?: /);
  await assertNothingLost('malformed YAML');
});

test('an out that is also a dep, and a path leaving the workspace: exit 2', async () => {
  const outIsDep = CAIRN_YAML.replace('      - train.py', '      - train.py\n      - model.bin');
  let first = errorLine(await runWithPipeline(outIsDep), 2, 'out is a dep');
  assert.match(first, /^cairn: error: cairn\.yaml(:\d+)?: .*model\.bin/);
  const escapes = CAIRN_YAML.replace('      - train.py', '      - ../outside.py');
  first = errorLine(await runWithPipeline(escapes), 2, 'path leaves the workspace');
  assert.match(first, /^cairn: error: cairn\.yaml(:\d+)?: .*\.\.\/outside\.py/);
  await assertNothingLost('bad paths');
});

test('malformed params.yaml: exit 2 naming the file', async () => {
  const good = await readFile(join(ws, 'params.yaml'), 'utf8');
  await writeFile(join(ws, 'params.yaml'), 'lr: [0.1\nepochs: 2\n');
  try {
    const first = errorLine(await cairn(['exp', 'run'], { cwd: ws }), 2, 'malformed params');
    assert.match(first, /^cairn: error: params\.yaml(:\d+)?: /);
  } finally {
    await writeFile(join(ws, 'params.yaml'), good);
  }
  await assertNothingLost('malformed params');
});

test('exp run --rev with an unknown ID: exit 3; --rev with --reset: exit 2; --max-checkpoints 0: exit 2', async () => {
  errorLine(await cairn(['exp', 'run', '--rev', 'deadbeef'], { cwd: ws }), 3, '--rev deadbeef');
  const tip7 = recorded.experiments[0].tip.slice(0, 7);
  errorLine(await cairn(['exp', 'run', '--rev', tip7, '--reset'], { cwd: ws }), 2, '--rev with --reset');
  errorLine(await cairn(['exp', 'run', '--max-checkpoints', '0'], { cwd: ws }), 2, '--max-checkpoints 0');
  await assertNothingLost('bad flags');
  // The model.bin in the workspace was not touched either.
  assert.equal(modelStep(await readFile(join(ws, 'model.bin'))), 1);
});

test('a run refused for bad input leaves params.yaml as it was (-S is not half-applied)', async () => {
  const before = await readFile(join(ws, 'params.yaml'), 'utf8');
  try {
    errorLine(await cairn(['exp', 'run', '-S', 'lr=0.5', '--rev', 'deadbeef'], { cwd: ws }), 3, '-S with an unknown --rev');
    assert.equal(await readFile(join(ws, 'params.yaml'), 'utf8'), before, 'params.yaml unchanged after a refused run (unknown --rev)');
    await writeFile(join(ws, 'params.yaml'), before);
    errorLine(await cairn(['exp', 'run', '-S', 'lr=0.5', '--name', expName], { cwd: ws }), 2, '-S with a --name in use');
    assert.equal(await readFile(join(ws, 'params.yaml'), 'utf8'), before, 'params.yaml unchanged after a refused run (--name in use)');
  } finally {
    await writeFile(join(ws, 'params.yaml'), before);
  }
  await assertNothingLost('-S with unknown --rev');
});

test('a key of the DVC schema that cairn does not act on: one warning naming it, the run goes on', async () => {
  const withDesc = CAIRN_YAML.replace('    cmd: python3 train.py\n', '    cmd: python3 train.py\n    desc: trains the model\n');
  const r = await runWithPipeline(withDesc, ['--max-checkpoints', '1']);
  assertOk(r, 'exp run with desc');
  const warnings = r.stderr.split('\n').filter((l) => /warning/i.test(l));
  assert.equal(warnings.length, 1, `one warning line:\n${r.stderr}`);
  assert.match(warnings[0], /\bdesc\b/);
  assert.match(r.stdout, new RegExp(`Resuming experiment '${expName}'`), 'cairn.yaml keys that change nothing do not branch');
  assert.equal(checkpointLines(r.stdout).length, 1);
  recorded = await showJson(ws);
  assert.deepEqual(steps(recorded.experiments[0]), [2, 1, 0]);
});

/** A run that stopped after two checkpoints: both printed, recorded in order from scratch, and their models restorable. */
async function assertFirstTwoKept(w: string, stdout: string): Promise<void> {
  const printed = checkpointLines(stdout);
  assert.equal(printed.length, 2);
  const e = (await showJson(w)).experiments[0];
  assert.deepEqual(e.checkpoints.map((c) => c.id.slice(0, 7)).reverse(), printed);
  assert.deepEqual(steps(e), [1, 0]);
  assertChain(e, null);
  for (const c of e.checkpoints) assert.equal(modelStep(await storeGet(w, c.outs['model.bin'].id)), c.step);
}

test('a checkpoint out missing at a signal: exit 1 with a clear message, earlier checkpoints kept', async () => {
  const w = await makeWorkspace({ epochs: 4 });
  const r = await cairn(['exp', 'run'], { cwd: w, env: { TRAIN_REMOVE_MODEL_AT: '2', CAIRN_KILL_GRACE: '2' } });
  assert.equal(r.code, 1, `exit 1:\n${r.stdout}\n${r.stderr}`);
  assertNoStack(r.stderr);
  // Not anchored at a line start: the training script, stopped by SIGTERM as it reports the failure, may leave its own line unterminated.
  assert.match(r.stderr, /cairn: error: .*model\.bin.*missing/, r.stderr);
  await assertFirstTwoKept(w, r.stdout);
});

test('a failing script: exit 1, its checkpoints kept', async () => {
  const w = await makeWorkspace({ epochs: 5 });
  const r = await cairn(['exp', 'run'], { cwd: w, env: { TRAIN_FAIL_AFTER: '2' } });
  assert.equal(r.code, 1, `exit 1:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /^cairn: error: .+/m);
  assertNoStack(r.stderr);
  await assertFirstTwoKept(w, r.stdout);
  // The failed experiment can be resumed: the next run goes on from step 2.
  const again = await cairn(['exp', 'run', '--max-checkpoints', '1'], { cwd: w, env: { CAIRN_KILL_GRACE: '2' } });
  assertOk(again, 'exp run after a failure');
  assert.match(again.stdout, /Resuming experiment/);
  assert.deepEqual(steps((await showJson(w)).experiments[0]), [2, 1, 0]);
});
