/**
 * A large raw checkpoint out rewritten in place between checkpoints (as
 * numpy.save or a custom format does): `exp run` records each version
 * from the one before (only what changed is chunked and hashed), and every
 * checkpoint must still hold exactly the bytes written, under the ID a
 * plain `cairn store add` of them gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cairn } from './lib/cli.js';
import { assertOk, findExp, makeWorkspace, showJson } from './lib/workspace.js';

// Writes 24 MiB of random bytes, then rewrites three regions in place before each later
// checkpoint; keeps a copy of every version (v0.bin, ...) for the test to compare with.
const TRAIN_PY = `import os, random, shutil
from cairn import make_checkpoint
rng = random.Random(7)
size = 24 << 20
with open("model.bin", "wb") as f:
    f.write(rng.randbytes(size))
for i in range(4):
    if i:
        with open("model.bin", "r+b") as f:
            for k in range(3):
                f.seek(rng.randrange(size - 300000))
                f.write(rng.randbytes(rng.randrange(1, 300000)))
    shutil.copyfile("model.bin", "v%d.bin" % i)
    with open("metrics.json", "w") as m:
        m.write('{"step": %d}' % i)
    make_checkpoint()
`;

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

test('a raw out rewritten in place: each checkpoint restores bit for bit, with the ID store add gives', async () => {
  const ws = await makeWorkspace();
  await writeFile(join(ws, 'train.py'), TRAIN_PY);
  assertOk(await cairn(['exp', 'run', '-n', 'rw'], { cwd: ws }), 'exp run');
  const exp = findExp(await showJson(ws), 'rw');
  const steps = [...exp.checkpoints].sort((a, b) => a.step - b.step);
  assert.equal(steps.length, 4);
  for (const c of steps) {
    const added = await cairn(['store', 'add', `v${c.step}.bin`, '-q'], { cwd: ws });
    assertOk(added, `store add v${c.step}.bin`);
    assert.equal(c.outs['model.bin'].id, added.stdout.trim().split(/\s+/)[0], `checkpoint ${c.step}: the ID of a full add`);
    assertOk(await cairn(['exp', 'apply', c.id, '--force'], { cwd: ws }), `apply ${c.step}`);
    assert.equal(await sha(join(ws, 'model.bin')), await sha(join(ws, `v${c.step}.bin`)), `checkpoint ${c.step}: bytes`);
  }
});
