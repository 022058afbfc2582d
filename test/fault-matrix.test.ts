// The fault matrix: every write point of store add, exp run, gc, exp import,
// exp apply and fsck --repair made to fail (ENOSPC, EIO) or killed with
// SIGKILL right before it, through the faultfs shim (test/faults/faultfs.c).
// After each fault: the command ended with one clear line (or SIGKILL), the
// store opens, `fsck --read-data` is clean, every checkpoint committed before
// and every checkpoint listed now restores bit for bit, and the same command
// run again on a healthy disk succeeds and leaves the expected result.
//
// `npm test` tries a spread of points per command. The whole matrix (ENOSPC
// at every point, EIO at 12 points and kill -9 at 20 random points of each
// command) is `npm run test:faults`; it prints its counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Store } from '@cairn/store';
import { cairn, tempDir, type RunResult } from './lib/cli.js';
import { cairnFaulty, describeFault, writePoints, type Fault } from './lib/faultfs.js';
import { writeWorkspace } from './lib/workspace.js';

const FULL = process.env.CAIRN_FAULT_MATRIX === 'full';
const KILLS_FULL = 120;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code} (signal ${r.signal})\n${r.stdout}\n${r.stderr}`);
}

interface Scenario {
  name: string;
  /** The command under test, run in `ws` (relative to the case folder). */
  args: string[];
  ws: string;
  /** Builds the starting state in `dir` (a workspace and its store under it). */
  prepare(dir: string): Promise<void>;
  /** After the command ran again on a healthy disk: what must hold. */
  after(dir: string): Promise<void>;
}

interface CheckpointOuts {
  id: string;
  outs: Record<string, string>;
}

async function checkpoints(ws: string): Promise<CheckpointOuts[]> {
  const r = await cairn(['exp', 'show', '--json', '--no-pager'], { cwd: ws });
  ok(r, 'exp show --json');
  const show = JSON.parse(r.stdout) as { experiments: Array<{ checkpoints: Array<{ id: string; outs: Record<string, { id: string }> }> }> };
  return show.experiments.flatMap((e) => e.checkpoints.map((c) => ({ id: c.id, outs: Object.fromEntries(Object.entries(c.outs).map(([p, o]) => [p, o.id])) })));
}

/** Every out of every checkpoint, restored and hashed: content ID -> SHA-256 of the bytes. */
async function restoredHashes(storeDir: string, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await Store.with(storeDir, async (store) => {
    for (const id of new Set(ids)) out.set(id, sha(await store.getBuffer(id)));
  });
  return out;
}

const caseFailures: string[] = [];
let pointsTried = 0;

/** One fault at one point: run, check the invariants, run again, check the result. */
async function tryFault(s: Scenario, base: string, committed: Map<string, string>, fault: Fault): Promise<void> {
  const dir = await tempDir('cairn-fault-');
  await cp(base, dir, { recursive: true });
  const ws = join(dir, s.ws);
  const store = join(ws, '.cairn');
  const what = `${s.name}: ${describeFault(fault)}`;
  pointsTried++;
  try {
    const r = await cairnFaulty(s.args, ws, dir, fault);
    if (fault.kind === 'kill') assert.ok(r.signal === 'SIGKILL' || r.code === 0, `${what}: expected SIGKILL, got exit ${r.code}\n${r.stderr}`);
    else {
      assert.ok(r.code === 0 || r.code === 1, `${what}: exit ${r.code}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at .+[(:]|node:internal/m, `${what}: stack trace\n${r.stderr}`);
      // (Not anchored at a line start: the training command shares stderr, and
      // a line it was writing when cairn stopped it may lack its newline.)
      if (r.code !== 0) assert.match(r.stderr, /cairn: error: /, `${what}: no error line\n${r.stderr}`);
    }
    const fsck = await cairn(['fsck', '--read-data'], { cwd: ws });
    assert.equal(fsck.code, 0, `${what}: fsck --read-data after the fault\n${fsck.stdout}\n${fsck.stderr}`);
    // Committed before: still listed and bit for bit the same.
    const now = await checkpoints(ws);
    const listed = new Set(now.map((c) => c.id));
    for (const id of committed.keys()) if (id.startsWith('ckpt:')) assert.ok(listed.has(id.slice(5)), `${what}: checkpoint ${id.slice(5, 12)} is gone`);
    const hashes = await restoredHashes(store, [...now.flatMap((c) => Object.values(c.outs)), ...[...committed.keys()].filter((k) => !k.startsWith('ckpt:'))]);
    for (const [id, h] of committed) if (!id.startsWith('ckpt:')) assert.equal(hashes.get(id), h, `${what}: object ${id.slice(0, 12)} restores differently`);
    const again = await cairn(s.args, { cwd: ws });
    ok(again, `${what}: the command again on a healthy disk`);
    await s.after(dir);
  } catch (err) {
    caseFailures.push((err as Error).message.split('\n').slice(0, 6).join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A spread of `n` points of 1..total (first, last, and evenly between). */
function spread(total: number, n: number): number[] {
  if (total <= n) return Array.from({ length: total }, (_, i) => i + 1);
  return [...new Set(Array.from({ length: n }, (_, i) => 1 + Math.round((i * (total - 1)) / (n - 1))))];
}

/** A seeded choice of `n` points, so a failing run can be repeated (CAIRN_FAULT_SEED). */
function randomPoints(total: number, n: number, seed: number): number[] {
  let x = seed >>> 0 || 1;
  const next = () => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6b43a9b5) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => 1 + Math.floor(next() * total));
}

async function runScenario(s: Scenario, plan: (total: number) => Fault[]): Promise<void> {
  const base = await tempDir('cairn-fault-base-');
  await s.prepare(base);
  const ws = join(base, s.ws);
  const committedCkpts = await checkpoints(ws).catch(() => [] as CheckpointOuts[]);
  const hashes = await restoredHashes(join(ws, '.cairn'), committedCkpts.flatMap((c) => Object.values(c.outs)));
  const committed = new Map<string, string>(hashes);
  for (const c of committedCkpts) committed.set(`ckpt:${c.id}`, '');
  // Count the points on a copy, so the base stays as it was.
  const probe = await tempDir('cairn-fault-probe-');
  await cp(base, probe, { recursive: true });
  const { run, points } = await writePoints(s.args, join(probe, s.ws), probe);
  ok(run, `${s.name} without faults`);
  await rm(probe, { recursive: true, force: true });
  assert.ok(points.length > 5, `${s.name}: only ${points.length} write points seen; is the shim working?`);
  const faults = plan(points.length);
  const before = caseFailures.length;
  for (const f of faults) await tryFault(s, base, committed, f);
  process.stderr.write(`fault matrix: ${s.name}: ${points.length} write points, ${faults.length} faults tried, ${caseFailures.length - before} failures\n`);
}

function plan(total: number, seed: number, killShare: number): Fault[] {
  if (FULL) {
    // ENOSPC at every point; EIO (which takes the same error paths) at a
    // spread of points; kills at random points.
    const all = Array.from({ length: total }, (_, i) => i + 1);
    return [
      ...all.map((at): Fault => ({ kind: 'fail', at, errno: 'ENOSPC' })),
      ...spread(total, 12).map((at): Fault => ({ kind: 'fail', at, errno: 'EIO' })),
      ...randomPoints(total, killShare, seed).map((at): Fault => ({ kind: 'kill', at })),
    ];
  }
  // The subset: the first and last point and one between, a sticky failure
  // (every later write fails too, as on a really full disk), one EIO, one kill.
  const picked = spread(total, 3);
  return [
    { kind: 'fail', at: picked[0], errno: 'ENOSPC' },
    { kind: 'fail', at: picked[picked.length - 1], errno: 'ENOSPC' },
    { kind: 'fail', at: picked[1] ?? 1, errno: 'ENOSPC', sticky: true },
    { kind: 'fail', at: picked[1] ?? 1, errno: 'EIO' },
    ...randomPoints(total, 1, seed).map((at): Fault => ({ kind: 'kill', at })),
  ];
}

const SEED = Number(process.env.CAIRN_FAULT_SEED ?? 20261204);
const KILLS_EACH = Math.ceil(KILLS_FULL / 7);

async function file(path: string, bytes: number): Promise<Buffer> {
  const data = randomBytes(bytes);
  await writeFile(path, data);
  return data;
}

const REWRITE_PY = `import random
from cairn import make_checkpoint
rng = random.Random(5)
size = 18 << 20
with open("model.bin", "wb") as f:
    f.write(rng.randbytes(size))
for step in range(3):
    if step:
        with open("model.bin", "r+b") as f:
            f.seek(rng.randrange(size - (1 << 20)))
            f.write(rng.randbytes(1 << 20))
    make_checkpoint()
`;

async function expWorkspace(dir: string, runs: Array<string[]>, epochs = 2): Promise<void> {
  const ws = join(dir, 'ws');
  await mkdir(ws, { recursive: true });
  await writeWorkspace(ws, { epochs });
  ok(await cairn(['init'], { cwd: ws }), 'init');
  for (const args of runs) ok(await cairn(['exp', 'run', ...args], { cwd: ws }), `exp run ${args.join(' ')}`);
}

const scenarios: Scenario[] = [
  {
    name: 'store add',
    ws: 'ws',
    args: ['store', 'add', 'big.bin', 'small.bin'],
    async prepare(dir) {
      const ws = join(dir, 'ws');
      await mkdir(ws, { recursive: true });
      ok(await cairn(['init'], { cwd: ws }), 'init');
      await file(join(ws, 'old.bin'), 300_000);
      ok(await cairn(['store', 'add', '--name', 'old', 'old.bin'], { cwd: ws }), 'store add old.bin');
      await file(join(ws, 'big.bin'), 20 * 1024 * 1024);
      await file(join(ws, 'small.bin'), 100_000);
    },
    async after(dir) {
      const ws = join(dir, 'ws');
      for (const f of ['old.bin', 'big.bin', 'small.bin']) {
        const id = (await cairn(['store', 'add', f], { cwd: ws })).stdout.split(/\s+/)[0];
        const got = await cairn(['store', 'get', id, `${f}.back`], { cwd: ws });
        ok(got, `store get ${f}`);
        assert.ok((await readFile(join(ws, f))).equals(await readFile(join(ws, `${f}.back`))), `${f} comes back different`);
      }
    },
  },
  {
    name: 'exp run',
    ws: 'ws',
    args: ['exp', 'run'],
    prepare: (dir) => expWorkspace(dir, [['--name', 'first']]),
    async after(dir) {
      const ws = join(dir, 'ws');
      assert.ok((await checkpoints(ws)).length >= 4, 'the run again recorded its checkpoints');
    },
  },
  {
    // An 18 MiB raw out rewritten in place: checkpoints after the first are stored from the one before.
    name: 'exp run, out rewritten in place',
    ws: 'ws',
    args: ['exp', 'run'],
    async prepare(dir) {
      const ws = join(dir, 'ws');
      await mkdir(ws, { recursive: true });
      await writeWorkspace(ws);
      await writeFile(join(ws, 'train.py'), REWRITE_PY);
      ok(await cairn(['init'], { cwd: ws }), 'init');
      ok(await cairn(['exp', 'run', '--name', 'first'], { cwd: ws }), 'exp run --name first');
    },
    async after(dir) {
      const ws = join(dir, 'ws');
      const all = await checkpoints(ws);
      assert.ok(all.length >= 6, `the run again recorded its checkpoints (${all.length} in all)`);
      const hashes = await restoredHashes(join(ws, '.cairn'), all.map((c) => c.outs['model.bin']));
      for (const c of all) assert.ok(hashes.has(c.outs['model.bin']), `checkpoint ${c.id}: its model restores`);
    },
  },
  {
    name: 'gc',
    ws: 'ws',
    args: ['gc'],
    async prepare(dir) {
      // Enough small packs that gc merges them, and a removed experiment whose packs go.
      await expWorkspace(dir, [['--name', 'keep'], ['--reset', '--name', 'drop'], ['--reset', '--name', 'keep2']], 7);
      ok(await cairn(['exp', 'remove', 'drop'], { cwd: join(dir, 'ws') }), 'exp remove');
    },
    async after(dir) {
      const ws = join(dir, 'ws');
      const names = JSON.parse((await cairn(['exp', 'list', '--json'], { cwd: ws })).stdout).map((e: { name: string }) => e.name).sort();
      assert.deepEqual(names, ['keep', 'keep2']);
    },
  },
  {
    name: 'exp import',
    ws: 'ws',
    args: ['exp', 'import', '../run.tar'],
    async prepare(dir) {
      await expWorkspace(join(dir, 'src'), [['--name', 'shared']], 4);
      ok(await cairn(['exp', 'export', 'shared', '-o', join(dir, 'run.tar')], { cwd: join(dir, 'src', 'ws') }), 'exp export');
      await rm(join(dir, 'src'), { recursive: true, force: true });
      await expWorkspace(dir, [['--name', 'local']]);
    },
    async after(dir) {
      const ws = join(dir, 'ws');
      const names = JSON.parse((await cairn(['exp', 'list', '--json'], { cwd: ws })).stdout).map((e: { name: string }) => e.name);
      assert.ok(names.includes('shared'), `imported experiment missing: ${names.join(', ')}`);
      ok(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck after import');
    },
  },
  {
    name: 'exp apply',
    ws: 'ws',
    args: ['exp', 'apply', 'a'],
    prepare: (dir) => expWorkspace(dir, [['--name', 'a'], ['--reset', '--name', 'b', '-S', 'lr=0.3']], 2),
    async after(dir) {
      const ws = join(dir, 'ws');
      const tip = JSON.parse((await cairn(['exp', 'list', '--json'], { cwd: ws })).stdout).find((e: { name: string }) => e.name === 'a').tip as string;
      const lock = await readFile(join(ws, 'cairn.lock'), 'utf8');
      assert.match(lock, new RegExp(`checkpoint: ${tip}`), 'cairn.lock names the applied checkpoint');
      const outs = (await checkpoints(ws)).find((c) => c.id === tip)!.outs;
      const want = await restoredHashes(join(ws, '.cairn'), Object.values(outs));
      for (const [p, id] of Object.entries(outs)) assert.equal(sha(await readFile(join(ws, p))), want.get(id), `${p} is not the applied checkpoint's`);
      assert.match(await readFile(join(ws, 'params.yaml'), 'utf8'), /^lr: 0\.1/m, 'params.yaml holds the applied params');
    },
  },
  {
    name: 'fsck --repair',
    ws: 'ws',
    args: ['fsck', '--repair'],
    prepare: (dir) => expWorkspace(dir, [['--name', 'one'], ['--reset', '--name', 'two']], 3),
    async after(dir) {
      ok(await cairn(['fsck', '--read-data'], { cwd: join(dir, 'ws') }), 'fsck after repair');
    },
  },
];

for (const [i, s] of scenarios.entries()) {
  test(`fault matrix: ENOSPC, EIO and kill -9 at the write points of ${s.name}`, { timeout: FULL ? 6 * 3600_000 : 900_000 }, async () => {
    const before = caseFailures.length;
    const tried = pointsTried;
    await runScenario(s, (total) => plan(total, SEED + i, KILLS_EACH));
    const failures = caseFailures.slice(before);
    assert.equal(failures.length, 0, `${failures.length} of ${pointsTried - tried} faults broke a promise:\n\n${failures.join('\n\n')}`);
  });
}

test('fault matrix: totals', () => {
  process.stderr.write(`fault matrix (${FULL ? 'full' : 'subset'}): ${pointsTried} faults tried, ${caseFailures.length} failures\n`);
});
