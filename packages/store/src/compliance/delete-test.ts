import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { putAll, samples, withBackend, type BackendFactory } from './harness.js';

/** refs delete: compare-and-swap, NOT_FOUND when absent, and objects stay (only collection removes them). */
export function deleteTests(name: string, factory: BackendFactory): void {
  test(`${name}: deleting a ref removes only the ref`, () =>
    withBackend(factory, async (h) => {
      const { tree, all } = samples();
      await putAll(h.backend, all);
      await h.backend.refs.set('exp/a', tree.id);
      await h.backend.refs.set('exp/b', tree.id);
      await h.backend.refs.delete('exp/a');
      assert.equal(await h.backend.refs.get('exp/a'), null);
      assert.deepEqual(await h.backend.refs.list(), [{ name: 'exp/b', id: tree.id }]);
      const again = await h.reopen();
      assert.equal(await again.refs.get('exp/a'), null);
      for (const s of all) assert.equal(await again.has(s.id), true, s.type);
    }));

  test(`${name}: delete compares and swaps, and a missing ref is NOT_FOUND`, () =>
    withBackend(factory, async ({ backend }) => {
      const { tree, record, all } = samples();
      await putAll(backend, all);
      await backend.refs.set('exp/a', tree.id);
      await assert.rejects(backend.refs.delete('exp/a', record.id), (e) => isCairnError(e, 'CONFLICT'));
      assert.equal(await backend.refs.get('exp/a'), tree.id);
      await backend.refs.delete('exp/a', tree.id);
      await assert.rejects(backend.refs.delete('exp/a'), (e) => isCairnError(e, 'NOT_FOUND'));
    }));
}
