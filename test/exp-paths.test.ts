/**
 * Black-box tests of the workspace-path rule (issue 10, item 1): a record
 * naming an out, dep or params file outside the workspace (`../../x.sh`, an
 * absolute path, `../p.yaml`) is refused wherever it is read — `exp import`,
 * `exp show`, `fsck`, `exp apply`, `exp run --rev` — with exit 2 (fsck: a
 * failed check), one `cairn: error:` line and nothing written; and no write
 * goes through a symlinked folder that leads out of the workspace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '@cairn/store';
import {
  CHECKPOINT_KIND,
  RECORD_VERSION,
  appendCheckpoint,
  createExperiment,
  expRef,
  getExperiment,
  putExperimentState,
  readExperimentState,
  type ExperimentState,
} from '@cairn/lineage';
import { cairn, tempDir, type RunResult } from './lib/cli.js';
import { assertNoStack, assertOk, makeWorkspace, paramsYaml, writeWorkspace } from './lib/workspace.js';

const SCRIPT = '#!/bin/sh\necho pwned > /tmp/cairn-pwned\n';

/**
 * Writes experiment `name` into the store of `ws` with the library, as a
 * hostile store would: the checkpoint record is put by hand (the library's
 * appendCheckpoint refuses such paths, which the test checks too) and the
 * ref moved straight to it.
 */
async function hostileExperiment(ws: string, name: string, outs: string[], paramsFile: string): Promise<string> {
  const store = await Store.open(join(ws, '.cairn'));
  try {
    const data = Buffer.from(SCRIPT);
    const id = await store.putBuffer(data);
    const entry = { id, size: data.length, kind: 'file' as const, checkpoint: true };
    const exp = await createExperiment(store, { name, baseline: { deps: {}, params: {} } });
    const input = { stage: 'train', cmd: 'true', outs: Object.fromEntries(outs.map((p) => [p, entry])), deps: {}, params: { [paramsFile]: { lr: 9 } }, metrics: {} };
    await assert.rejects(appendCheckpoint(store, name, input), /not a safe workspace path/, 'the library refuses to write such a record');
    const body = { kind: CHECKPOINT_KIND, version: RECORD_VERSION, experiment: name, step: 0, created: '2026-01-01T00:00:00Z', parent: null, ...input };
    const ckpt = await store.putRecord(body, [id]);
    const old = await readExperimentState(store, exp.stateId, name);
    const next: ExperimentState = { ...old, tip: ckpt, first: ckpt, checkpoints: 1 };
    await store.refs.set(expRef(name), await putExperimentState(store, next), exp.stateId);
    return ckpt;
  } finally {
    await store.close();
  }
}

/** A safe experiment whose one checkpoint has out `out` (content `content`) and the workspace's params. */
async function plainExperiment(ws: string, name: string, out: string, content: string): Promise<string> {
  const store = await Store.open(join(ws, '.cairn'));
  try {
    const data = Buffer.from(content);
    const id = await store.putBuffer(data);
    await createExperiment(store, { name, baseline: { deps: {}, params: {} } });
    const r = await appendCheckpoint(store, name, {
      stage: 'train',
      cmd: 'true',
      outs: { [out]: { id, size: data.length, kind: 'file', checkpoint: true } },
      deps: {},
      params: {},
      metrics: {},
    });
    assert.equal((await getExperiment(store, name)).tip, r.id);
    return r.id;
  } finally {
    await store.close();
  }
}

/** Exit `code`, exactly one `cairn: error:` line (plus at most a hint), no stack trace. */
function refused(r: RunResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${code}, got ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.filter((l) => l.startsWith('cairn: error: ')).length, 1, `${what}: one error line\n${r.stderr}`);
  assert.ok(lines.every((l) => l.startsWith('cairn: error: ') || l.startsWith('hint: ')), `${what}: only the error and a hint\n${r.stderr}`);
  assertNoStack(r.stderr);
  return lines[0];
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

test('a hostile tarball (outs ../../x.sh and /tmp/..., params ../p.yaml) is refused by exp import: exit 2, nothing written', async () => {
  const wsA = await makeWorkspace();
  const abs = `/tmp/cairn-abs-${randomBytes(6).toString('hex')}`;
  const ckpt = await hostileExperiment(wsA, 'evil', ['../../x.sh', abs], '../p.yaml');
  const tar = join(await tempDir('cairn-evil-'), 'evil.tar');
  assertOk(await cairn(['exp', 'export', 'evil', '-o', tar], { cwd: wsA }), 'export of the crafted experiment');

  // The importing workspace is two folders down, so ../../x.sh lands in `base` and ../p.yaml in base/d1/d2.
  const base = await tempDir('cairn-victim-');
  const wsB = join(base, 'd1', 'd2', 'ws');
  await mkdir(wsB, { recursive: true });
  assertOk(await cairn(['init'], { cwd: wsB }), 'init B');
  const before = await listing(wsB);
  const first = refused(await cairn(['exp', 'import', tar], { cwd: wsB }), 2, 'exp import');
  assert.match(first, /evil/, 'names the experiment');
  assert.match(first, new RegExp(`checkpoint ${ckpt.slice(0, 7)}`), 'names the checkpoint');
  assert.match(first, /not a safe workspace path/);
  assert.ok(!existsSync(join(base, 'd1', 'x.sh')) && !existsSync(join(base, 'x.sh')) && !existsSync(abs), 'no out written outside');
  assert.ok(!existsSync(join(base, 'd1', 'd2', 'p.yaml')), 'no params file written outside');
  assert.deepEqual(await listing(wsB), before, 'the workspace is unchanged');
  const list = await cairn(['exp', 'list', '--json'], { cwd: wsB });
  assertOk(list, 'exp list');
  assert.deepEqual(JSON.parse(list.stdout), [], 'no experiment was imported');

  // The store that holds it (refs written directly): exp show refuses naming the checkpoint, fsck fails the check naming it.
  const show = refused(await cairn(['exp', 'show', '--json'], { cwd: wsA }), 2, 'exp show');
  assert.match(show, new RegExp(`checkpoint ${ckpt.slice(0, 7)} is refused: out '\\.\\./\\.\\./x\\.sh'`));
  const fsck = await cairn(['fsck'], { cwd: wsA });
  assert.equal(fsck.code, 1, `fsck fails the check\n${fsck.stdout}\n${fsck.stderr}`);
  assert.match(fsck.stdout, new RegExp(`experiment 'evil': checkpoint ${ckpt.slice(0, 7)} is refused`));
  assertNoStack(fsck.stderr);
});

test('a record written into the store directly is refused by exp apply and exp run --rev, nothing written', async () => {
  const base = await tempDir('cairn-victim-');
  const ws = join(base, 'd1', 'ws');
  await mkdir(ws, { recursive: true });
  await writeWorkspace(ws);
  assertOk(await cairn(['init'], { cwd: ws }), 'init');
  const abs = `/tmp/cairn-abs-${randomBytes(6).toString('hex')}`;
  for (const [name, outs, params] of [
    ['up', ['../../x.sh'], 'params.yaml'],
    ['absolute', [abs], 'params.yaml'],
    ['params-up', ['model.bin'], '../p.yaml'],
    ['into-git', ['.git/hooks/post-checkout'], 'params.yaml'],
    ['into-store', ['.CAIRN/config.yaml'], 'params.yaml'],
    ['lockfile', ['cairn.lock'], 'params.yaml'],
    ['backslash', ['..\\..\\x.sh'], 'params.yaml'],
    ['dotted', ['./a/../../x.sh'], 'params.yaml'],
  ] as Array<[string, string[], string]>) {
    await hostileExperiment(ws, name, outs, params);
    const before = await listing(ws);
    const params0 = await readFile(join(ws, 'params.yaml'), 'utf8');
    refused(await cairn(['exp', 'apply', name, '--force'], { cwd: ws }), 2, `exp apply ${name}`);
    refused(await cairn(['exp', 'run', '--rev', name], { cwd: ws }), 2, `exp run --rev ${name}`);
    assert.deepEqual(await listing(ws), before, `${name}: no file added or removed in the workspace`);
    assert.equal(await readFile(join(ws, 'params.yaml'), 'utf8'), params0, `${name}: params.yaml unchanged`);
    assert.ok(!existsSync(join(ws, 'cairn.lock')), `${name}: no cairn.lock`);
    assert.ok(!existsSync(join(base, 'x.sh')) && !existsSync(join(base, 'p.yaml')) && !existsSync(abs), `${name}: nothing outside`);
    assert.ok(!existsSync(join(ws, 'started.jsonl')), `${name}: the training never started`);
  }
  assert.equal(await readFile(join(ws, 'params.yaml'), 'utf8'), paramsYaml());
});

test('no write through a symlinked folder that leads outside the workspace; one inside is fine', async () => {
  const ws = await makeWorkspace();
  const outside = await tempDir('cairn-outside-');
  await symlink(outside, join(ws, 'escape'));
  await mkdir(join(ws, 'real'));
  await symlink('real', join(ws, 'inner'));
  await plainExperiment(ws, 'via-escape', 'escape/model.bin', 'escaped\n');
  await plainExperiment(ws, 'via-inner', 'inner/model.bin', 'inside\n');

  const first = refused(await cairn(['exp', 'apply', 'via-escape', '--force'], { cwd: ws }), 2, 'apply through escape/');
  assert.match(first, /'escape' is a symlink that leads outside the workspace/);
  refused(await cairn(['exp', 'run', '--rev', 'via-escape'], { cwd: ws }), 2, 'run --rev through escape/');
  assert.deepEqual(await readdir(outside), [], 'nothing written outside');
  assert.ok(!existsSync(join(ws, 'cairn.lock')), 'no cairn.lock');

  // A symlink whose target stays in the workspace is an ordinary folder for cairn.
  assertOk(await cairn(['exp', 'apply', 'via-inner', '--force'], { cwd: ws }), 'apply through inner/');
  assert.equal(await readFile(join(ws, 'real', 'model.bin'), 'utf8'), 'inside\n');
});
