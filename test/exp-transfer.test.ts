// Black-box tests of `cairn exp export` / `cairn exp import`: round trips between two stores,
// piping, renames, and hostile tarballs (each crafted by hand, each refused with exit 2 and
// the destination's refs untouched).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cairn, collect, startCairn, tempDir, type RunResult } from './lib/cli.js';
// The hostile-tarball writer is the transfer package's own test support, shared rather than copied.
import { makeTar, readTar, tarHeader } from '@cairn/transfer/test-support';

// ---- helpers --------------------------------------------------------------

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

interface ShowCheckpoint {
  id: string;
  step: number;
  parent: string | null;
  outs: Record<string, { size: number; id: string }>;
}
interface ShowExperiment {
  name: string;
  tip: string | null;
  parent: string | null;
  checkpoints: ShowCheckpoint[];
}

async function show(ws: string): Promise<ShowExperiment[]> {
  const r = await cairn(['exp', 'show', '--json', '--no-pager'], { cwd: ws });
  ok(r, 'exp show');
  return JSON.parse(r.stdout).experiments;
}

function pick(exps: ShowExperiment[], name: string): ShowExperiment {
  const e = exps.find((x) => x.name === name);
  assert.ok(e, `no experiment '${name}' in ${exps.map((x) => x.name).join(', ')}`);
  return e;
}

/** Everything a failed import must leave as it was. */
async function snapshot(ws: string): Promise<{ show: string; refs: string; files: string[] }> {
  const refs = await cairn(['store', 'ls', '--json'], { cwd: ws });
  ok(refs, 'store ls');
  return { show: JSON.stringify(await show(ws)), refs: refs.stdout, files: (await readdir(ws)).sort() };
}

/** A workspace with the example pipeline and one experiment of 5 checkpoints; returns its name. */
async function workspaceWithRun(): Promise<{ ws: string; name: string }> {
  const ws = await tempDir('cairn-transfer-');
  ok(await cairn(['init', '--example'], { cwd: ws }), 'init');
  const run = await cairn(['exp', 'run', '--name', 'first'], { cwd: ws });
  ok(run, 'exp run');
  return { ws, name: 'first' };
}

async function emptyWorkspace(): Promise<string> {
  const ws = await tempDir('cairn-transfer-dest-');
  ok(await cairn(['init', '--example'], { cwd: ws }), 'init');
  return ws;
}

/** Every checkpoint's outs, fetched with `store get`, as hashes. */
async function outHashes(ws: string, e: ShowExperiment): Promise<string[]> {
  const out: string[] = [];
  for (const c of e.checkpoints) {
    for (const [path, o] of Object.entries(c.outs)) {
      const dest = join(ws, `restored-${o.id.slice(0, 12)}`);
      ok(await cairn(['store', 'get', o.id, dest], { cwd: ws }), 'store get');
      out.push(`${c.id} ${path} ${createHash('sha256').update(await readFile(dest)).digest('hex')}`);
    }
  }
  return out;
}

/** `cairn A | cairn B`, both real processes joined by a pipe. */
function pipe(a: string[], b: string[], cwdA: string, cwdB: string): Promise<[RunResult, RunResult]> {
  const left = startCairn(a, { cwd: cwdA });
  const right = startCairn(b, { cwd: cwdB });
  left.stdout!.pipe(right.stdin!);
  const done = (child: typeof left, withStdout: boolean) =>
    new Promise<RunResult>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      if (withStdout) child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  return Promise.all([done(left, false), done(right, true)]);
}

// A tiny ustar reader/writer, so tests can write what no tar tool would.
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---- round trips ------------------------------------------------------------

test('export and import one experiment: same exp show, every out bit for bit, and exp run --rev from it', async () => {
  const { ws, name } = await workspaceWithRun();
  const tar = join(ws, 'first.tar');
  const exp = await cairn(['exp', 'export', name, '-o', tar], { cwd: ws });
  ok(exp, 'exp export');
  assert.match(exp.stderr, /Exported 1 experiment \(5 checkpoints; \d+ objects/);
  assert.deepEqual(readTar(await readFile(tar))[0].name, 'cairn-export.json');

  const dest = await emptyWorkspace();
  const imp = await cairn(['exp', 'import', tar], { cwd: dest });
  ok(imp, 'exp import');
  assert.match(imp.stderr, /Imported experiment 'first' \(5 checkpoints\)\./);
  const src = pick(await show(ws), name);
  const got = pick(await show(dest), name);
  assert.deepEqual(got, src);
  assert.deepEqual(await outHashes(dest, got), await outHashes(ws, src));
  ok(await cairn(['fsck', '--read-data'], { cwd: dest }), 'fsck');

  // Branch from an imported checkpoint: steps continue from it.
  const from = src.checkpoints[2];
  const run = await cairn(['exp', 'run', '--rev', from.id.slice(0, 8), '--name', 'branch', '--max-checkpoints', '2'], { cwd: dest });
  ok(run, 'exp run --rev');
  const branch = pick(await show(dest), 'branch');
  assert.equal(branch.parent, from.id);
  assert.equal(branch.checkpoints.at(-1)!.parent, from.id);
  assert.equal(branch.checkpoints.at(-1)!.step, from.step + 1);

  // Same tarball again: nothing changes.
  const before = await snapshot(dest);
  const again = await cairn(['exp', 'import', tar], { cwd: dest });
  ok(again, 'second import');
  assert.match(again.stderr, /already in the store; unchanged/);
  assert.deepEqual(await snapshot(dest), before);
});

test('a --rev branch and its parent experiment travel together', async () => {
  const { ws, name } = await workspaceWithRun();
  const parent = pick(await show(ws), name);
  ok(await cairn(['exp', 'run', '--rev', parent.checkpoints[2].id, '--name', 'side', '-S', 'lr=3.0'], { cwd: ws }), 'exp run --rev');
  const tar = join(ws, 'both.tar');
  ok(await cairn(['exp', 'export', 'side', name, '-o', tar], { cwd: ws }), 'export');

  const dest = await emptyWorkspace();
  ok(await cairn(['exp', 'import', tar], { cwd: dest }), 'import');
  const src = await show(ws);
  const got = await show(dest);
  for (const n of ['side', name]) assert.deepEqual(pick(got, n), pick(src, n));
  assert.equal(pick(got, 'side').parent, parent.checkpoints[2].id);

  // The branch alone still brings the checkpoints it descends from.
  const alone = await emptyWorkspace();
  const sideTar = join(ws, 'side.tar');
  ok(await cairn(['exp', 'export', 'side', '-o', sideTar], { cwd: ws }), 'export side');
  ok(await cairn(['exp', 'import', sideTar], { cwd: alone }), 'import side');
  assert.deepEqual(pick(await show(alone), 'side'), pick(src, 'side'));
  ok(await cairn(['fsck', '--read-data'], { cwd: alone }), 'fsck');
  const stored = (await stat(sideTar)).size;
  assert.ok(stored > 0);
});

test('--only-tips: one checkpoint per experiment, naming its original parent, in a store that stays whole', async () => {
  const { ws, name } = await workspaceWithRun();
  const full = join(ws, 'full.tar');
  const tips = join(ws, 'tips.tar');
  ok(await cairn(['exp', 'export', name, '-o', full], { cwd: ws }), 'export');
  const r = await cairn(['exp', 'export', name, '--only-tips', '-o', tips], { cwd: ws });
  ok(r, 'export --only-tips');
  assert.match(r.stderr, /1 checkpoint, tips only/);
  assert.ok((await stat(tips)).size < (await stat(full)).size);

  const dest = await emptyWorkspace();
  const imp = await cairn(['exp', 'import', tips], { cwd: dest });
  ok(imp, 'import');
  assert.match(imp.stderr, /1 checkpoint, tip only/);
  const src = pick(await show(ws), name);
  const got = pick(await show(dest), name);
  assert.equal(got.checkpoints.length, 1);
  const [tip] = got.checkpoints;
  assert.equal(tip.parent, src.checkpoints[1].id, 'the record still names its original parent');
  assert.equal(tip.step, src.checkpoints[0].step);
  assert.deepEqual(tip.outs, src.checkpoints[0].outs);
  assert.deepEqual(await outHashes(dest, got), (await outHashes(ws, { ...src, checkpoints: [src.checkpoints[0]] })).map((l) => l.replace(src.checkpoints[0].id, tip.id)));
  ok(await cairn(['fsck', '--read-data'], { cwd: dest }), 'fsck');
  ok(await cairn(['gc'], { cwd: dest }), 'gc');
  ok(await cairn(['exp', 'run', '--rev', tip.id, '--name', 'on', '--max-checkpoints', '1'], { cwd: dest }), 'exp run --rev from a shallow tip');
  assert.equal(pick(await show(dest), 'on').checkpoints.at(-1)!.step, tip.step + 1);
});

test('exp export -o - | cairn --store B exp import -', async () => {
  const { ws, name } = await workspaceWithRun();
  const dest = await emptyWorkspace();
  const [left, right] = await pipe(['exp', 'export', name, '-o', '-'], ['exp', 'import', '-'], ws, dest);
  ok(left, 'export to stdout');
  ok(right, 'import from stdin');
  assert.deepEqual(pick(await show(dest), name), pick(await show(ws), name));

  // Through --store, gzipped on the way.
  const other = await tempDir('cairn-transfer-store-');
  ok(await cairn(['--store', join(other, 'b'), 'init'], { cwd: other }), 'init B');
  const [l2, r2] = await pipe(['exp', 'export', name, '--gzip', '-o', '-'], ['--store', join(other, 'b'), 'exp', 'import', '-'], ws, other);
  ok(l2, 'export gzip');
  ok(r2, 'import gzip');
  const list = await cairn(['--store', join(other, 'b'), 'exp', 'show', '--json'], { cwd: other });
  assert.deepEqual(pick(JSON.parse(list.stdout).experiments, name), pick(await show(ws), name));
});

test('a .tar.gz imports as it is; a name clash renames, --force replaces', async () => {
  const { ws, name } = await workspaceWithRun();
  const tgz = join(ws, 'first.tar.gz');
  ok(await cairn(['exp', 'export', name, '-o', tgz], { cwd: ws }), 'export .tar.gz');
  assert.deepEqual([...(await readFile(tgz)).subarray(0, 2)], [0x1f, 0x8b]);

  const dest = await emptyWorkspace();
  ok(await cairn(['exp', 'run', '--name', name, '-S', 'epochs=2'], { cwd: dest }), 'a different experiment of the same name');
  const local = pick(await show(dest), name);
  const imp = await cairn(['exp', 'import', tgz], { cwd: dest });
  ok(imp, 'import');
  assert.match(imp.stderr, new RegExp(`Imported experiment '${name}' as '${name}-1'.*taken by a different experiment`));
  assert.deepEqual(pick(await show(dest), name), local);
  assert.deepEqual({ ...pick(await show(dest), `${name}-1`), name }, pick(await show(ws), name));
  const again = await cairn(['exp', 'import', tgz, '--json'], { cwd: dest });
  ok(again, 'again');
  assert.equal(JSON.parse(again.stdout).experiments[0].action, 'unchanged');
  const forced = await cairn(['exp', 'import', tgz, '--force'], { cwd: dest });
  ok(forced, 'import --force');
  assert.match(forced.stderr, /Replaced experiment/);
  assert.deepEqual(pick(await show(dest), name), pick(await show(ws), name));
});

test('export refuses unknown names (exit 3) and writes no file', async () => {
  const { ws, name } = await workspaceWithRun();
  const r = await cairn(['exp', 'export', name, 'nope', '-o', 'x.tar'], { cwd: ws });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /^cairn: error: no experiment named 'nope'/);
  assert.equal(existsSync(join(ws, 'x.tar')), false);
  assert.deepEqual((await readdir(ws)).filter((f) => f.includes('x.tar')), []);
  const missing = await cairn(['exp', 'import', 'no-such.tar'], { cwd: ws });
  assert.equal(missing.code, 3);
});

// ---- hostile tarballs ---------------------------------------------------------

test('hostile tarballs: each one clear error, exit 2, nothing written outside the store, refs unchanged', async () => {
  const { ws, name } = await workspaceWithRun();
  const good = await readFile(join(ws, 'good.tar')).catch(async () => {
    ok(await cairn(['exp', 'export', name, '-o', 'good.tar'], { cwd: ws }), 'export');
    return readFile(join(ws, 'good.tar'));
  });
  const entries = readTar(good);
  const [m, ...objs] = entries;
  const manifest = JSON.parse(m.data.toString());
  const chunkAt = objs.reduce((best, e, i) => (e.name.endsWith('.chunk') && e.data.length > (objs[best]?.data.length ?? -1) ? i : best), -1);
  const tag = randomBytes(4).toString('hex');
  const escape = `../../cairn-evil-${tag}`;

  const dest = await emptyWorkspace();
  ok(await cairn(['exp', 'run', '--name', 'mine', '-S', 'epochs=1'], { cwd: dest }), 'run in dest');

  const extra = randomBytes(64);
  const extraId = sha(extra);
  const flipped = objs.map((e, i) => (i === chunkAt ? { ...e, data: Buffer.from(e.data.map((b, j) => (j === 3 ? b ^ 1 : b))) } : e));
  const whole = makeTar(entries);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a path with ..', makeTar([m, { name: `objects/${escape}`, data: Buffer.from('pwned') }, ...objs]), /leaves its folder/],
    ['an absolute path', makeTar([m, { name: `/tmp/cairn-evil-${tag}`, data: Buffer.from('pwned') }, ...objs]), /absolute path/],
    ['a symlink', makeTar([m, { name: 'objects/aa/link', data: Buffer.alloc(0), type: '2', linkname: '/etc/passwd' }, ...objs]), /symlink/],
    ['a hard link', makeTar([m, { name: 'objects/aa/hard', data: Buffer.alloc(0), type: '1', linkname: '/etc/passwd' }, ...objs]), /hard link/],
    ['a device', makeTar([m, { name: 'objects/aa/dev', data: Buffer.alloc(0), type: '4' }, ...objs]), /device/],
    ['wrong bytes for an ID', makeTar([m, ...flipped]), /does not match its ID/],
    ['a truncated tar', whole.subarray(0, whole.length - 1024 - 700), /truncated/],
    ['a duplicate entry', makeTar([m, ...objs, objs[chunkAt]]), /twice/],
    ['a listed object that is absent', makeTar([m, ...objs.filter((_, i) => i !== chunkAt)]), /missing object/],
    ['an unlisted object', makeTar([m, ...objs, { name: `objects/${extraId.slice(0, 2)}/${extraId}.chunk`, data: extra }]), /does not list/],
    ['a size of a terabyte', Buffer.concat([makeTar([m], { end: false }), tarHeader({ name: objs[0].name, data: Buffer.alloc(0), claimedSize: 2 ** 40 })]), /claims 1099511627776 bytes/],
    ['a manifest of 8 GiB', tarHeader({ name: 'cairn-export.json', data: Buffer.alloc(0), claimedSize: 2 ** 33 }), /manifest claims 8589934592 bytes/],
    ['a malformed manifest', makeTar([{ name: 'cairn-export.json', data: Buffer.from('{"format": "cairn-export", "vers') }, ...objs]), /manifest is malformed/],
    ['a manifest with a hostile name', makeTar([{ name: 'cairn-export.json', data: Buffer.from(JSON.stringify({ ...manifest, experiments: [{ ...manifest.experiments[0], name: `../${tag}` }] })) }, ...objs]), /invalid name/],
    ['no manifest', makeTar(objs), /does not start with cairn-export\.json/],
    ['random bytes', randomBytes(10000).fill(0x41, 0, 2), /not a tar file|damaged/],
    ['gzip of a truncated tar', gzipSync(whole.subarray(0, 512 * 3 + 100)), /truncated/],
    ['damaged gzip', gzipSync(whole).subarray(0, 200), /gzip data is damaged or truncated/],
  ];
  const before = await snapshot(dest);
  const refsNow = async () => (await cairn(['store', 'ls', '--json'], { cwd: dest })).stdout;
  for (const [what, tar, re] of cases) {
    const file = join(ws, `hostile-${tag}.tar`);
    await writeFile(file, tar);
    const r = await cairn(['exp', 'import', file], { cwd: dest });
    assert.equal(r.code, 2, `${what}: exit ${r.code}\n${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0], /^cairn: error: /, what);
    assert.match(lines[0], re, what);
    assert.ok(lines.length === 1 || (lines.length === 2 && lines[1].startsWith('hint: ')), `${what}: ${r.stderr}`);
    assert.equal(await refsNow(), before.refs, `${what}: the store's refs changed`);
    assert.deepEqual((await readdir(dest)).sort(), before.files, `${what}: files appeared in the workspace`);
    assert.equal(existsSync(join(dest, escape)), false);
    assert.equal(existsSync(`/tmp/cairn-evil-${tag}`), false);
  }
  assert.deepEqual(await snapshot(dest), before);
  // The same through stdin.
  const r = await cairn(['exp', 'import', '-'], { cwd: dest, input: makeTar([m, ...flipped]) });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^cairn: error: .*does not match its ID/);
  assert.deepEqual(await snapshot(dest), before);
  // And after all that, the store is sound and the good tarball still imports.
  ok(await cairn(['fsck'], { cwd: dest }), 'fsck');
  ok(await cairn(['exp', 'import', join(ws, 'good.tar')], { cwd: dest }), 'good import');
  assert.deepEqual(pick(await show(dest), name), pick(await show(ws), name));
});

test('Ctrl+C during an export: exit 130, one error line, no tarball or temp file left', async () => {
  const ws = await tempDir('cairn-transfer-int-');
  // One checkpoint of a 128 MiB out: an export long enough to interrupt.
  await writeFile(join(ws, 'cairn.yaml'), 'stages:\n  train:\n    cmd: head -c 134217728 /dev/urandom > model.bin\n    outs:\n      - model.bin:\n          checkpoint: true\n');
  ok(await cairn(['init'], { cwd: ws }), 'init');
  ok(await cairn(['exp', 'run', '--name', 'big'], { cwd: ws }), 'exp run');
  const child = startCairn(['exp', 'export', 'big', '-o', 'big.tar'], { cwd: ws });
  const done = collect(child);
  // Interrupt once the temp file is there, i.e. while the tarball is being written.
  let seen = false;
  while (child.exitCode === null && !seen) {
    seen = (await readdir(ws)).some((f) => f.startsWith('.big.tar.tmp-'));
    if (!seen) await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(seen, 'the export finished before it could be interrupted');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.stderr.trim(), 'cairn: error: interrupted; no tarball written');
  assert.deepEqual((await readdir(ws)).filter((f) => f.includes('big.tar')), []);
});
