import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCairnError } from '../errors.js';
import { bytes, putAll, samples, withBackend, type BackendFactory } from './harness.js';

/** put(): checked, idempotent, durable once flushed. */
export function putTests(name: string, factory: BackendFactory): void {
  test(`${name}: put stores each type once and says whether it was new`, () =>
    withBackend(factory, async ({ backend }) => {
      for (const s of samples().all) {
        assert.equal(await backend.put(s.id, s.type, s.data), true, `${s.type} new`);
        assert.equal(await backend.put(s.id, s.type, s.data), false, `${s.type} again`);
      }
    }));

  test(`${name}: put refuses bytes that do not hash to the ID, and writes nothing`, () =>
    withBackend(factory, async ({ backend }) => {
      const { small, large } = samples();
      for (const s of [small, large]) {
        const wrong = Buffer.from(s.data);
        wrong[wrong.length - 1] ^= 1;
        await assert.rejects(backend.put(s.id, 'chunk', wrong), (e) => isCairnError(e, 'BAD_INPUT'));
        assert.equal(await backend.has(s.id), false);
      }
    }));

  test(`${name}: put refuses what is not an ID, or bytes that do not decode as their type`, () =>
    withBackend(factory, async ({ backend }) => {
      const { small } = samples();
      await assert.rejects(backend.put('abc', 'chunk', small.data), (e) => isCairnError(e, 'BAD_INPUT'));
      // Any bytes are a chunk; few are a file manifest.
      await assert.rejects(backend.put(small.id, 'file', small.data), (e) => isCairnError(e, 'BAD_INPUT'));
      await assert.rejects(backend.put(small.id, 'record', small.data), (e) => isCairnError(e, 'BAD_INPUT'));
    }));

  test(`${name}: overlapping puts all land`, () =>
    withBackend(factory, async ({ backend }) => {
      const chunks = Array.from({ length: 12 }, (_, i) => bytes(i % 2 ? 90 * 1024 : 300, 100 + i));
      const { createHash } = await import('node:crypto');
      const ids = chunks.map((c) => createHash('sha256').update(c).digest('hex'));
      assert.deepEqual(await Promise.all(chunks.map((c, i) => backend.put(ids[i], 'chunk', c))), ids.map(() => true));
      for (const [i, id] of ids.entries()) assert.ok((await backend.get(id)).data.equals(chunks[i]));
    }));

  test(`${name}: flushed puts survive a reopen`, () =>
    withBackend(factory, async (h) => {
      const { all } = samples();
      await putAll(h.backend, all);
      await h.backend.flush();
      const again = await h.reopen();
      for (const s of all) assert.equal(await again.has(s.id), true, s.type);
    }));
}
