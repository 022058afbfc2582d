// What a remote must show when all goes well, against a folder and a real S3 server alike:
// bit-for-bit round trips, nothing sent twice, small deltas, few objects, concurrent pushes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './lib/cli.js';
import { json, KINDS, objectBlobs, ok, on, remoteWorkspace } from './lib/remotes.js';

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
const MiB = 1024 * 1024;

interface Pushed {
  objects: number;
  bytes: number;
  experiments: Array<{ name: string; action: string }>;
}

for (const { kind, skip, make } of KINDS) {
  describe(`${kind} remote`, { skip }, () => {
    test('push from A, pull and apply in B: bit for bit; a second push stores nothing new on the remote', async () => {
      const remote = await make();
      const a = await remoteWorkspace(remote);
      const b = await remoteWorkspace(remote);
      ok(await on(remote, a, ['exp', 'run', '-n', 'first']), 'exp run');
      const pushed = await json<Pushed>(remote, a, ['exp', 'push', 'first']);
      assert.equal(pushed.experiments[0].action, 'created');
      const stored = await objectBlobs(remote);
      assert.ok(stored.count > 0);

      const again = await json<Pushed>(remote, a, ['exp', 'push', 'first']);
      assert.deepEqual([again.objects, again.bytes, again.experiments[0].action], [0, 0, 'unchanged']);
      assert.deepEqual(await objectBlobs(remote), stored, 'the second push wrote no pack or index');

      ok(await on(remote, b, ['exp', 'pull', 'first']), 'exp pull');
      assert.deepEqual(await json(remote, b, ['exp', 'list']), await json(remote, a, ['exp', 'list']));
      ok(await on(remote, b, ['exp', 'apply', 'first', '--force']), 'exp apply');
      for (const f of ['model.safetensors', 'metrics.json', 'params.yaml', 'train.py']) assert.equal(await sha(join(b, f)), await sha(join(a, f)), f);
      ok(await on(remote, b, ['fsck']), 'fsck');
    });

    test('a checkpoint with 1 MiB of a 16 MiB safetensors file changed adds at most ~1.5 MiB to the remote', async () => {
      const remote = await make();
      const ws = await remoteWorkspace(remote, { epochs: 1, tensors: 16, files: 0, seed: 1 });
      ok(await on(remote, ws, ['exp', 'run', '-n', 'one']), 'exp run one');
      ok(await on(remote, ws, ['exp', 'push', 'one']), 'push one');
      const base = await objectBlobs(remote);
      assert.ok(base.bytes >= 16 * MiB, `the first push stored ${base.bytes} bytes`);
      // Same seed, one more epoch: its first checkpoint is byte-identical to one's, its second differs in tensor t00 only.
      ok(await on(remote, ws, ['exp', 'run', '-n', 'two', '-S', 'epochs=2']), 'exp run two');
      ok(await on(remote, ws, ['exp', 'push', 'two']), 'push two');
      const grown = (await objectBlobs(remote)).bytes - base.bytes;
      assert.ok(grown <= 1.5 * MiB, `the changed checkpoint added ${(grown / MiB).toFixed(2)} MiB`);

      const fresh = await remoteWorkspace(remote, { epochs: 1, tensors: 16, files: 0, seed: 1 });
      ok(await on(remote, fresh, ['exp', 'pull', 'two']), 'pull two');
      ok(await on(remote, fresh, ['exp', 'apply', 'two', '--force']), 'apply two');
      assert.equal(await sha(join(fresh, 'model.safetensors')), await sha(join(ws, 'model.safetensors')));
    });

    test('an experiment of 300 small files is a few dozen remote objects at most', async () => {
      const remote = await make();
      const ws = await remoteWorkspace(remote, { epochs: 2, tensors: 0, files: 300, seed: 2 });
      ok(await on(remote, ws, ['exp', 'run', '-n', 'many']), 'exp run');
      ok(await on(remote, ws, ['exp', 'push', 'many']), 'exp push');
      const blobs = await remote.list();
      assert.ok(blobs.length <= 36, `${blobs.length} remote objects:\n${blobs.map((b) => b.key).join('\n')}`);
      const fresh = await remoteWorkspace(remote, { epochs: 2, tensors: 0, files: 300, seed: 2 });
      ok(await on(remote, fresh, ['exp', 'pull', 'many']), 'pull');
      ok(await on(remote, fresh, ['exp', 'apply', 'many', '--force']), 'apply');
      for (const k of [0, 150, 299]) {
        const f = join('data', `f${String(k).padStart(3, '0')}.txt`);
        assert.equal(await sha(join(fresh, f)), await sha(join(ws, f)), f);
      }
    });

    test('six pushes of different experiments at once (six processes) all land', async () => {
      const remote = await make();
      const base = await remoteWorkspace(remote, { epochs: 2, tensors: 2, files: 3, seed: 3 });
      // Each machine has its own experiment (different seeds): six writers of different packs at once.
      const copies = await Promise.all(
        [1, 2, 3, 4, 5, 6].map(async (k) => {
          const ws = await tempDir('cairn-ws-');
          await cp(base, ws, { recursive: true });
          return ws;
        }),
      );
      for (const [i, ws] of copies.entries()) ok(await on(remote, ws, ['exp', 'run', '-n', `e${i + 1}`, '-S', `seed=${10 + i}`]), 'exp run');
      const results = await Promise.all(copies.map((ws, i) => on(remote, ws, ['exp', 'push', `e${i + 1}`])));
      for (const r of results) ok(r, 'exp push');
      const listed = await json<Array<{ name: string }>>(remote, base, ['exp', 'list', '-r', 'origin']);
      assert.deepEqual(listed.map((e) => e.name).sort(), ['e1', 'e2', 'e3', 'e4', 'e5', 'e6']);
      const pulled = await json<{ experiments: Array<{ name: string; checkpoints: number }> }>(remote, base, ['exp', 'pull', '--all']);
      assert.equal(pulled.experiments.length, 6);
      for (const e of pulled.experiments) assert.equal(e.checkpoints, 2, e.name);
      ok(await on(remote, base, ['fsck']), 'fsck');
    });

    test('racing pushes of diverged chains of one name: one wins, the loser exits 1 naming it and keeps its own', async () => {
      const remote = await make();
      const [a, b] = await Promise.all([1, 2].map(() => remoteWorkspace(remote, { epochs: 1, tensors: 1, files: 2, seed: 4 })));
      ok(await on(remote, a, ['exp', 'run', '-n', 'x']), 'run a');
      ok(await on(remote, b, ['exp', 'run', '-n', 'x', '-S', 'seed=5']), 'run b');
      const before = await Promise.all([a, b].map((ws) => json(remote, ws, ['exp', 'list'])));
      const results = await Promise.all([a, b].map((ws) => on(remote, ws, ['exp', 'push', 'x'])));
      assert.deepEqual(results.map((r) => r.code).sort(), [0, 1], results.map((r) => r.stderr).join('\n'));
      const loser = results.find((r) => r.code === 1)!;
      assert.match(loser.stderr, /experiment 'x' on remote 'origin' diverged/);
      const winner = results.findIndex((r) => r.code === 0);
      assert.deepEqual(await Promise.all([a, b].map((ws) => json(remote, ws, ['exp', 'list']))), before, 'nothing local changed');
      assert.deepEqual(await json(remote, a, ['exp', 'list', '-r', 'origin']), before[winner]);
    });
  });
}
