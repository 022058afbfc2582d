import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { putAll, samples, withBackend, type BackendFactory } from './harness.js';

/** refs get/set/list: compare-and-swap, nested names, durable with what they name. */
export function refsTests(name: string, factory: BackendFactory): void {
  test(`${name}: refs set, get and compare-and-swap`, () =>
    withBackend(factory, async ({ backend }) => {
      const { tree, record, all } = samples();
      await putAll(backend, all);
      assert.equal(await backend.refs.get('exp/a'), null);
      await backend.refs.set('exp/a', tree.id, null);
      assert.equal(await backend.refs.get('exp/a'), tree.id);
      await assert.rejects(backend.refs.set('exp/a', record.id, null), (e) => isCairnError(e, 'CONFLICT'));
      await assert.rejects(backend.refs.set('exp/a', record.id, record.id), (e) => isCairnError(e, 'CONFLICT'));
      await backend.refs.set('exp/a', record.id, tree.id);
      assert.equal(await backend.refs.get('exp/a'), record.id);
      await backend.refs.set('exp/a', tree.id);
      assert.equal(await backend.refs.get('exp/a'), tree.id);
    }));

  test(`${name}: refs refuse what is not a full ID`, () =>
    withBackend(factory, async ({ backend }) => {
      await assert.rejects(backend.refs.set('exp/a', 'abc123'), (e) => isCairnError(e, 'BAD_INPUT'));
    }));

  test(`${name}: refs list by prefix, sorted, and a ref and what it names survive a reopen without a flush`, () =>
    withBackend(factory, async (h) => {
      const { tree, record, all } = samples();
      await putAll(h.backend, all);
      await h.backend.refs.set('exp/b', record.id);
      await h.backend.refs.set('exp/a', tree.id);
      await h.backend.refs.set('base/x', tree.id);
      assert.deepEqual(await h.backend.refs.list('exp/'), [
        { name: 'exp/a', id: tree.id },
        { name: 'exp/b', id: record.id },
      ]);
      assert.equal((await h.backend.refs.list()).length, 3);
      // A ref change flushes first: what the ref names is durable with it.
      const again = await h.reopen();
      assert.equal(await again.refs.get('exp/b'), record.id);
      for (const s of all) assert.equal(await again.has(s.id), true, s.type);
    }));
}
