/**
 * Black-box tests of `cairn fsck --repair` on repairable stores (issue 10,
 * item 6): a pack cut short keeps every blob that still verifies, an index
 * LevelDB cannot open is moved aside and rebuilt, damaged ref files are
 * named, skipped by listings and quarantined, and a repair killed or failed
 * at any write point never loses an entry.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, tempDir, type RunResult } from './lib/cli.js';
import { cairnFaulty, describeFault, writePoints, type Fault } from './lib/faultfs.js';
import { assertNoStack, assertOk, makeWorkspace, runExpName, sha256, showJson, storeGet, type ShowJson } from './lib/workspace.js';

/** A workspace with two experiments (two checkpoints each), made once and copied per test. */
let pristine: string;
let recorded: ShowJson;
/** Every checkpoint out's ID -> the SHA-256 of its content. */
const outs = new Map<string, string>();

before(async () => {
  pristine = await makeWorkspace({ epochs: 2 });
  const a = await cairn(['exp', 'run', '--name', 'alpha'], { cwd: pristine });
  assertOk(a, 'exp run alpha');
  const b = await cairn(['exp', 'run', '--name', 'beta', '-S', 'lr=0.2'], { cwd: pristine });
  assertOk(b, 'exp run beta');
  assert.equal(runExpName(b.stdout), 'beta');
  recorded = await showJson(pristine);
  assert.equal(recorded.experiments.length, 2);
  for (const e of recorded.experiments) for (const c of e.checkpoints) for (const o of Object.values(c.outs)) outs.set(o.id, '');
  for (const id of outs.keys()) outs.set(id, sha256(await storeGet(pristine, id)));
});

async function copyWorkspace(): Promise<{ ws: string; store: string }> {
  const ws = join(await tempDir('cairn-repair-'), 'ws');
  await cp(pristine, ws, { recursive: true });
  return { ws, store: join(ws, '.cairn') };
}

async function packFiles(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(store, 'packs'))) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const f of await readdir(join(store, 'packs', d))) if (f.endsWith('.pack')) out.push(join(store, 'packs', d, f));
  }
  return out.sort();
}

/**
 * Cuts 100 bytes off the end of every pack whose trailer and footer are
 * longer than that (so no blob byte is lost); returns the packs cut.
 */
async function cutTails(store: string): Promise<string[]> {
  const cut: string[] = [];
  for (const pack of await packFiles(store)) {
    const size = (await stat(pack)).size;
    const fh = await open(pack, 'r');
    const footer = Buffer.alloc(24);
    await fh.read(footer, 0, 24, size - 24);
    await fh.close();
    if (Number(footer.readBigUInt64LE(0)) + 24 <= 100) continue;
    await truncate(pack, size - 100);
    cut.push(pack);
  }
  assert.ok(cut.length >= 2, `${cut.length} packs cut`);
  return cut;
}

/** The store holds every experiment as recorded, every checkpoint out restores bit for bit, and fsck --read-data is clean. */
async function assertAllRestorable(ws: string, what: string): Promise<void> {
  const fsck = await cairn(['fsck', '--read-data'], { cwd: ws });
  assert.equal(fsck.code, 0, `${what}: fsck --read-data is clean\n${fsck.stdout}${fsck.stderr}`);
  assert.deepEqual((await showJson(ws)).experiments, recorded.experiments, `${what}: exp show as recorded`);
  // Restored through the library in one open (one process per out would make the fault test slow).
  const { Store } = await import('@cairn/store');
  await Store.with(join(ws, '.cairn'), async (s) => {
    for (const [id, sum] of outs) assert.equal(sha256(await s.getBuffer(id)), sum, `${what}: out ${id.slice(0, 12)} restores bit for bit`);
  });
}

function errorLine(r: RunResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${code}, got ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.match(r.stderr, /^cairn: error: \S/, `${what}: one cairn: error: line\n${r.stderr}`);
  assertNoStack(r.stderr);
  return r.stderr.split('\n')[0];
}

async function quarantined(store: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  await walk(join(store, 'quarantine'), '');
  return out;
}

test('a pack cut short (trailer only): fsck --repair keeps every object, quarantines the pack, and every checkpoint restores', async () => {
  const { ws, store } = await copyWorkspace();
  const packs = await cutTails(store);
  const bytes = new Map<string, Buffer>();
  for (const p of packs) bytes.set(p, await readFile(p));

  const bad = await cairn(['fsck'], { cwd: ws });
  assert.equal(bad.code, 1);
  assert.ok(bad.stdout.includes(packs[0]), `fsck names the pack file\n${bad.stdout}`);

  const r = await cairn(['fsck', '--repair'], { cwd: ws });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`Salvaged [1-9]\\d* objects from ${packs.length} damaged packs into \\d+ new packs; 0 lost`));
  const q = await quarantined(store);
  // The damaged packs are kept byte for byte, under quarantine/<time>/packs/<aa>/.
  for (const p of packs) {
    const rel = p.slice(join(store, 'packs').length + 1);
    const moved = q.find((f) => f.endsWith(`/packs/${rel}`));
    assert.ok(moved, `${rel} is in quarantine: ${q.join(', ')}`);
    assert.deepEqual(await readFile(join(store, 'quarantine', moved)), bytes.get(p));
    assert.ok(r.stderr.includes(p), `the report names ${p}`);
  }
  assert.equal((await packFiles(store)).filter((p) => packs.includes(p)).length, 0, 'no damaged pack left in packs/');
  await assertAllRestorable(ws, 'after salvage');
  const apply = await cairn(['exp', 'apply', 'alpha', '--force'], { cwd: ws });
  assertOk(apply, 'exp apply after salvage');
});

test('a pack cut short and the index lost too: what the remaining trailer lists is kept, the rest is reported lost', async () => {
  const { ws, store } = await copyWorkspace();
  const packs = await cutTails(store);
  await writeFile(join(store, 'index', 'CURRENT'), 'garbage\n');
  const r = await cairn(['fsck', '--repair'], { cwd: ws });
  // Some objects of each pack are gone for good (only the trailer located them): fsck says so.
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const m = /Salvaged (\d+) objects from (\d+) damaged packs/.exec(r.stderr);
  assert.ok(m && Number(m[1]) > 0 && Number(m[2]) === packs.length, r.stderr);
  assert.match(r.stdout, /refers to missing object/);
  assertNoStack(r.stderr);
});

test('a garbage index/CURRENT: commands fail with one line naming the index; fsck --repair moves it aside and rebuilds', async () => {
  const { ws, store } = await copyWorkspace();
  const index = join(store, 'index');
  await writeFile(join(index, 'CURRENT'), 'not a manifest name\n');
  for (const args of [['exp', 'list'], ['exp', 'show'], ['store', 'ls'], ['fsck']]) {
    const line = errorLine(await cairn(args, { cwd: ws }), 1, args.join(' '));
    assert.ok(line.includes(index), `${args.join(' ')} names ${index}: ${line}`);
    assert.match(line, /run cairn fsck --repair/);
  }
  const r = await cairn(['fsck', '--repair'], { cwd: ws });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /The index could not be read: moved it to .*quarantine\/[^/]+\/index/);
  const q = await quarantined(store);
  assert.ok(q.some((f) => /^[^/]+\/index\/CURRENT$/.test(f)), `the old index is in quarantine: ${q.join(', ')}`);
  await assertAllRestorable(ws, 'after the index rebuild');
});

test('corrupt LevelDB tables: commands fail naming the index; fsck --repair rebuilds it', async () => {
  const { ws, store } = await copyWorkspace();
  const index = join(store, 'index');
  const tables = (await readdir(index)).filter((f) => /\.(ldb|log)$/.test(f) || f.startsWith('MANIFEST-'));
  assert.ok(tables.length > 0);
  for (const t of tables) {
    const size = (await stat(join(index, t))).size;
    await writeFile(join(index, t), Buffer.alloc(Math.max(size, 64), 0xa5));
  }
  const line = errorLine(await cairn(['exp', 'list'], { cwd: ws }), 1, 'exp list');
  assert.ok(line.includes(index), line);
  assert.match(line, /damaged.*run cairn fsck --repair/);
  const r = await cairn(['fsck', '--repair'], { cwd: ws });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await assertAllRestorable(ws, 'after the index rebuild');
});

test('an I/O error or a full disk at the index is reported as such, not as damage, and repair moves nothing', async () => {
  const { ws, store } = await copyWorkspace();
  for (const errno of ['EIO', 'ENOSPC'] as const) {
    for (const args of [['exp', 'list'], ['fsck', '--repair']]) {
      // Point 1 is LevelDB's first write at open (its log): the disk refuses it.
      const r = await cairnFaulty(args, ws, join(store, 'index'), { kind: 'fail', at: 1, errno, sticky: true });
      const line = errorLine(r, 1, `${args.join(' ')} with ${errno}`);
      assert.match(line, errno === 'EIO' ? /I\/O error/ : /disk is full/, line);
      assert.doesNotMatch(line, /damaged|fsck --repair/, line);
    }
  }
  assert.deepEqual(await quarantined(store), [], 'nothing quarantined');
  await assertAllRestorable(ws, 'after the refused commands');
});

test('damaged ref files: listings warn naming each file and show the rest; fsck names them; gc refuses; fsck --repair quarantines them', async () => {
  const { ws, store } = await copyWorkspace();
  const garbage = join(store, 'refs', 'exp', 'beta');
  const badName = join(store, 'refs', 'exp', 'bad name');
  const betaState = (await readFile(garbage, 'utf8')).trim();
  await writeFile(garbage, 'this is not an object id\n');
  await writeFile(badName, `${betaState}\n`);

  for (const args of [['exp', 'list'], ['exp', 'list', '--json'], ['exp', 'show', '--json'], ['exp', 'show', '--no-pager']]) {
    const r = await cairn(args, { cwd: ws });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('cairn: warning:'));
    assert.equal(warnings.length, 2, `${args.join(' ')}: one warning per damaged ref\n${r.stderr}`);
    assert.ok(warnings.some((w) => w.includes(garbage)) && warnings.some((w) => w.includes(badName)), r.stderr);
    assert.match(r.stdout, /alpha/);
  }
  const listed = JSON.parse((await cairn(['exp', 'list', '--json'], { cwd: ws })).stdout) as Array<{ name: string }>;
  assert.deepEqual(listed.map((e) => e.name), ['alpha']);

  const rm = errorLine(await cairn(['exp', 'remove', 'beta'], { cwd: ws }), 1, 'exp remove of the damaged experiment');
  assert.ok(rm.includes(garbage), rm);

  const fsck = await cairn(['fsck'], { cwd: ws });
  assert.equal(fsck.code, 1);
  assert.ok(fsck.stdout.includes(garbage) && fsck.stdout.includes(badName), fsck.stdout);

  const gc = errorLine(await cairn(['gc'], { cwd: ws }), 1, 'gc');
  assert.match(gc, /gc refused: ref file .* is damaged/);
  assert.match(gc, /fsck --repair/);
  assert.equal((await cairn(['gc', '--dry-run'], { cwd: ws })).code, 1, 'gc --dry-run refuses too');

  const r = await cairn(['fsck', '--repair'], { cwd: ws });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.stderr.includes(garbage) && r.stderr.includes(badName), r.stderr);
  const q = await quarantined(store);
  assert.ok(q.some((f) => f.endsWith('/refs/exp/beta')) && q.some((f) => f.endsWith('/refs/exp/bad name')), q.join(', '));
  const after = await cairn(['exp', 'list'], { cwd: ws });
  assert.equal(after.code, 0);
  assert.doesNotMatch(after.stderr, /warning/);
  assertOk(await cairn(['gc'], { cwd: ws }), 'gc after repair');
  // alpha's data survived gc.
  const alpha = recorded.experiments.find((e) => e.name === 'alpha')!;
  for (const c of alpha.checkpoints) for (const o of Object.values(c.outs)) assert.equal(sha256(await storeGet(ws, o.id)), outs.get(o.id));
});

/** `n` points spread over 1..total (first and last included). */
function spread(total: number, n: number): number[] {
  const out = new Set<number>();
  for (let i = 0; i < n; i++) out.add(1 + Math.round((i * (total - 1)) / Math.max(1, n - 1)));
  return [...out];
}

test('fsck --repair killed or failing (ENOSPC, EIO) at any point never loses an entry', async () => {
  for (const damaged of [false, true]) {
    const base = await copyWorkspace();
    if (damaged) await cutTails(base.store);
    const probe = join(await tempDir('cairn-repair-probe-'), 'ws');
    await cp(base.ws, probe, { recursive: true });
    const { run, points } = await writePoints(['fsck', '--repair'], probe, join(probe, '.cairn'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(points.length > 10, `fsck --repair passes ${points.length} write points`);
    const faults: Fault[] = [
      ...spread(points.length, 5).map((at): Fault => ({ kind: 'kill', at })),
      ...spread(points.length, 3).map((at): Fault => ({ kind: 'fail', at, errno: 'ENOSPC', sticky: true })),
      { kind: 'fail', at: Math.ceil(points.length / 2), errno: 'EIO' },
    ];
    // The swap of the new index for the old one is where a kill hurts most: try both of its renames.
    const swap = points.flatMap((line, i) => (/ rename \S*\/index(\.old)?$/.test(line) ? [i + 1] : []));
    for (const at of swap) faults.push({ kind: 'kill', at });
    for (const fault of faults) {
      const what = `${damaged ? 'cut packs' : 'healthy store'}, ${describeFault(fault)} of ${points.length} (${points[fault.at - 1]})`;
      const ws = join(await tempDir('cairn-repair-fault-'), 'ws');
      await cp(base.ws, ws, { recursive: true });
      const r = await cairnFaulty(['fsck', '--repair'], ws, join(ws, '.cairn'), fault);
      if (fault.kind === 'fail' && r.code !== 0) errorLine(r, 1, what);
      if (!damaged) {
        // The old index stays usable until the new one replaces it: no second repair needed.
        await assertAllRestorable(ws, what);
        continue;
      }
      const again = await cairn(['fsck', '--repair'], { cwd: ws });
      assert.equal(again.code, 0, `${what}: the second fsck --repair\n${again.stdout}${again.stderr}`);
      await assertAllRestorable(ws, what);
    }
    // Checked last, so that a repair without the swap fails above for what it loses.
    assert.equal(swap.length, 2, `the swap's two renames are among the points:\n${points.join('\n')}`);
  }
});
