import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCanonical, sha256, isCairnError } from '@cairn/store';
import { appendCheckpoint, createExperiment, renameExperiment } from './experiments.js';
import { makeCheckpoint, putCheckpoint, shortId, type CheckpointRecord } from './records.js';
import { resolveRef } from './resolve.js';
import { cairnError, makeInput, withStore } from './test-support.js';

const baseline = { deps: {}, params: {} };

test('a checkpoint is found by full ID, by prefix and by experiment name', () =>
  withStore(async (store) => {
    await createExperiment(store, { name: 'run', baseline });
    const c0 = await appendCheckpoint(store, 'run', await makeInput(store));
    const c1 = await appendCheckpoint(store, 'run', await makeInput(store));
    assert.equal(await resolveRef(store, c0.id), c0.id);
    assert.equal(await resolveRef(store, c0.id.toUpperCase()), c0.id);
    assert.equal(await resolveRef(store, shortId(c0.id)), c0.id);
    assert.equal(await resolveRef(store, c1.id.slice(0, 12)), c1.id);
    assert.equal(await resolveRef(store, 'run'), c1.id);
    await renameExperiment(store, 'run', 'renamed');
    assert.equal(await resolveRef(store, 'renamed'), c1.id);
    await assert.rejects(resolveRef(store, 'run'), cairnError('NOT_FOUND', /no experiment or checkpoint 'run'/));

    // A name that is also hex is a name first, as a git branch beats a short hash.
    const hexName = c0.id.slice(0, 4);
    await createExperiment(store, { name: hexName, baseline });
    await assert.rejects(resolveRef(store, hexName), cairnError('NOT_FOUND', /has no checkpoints yet/));
    const h0 = await appendCheckpoint(store, hexName, await makeInput(store));
    assert.equal(await resolveRef(store, hexName), h0.id);
  }));

test('unknown names, short prefixes and IDs of other objects are refused', () =>
  withStore(async (store) => {
    await createExperiment(store, { name: 'run', baseline });
    const c0 = await appendCheckpoint(store, 'run', await makeInput(store));
    await assert.rejects(resolveRef(store, 'nope'), cairnError('NOT_FOUND'));
    await assert.rejects(resolveRef(store, ''), cairnError('BAD_INPUT'));
    await assert.rejects(resolveRef(store, c0.id.slice(0, 3)), (err) => cairnError('NOT_FOUND')(err) && /4 hex/.test((err as { hint: string }).hint));
    const absent = [...'0123456789abcdef'].map((d) => d.repeat(6)).find((p) => !c0.id.startsWith(p))!;
    await assert.rejects(resolveRef(store, absent), cairnError('NOT_FOUND'));
    await assert.rejects(resolveRef(store, 'f'.repeat(64)), cairnError('NOT_FOUND'));
    // The out's file manifest and a foreign record are store objects, but not checkpoints.
    const outId = c0.record.outs['model.pt'].id;
    await assert.rejects(resolveRef(store, outId), cairnError('BAD_INPUT', /not a checkpoint/));
    await assert.rejects(resolveRef(store, outId.slice(0, 10)), cairnError('NOT_FOUND'));
    const other = await store.putRecord({ kind: 'note' });
    await assert.rejects(resolveRef(store, other), cairnError('BAD_INPUT', /not a checkpoint/));
    await assert.rejects(resolveRef(store, other.slice(0, 8)), cairnError('NOT_FOUND'));
  }));

/** The ID the store will give a record without links (its documented encoding), so collisions can be found without writing. */
function predictId(body: unknown): string {
  return sha256(encodeCanonical({ v: 1, body, links: [] })).toString('hex');
}

function bareCheckpoint(i: number): CheckpointRecord {
  return makeCheckpoint({
    experiment: 'x',
    stage: 'train',
    step: 0,
    created: '2026-01-01T00:00:00Z',
    parent: null,
    outs: {},
    deps: {},
    params: {},
    metrics: { i },
    cmd: 'true',
  });
}

test('a prefix shared by checkpoints is ambiguous; one shared with other records is not', () =>
  withStore(async (store) => {
    // Find, by hashing only, two checkpoints with a common 4-digit prefix and a checkpoint sharing one with a non-checkpoint record.
    const seen = new Map<string, { kind: 'cp' | 'note'; i: number }>();
    let twoCheckpoints: [number, number] | undefined;
    let mixed: { cp: number; note: number } | undefined;
    // The two cases must not share a prefix, or the mixed case would be ambiguous too.
    let pairPrefix: string | undefined;
    let mixedPrefix: string | undefined;
    for (let i = 0; !(twoCheckpoints && mixed) && i < 1_000_000; i++) {
      for (const kind of ['cp', 'note'] as const) {
        const p = predictId(kind === 'cp' ? bareCheckpoint(i) : { kind: 'note', i }).slice(0, 4);
        const prev = seen.get(p);
        if (!prev) seen.set(p, { kind, i });
        else if (kind === 'cp' && prev.kind === 'cp' && !twoCheckpoints && p !== mixedPrefix) {
          twoCheckpoints = [prev.i, i];
          pairPrefix = p;
        } else if (kind !== prev.kind && !mixed && p !== pairPrefix) {
          mixed = kind === 'cp' ? { cp: i, note: prev.i } : { cp: prev.i, note: i };
          mixedPrefix = p;
        }
      }
    }
    assert.ok(twoCheckpoints && mixed);
    const a = await putCheckpoint(store, bareCheckpoint(twoCheckpoints[0]));
    const b = await putCheckpoint(store, bareCheckpoint(twoCheckpoints[1]));
    assert.equal(a, predictId(bareCheckpoint(twoCheckpoints[0])), 'the store record encoding changed: update predictId');
    const prefix = a.slice(0, 4);
    await assert.rejects(resolveRef(store, prefix), (err) => {
      assert.ok(isCairnError(err, 'AMBIGUOUS'));
      assert.ok(err.message.includes(shortId(a)) && err.message.includes(shortId(b)), err.message);
      return true;
    });
    assert.equal(await resolveRef(store, a.slice(0, 12)), a);

    const cp = await putCheckpoint(store, bareCheckpoint(mixed.cp));
    const note = await store.putRecord({ kind: 'note', i: mixed.note });
    assert.equal(cp.slice(0, 4), note.slice(0, 4));
    assert.equal(await resolveRef(store, cp.slice(0, 4)), cp);
  }));
