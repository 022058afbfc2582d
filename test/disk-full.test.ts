// A really full disk: the workspace and its store on a small tmpfs. The
// command that runs out of space fails with one line and leaves the store as
// it was; once space is freed (the tmpfs grown), the same command succeeds and
// what it recorded comes back bit for bit. The fault matrix injects the same
// errors one point at a time; this checks the kernel's own ENOSPC, partial
// writes included.
//
// Mounting needs root (CI runs as root); elsewhere the tests are skipped with
// that reason.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn, tempDir, type RunResult } from './lib/cli.js';
import { writeWorkspace } from './lib/workspace.js';

const mounted: string[] = [];
after(() => {
  for (const m of mounted) spawnSync('umount', ['-l', m]);
});

/** A tmpfs of `mib` MiB, or the reason there can be none. */
async function tmpfs(mib: number): Promise<string> {
  const dir = await tempDir('cairn-full-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new SkipError(`cannot mount a tmpfs (${(r.stderr || r.error?.message || '').trim()}); run as root`);
  mounted.push(dir);
  return dir;
}

function grow(dir: string, mib: number): void {
  const r = spawnSync('mount', ['-o', `remount,size=${mib}m`, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

class SkipError extends Error {}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** Failed for lack of space, with one clear line and no stack. */
function diskFull(r: RunResult, what: string): void {
  assert.notEqual(r.code, 0, `${what} should fail on a full disk\n${r.stdout}`);
  assert.match(r.stderr, /^cairn: error: .*disk is full/m, `${what}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at |node:internal|unusable|missing/m, `${what}: ${r.stderr}`);
}

/** A run stopped for lack of space: non-zero, says so, no stack. */
function ranOutOfSpace(r: RunResult): void {
  assert.notEqual(r.code, 0, `the run should run out of space\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /disk is full|no space/i, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at |node:internal/m, r.stderr);
}

async function withTmpfs(t: { skip(msg: string): void }, mib: number, fn: (dir: string) => Promise<void>): Promise<void> {
  let dir: string;
  try {
    dir = await tmpfs(mib);
  } catch (err) {
    if (err instanceof SkipError) return t.skip(err.message);
    throw err;
  }
  await fn(dir);
}

test('store add on a full disk fails cleanly; after space is freed the same add stores the file whole', async (t) => {
  await withTmpfs(t, 24, async (dir) => {
    ok(await cairn(['init'], { cwd: dir }), 'init');
    const small = randomBytes(200_000);
    await writeFile(join(dir, 'small.bin'), small);
    const smallId = (await cairn(['store', 'add', 'small.bin'], { cwd: dir })).stdout.split(/\s+/)[0];
    // Outside the tmpfs, so the source itself takes no space there.
    const src = join(await tempDir(), 'big.bin');
    const big = randomBytes(30 * 1024 * 1024);
    await writeFile(src, big);
    diskFull(await cairn(['store', 'add', src], { cwd: dir }), 'store add of a file larger than the disk');
    ok(await cairn(['fsck', '--read-data'], { cwd: dir }), 'fsck after the failed add');
    grow(dir, 200);
    const r = await cairn(['store', 'add', src], { cwd: dir });
    ok(r, 'store add after space was freed');
    const id = r.stdout.split(/\s+/)[0];
    ok(await cairn(['store', 'get', id, join(dir, 'back.bin')], { cwd: dir }), 'store get');
    assert.equal(sha(await readFile(join(dir, 'back.bin'))), sha(big));
    ok(await cairn(['store', 'get', smallId, join(dir, 'small.back')], { cwd: dir }), 'store get small');
    assert.ok((await readFile(join(dir, 'small.back'))).equals(small));
    ok(await cairn(['fsck', '--read-data'], { cwd: dir }), 'fsck at the end');
  });
});

test('exp run on a full disk stops with one line; every checkpoint it recorded restores, and the resumed run records whole data', async (t) => {
  await withTmpfs(t, 12, async (dir) => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    // 1 MiB of fresh model bytes per checkpoint: a 12 MiB disk fills within the run.
    await writeWorkspace(ws, { epochs: 14 });
    ok(await cairn(['init'], { cwd: ws }), 'init');
    const first = await cairn(['exp', 'run', '--name', 'full'], { cwd: ws });
    ranOutOfSpace(first);
    grow(dir, 200);
    ok(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck after the full disk');
    const resumed = await cairn(['exp', 'run'], { cwd: ws });
    ok(resumed, 'exp run after space was freed');
    ok(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck after the resumed run');
    const show = JSON.parse((await cairn(['exp', 'show', '--json', '--no-pager'], { cwd: ws })).stdout) as {
      experiments: Array<{ name: string; checkpoints: Array<{ id: string; step: number }> }>;
    };
    const ckpts = show.experiments.flatMap((e) => e.checkpoints);
    assert.ok(ckpts.length >= 14, `checkpoints recorded: ${ckpts.length}`);
    // Every checkpoint's model restores and is the model of its step (the
    // header train.py writes holds the step).
    for (const c of ckpts) {
      ok(await cairn(['exp', 'apply', c.id, '--force'], { cwd: ws }), `exp apply ${c.id}`);
      const model = await readFile(join(ws, 'model.bin'));
      assert.equal(model.subarray(0, 8).toString(), 'CAIRNTST', `checkpoint ${c.id}: model.bin is not a model`);
      assert.equal(Number(model.readBigInt64LE(8)), c.step, `checkpoint ${c.id}: model.bin is not the model of its step`);
    }
  });
});

test('exp import on a full disk says the disk is full, not that the experiment is unusable, and imports once space is freed', async (t) => {
  const src = await tempDir();
  await writeWorkspace(src, { epochs: 8 });
  ok(await cairn(['init'], { cwd: src }), 'init');
  ok(await cairn(['exp', 'run', '--name', 'shared'], { cwd: src }), 'exp run');
  const tar = join(await tempDir(), 'shared.tar');
  ok(await cairn(['exp', 'export', 'shared', '-o', tar], { cwd: src }), 'exp export');
  await withTmpfs(t, 4, async (dir) => {
    ok(await cairn(['init'], { cwd: dir }), 'init');
    diskFull(await cairn(['exp', 'import', tar], { cwd: dir }), 'exp import onto a full disk');
    ok(await cairn(['fsck', '--read-data'], { cwd: dir }), 'fsck after the failed import');
    grow(dir, 200);
    ok(await cairn(['exp', 'import', tar], { cwd: dir }), 'exp import after space was freed');
    ok(await cairn(['fsck', '--read-data'], { cwd: dir }), 'fsck after the import');
    ok(await cairn(['exp', 'apply', 'shared'], { cwd: dir }), 'exp apply of the imported experiment');
  });
});

// A large raw out rewritten in place: each checkpoint after the first is stored from the one before
// (only the changed regions are chunked and written), so the disk fills partway through those writes.
const REWRITE_PY = `import os, random, struct
from cairn import make_checkpoint
rng = random.Random(int(os.environ.get("CAIRN_RESUMED", "0") == "1") + 3)
size = 24 << 20
with open("model.bin", "wb") as f:
    f.write(rng.randbytes(size))
for step in range(5):
    with open("model.bin", "r+b") as f:
        if step:
            for k in range(3):
                f.seek(rng.randrange(16, size - (3 << 20)))
                f.write(rng.randbytes(3 << 20))
        f.seek(0)
        f.write(b"CAIRNTST" + struct.pack("<q", step))
    make_checkpoint()
`;

test('exp run of an out rewritten in place on a full disk stops with one line; what it recorded restores, and a run after space is freed records whole data', async (t) => {
  await withTmpfs(t, 72, async (dir) => {
    const ws = join(dir, 'ws');
    await mkdir(ws);
    await writeWorkspace(ws);
    await writeFile(join(ws, 'train.py'), REWRITE_PY);
    ok(await cairn(['init'], { cwd: ws }), 'init');
    const first = await cairn(['exp', 'run', '--name', 'rw'], { cwd: ws });
    ranOutOfSpace(first);
    grow(dir, 400);
    ok(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck after the full disk');
    ok(await cairn(['exp', 'run', '--name', 'rw2'], { cwd: ws }), 'exp run after space was freed');
    ok(await cairn(['fsck', '--read-data'], { cwd: ws }), 'fsck after the second run');
    const show = JSON.parse((await cairn(['exp', 'show', '--json', '--no-pager'], { cwd: ws })).stdout) as {
      experiments: Array<{ name: string; checkpoints: Array<{ id: string; step: number; outs: Record<string, { id: string }> }> }>;
    };
    const before = show.experiments.find((e) => e.name === 'rw')?.checkpoints.length ?? 0;
    // The disk filled while a later checkpoint was stored from the one before it.
    assert.ok(before >= 2 && before < 5, `checkpoints of the first run: ${before}`);
    // Each run's train.py numbers its checkpoints from 0; a run may continue the steps of the one before.
    const ckpts = show.experiments.flatMap((e) => e.checkpoints.map((c) => ({ ...c, step: c.step - Math.min(...e.checkpoints.map((x) => x.step)) })));
    assert.equal(ckpts.length, before + 5);
    for (const c of ckpts) {
      ok(await cairn(['exp', 'apply', c.id, '--force'], { cwd: ws }), `exp apply ${c.id}`);
      const model = await readFile(join(ws, 'model.bin'));
      assert.equal(model.subarray(0, 8).toString(), 'CAIRNTST', `checkpoint ${c.id}: model.bin is not a model`);
      assert.equal(Number(model.readBigInt64LE(8)), c.step, `checkpoint ${c.id}: model.bin is not the model of its step`);
      // The ID a plain add gives: the checkpoint holds exactly these bytes, cut as a full chunking cuts them.
      const added = await cairn(['store', 'add', 'model.bin', '-q'], { cwd: ws });
      ok(added, 'store add');
      assert.equal(c.outs['model.bin'].id, added.stdout.trim().split(/\s+/)[0], `checkpoint ${c.id}: the ID of a full add`);
    }
  });
});
