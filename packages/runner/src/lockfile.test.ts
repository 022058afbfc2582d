import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isCairnError } from './errors.js';
import { LOCK_FILE, parseLock, readLock, renderLock, writeLock, type LockState } from './lockfile.js';

const ID = (c: string) => c.repeat(64);
const STATE: LockState = {
  experiment: 'bold-fox',
  checkpoint: ID('a'),
  stage: 'train',
  cmd: 'python train.py --lr 0.1',
  deps: { 'train.py': { id: ID('b'), size: 120, kind: 'file' }, data: { id: ID('c'), size: 4096, kind: 'tree' } },
  params: { 'params.yaml': { lr: 0.1, model: { depth: 3, name: 'resnet' }, tags: ['a', 'b'] } },
  outs: { 'model.pt': { id: ID('d'), size: 1 << 20, kind: 'file', checkpoint: true } },
};

const damaged = (re: RegExp) => (err: unknown) =>
  isCairnError(err, 'BAD_INPUT') && /^cairn\.lock is damaged: /.test((err as Error).message) && re.test((err as Error).message) && /delete cairn\.lock/.test((err as { hint?: string }).hint ?? '');

describe('cairn.lock', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-lockfile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through writeLock and readLock, with a do-not-edit header', async () => {
    await writeLock(dir, STATE);
    const text = await readFile(path.join(dir, LOCK_FILE), 'utf8');
    assert.match(text, /^# Written by cairn: .* Do not edit\.\nschema: "1"\n/);
    assert.deepEqual(await readLock(dir), STATE);
    assert.deepEqual(parseLock(renderLock(STATE)), STATE);
  });

  it('round-trips awkward strings: quotes, colons, newlines, unicode, YAML keywords', () => {
    const s: LockState = { ...STATE, cmd: 'python -c "print(1): #x"\necho \'yes\' ü', stage: 'no', params: { 'p.yaml': { 'a: b': 'null', on: 'true', n: null, e: '' } } };
    assert.deepEqual(parseLock(renderLock(s)), s);
  });

  it('reads no file as null, and fills what older locks left out', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'cairn-lockfile-none-'));
    try {
      assert.equal(await readLock(empty), null);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    assert.deepEqual(parseLock(`schema: "1"\nexperiment: x\ncheckpoint: ${ID('e')}\n`), { experiment: 'x', checkpoint: ID('e'), stage: '', cmd: '', deps: {}, params: {}, outs: {} });
  });

  it('refuses what it cannot use with one clear error saying how to recover', async () => {
    const good = renderLock(STATE);
    const cases: [string, RegExp][] = [
      ['', /expected fields/],
      ['just text', /expected fields/],
      ['- a\n- b\n', /expected fields/],
      [good.replace('schema: "1"', 'schema: "2"'), /expected fields/],
      [good.replace(ID('a'), 'abc'), /expected fields/],
      [good.replace('experiment: bold-fox', 'experiment: [1]'), /expected fields/],
      [good + 'deps: {}\n', /Map keys must be unique/],
      [good.replace('stages: ', '').replace('stage: train', 'stage: [train]'), /'stage' is not a string/],
      [good.replace(/deps:\n(  .*\n)+/, 'deps: [train.py]\n'), /'deps' is not a mapping of path to entry/],
      [good.replace(/deps:\n(  .*\n)+/, 'deps:\n  train.py: 9\n'), /the deps entry 'train\.py' is not \{id, size, kind\}/],
      [good.replace('kind: tree', 'kind: dir'), /the deps entry 'data' is not/],
      [good.replace('checkpoint: true', 'checkpoint: yes please'), /the outs entry 'model\.pt' is not \{id, size, kind, checkpoint\}/],
      [good.replace(/params:\n(  .*\n)+/, 'params:\n  params.yaml: 3\n'), /'params' is not a mapping of file to values/],
      ['a: [1,\n', /^cairn\.lock is damaged: (?!.*\n)/],
      [`schema: "1"\nexperiment: x\ncheckpoint: ${ID('e')}\nstage: ${'['.repeat(1000)}${']'.repeat(1000)}\n`, /nested deeper than 256 levels/],
    ];
    for (const [text, re] of cases) assert.throws(() => parseLock(text), damaged(re), JSON.stringify(text.slice(0, 200)));
    await writeFile(path.join(dir, LOCK_FILE), 'schema: 1\n');
    await assert.rejects(readLock(dir), damaged(/expected fields/));
  });
});
