// Remote gc: in-process, with two backends on one folder as two machines would have, and a clock
// gc is told (packs and markers look as old as the test needs without waiting a day); then the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Store, type ObjectBackend, type ObjectId } from '@cairn/store';
import { collectRemote, openRemote, type RemoteBackend, type RemoteGcReport } from '@cairn/remote';
import { pullExperiments, pushExperiments, removeRemoteExperiments, walkRemote } from '@cairn/transfer';
import { makeExperiment, tempStore } from '@cairn/transfer/test-support';
import { cairn, tempDir, type RunResult } from './lib/cli.js';

const HOUR = 3_600_000;
const mib = (n: number) => randomBytes(n * 1024 * 1024);

async function remote(dir: string): Promise<RemoteBackend> {
  return openRemote(pathToFileURL(dir).href);
}

/** One gc run by another "machine": its own backend, a clock `ahead` ms in the future, a grace of an hour. */
async function gc(dir: string, ahead: number, dryRun = false): Promise<RemoteGcReport> {
  const b = await remote(dir);
  try {
    return await collectRemote(b, { graceMs: HOUR, dryRun, now: () => Date.now() + ahead, walk: (roots, seen) => walkRemote(b, roots, seen) });
  } finally {
    await b.close();
  }
}

async function packs(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'packs')).catch(() => [])).sort();
}

/** Every object an experiment of the store reaches, as stored bytes. */
async function objects(dir: string, name: string): Promise<Map<ObjectId, string>> {
  return Store.with(dir, async (s) => {
    const m = new Map<ObjectId, string>();
    const ref = await s.refs.get(`exp/${name}`);
    for (const id of await s.reachable([ref!])) m.set(id, (await s.readObject(id)).data.toString('base64'));
    return m;
  });
}

/** Pulls `name` into a fresh store and checks it holds the same objects, byte for byte, as `from`. */
async function pullsBitForBit(remoteDir: string, from: string, name: string): Promise<void> {
  const b = await tempStore();
  const r = await remote(remoteDir);
  try {
    await Store.with(b.dir, (s) => pullExperiments(s, r, [name]));
  } finally {
    await r.close();
  }
  assert.deepEqual(await objects(b.dir, name), await objects(from, name));
}

async function push(storeDir: string, remoteDir: string, name: string, wrap: (r: RemoteBackend) => ObjectBackend = (r) => r) {
  const r = await remote(remoteDir);
  try {
    return await Store.with(storeDir, (s) => pushExperiments(s, wrap(r), [name]));
  } finally {
    await r.close();
  }
}

test('gc frees a removed experiment in two phases; the other still pulls bit for bit', async () => {
  const a = await tempStore();
  const dir = join(await tempDir('cairn-rgc-'), 'remote');
  await Store.with(a.dir, async (s) => {
    await makeExperiment(s, 'keep', [mib(1), mib(1)]);
    await makeExperiment(s, 'drop', [mib(2), mib(2)]);
  });
  await push(a.dir, dir, 'keep');
  const keepPacks = await packs(dir);
  await push(a.dir, dir, 'drop');
  const r = await remote(dir);
  await removeRemoteExperiments(r, ['drop']);
  await r.close();

  const young = await gc(dir, 0);
  assert.deepEqual([young.packsCondemned, young.packsDeleted], [0, 0], 'packs younger than the grace are left alone');
  const first = await gc(dir, 2 * HOUR);
  assert.ok(first.packsCondemned > 0 && first.packsDeleted === 0, JSON.stringify(first));
  assert.equal(first.tombstonesRemoved, 1);
  const dry = await gc(dir, 4 * HOUR, true);
  const second = await gc(dir, 4 * HOUR);
  assert.deepEqual({ ...dry, dryRun: false }, second, 'a dry run reports exactly what the run frees');
  assert.equal(second.packsDeleted, first.packsCondemned);
  assert.ok(second.bytesFreed > 4 * 2 ** 20, `freed ${second.bytesFreed}`);
  assert.deepEqual(await packs(dir), keepPacks, "only the removed experiment's packs went");
  assert.deepEqual(await readdir(join(dir, 'condemned')), []);
  await pullsBitForBit(dir, a.dir, 'keep');
});

test('gc between a push sending its objects and moving its ref loses nothing', async () => {
  for (const when of ['before the recheck', 'after the recheck'] as const) {
    const a = await tempStore();
    const dir = join(await tempDir('cairn-rgc-'), 'remote');
    await Store.with(a.dir, (s) => makeExperiment(s, 'x', [mib(1), mib(1)]));
    let ran: RemoteGcReport | undefined;
    const report = await push(a.dir, dir, 'x', (r) => {
      const hook = async () => {
        ran ??= await gc(dir, 2 * HOUR);
      };
      if (when === 'before the recheck') {
        const recheck = r.recheckCondemned.bind(r);
        r.recheckCondemned = async () => (await hook(), recheck());
        return r;
      }
      const set = r.refs.set.bind(r.refs);
      (r.refs as { set: typeof set }).set = async (...args) => (await hook(), set(...args));
      return r;
    });
    assert.ok(ran && ran.packsCondemned > 0, `${when}: the gc saw the pushed objects unreferenced and condemned them`);
    assert.equal(report.experiments[0].action, 'created');
    const inStore = await Store.with(a.dir, async (s) => s.reachable([(await s.refs.get('exp/x'))!]));
    const fresh = await remote(dir);
    const present = await Promise.all([...inStore].map((id) => fresh.has(id)));
    await fresh.close();
    if (when === 'before the recheck') {
      assert.ok(present.every(Boolean), 'the push sent again what the gc condemned before its ref moved');
      assert.equal(report.objects, 2 * inStore.size);
    } else assert.ok(!present.some(Boolean), 'the ref moved onto condemned packs (a push shorter than the grace)');
    // Later runs, past the grace: nothing the ref reaches may go.
    const next = await gc(dir, 4 * HOUR);
    if (when === 'after the recheck') assert.equal(next.packsRestored, ran.packsCondemned, 'reachable again, so un-condemned');
    await gc(dir, 6 * HOUR);
    await pullsBitForBit(dir, a.dir, 'x');
  }
});

test("a push sends a condemned pack's objects again", async () => {
  const a = await tempStore();
  const dir = join(await tempDir('cairn-rgc-'), 'remote');
  await Store.with(a.dir, (s) => makeExperiment(s, 'x', [mib(1)]));
  const first = await push(a.dir, dir, 'x');
  const r = await remote(dir);
  await removeRemoteExperiments(r, ['x']);
  await r.close();
  const condemned = await gc(dir, 2 * HOUR);
  assert.ok(condemned.packsCondemned > 0);
  const again = await push(a.dir, dir, 'x');
  assert.equal(again.objects, first.objects, 'every object went again');
  assert.equal(again.bytes, first.bytes);
  const after = await gc(dir, 4 * HOUR);
  assert.equal(after.packsDeleted, condemned.packsCondemned, 'the condemned copies go; the new ones stay');
  await pullsBitForBit(dir, a.dir, 'x');
});

function ok(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
}

const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

test('cli: exp remove -r, then gc -r --grace 0s frees it at once; the other experiment still pulls and applies bit for bit', async () => {
  const dir = join(await tempDir('cairn-rgc-'), 'remote');
  const url = pathToFileURL(dir).href;
  const a = await tempDir('cairn-ws-');
  ok(await cairn(['init', '--example', '-q'], { cwd: a }), 'init');
  ok(await cairn(['remote', 'add', 'origin', url, '-q'], { cwd: a }), 'remote add');
  ok(await cairn(['exp', 'run', '-n', 'keep'], { cwd: a }), 'run keep');
  ok(await cairn(['exp', 'push', 'keep'], { cwd: a }), 'push keep');
  const keepPacks = await packs(dir);
  ok(await cairn(['exp', 'run', '-n', 'drop', '-S', 'lr=0.5'], { cwd: a }), 'run drop');
  ok(await cairn(['exp', 'push', 'drop'], { cwd: a }), 'push drop');
  ok(await cairn(['exp', 'remove', '-r', 'origin', 'drop'], { cwd: a }), 'remove -r');

  const dry = await cairn(['gc', '-r', 'origin', '--grace', '0s', '--dry-run', '--json'], { cwd: a });
  ok(dry, 'gc --dry-run');
  const would = JSON.parse(dry.stdout) as RemoteGcReport;
  assert.ok(would.packsDeleted > 0 && would.bytesFreed > 0 && would.objectsFreed > 0, dry.stdout);
  assert.equal((await packs(dir)).length, keepPacks.length + would.packsDeleted, 'a dry run deletes nothing');
  const real = await cairn(['gc', '-r', 'origin', '--grace', '0s'], { cwd: a });
  ok(real, 'gc');
  assert.match(real.stdout, new RegExp(`^Freed .* \\(${would.bytesFreed} bytes\\) on remote 'origin': ${would.objectsFreed} objects in ${would.packsDeleted} packs`));
  assert.deepEqual(await packs(dir), keepPacks);
  assert.deepEqual(await readdir(join(dir, 'refs', 'exp')), ['keep'], 'the tombstone went too');

  const b = await tempDir('cairn-ws-');
  ok(await cairn(['init', '--example', '-q'], { cwd: b }), 'init b');
  ok(await cairn(['remote', 'add', 'origin', url, '-q'], { cwd: b }), 'remote add b');
  ok(await cairn(['exp', 'pull', 'keep'], { cwd: b }), 'pull');
  ok(await cairn(['exp', 'apply', 'keep', '--force'], { cwd: b }), 'apply');
  ok(await cairn(['exp', 'apply', 'keep', '--force'], { cwd: a }), 'apply a');
  for (const f of ['model.safetensors', 'metrics.json', 'params.yaml']) assert.equal(await sha(join(b, f)), await sha(join(a, f)), f);
  const bad = await cairn(['gc', '-r', 'origin', '--grace', 'soon'], { cwd: a });
  assert.equal(bad.code, 2, bad.stderr);
});
