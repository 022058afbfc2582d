import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store } from './index.js';
import { listPackFiles } from './packfiles.js';

const packBytes = async (dir: string) => (await listPackFiles(join(dir, 'packs'))).reduce((n, f) => n + f.size, 0);

test('gc --dry-run reports exactly the bytes gc then frees, when packs are merged and rewritten', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'cairn-gc-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const dir = join(work, 'store');
  await Store.init(dir);
  // 20 small packs, each a kept object and a small dropped one: merged into one new pack.
  for (let i = 0; i < 20; i++) {
    await Store.with(dir, async (s) => {
      await s.refs.set(`keep/${i}`, await s.putBuffer(randomBytes(3000 + i)));
      await s.refs.set(`drop/${i}`, await s.putBuffer(randomBytes(100 + i)));
    });
  }
  await Store.with(dir, async (s) => {
    for (let i = 0; i < 20; i++) await s.refs.delete(`drop/${i}`);
  });
  const before = await packBytes(dir);
  const dry = await Store.with(dir, (s) => s.gc({ dryRun: true }));
  assert.equal(await packBytes(dir), before, 'a dry run changes nothing');
  const real = await Store.with(dir, (s) => s.gc());
  const after = await packBytes(dir);
  assert.ok(real.packsRewritten > 0 && real.packsWritten > 0, 'the case that differed: packs rewritten into new ones');
  assert.equal(real.bytesFreed, before - after, 'gc reports what it freed on disk');
  assert.equal(dry.bytesFreed, real.bytesFreed, 'the dry run said the same');
  assert.deepEqual([dry.packsDeleted, dry.packsRewritten, dry.packsWritten, dry.deadObjects], [real.packsDeleted, real.packsRewritten, real.packsWritten, real.deadObjects]);
});
