/**
 * A reader that goes away never crashes cairn (issue 10, item 5):
 * `cairn exp run | head -3` and `cairn exp show | head -1` print no Node
 * stack trace, the training goes on being recorded, and every recorded
 * checkpoint matches the out it names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { collect, startCairn } from './lib/cli.js';
import { CAIRN_YAML, assertChain, assertNoStack, makeWorkspace, modelStep, showJson, storeGet } from './lib/workspace.js';

/** Reads `lines` lines of the child's stdout, then closes the pipe, as `head -N` does. */
function headThenClose(child: ReturnType<typeof startCairn>, lines: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d;
      if (got.split('\n').length > lines) {
        child.stdout!.off('data', onData);
        child.stdout!.destroy();
        resolve(got);
      }
    };
    child.stdout!.on('data', onData);
  });
}

test('cairn exp run | head -3: no stack trace, exit 0, every checkpoint recorded and matching the out', async () => {
  const ws = await makeWorkspace({ epochs: 6, sleep: 0.15 });
  // The script's own output goes elsewhere, so only cairn writes to the closed pipe.
  await writeFile(join(ws, 'cairn.yaml'), CAIRN_YAML.replace('cmd: python3 train.py', 'cmd: python3 train.py > train.log'));
  const child = startCairn(['exp', 'run'], { cwd: ws });
  const stderr: string[] = [];
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  child.stdin!.end();
  const head = await headThenClose(child, 3);
  assert.match(head, /^Running experiment/m);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const err = stderr.join('');
  assertNoStack(err);
  assert.equal(code, 0, `exit 0 after the reader went away\n${err}`);
  const e = (await showJson(ws)).experiments[0];
  assert.equal(e.checkpoints.length, 6, 'the training went on and every epoch was recorded');
  assertChain(e, null);
  const tipModel = await storeGet(ws, e.checkpoints[0].outs['model.bin'].id);
  assert.ok(tipModel.equals(await readFile(join(ws, 'model.bin'))), 'the tip holds the model on disk');
  assert.equal(modelStep(tipModel), 5);
});

/** Runs cairn with stdout (and, with `stderr: false`, stderr) closed before it writes a byte: every write meets EPIPE. */
async function closedRun(args: string[], ws: string, opts: { stderr: boolean }): Promise<{ code: number | null; stderr: string }> {
  const child = startCairn(args, { cwd: ws });
  child.stdout!.destroy();
  let stderr = '';
  if (opts.stderr) child.stderr!.on('data', (d) => (stderr += d));
  else child.stderr!.destroy();
  child.stdin!.end();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stderr };
}

test('cairn exp show | head -1, and closed stdout and stderr: no stack trace, exit 0', async () => {
  const ws = await makeWorkspace({ epochs: 2 });
  const r = await collect(startCairn(['exp', 'run'], { cwd: ws }));
  assert.equal(r.code, 0, r.stderr);
  for (const args of [['exp', 'show', '--no-pager'], ['exp', 'show', '--json'], ['exp', 'list']]) {
    const out = await closedRun(args, ws, { stderr: true });
    assertNoStack(out.stderr);
    assert.equal(out.code, 0, `${args.join(' ')} with stdout closed: exit 0\n${out.stderr}`);
  }
  // `cairn exp apply X 2>&- >&-`: its status line on stderr meets EPIPE too.
  const name = (await showJson(ws)).experiments[0].name;
  assert.equal((await closedRun(['exp', 'apply', name, '--force'], ws, { stderr: false })).code, 0);
});
