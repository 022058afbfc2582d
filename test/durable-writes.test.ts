/**
 * The runner's atomic writes are durable (issue 10, item 8): cairn.lock,
 * params.yaml after -S, and every file exp apply puts in place are written
 * to a temp file that is fsynced before the rename, and the folder is
 * fsynced after it, so a power cut leaves the old file or the whole new one.
 * Checked with the fault shim's log of every write point in the workspace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cairn, tempDir } from './lib/cli.js';
import { writePoints } from './lib/faultfs.js';
import { assertOk, makeWorkspace } from './lib/workspace.js';

/** For each rename onto `target`: the renamed file was fsynced before it, and the folder after it. */
function assertDurable(points: string[], ws: string, target: string, what: string): void {
  const rows = points.map((l) => {
    const [n, op, ...rest] = l.split(' ');
    return { n: Number(n), op, path: rest.join(' ') };
  });
  const abs = join(ws, target);
  const renames = rows.filter((r) => r.op === 'rename' && r.path === abs);
  assert.ok(renames.length > 0, `${what}: ${target} is renamed into place\n${points.join('\n')}`);
  for (const r of renames) {
    const before = rows.filter((x) => x.n < r.n);
    // The temp file is the last file of that name's temp pattern created before the rename.
    const temp = [...before].reverse().find((x) => x.op === 'create' && x.path.startsWith(join(ws, `.${target}.`)));
    assert.ok(temp, `${what}: ${target} comes from a temp file beside it`);
    assert.ok(before.some((x) => x.op === 'sync' && x.path === temp.path && x.n > temp.n), `${what}: ${temp.path} is fsynced before the rename (point ${r.n})`);
    assert.ok(rows.some((x) => x.op === 'sync' && x.path === ws && x.n > r.n), `${what}: the workspace folder is fsynced after renaming ${target}`);
  }
}

test('cairn.lock and params.yaml (exp run -S) and exp apply\'s files: temp fsynced, renamed, folder fsynced', async () => {
  const ws = await makeWorkspace({ epochs: 1, init: false });
  const store = join(await tempDir('cairn-store-'), 'store');
  const env = { CAIRN_STORE: store, FAULTFS_OPS: 'create,sync,rename' };
  assertOk(await cairn(['init'], { cwd: ws, env }), 'init');
  const run = await writePoints(['exp', 'run', '-n', 'a', '-S', 'lr=0.2'], ws, ws, env);
  assertOk(run.run, 'exp run -S');
  assertDurable(run.points, ws, 'params.yaml', 'exp run -S');
  assertDurable(run.points, ws, 'cairn.lock', 'exp run');
  assertOk(await cairn(['exp', 'run', '-n', 'b', '-S', 'lr=0.4'], { cwd: ws, env }), 'second run');
  const apply = await writePoints(['exp', 'apply', 'a'], ws, ws, env);
  assertOk(apply.run, 'exp apply');
  for (const f of ['model.bin', 'params.yaml', 'metrics.json', 'cairn.lock']) assertDurable(apply.points, ws, f, 'exp apply');
});

test('cairn init: the store marker is written last, fsynced before its rename, its folder fsynced after', async () => {
  const dir = await tempDir('cairn-init-');
  const store = join(dir, 'store');
  const { run, points } = await writePoints(['init', '--store', store], dir, dir, { FAULTFS_OPS: 'create,sync,rename,mkdir' });
  assertOk(run, 'init');
  const rows = points.map((l) => {
    const [n, op, ...rest] = l.split(' ');
    return { n: Number(n), op, path: rest.join(' ') };
  });
  const marker = join(store, 'CAIRN');
  const rename = rows.find((r) => r.op === 'rename' && r.path === marker);
  assert.ok(rename, `the marker is renamed into place\n${points.join('\n')}`);
  const temp = rows.filter((r) => r.op === 'create' && r.path.startsWith(`${marker}.`) && r.n < rename.n).at(-1);
  assert.ok(temp, 'the marker comes from a temp file');
  assert.ok(rows.some((r) => r.op === 'sync' && r.path === temp.path && r.n > temp.n && r.n < rename.n), 'the temp marker is fsynced before the rename');
  assert.ok(rows.some((r) => r.op === 'sync' && r.path === store && r.n > rename.n), 'the store folder is fsynced after the rename');
  assert.ok(!rows.some((r) => r.n > rename.n && r.op !== 'sync'), 'nothing is written after the marker');
});
