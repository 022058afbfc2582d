/**
 * Mistakes a DVC user makes in the first hour get one clear line naming the
 * fix, a hint, and exit 2 — never yargs's bare "Invalid values:", a
 * JavaScript message, or a silently accepted value.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { cairn, type RunResult } from './lib/cli.js';
import { assertNoStack, assertOk, makeWorkspace } from './lib/workspace.js';

let ws: string;
before(async () => {
  ws = await makeWorkspace({ epochs: 1 });
  assertOk(await cairn(['exp', 'run'], { cwd: ws }), 'exp run');
});

/** Exit 2, `cairn: error: <line>` and a hint line, nothing else; returns the error line. */
function usageError(r: RunResult, hint?: string): string {
  assert.equal(r.code, 2, `exit 2, got ${r.code}:\n${r.stderr}`);
  assertNoStack(r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0], /^cairn: error: \S/);
  assert.equal(lines.length, 2, `one error line and one hint:\n${r.stderr}`);
  assert.match(lines[1], /^hint: /);
  if (hint !== undefined) assert.equal(lines[1], `hint: ${hint}`);
  return lines[0].slice('cairn: error: '.length);
}

test('exp show --sort-order up names the accepted values', async () => {
  const msg = usageError(await cairn(['exp', 'show', '--sort-order', 'up'], { cwd: ws }), 'see cairn exp show --help');
  assert.equal(msg, 'invalid value "up" for --sort-order: choose asc or desc');
});

test('exp run --revv X: did you mean --rev, and where to read more', async () => {
  const msg = usageError(await cairn(['exp', 'run', '--revv', 'X'], { cwd: ws }), 'see cairn exp run --help');
  assert.equal(msg, 'unknown option --revv; did you mean --rev?');
});

test('exp show --precision abc and -n -1 are refused, not a JavaScript error or an empty table', async () => {
  assert.match(usageError(await cairn(['exp', 'show', '--precision', 'abc'], { cwd: ws })), /^--precision must be a whole number from 1 to 100/);
  assert.match(usageError(await cairn(['exp', 'show', '--precision', '0'], { cwd: ws })), /^--precision must be a whole number from 1 to 100, not 0$/);
  assert.match(usageError(await cairn(['exp', 'show', '-n', '-1'], { cwd: ws })), /^-n\/--num must be a whole number of 1 or more, not -1$/);
});

test('exp apply with no ID says what is missing', async () => {
  const msg = usageError(await cairn(['exp', 'apply'], { cwd: ws }), 'see cairn exp apply --help');
  assert.equal(msg, 'missing <id>: the usage is cairn exp apply <id>');
});

test('exp show --sort-by nosuch is refused and lists the columns', async () => {
  const r = await cairn(['exp', 'show', '--sort-by', 'nosuch', '--no-pager'], { cwd: ws });
  assert.equal(usageError(r), '--sort-by nosuch: no metric or param of that name');
  assert.match(r.stderr, /^hint: columns: .*\bacc\b.*\blr\b/m);
  assert.equal(r.stdout, '', 'no table');
  assertOk(await cairn(['exp', 'show', '--sort-by', 'acc', '--no-pager'], { cwd: ws }), 'a real column still sorts');
});

test('exp run -S nosuch=1 warns, naming the params file, and still sets it', async () => {
  const r = await cairn(['exp', 'run', '-S', 'nosuch=1'], { cwd: ws });
  assertOk(r, 'exp run -S nosuch=1');
  assert.match(r.stderr, /^cairn: warning: -S nosuch: params\.yaml has no 'nosuch'; adding it$/m);
  assert.match(await readFile(join(ws, 'params.yaml'), 'utf8'), /^nosuch: 1$/m);
  const again = await cairn(['exp', 'run', '-S', 'lr=0.2'], { cwd: ws });
  assertOk(again, 'exp run -S lr=0.2');
  assert.doesNotMatch(again.stderr, /warning: -S/, 'no warning for a key the file has');
});
