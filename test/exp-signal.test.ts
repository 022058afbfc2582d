/**
 * Black-box tests of the other ways to signal a checkpoint (SPEC "Signal
 * protocol"): DVC 2.x's `.dvc/tmp/DVC_CHECKPOINT` path used directly, and
 * `cairn checkpoint` from a shell script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cairn, collect, startCairn, tempDir } from './lib/cli.js';
import {
  CAIRN_BIN_DIR,
  assertChain,
  assertMetrics,
  assertNoStack,
  assertOk,
  checkpointLines,
  makeWorkspace,
  modelStep,
  showJson,
  starts,
  steps,
  storeGet,
} from './lib/workspace.js';

test('a script signalling through DVC 2.x .dvc/tmp/DVC_CHECKPOINT works; cairn removes only the .dvc/ parts it created', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const env = { TRAIN_SIGNAL: 'dvc' };
  const r = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(r, 'exp run with dvc signalling');
  assert.equal(checkpointLines(r.stdout).length, 2);
  let e = (await showJson(ws)).experiments[0];
  assert.deepEqual(steps(e), [1, 0]);
  assertChain(e, null);
  for (const c of e.checkpoints) {
    assertMetrics(c.metrics, c.step, 0.1, `dvc step ${c.step}`);
    assert.equal(modelStep(await storeGet(ws, c.outs['model.bin'].id)), c.step);
  }
  await assert.rejects(stat(join(ws, '.dvc')), /ENOENT/, '.dvc/ created by cairn is removed');

  // A .dvc/ that was there before stays, with what is in it; the tmp/ cairn created goes.
  await mkdir(join(ws, '.dvc'));
  await writeFile(join(ws, '.dvc', 'config'), '[core]\n');
  const again = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(again, 'exp run with an existing .dvc/');
  assert.match(again.stdout, /Resuming experiment/);
  assert.equal(checkpointLines(again.stdout).length, 2);
  assert.deepEqual(await readdir(join(ws, '.dvc')), ['config'], 'only .dvc/tmp (created by cairn) is removed');
  assert.equal(await readFile(join(ws, '.dvc', 'config'), 'utf8'), '[core]\n');

  // A .dvc/tmp/ that was there before stays too, with the user's files.
  await mkdir(join(ws, '.dvc', 'tmp'));
  await writeFile(join(ws, '.dvc', 'tmp', 'keep.txt'), 'mine\n');
  const third = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(third, 'exp run with an existing .dvc/tmp/');
  assert.equal(checkpointLines(third.stdout).length, 2);
  assert.deepEqual((await readdir(join(ws, '.dvc', 'tmp'))).sort(), ['keep.txt']);
  assert.equal(await readFile(join(ws, '.dvc', 'tmp', 'keep.txt'), 'utf8'), 'mine\n');

  e = (await showJson(ws)).experiments[0];
  assert.deepEqual(steps(e), [5, 4, 3, 2, 1, 0]);
  assertChain(e, null);
  const s = (await starts(ws)).at(-1)!;
  assert.deepEqual([s.loaded_step, s.cairn_step], [3, 4]);
});

const SHELL_STAGE = `stages:
  train:
    cmd: sh train.sh
    deps:
      - train.sh
    outs:
      - model.bin:
          checkpoint: true
`;

const TRAIN_SH = `#!/bin/sh
set -e
for i in 0 1; do
  printf 'model at epoch %s\\n' "$i" > model.bin
  cairn checkpoint --metric acc=0.9$((i + 7)) --metric epoch=$i --metric note=epoch$i --metric ok=true
done
`;

test('cairn checkpoint --metric from a shell-script stage records checkpoints with typed metrics', async () => {
  const ws = await tempDir('cairn-exp-sh-');
  await writeFile(join(ws, 'cairn.yaml'), SHELL_STAGE);
  await writeFile(join(ws, 'train.sh'), TRAIN_SH);
  assertOk(await cairn(['init'], { cwd: ws }), 'init');
  const env = { PATH: `${CAIRN_BIN_DIR}${delimiter}${process.env.PATH ?? ''}` };
  const r = await cairn(['exp', 'run'], { cwd: ws, env });
  assertOk(r, 'exp run of a shell stage');
  assert.equal(checkpointLines(r.stdout).length, 2, r.stdout);
  const e = (await showJson(ws)).experiments[0];
  assert.deepEqual(steps(e), [1, 0]);
  assertChain(e, null);
  const [second, first] = e.checkpoints;
  assert.deepEqual(first.metrics, { acc: 0.97, epoch: 0, note: 'epoch0', ok: true });
  assert.deepEqual(second.metrics, { acc: 0.98, epoch: 1, note: 'epoch1', ok: true });
  assert.equal(typeof first.metrics.acc, 'number', 'acc=0.97 is read as a number');
  assert.equal((await storeGet(ws, first.outs['model.bin'].id)).toString(), 'model at epoch 0\n');
  assert.equal((await storeGet(ws, second.outs['model.bin'].id)).toString(), 'model at epoch 1\n');
});

test('cairn checkpoint outside exp run is a no-op (exit 0)', async () => {
  const dir = await tempDir('cairn-noop-');
  const env = { CAIRN_CHECKPOINT_SIGNAL: undefined, CAIRN_CHECKPOINT: undefined, DVC_CHECKPOINT: undefined, DVC_ROOT: undefined, CAIRN_PID: undefined };
  const started = Date.now();
  const r = await cairn(['checkpoint', '--metric', 'acc=0.97'], { cwd: dir, env });
  assert.equal(r.code, 0, r.stderr);
  assertNoStack(r.stderr);
  assert.ok(Date.now() - started < 5000, 'returns at once');
  assert.deepEqual(await readdir(dir), [], 'writes nothing');
  const plain = await cairn(['checkpoint'], { cwd: dir, env });
  assert.equal(plain.code, 0, plain.stderr);
});

test('after a kill -9 of exp run, the next run removes the .dvc/tmp/ and signal folder the killed run left', async () => {
  const ws = await makeWorkspace({ epochs: 30, sleep: 0.3 });
  const tmp = await tempDir('cairn-tmpdir-');
  const env = { TMPDIR: tmp, TRAIN_SIGNAL: 'dvc' };
  const child = startCairn(['exp', 'run'], { cwd: ws, env });
  let seen = '';
  const run = collect(child);
  await new Promise<void>((resolve) => {
    child.stdout!.on('data', (d) => {
      seen += d;
      if (checkpointLines(seen).length >= 1) resolve();
    });
  });
  // cairn dies at once; its training script (own process group) is stopped
  // by hand, as it would be by a machine's reboot.
  const descendants = (pid: number): number[] => {
    const kids = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map(Number);
    return kids.flatMap((k) => [k, ...descendants(k)]);
  };
  const training = descendants(child.pid!);
  child.kill('SIGKILL');
  // (They hold cairn's stdout open, so cairn's end is only seen once they are gone.)
  for (const pid of training) spawnSync('kill', ['-9', String(pid)]);
  await run;
  const left = await readdir(tmp);
  assert.ok(left.some((n) => n.startsWith('cairn-signal-')), `the killed run's signal folder is there: ${left}`);
  await stat(join(ws, '.dvc', 'tmp'));
  // Any later run in the workspace cleans up what the killed one could not.
  await writeFile(join(ws, 'params.yaml'), (await readFile(join(ws, 'params.yaml'), 'utf8')).replace(/epochs: \d+/, 'epochs: 1').replace(/sleep: [\d.]+/, 'sleep: 0'));
  assertOk(await cairn(['exp', 'run', '--reset'], { cwd: ws, env }), 'exp run after the kill');
  await assert.rejects(stat(join(ws, '.dvc')), /ENOENT/, '.dvc/ the killed run created is removed');
  assert.deepEqual((await readdir(tmp)).filter((n) => n.startsWith('cairn-signal-')), [], 'no signal folder left');
});
