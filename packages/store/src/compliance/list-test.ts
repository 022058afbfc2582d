import assert from 'node:assert/strict';
import { test } from 'node:test';
import { putAll, samples, withBackend, type BackendFactory } from './harness.js';
import type { ObjectStat } from '../types.js';

async function collect(it: AsyncIterable<ObjectStat>): Promise<ObjectStat[]> {
  const out: ObjectStat[] = [];
  for await (const s of it) out.push(s);
  return out;
}

/** list(): every flushed object once, in ID order, filtered by type. */
export function listTests(name: string, factory: BackendFactory): void {
  test(`${name}: an empty backend lists nothing`, () =>
    withBackend(factory, async ({ backend }) => {
      assert.deepEqual(await collect(backend.list()), []);
    }));

  test(`${name}: list gives every flushed object once, in ID order, and filters by type`, () =>
    withBackend(factory, async (h) => {
      const { all } = samples();
      await putAll(h.backend, all);
      await putAll(h.backend, all);
      await h.backend.flush();
      const expected = all.map((s) => ({ id: s.id, type: s.type, size: s.size })).sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.deepEqual(await collect(h.backend.list()), expected);
      assert.deepEqual(await collect(h.backend.list({ types: ['chunk'] })), expected.filter((s) => s.type === 'chunk'));
      assert.deepEqual(await collect(h.backend.list({ types: ['tree', 'record'] })), expected.filter((s) => s.type === 'tree' || s.type === 'record'));
      assert.deepEqual(await collect((await h.reopen()).list()), expected);
    }));
}
