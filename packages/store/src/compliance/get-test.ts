import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { MISSING_ID, putAll, samples, withBackend, type BackendFactory } from './harness.js';

/** get(): the exact bytes and type put, in the same session and after a reopen. */
export function getTests(name: string, factory: BackendFactory): void {
  test(`${name}: get returns each object's type and exact bytes`, () =>
    withBackend(factory, async (h) => {
      const { all } = samples();
      await putAll(h.backend, all);
      for (const s of all) {
        const got = await h.backend.get(s.id);
        assert.equal(got.type, s.type);
        assert.ok(got.data.equals(s.data), `${s.type} bytes`);
      }
      await h.backend.flush();
      const again = await h.reopen();
      for (const s of all) assert.ok((await again.get(s.id)).data.equals(s.data), `${s.type} bytes after reopen`);
    }));

  test(`${name}: get of a missing object is NOT_FOUND`, () =>
    withBackend(factory, async ({ backend }) => {
      await assert.rejects(backend.get(MISSING_ID), (e) => isCairnError(e, 'NOT_FOUND'));
      await assert.rejects(backend.get('not-an-id'), (e) => isCairnError(e, 'NOT_FOUND'));
    }));
}
