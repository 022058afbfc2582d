import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { MISSING_ID, putAll, samples, withBackend, type BackendFactory } from './harness.js';

/** has() and stat(): what is stored, its type and content size, before and after a flush. */
export function hasStatTests(name: string, factory: BackendFactory): void {
  test(`${name}: has and stat see puts before they are flushed`, () =>
    withBackend(factory, async ({ backend }) => {
      const { all } = samples();
      for (const s of all) assert.equal(await backend.has(s.id), false);
      await putAll(backend, all);
      for (const s of all) {
        assert.equal(await backend.has(s.id), true, s.type);
        assert.deepEqual(await backend.stat(s.id), { id: s.id, type: s.type, size: s.size });
      }
    }));

  test(`${name}: stat gives content sizes: a file's and a tree's content, a record's or chunk's bytes`, () =>
    withBackend(factory, async ({ backend }) => {
      const { small, large, file, tree, record, all } = samples();
      await putAll(backend, all);
      await backend.flush();
      assert.equal((await backend.stat(file.id)).size, small.size + large.size);
      assert.equal((await backend.stat(tree.id)).size, small.size + large.size);
      assert.equal((await backend.stat(record.id)).size, record.data.length);
      assert.equal((await backend.stat(large.id)).size, large.data.length);
    }));

  test(`${name}: has is false and stat NOT_FOUND for what is not stored`, () =>
    withBackend(factory, async ({ backend }) => {
      assert.equal(await backend.has(MISSING_ID), false);
      assert.equal(await backend.has('xyz'), false);
      await assert.rejects(backend.stat(MISSING_ID), (e) => isCairnError(e, 'NOT_FOUND'));
    }));
}
