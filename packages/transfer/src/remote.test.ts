// push/pull/list/remove against a second local store wrapped by storeBackend: a real ObjectBackend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CairnError, Store, storeBackend, type ObjectBackend, type ObjectId } from '@cairn/store';
import { appendCheckpoint, EXPERIMENT_KIND, expRef, RECORD_VERSION, showData, putBaseline } from '@cairn/lineage';
import { detachForPush, listRemoteExperiments, planPush, pullExperiments, pushExperiments, removeRemoteExperiments, sendPush } from './index.js';
import { cairnError, makeExperiment, out, tempStore } from './test-support.js';

const mib = (n: number) => randomBytes(n * 1024 * 1024);

/** Opens the stores at `dirs`, runs fn, closes them (the remote as a backend). */
async function withStores<T>(local: string, remote: string, fn: (s: Store, r: ObjectBackend, rs: Store) => Promise<T>): Promise<T> {
  const s = await Store.open(local);
  const rs = await Store.open(remote);
  try {
    return await fn(s, storeBackend(rs), rs);
  } finally {
    await rs.close();
    await s.close();
  }
}

/** Every object the experiments reach, as stored bytes. */
async function allObjects(dir: string): Promise<Map<ObjectId, string>> {
  return Store.with(dir, async (s) => {
    const m = new Map<ObjectId, string>();
    const roots = (await s.refs.list('exp/')).map((r) => r.id);
    for (const id of await s.reachable(roots)) m.set(id, (await s.readObject(id)).data.toString('base64'));
    return m;
  });
}

async function more(dir: string, name: string, n: number): Promise<void> {
  await Store.with(dir, async (s) => {
    for (let i = 0; i < n; i++) {
      await appendCheckpoint(s, name, { stage: 'train', cmd: 'python train.py', outs: { 'model.bin': await out(s, mib(1)) }, deps: {}, params: { 'params.yaml': { lr: 0.1 } }, metrics: { acc: i } });
    }
  });
}

test('push then pull round-trips bit for bit; a second push sends nothing', async () => {
  const a = await tempStore();
  const r = await tempStore();
  const b = await tempStore();
  const shared = mib(4);
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [0, 1, 2].map(() => Buffer.concat([shared, mib(1)]))));

  const first = await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha'], { remoteName: 'origin' }));
  assert.equal(first.experiments[0].action, 'created');
  assert.ok(first.objects > 0 && first.bytes > 4 * 2 ** 20);
  assert.ok(first.bytes < 11 * 2 ** 20, `dedup kept: ${first.bytes}`);
  const again = await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  assert.deepEqual([again.experiments[0].action, again.objects, again.bytes], ['unchanged', 0, 0]);

  const pulled = await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha']));
  assert.equal(pulled.experiments[0].action, 'created');
  assert.equal(pulled.experiments[0].checkpoints, 3);
  // Every object of A is in B, byte for byte, and B shows the same experiment.
  const inA = await allObjects(a.dir);
  const inB = await allObjects(b.dir);
  assert.ok(inA.size > 10);
  assert.deepEqual(inB, inA);
  const showA = await Store.with(a.dir, (s) => showData(s));
  const showB = await Store.with(b.dir, (s) => showData(s));
  assert.deepEqual(showB, showA);
  const listed = await withStores(b.dir, r.dir, (_s, remote) => listRemoteExperiments(remote));
  assert.deepEqual(listed.map((e) => [e.name, e.checkpoints, e.tip]), [['alpha', 3, showA[0].tip]]);
  const twice = await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, 'all'));
  assert.deepEqual([twice.experiments[0].action, twice.objects], ['unchanged', 0]);
});

test('a fast-forward push sends only the new checkpoints; a diverged one is refused unless forced', async () => {
  const a = await tempStore();
  const b = await tempStore();
  const r = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1), mib(1)]));
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha']));
  await more(a.dir, 'alpha', 1);
  const ff = await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  assert.equal(ff.experiments[0].action, 'fast-forward');
  assert.ok(ff.bytes > 2 ** 20 && ff.bytes < 1.1 * 2 ** 20, `only the new model and records: ${ff.bytes}`);
  // B pulls the fast-forward, then grows its own chain while A grows another.
  const pf = await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha']));
  assert.equal(pf.experiments[0].action, 'fast-forward');
  await more(a.dir, 'alpha', 1);
  await more(b.dir, 'alpha', 1);
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  const bBefore = await Store.with(b.dir, (s) => s.refs.list());
  const refused = await withStores(b.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  assert.equal(refused.experiments[0].action, 'diverged');
  assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), bBefore, 'nothing local changed');
  const aState = await Store.with(a.dir, (s) => s.refs.get(expRef('alpha')));
  assert.equal(await Store.with(r.dir, (s) => s.refs.get(expRef('alpha'))), aState, 'the remote kept the winner');
  // Pulling the diverged chain is refused too, with nothing changed.
  await assert.rejects(withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha'], { remoteName: 'origin' })), cairnError('CONFLICT', /'alpha' diverged from remote 'origin'/));
  assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), bBefore);
  const forced = await withStores(b.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha'], { force: true }));
  assert.equal(forced.experiments[0].action, 'forced');
  assert.equal(await Store.with(r.dir, (s) => s.refs.get(expRef('alpha'))), bBefore.find((x) => x.name === expRef('alpha'))!.id);
  // A is now behind-and-diverged; a pull of its own ahead state into the remote's view: B's chain.
  const removed = await withStores(a.dir, r.dir, (_s, remote) => removeRemoteExperiments(remote, ['alpha']));
  assert.deepEqual(removed, ['alpha']);
  assert.deepEqual(await withStores(a.dir, r.dir, (_s, remote) => listRemoteExperiments(remote)), []);
  await assert.rejects(withStores(a.dir, r.dir, (_s, remote) => removeRemoteExperiments(remote, ['alpha'])), cairnError('NOT_FOUND'));
});

test('racing pushes of one name: the compare-and-swap lets exactly one win', async () => {
  const a = await tempStore();
  const b = await tempStore();
  const r = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'x', [mib(1)]));
  await Store.with(b.dir, (s) => makeExperiment(s, 'x', [mib(1)]));
  const sa = await Store.open(a.dir);
  const sb = await Store.open(b.dir);
  const rs = await Store.open(r.dir);
  try {
    // The local store's refs check then write within one process; a backend's compare-and-swap is atomic, so ref changes go one at a time here.
    const inner = storeBackend(rs);
    let queue = Promise.resolve();
    const one = <T>(fn: () => Promise<T>): Promise<T> => {
      const p = queue.then(fn);
      queue = p.then(() => {}, () => {});
      return p;
    };
    const remote: ObjectBackend = { ...inner, refs: { ...inner.refs, set: (n, id, e) => one(() => inner.refs.set(n, id, e)) } };
    const results = await Promise.all([pushExperiments(sa, remote, ['x']), pushExperiments(sb, remote, ['x'])]);
    const actions = results.map((x) => x.experiments[0].action).sort();
    assert.deepEqual(actions, ['created', 'diverged']);
  } finally {
    await rs.close();
    await sb.close();
    await sa.close();
  }
});

/** Puts a checkpoint record straight into a store, past lineage's checks, as a hostile remote might hold it. */
async function hostile(dir: string, name: string, outPath: string): Promise<void> {
  await Store.with(dir, async (s) => {
    const model = await out(s, mib(1));
    const baseline = await putBaseline(s, { deps: {}, params: {} });
    const cp = { kind: 'cairn.checkpoint', version: RECORD_VERSION, experiment: name, stage: 'train', step: 0, created: '2026-01-01T00:00:00Z', parent: null, outs: { [outPath]: model }, deps: {}, params: {}, metrics: {}, cmd: 'x' };
    const tip = await s.putRecord(cp, [model.id]);
    const state = { kind: EXPERIMENT_KIND, version: RECORD_VERSION, tip, first: tip, from: null, baseline, created: cp.created, updated: cp.created, checkpoints: 1 };
    await s.refs.set(expRef(name), await s.putRecord(state, [tip, baseline]));
  });
}

test('a pull of a hostile record is refused with nothing visible', async () => {
  const r = await tempStore();
  const b = await tempStore();
  await hostile(r.dir, 'evil', '../outside/model.bin');
  await Store.with(r.dir, (s) => makeExperiment(s, 'fine', [mib(1)]));
  await assert.rejects(withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, 'all', { remoteName: 'origin' })), cairnError('BAD_INPUT', /experiment 'evil' in remote 'origin' is unusable: .*not a safe workspace path/));
  assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), [], 'not even the fine one');
});

test('a flipped byte from the remote is refused with nothing visible', async () => {
  const a = await tempStore();
  const r = await tempStore();
  const b = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1), mib(1)]));
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  for (const victim of ['chunk', 'record'] as const) {
    await assert.rejects(
      withStores(b.dir, r.dir, (s, remote) => {
        let flipped = false;
        const tampering: ObjectBackend = {
          ...remote,
          get: async (id) => {
            const o = await remote.get(id);
            if (o.type !== victim || flipped) return o;
            flipped = true;
            const data = Buffer.from(o.data);
            data[data.length >> 1] ^= 1;
            return { type: o.type, data };
          },
        };
        return pullExperiments(s, tampering, ['alpha'], { remoteName: 'origin' });
      }),
      cairnError('BAD_INPUT', /remote 'origin' sent object [0-9a-f]{12} whose bytes do not match its ID/),
    );
    assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), []);
  }
  // Untampered, the same pull works.
  const ok = await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha']));
  assert.equal(ok.experiments[0].action, 'created');
});

test('a remote that finds one of its objects damaged makes the pull refuse it as hostile input (BAD_INPUT), with nothing visible', async () => {
  const a = await tempStore();
  const r = await tempStore();
  const b = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1)]));
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  await assert.rejects(
    withStores(b.dir, r.dir, (s, remote) => {
      const checking: ObjectBackend = {
        ...remote,
        get: async (id) => {
          const o = await remote.get(id);
          if (o.type === 'chunk') throw new CairnError('CORRUPT', `remote file:///r: object ${id.slice(0, 12)} in packs/p is damaged`);
          return o;
        },
      };
      return pullExperiments(s, checking, ['alpha'], { remoteName: 'origin' });
    }),
    cairnError('BAD_INPUT', /remote 'origin' sent damaged data: remote file:\/\/\/r: object [0-9a-f]{12} in packs\/p is damaged/),
  );
  assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), []);
});

test('unknown names: push and pull refuse before sending anything', async () => {
  const a = await tempStore();
  const r = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1)]));
  await assert.rejects(withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha', 'nope'])), cairnError('NOT_FOUND'));
  assert.deepEqual(await Store.with(r.dir, (s) => s.stats().then((x) => x.records)), 0);
  await assert.rejects(withStores(a.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['nope'], { remoteName: 'origin' })), cairnError('NOT_FOUND', /no experiment 'nope' on remote 'origin'/));
});

test('a push planned under the lock is sent from a detached copy while the store is free', async () => {
  const a = await tempStore();
  const r = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1), mib(1)]));
  const rs = await Store.open(r.dir);
  try {
    const remote = storeBackend(rs);
    const { plan, reader } = await Store.with(a.dir, async (s) => {
      const plan = await planPush(s, remote, ['alpha']);
      return { plan, reader: await detachForPush(s, plan) };
    });
    try {
      // Another process may record a checkpoint meanwhile: the lock is free.
      await more(a.dir, 'alpha', 1);
      const sent = await sendPush(reader, remote, plan);
      assert.equal(sent.experiments[0].action, 'created');
      assert.ok(sent.bytes > 2 * 2 ** 20);
    } finally {
      await reader.close();
    }
    // The pushed state is the planned one; the next push fast-forwards to the newer tip.
    assert.equal(await remote.refs.get(expRef('alpha')), plan.experiments[0].state);
    const next = await Store.with(a.dir, (s) => pushExperiments(s, remote, ['alpha']));
    assert.equal(next.experiments[0].action, 'fast-forward');
  } finally {
    await rs.close();
  }
});

test('a pull into a store holding a checkpoint without its objects (an interrupted import) fetches what is missing', async () => {
  const a = await tempStore();
  const r = await tempStore();
  const b = await tempStore();
  const [, tip] = await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1), mib(1)]));
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  // B holds the tip's record alone: the walk stops there the first time.
  const record = await Store.with(a.dir, (s) => s.readObject(tip));
  await Store.with(b.dir, (s) => s.putObject(tip, 'record', record.data));
  const pulled = await withStores(b.dir, r.dir, (s, remote) => pullExperiments(s, remote, ['alpha']));
  assert.equal(pulled.experiments[0].action, 'created');
  assert.deepEqual(await allObjects(b.dir), await allObjects(a.dir));
});

test('an object of another type than its parent links is refused', async () => {
  const a = await tempStore();
  const r = await tempStore();
  const b = await tempStore();
  await Store.with(a.dir, (s) => makeExperiment(s, 'alpha', [mib(1)]));
  await withStores(a.dir, r.dir, (s, remote) => pushExperiments(s, remote, ['alpha']));
  await assert.rejects(
    withStores(b.dir, r.dir, (s, remote) => {
      // A remote that claims its file manifests are chunks (their bytes still hash to their IDs).
      const lying: ObjectBackend = { ...remote, get: async (id) => {
        const o = await remote.get(id);
        return o.type === 'file' ? { type: 'chunk', data: o.data } : o;
      } };
      return pullExperiments(s, lying, ['alpha'], { remoteName: 'origin' });
    }),
    cairnError('BAD_INPUT', /'model.bin' is a file, but object [0-9a-f]{12} is stored as a chunk/),
  );
  assert.deepEqual(await Store.with(b.dir, (s) => s.refs.list()), []);
});
