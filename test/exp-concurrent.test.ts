/**
 * Black-box tests: a running training is never stopped by another cairn
 * command (gc, exp rename / remove, an export into a slow reader), and a
 * run killed with SIGKILL leaves nothing that marks it running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, collect, startCairn, tempDir, CAIRN_BIN, type RunResult } from './lib/cli.js';
import { assertNoStack, assertOk, checkpointLines, findExp, makeWorkspace, showJson, steps } from './lib/workspace.js';

/** Resolves with the stdout so far once it matches `re` (fails if the process ends first). */
function waitFor(child: ChildProcess, re: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      if (re.test(out)) {
        child.stdout!.off('data', onData);
        resolve(out);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what}: exited ${code} before ${re}; stdout:\n${out}`)));
  });
}

/** Starts `cairn ARGS`, collecting its whole output from the start (waitFor listens alongside). */
function start(args: string[], cwd: string): { child: ChildProcess; result: Promise<RunResult> } {
  const child = startCairn(args, { cwd });
  return { child, result: collect(child) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Names of the files under a store folder, [] when it does not exist. */
async function filesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

test('gc while a run waits for its first checkpoint: the run succeeds, its dep snapshot intact, and leaves no empty experiment', async () => {
  const ws = await makeWorkspace({ epochs: 1, sleep: 3 });
  const { child: run, result } = start(['exp', 'run'], ws);
  const head = await waitFor(run, /Running experiment '[^']+'/, 'exp run');
  const name = /Running experiment '([^']+)'/.exec(head)![1];
  // train.py has started (the dep snapshot is stored, no checkpoint yet).
  for (let i = 0; i < 100 && !(await stat(join(ws, 'started.jsonl')).catch(() => undefined)); i++) await sleep(50);
  const gc = await cairn(['gc'], { cwd: ws });
  assertOk(gc, 'gc during the run');
  const r = await result;
  assertOk(r, 'exp run with a gc before its first checkpoint');
  assert.equal(checkpointLines(r.stdout).length, 1);
  const show = await showJson(ws);
  assert.deepEqual(show.experiments.map((e) => e.name), [name], 'one experiment, no empty leftover');
  assert.deepEqual(steps(findExp(show, name)), [0]);
  const fsck = await cairn(['fsck', '--read-data'], { cwd: ws });
  assertOk(fsck, 'fsck after the run');
});

test('exp rename and exp remove of a running experiment: exit 4 with one line; the run goes on to the end', async () => {
  const ws = await makeWorkspace({ epochs: 3, sleep: 1 });
  const { child: run, result } = start(['exp', 'run'], ws);
  const head = await waitFor(run, /Checkpoint experiment iteration/, 'exp run');
  const name = /Running experiment '([^']+)'/.exec(head)![1];
  for (const [args, what] of [
    [['exp', 'rename', name, 'renamed'], 'rename'],
    [['exp', 'remove', name], 'remove'],
    [['exp', 'remove', '--all'], 'remove --all'],
  ] as const) {
    const r = await cairn([...args], { cwd: ws });
    assert.equal(r.code, 4, `${what}: exit 4\n${r.stderr}`);
    assertNoStack(r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line:\n${r.stderr}`);
    assert.match(lines[0], new RegExp(`^cairn: error: experiment '${name}' is being run by process \\d+; stop it first$`));
  }
  const r = await result;
  assertOk(r, 'exp run while rename/remove were tried');
  assert.equal(checkpointLines(r.stdout).length, 3);
  const show = await showJson(ws);
  assert.deepEqual(steps(findExp(show, name)), [2, 1, 0]);
  // Once it is over, both work.
  assertOk(await cairn(['exp', 'rename', name, 'renamed'], { cwd: ws }), 'rename after the run');
  assertOk(await cairn(['exp', 'remove', 'renamed'], { cwd: ws }), 'remove after the run');
});

test('exp export -o - into a reader that does not read: a run records its checkpoints meanwhile (CAIRN_LOCK_TIMEOUT=2)', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const first = await cairn(['exp', 'run'], { cwd: ws });
  assertOk(first, 'first run');
  const name = (await showJson(ws)).experiments[0].name;
  // The reader takes nothing for 6 s; the tarball (over 2 MiB) does not fit the pipe.
  const tarball = join(await tempDir('cairn-export-'), 'out.tar');
  const cmd = `"${process.execPath}" "${CAIRN_BIN}" exp export ${name} -o - | (sleep 6; cat > "${tarball}")`;
  const exporter = spawn('sh', ['-c', cmd], { cwd: ws, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let exportErr = '';
  exporter.stderr!.on('data', (d) => (exportErr += d));
  const exported = new Promise<number | null>((resolve) => exporter.on('close', (code) => resolve(code)));
  await sleep(1500);
  const r = await cairn(['exp', 'run'], { cwd: ws, env: { CAIRN_LOCK_TIMEOUT: '2' } });
  assertOk(r, 'exp run while an export is blocked on its reader');
  assert.equal(checkpointLines(r.stdout).length, 2);
  assert.equal(await exported, 0, `export: ${exportErr}`);
  assert.ok((await stat(tarball)).size > 2 * 1024 * 1024, 'the whole tarball came out');
  const fsck = await cairn(['fsck'], { cwd: ws });
  assertOk(fsck, 'fsck');
});

test('store cat into a reader that does not read keeps no lock: a checkpoint is recorded meanwhile', async () => {
  const ws = await makeWorkspace({ epochs: 1 });
  assertOk(await cairn(['exp', 'run'], { cwd: ws }), 'first run');
  const e = (await showJson(ws)).experiments[0];
  const id = e.checkpoints[0].outs['model.bin'].id;
  const cmd = `"${process.execPath}" "${CAIRN_BIN}" store cat ${id} | (sleep 5; cat > /dev/null)`;
  const reader = spawn('sh', ['-c', cmd], { cwd: ws, stdio: 'ignore' });
  const done = new Promise<number | null>((resolve) => reader.on('close', (code) => resolve(code)));
  await sleep(1500);
  const r = await cairn(['exp', 'run', '--reset'], { cwd: ws, env: { CAIRN_LOCK_TIMEOUT: '2' } });
  assertOk(r, 'exp run while store cat is blocked on its reader');
  assert.equal(await done, 0);
});

test('kill -9 of a run: exp show stops marking it running, and nothing is left in running/ or leases/', async () => {
  const ws = await makeWorkspace({ epochs: 20, sleep: 0.5 });
  const { child: run, result } = start(['exp', 'run'], ws);
  const head = await waitFor(run, /Checkpoint experiment iteration/, 'exp run');
  const name = /Running experiment '([^']+)'/.exec(head)![1];
  const store = join(ws, '.cairn');
  assert.equal((findExp(await showJson(ws), name) as unknown as { running: boolean }).running, true, 'running in exp show --json');
  assert.match((await cairn(['exp', 'show'], { cwd: ws })).stdout, new RegExp(`\\[${name}\\] \\(running\\)`));
  assert.ok((await filesIn(join(store, 'leases'))).length > 0, 'the run holds a lease');

  // The training script runs in its own process group: it goes too, as a kill of the whole terminal would.
  const kids = (await readFile(`/proc/${run.pid}/task/${run.pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/).filter(Boolean).map(Number);
  const exited = new Promise((r) => run.once('exit', r));
  run.kill('SIGKILL');
  await exited;
  for (const k of kids) {
    try {
      process.kill(-k, 'SIGKILL');
    } catch {
      /* gone */
    }
  }

  const show = await showJson(ws);
  assert.equal((findExp(show, name) as unknown as { running: boolean }).running, false, 'not running in --json');
  assert.doesNotMatch((await cairn(['exp', 'show'], { cwd: ws })).stdout, /\(running\)/);
  assert.deepEqual(await filesIn(join(store, 'leases')), [], 'no lease left');
  assert.deepEqual(await filesIn(join(store, 'running')), [], 'nothing left in running/');
  // The experiment is free again: it can be renamed, and run on.
  assertOk(await cairn(['exp', 'rename', name, 'after-kill'], { cwd: ws }), 'rename after the kill');
});
