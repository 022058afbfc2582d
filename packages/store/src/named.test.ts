import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNamed, CairnError, findStore, isCairnError, resolveObject, Store } from './index.js';

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-named-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('addNamed names what it stores; resolveObject finds it by ID, prefix and name', () =>
  withTemp(async (dir) => {
    await Store.init(join(dir, 's'));
    await writeFile(join(dir, 'a'), 'alpha');
    await Store.with(join(dir, 's'), async (store) => {
      const named = await addNamed(store, join(dir, 'a'), { name: 'best' });
      assert.equal(named.ref, 'store/best');
      assert.equal(named.type, 'file');
      assert.equal(named.size, 5);
      const anon = await addNamed(store, join(dir, 'a'));
      assert.equal(anon.ref, `store/${anon.id}`);
      assert.equal(await resolveObject(store, named.id), named.id);
      assert.equal(await resolveObject(store, named.id.slice(0, 8)), named.id);
      assert.equal(await resolveObject(store, 'best'), named.id);
      const err = await resolveObject(store, 'nothing').catch((e: unknown) => e);
      assert.ok(isCairnError(err, 'NOT_FOUND'));
      assert.equal(err.fields.name, 'nothing');
    });
  }));

test('an invalid name is refused before anything is stored', () =>
  withTemp(async (dir) => {
    await Store.init(join(dir, 's'));
    await writeFile(join(dir, 'a'), 'never stored');
    await Store.with(join(dir, 's'), async (store) => {
      const err = await addNamed(store, join(dir, 'a'), { name: '../x' }).catch((e: unknown) => e);
      assert.ok(isCairnError(err, 'BAD_INPUT'));
      assert.equal(err.fields.name, '../x');
      assert.equal((await store.stats()).files, 0);
    });
  }));

test('an ambiguous prefix names its candidates in fields.matches', () =>
  withTemp(async (dir) => {
    await Store.init(join(dir, 's'));
    await Store.with(join(dir, 's'), async (store) => {
      // Records until two IDs share their first 4 hex digits (a few hundred, by the birthday bound).
      const byPrefix = new Map<string, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; !pair; i++) {
        const id = await store.putRecord({ n: i });
        const other = byPrefix.get(id.slice(0, 4));
        if (other) pair = [other, id];
        byPrefix.set(id.slice(0, 4), id);
      }
      const err = await resolveObject(store, pair[0].slice(0, 4)).catch((e: unknown) => e);
      assert.ok(isCairnError(err, 'AMBIGUOUS'));
      assert.equal(err.fields.id, pair[0].slice(0, 4));
      assert.deepEqual([...(err.fields.matches ?? [])].sort(), [...pair].sort());
    });
  }));

test('findStore: CAIRN_STORE, then the nearest .cairn/ up, redirected by its config.yaml', () =>
  withTemp(async (dir) => {
    const deep = join(dir, 'proj', 'src', 'deep');
    await mkdir(deep, { recursive: true });
    assert.throws(() => findStore(deep, {}), (e: unknown) => isCairnError(e, 'NOT_FOUND') && /no cairn store here/.test((e as Error).message));
    await mkdir(join(dir, 'proj', '.cairn'));
    assert.equal(findStore(deep, {}), join(dir, 'proj', '.cairn'));
    assert.equal(findStore(deep, { CAIRN_STORE: '../elsewhere' }), join(dir, 'proj', 'src', 'elsewhere'));
    assert.equal(findStore(deep, { CAIRN_STORE: '' }), join(dir, 'proj', '.cairn'));
    await writeFile(join(dir, 'proj', '.cairn', 'config.yaml'), 'store: ../shared-store\n');
    assert.equal(findStore(deep, {}), join(dir, 'shared-store'));
    await writeFile(join(dir, 'proj', '.cairn', 'config.yaml'), 'store: 3\n');
    const err = (() => {
      try {
        findStore(deep, {});
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof CairnError && err.code === 'BAD_INPUT');
    assert.equal(err.fields.path, join(dir, 'proj', '.cairn', 'config.yaml'));
  }));

test('CairnError.toJSON carries code, message, hint and fields', () => {
  const e = new CairnError('LOCKED', 'held', { hint: 'wait', fields: { ref: 'exp/a', pid: 42 } });
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'LOCKED', message: 'held', hint: 'wait', ref: 'exp/a', pid: 42 });
});
