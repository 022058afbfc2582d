// exp run --push (and CAIRN_AUTO_PUSH=1): every checkpoint reaches the remote in the background;
// a remote that fails warns and leaves the run's checkpoints safe here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cairn, tempDir, type RunResult } from './lib/cli.js';
import type { ShowJson } from './lib/workspace.js';

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

async function workspace(url: string): Promise<string> {
  const ws = await tempDir('cairn-ws-');
  ok(await cairn(['init', '--example', '-q'], { cwd: ws }), 'init');
  ok(await cairn(['remote', 'add', 'origin', url, '-q'], { cwd: ws }), 'remote add');
  return ws;
}

async function show(ws: string): Promise<ShowJson> {
  const r = await cairn(['exp', 'show', '--json', '--no-pager'], { cwd: ws });
  ok(r, 'exp show');
  return JSON.parse(r.stdout) as ShowJson;
}

const FILES = ['model.safetensors', 'metrics.json', 'params.yaml', 'train.py'];
const shas = async (ws: string) => Promise.all(FILES.map(async (f) => createHash('sha256').update(await readFile(join(ws, f))).digest('hex')));

test('exp run --push leaves every checkpoint on the remote: pulled elsewhere, each applies bit for bit', async () => {
  const url = pathToFileURL(join(await tempDir('cairn-remote-'), 'remote')).href;
  const a = await workspace(url);
  const run = await cairn(['exp', 'run', '-n', 'auto', '--push'], { cwd: a });
  ok(run, 'exp run --push');
  assert.match(run.stdout, /Pushed experiment 'auto' to 'origin'\./);
  assert.doesNotMatch(run.stderr, /warning/);
  const b = await workspace(url);
  ok(await cairn(['exp', 'pull', 'auto'], { cwd: b }), 'pull');
  const mine = (await show(a)).experiments.find((e) => e.name === 'auto')!;
  const theirs = (await show(b)).experiments.find((e) => e.name === 'auto')!;
  assert.ok(mine.checkpoints.length > 1, 'the example records several checkpoints');
  assert.deepEqual(theirs.checkpoints.map((c) => c.id), mine.checkpoints.map((c) => c.id));
  for (const c of mine.checkpoints) {
    ok(await cairn(['exp', 'apply', c.id, '--force'], { cwd: a }), `apply ${c.id} in A`);
    ok(await cairn(['exp', 'apply', c.id, '--force'], { cwd: b }), `apply ${c.id} in B`);
    assert.deepEqual(await shas(b), await shas(a), `checkpoint ${c.step}`);
  }
});

test('a remote that fails: one warning while running; CAIRN_AUTO_PUSH=1 exits 0, --push exits 1; the checkpoints stay here', async () => {
  // A folder that cannot be made (a file is in the way): fails for root too.
  const blocker = join(await tempDir('cairn-remote-'), 'file');
  await writeFile(blocker, 'not a folder\n');
  const url = pathToFileURL(join(blocker, 'remote')).href;
  const ws = await workspace(url);
  const viaEnv = await cairn(['exp', 'run', '-n', 'env'], { cwd: ws, env: { CAIRN_AUTO_PUSH: '1' } });
  ok(viaEnv, 'exp run with CAIRN_AUTO_PUSH=1');
  const failures = viaEnv.stderr.split('\n').filter((l) => l.startsWith("cairn: warning: pushing 'env' failed"));
  assert.equal(failures.length, 1, viaEnv.stderr);
  assert.match(viaEnv.stderr, /cairn: warning: the checkpoints are safe here but not all on remote 'origin'/);
  const explicit = await cairn(['exp', 'run', '-n', 'flag', '--push', '-r', 'origin'], { cwd: ws });
  assert.equal(explicit.code, 1, explicit.stderr);
  assert.match(explicit.stderr, /not all on remote 'origin'/);
  const here = await show(ws);
  for (const name of ['env', 'flag']) assert.ok(here.experiments.find((e) => e.name === name)!.checkpoints.length > 1, name);
  const noPush = await cairn(['exp', 'run', '-n', 'none', '-r', 'origin'], { cwd: ws });
  assert.equal(noPush.code, 2, noPush.stderr);
});
