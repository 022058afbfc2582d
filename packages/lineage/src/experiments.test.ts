import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendCheckpoint,
  chain,
  createExperiment,
  getExperiment,
  listExperiments,
  removeExperiment,
  removeExperiments,
  renameExperiment,
} from './experiments.js';
import { ancestors, commonAncestor, isAncestor } from './graph.js';
import { CHECKPOINT_KIND, readCheckpoint, getBaseline } from './records.js';
import { cairnError, fileEntry, makeInput, withStore } from './test-support.js';

const baseline = { deps: {}, params: { 'params.yaml': { lr: 0.1 } } };

test('a fresh experiment counts steps from 0 and links each checkpoint to its parent', () =>
  withStore(async (store) => {
    const exp = await createExperiment(store, { baseline });
    assert.match(exp.name, /^exp-[0-9a-f]{5}$/);
    assert.equal(exp.tip, null);
    assert.equal(exp.checkpoints, 0);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await appendCheckpoint(store, exp.name, await makeInput(store, { metrics: { acc: i / 10 } }));
      assert.equal(r.step, i);
      assert.equal(r.record.step, i);
      ids.push(r.id);
    }
    const c = await chain(store, exp.name);
    assert.deepEqual(
      c.map((e) => e.id),
      [...ids].reverse(),
    );
    const first = await readCheckpoint(store, ids[0]);
    assert.equal(first.kind, CHECKPOINT_KIND);
    assert.equal(first.version, 1);
    assert.equal(first.parent, null);
    assert.equal(first.experiment, exp.name);
    assert.match(first.created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const second = await store.getRecord<unknown>(ids[1]);
    // gc must keep the parent and every out and dep alive through the links.
    const rec = await readCheckpoint(store, ids[1]);
    assert.deepEqual(new Set(second.links), new Set([ids[0], rec.outs['model.pt'].id, rec.deps['train.py'].id]));
    const got = await getExperiment(store, exp.name);
    assert.equal(got.tip, ids[2]);
    assert.equal(got.first, ids[0]);
    assert.equal(got.from, null);
    assert.equal(got.checkpoints, 3);
    assert.deepEqual(await ancestors(store, ids[2]), [ids[1], ids[0]]);
  }));

test('a chain started from a checkpoint goes on from its step + 1 and shares its baseline', () =>
  withStore(async (store) => {
    const { deps, params } = await makeInput(store);
    const a = await createExperiment(store, { name: 'a', baseline: { deps, params } });
    const aIds: string[] = [];
    for (let i = 0; i < 4; i++) aIds.push((await appendCheckpoint(store, 'a', await makeInput(store, { metrics: { i } }))).id);
    const b = await createExperiment(store, { name: 'b', from: aIds[1] });
    assert.equal(b.from, aIds[1]);
    // Same deps and params as a's start, so the same baseline record.
    assert.equal(b.baseline, a.baseline);
    const b0 = await appendCheckpoint(store, 'b', await makeInput(store));
    assert.equal(b0.step, 2);
    assert.equal(b0.record.parent, aIds[1]);
    const b1 = await appendCheckpoint(store, 'b', await makeInput(store));
    assert.equal(b1.step, 3);
    // b's chain holds only its own checkpoints; a's are reached through ancestors.
    assert.deepEqual(
      (await chain(store, 'b')).map((e) => e.id),
      [b1.id, b0.id],
    );
    assert.deepEqual(await ancestors(store, b1.id), [b0.id, aIds[1], aIds[0]]);
    assert.equal(await commonAncestor(store, b1.id, aIds[3]), aIds[1]);
    assert.equal(await commonAncestor(store, aIds[3], aIds[1]), aIds[1]);
    assert.equal(await isAncestor(store, aIds[0], b1.id), true);
    assert.equal(await isAncestor(store, aIds[2], b1.id), false);

    // A branch of a branch: steps keep counting along the parent chain.
    await createExperiment(store, { name: 'c', from: b0.id });
    assert.equal((await appendCheckpoint(store, 'c', await makeInput(store))).step, 3);

    const fresh = await createExperiment(store, { name: 'd', baseline: { deps: {}, params: { 'params.yaml': { lr: 0.3 } } } });
    assert.notEqual(fresh.baseline, a.baseline);
    assert.equal((await appendCheckpoint(store, 'd', await makeInput(store))).step, 0);
    assert.equal(await commonAncestor(store, (await getExperiment(store, 'd')).tip!, aIds[3]), null);
    assert.deepEqual((await getBaseline(store, fresh.baseline)).params, { 'params.yaml': { lr: 0.3 } });
    const listed = await listExperiments(store);
    assert.deepEqual(
      Object.fromEntries(listed.map((l) => [l.name, [l.checkpoints, l.parent]])),
      { a: [4, null], b: [2, aIds[1]], c: [1, b0.id], d: [1, null] },
    );
  }));

test('bad names, names in use, missing baselines and unknown experiments are refused clearly', () =>
  withStore(async (store) => {
    for (const name of ['', '-x', '.hidden', 'a/b', 'a b', 'x'.repeat(101), 'ref.lock']) {
      await assert.rejects(createExperiment(store, { name, baseline }), cairnError('BAD_INPUT', /invalid experiment name/));
    }
    await createExperiment(store, { name: 'x'.repeat(100), baseline });
    await createExperiment(store, { name: 'taken', baseline });
    await assert.rejects(createExperiment(store, { name: 'taken', baseline }), cairnError('BAD_INPUT', /'taken' is already in use/));
    await assert.rejects(createExperiment(store, { name: 'nobase' }), cairnError('BAD_INPUT', /baseline/));
    await assert.rejects(appendCheckpoint(store, 'ghost', await makeInput(store)), cairnError('NOT_FOUND', /no experiment named 'ghost'/));
    await assert.rejects(getExperiment(store, 'ghost'), cairnError('NOT_FOUND'));
    const unknown = 'f'.repeat(64);
    await assert.rejects(createExperiment(store, { name: 'y', from: unknown }), cairnError('NOT_FOUND'));
    const notCheckpoint = await store.putRecord({ kind: 'other' });
    await assert.rejects(createExperiment(store, { name: 'y', from: notCheckpoint }), cairnError('BAD_INPUT', /not a checkpoint/));
    // Inputs the canonical encoder would mangle are refused, not stored.
    await assert.rejects(
      appendCheckpoint(store, 'taken', await makeInput(store, { metrics: { when: new Date() } as never })),
      cairnError('BAD_INPUT', /metrics\.when/),
    );
    await assert.rejects(appendCheckpoint(store, 'taken', await makeInput(store, { metrics: { acc: NaN } })), cairnError('BAD_INPUT'));
    const dep = await fileEntry(store, 'x');
    await assert.rejects(
      appendCheckpoint(store, 'taken', await makeInput(store, { deps: { 'a.py': { ...dep, kind: 'blob' as never } } })),
      cairnError('BAD_INPUT', /deps entry for 'a.py'/),
    );
    assert.equal((await getExperiment(store, 'taken')).checkpoints, 0);
  }));

test('rename moves the name, keeps the checkpoints and refuses a name in use', () =>
  withStore(async (store) => {
    await createExperiment(store, { name: 'old', baseline });
    const first = await appendCheckpoint(store, 'old', await makeInput(store));
    await createExperiment(store, { name: 'other', baseline });
    await assert.rejects(renameExperiment(store, 'old', 'other'), cairnError('BAD_INPUT', /'other' is already in use/));
    await assert.rejects(renameExperiment(store, 'ghost', 'new'), cairnError('NOT_FOUND'));
    await assert.rejects(renameExperiment(store, 'old', 'bad/name'), cairnError('BAD_INPUT'));
    await renameExperiment(store, 'old', 'new');
    await assert.rejects(getExperiment(store, 'old'), cairnError('NOT_FOUND'));
    const e = await getExperiment(store, 'new');
    assert.equal(e.tip, first.id);
    const next = await appendCheckpoint(store, 'new', await makeInput(store));
    assert.equal(next.step, 1);
    assert.equal(next.record.experiment, 'new');
    // The record keeps the name it was made under.
    assert.equal((await readCheckpoint(store, first.id)).experiment, 'old');
    assert.deepEqual((await listExperiments(store)).map((l) => l.name).sort(), ['new', 'other']);
  }));

test('removing an experiment keeps the checkpoints another experiment descends from', () =>
  withStore(async (store) => {
    await createExperiment(store, { name: 'a', baseline });
    const a0 = await appendCheckpoint(store, 'a', await makeInput(store, { model: 'a0' }));
    const a1 = await appendCheckpoint(store, 'a', await makeInput(store, { model: 'a1' }));
    const a2 = await appendCheckpoint(store, 'a', await makeInput(store, { model: 'a2' }));
    await createExperiment(store, { name: 'b', from: a1.id });
    const b0 = await appendCheckpoint(store, 'b', await makeInput(store, { model: 'b0' }));
    await createExperiment(store, { name: 'c', baseline });

    await assert.rejects(removeExperiments(store, ['c', 'ghost']), cairnError('NOT_FOUND', /'ghost'; nothing was removed/));
    assert.equal((await listExperiments(store)).length, 3);

    await removeExperiment(store, 'a');
    await assert.rejects(getExperiment(store, 'a'), cairnError('NOT_FOUND'));
    await store.gc();
    // a0 and a1 are b's history; a2 belonged to a alone.
    for (const r of [a0, a1, b0]) {
      assert.equal(await store.has(r.id), true);
      assert.equal(await store.has(r.record.outs['model.pt'].id), true);
    }
    assert.equal(await store.has(a2.id), false);
    assert.equal(await store.has(a2.record.outs['model.pt'].id), false);
    assert.deepEqual(await ancestors(store, b0.id), [a1.id, a0.id]);
    assert.equal((await appendCheckpoint(store, 'b', await makeInput(store))).step, 3);

    assert.deepEqual(await removeExperiments(store, ['b', 'c', 'b']), ['b', 'c']);
    assert.deepEqual(await listExperiments(store), []);
  }));

test('two writers racing on one experiment never lose a checkpoint', () =>
  withStore(async (store) => {
    await createExperiment(store, { name: 'race', baseline });
    const base = await appendCheckpoint(store, 'race', await makeInput(store));

    // Two runs that both saw `base` as the tip: the second must not silently build on the first.
    const w1 = await makeInput(store, { model: 'w1' });
    const w2 = await makeInput(store, { model: 'w2' });
    const first = await appendCheckpoint(store, 'race', w1, { expectTip: base.id });
    await assert.rejects(appendCheckpoint(store, 'race', w2, { expectTip: base.id }), cairnError('CONFLICT', /moved on/));
    assert.deepEqual(
      (await chain(store, 'race')).map((c) => c.id),
      [first.id, base.id],
    );

    // Concurrent appends in one process are serialized: every one lands, steps stay consecutive.
    // (Inputs are made one by one: the store itself does not take concurrent puts.)
    const inputs = [];
    for (const i of [1, 2, 3, 4, 5]) inputs.push(await makeInput(store, { model: `c${i}` }));
    const results = await Promise.all(inputs.map((inp) => appendCheckpoint(store, 'race', inp)));
    assert.deepEqual(results.map((r) => r.step).sort(), [2, 3, 4, 5, 6]);
    const c = await chain(store, 'race');
    assert.equal(c.length, 7);
    assert.deepEqual(
      c.map((e) => e.record.step),
      [6, 5, 4, 3, 2, 1, 0],
    );

    // A writer outside lineage moves the ref between our read and our write: the compare-and-swap catches it.
    const before = await store.refs.get('exp/race');
    const rogue = await store.putRecord({ kind: 'rogue' });
    const realSet = store.refs.set.bind(store.refs);
    store.refs.set = async (name, id, expected) => {
      store.refs.set = realSet;
      await realSet(name, rogue);
      return realSet(name, id, expected);
    };
    await assert.rejects(appendCheckpoint(store, 'race', await makeInput(store)), cairnError('CONFLICT', /another writer/));
    assert.notEqual(before, rogue);
    assert.equal(await store.refs.get('exp/race'), rogue);
  }));
