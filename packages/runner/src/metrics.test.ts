import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CairnError } from './errors.js';
import { flatten, mergeMetrics, readMetrics } from './metrics.js';

describe('readMetrics', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-metrics-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = (f: string, t: string) => writeFile(path.join(dir, f), t);

  it('reads JSON and YAML, nested as in the file', async () => {
    await write('m.json', '{"acc": 0.9, "train": {"loss": 0.1, "ok": true}, "name": "x"}');
    await write('m.yaml', 'val:\n  acc: 0.8\nepoch: 3\n');
    assert.deepEqual(await readMetrics(dir, ['m.json', 'm.yaml', 'missing.json']), {
      'm.json': { acc: 0.9, train: { loss: 0.1, ok: true }, name: 'x' },
      'm.yaml': { val: { acc: 0.8 }, epoch: 3 },
    });
  });

  it("takes Python's NaN and Infinity", async () => {
    await write('nan.json', '{"loss": NaN, "best": -Infinity, "s": "NaN", "l": [Infinity]}');
    const m = (await readMetrics(dir, ['nan.json']))['nan.json'];
    assert.ok(Number.isNaN(m.loss));
    assert.equal(m.best, -Infinity);
    assert.equal(m.s, 'NaN');
    assert.deepEqual(m.l, [Infinity]);
  });

  it('names the file and line of a malformed file', async () => {
    await write('bad.json', '{\n  "acc": 0.9,\n  "loss": \n}\n');
    await assert.rejects(
      readMetrics(dir, ['bad.json']),
      (e: unknown) => e instanceof CairnError && e.code === 'BAD_INPUT' && /^bad\.json:4: malformed metrics JSON: unexpected '}'$/.test(e.message),
    );
    await write('trunc.json', '{"acc": 0.9, "lo');
    await assert.rejects(readMetrics(dir, ['trunc.json']), /^CairnError: trunc\.json:1: malformed metrics JSON: unterminated string$/);
    await write('bad.yaml', 'acc: [1\nb: 2\n');
    await assert.rejects(readMetrics(dir, ['bad.yaml']), (e: unknown) => e instanceof CairnError && /^bad\.yaml:\d+: malformed metrics YAML/.test(e.message));
    await write('arr.json', '[1, 2]');
    await assert.rejects(readMetrics(dir, ['arr.json']), /arr\.json: metrics file must hold a mapping/);
  });

  it('is NOT_FOUND for a missing file only when required', async () => {
    await assert.rejects(readMetrics(dir, ['none.json'], { required: true }), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND');
  });
});

describe('flatten', () => {
  it('joins nested keys with dots and keeps lists as leaves', () => {
    assert.deepEqual(flatten({ a: 1, b: { c: 2, d: { e: 'x' } }, l: [1, { z: 1 }], empty: {} }), { a: 1, 'b.c': 2, 'b.d.e': 'x', l: [1, { z: 1 }] });
  });
  it('merges files without losing a clashing key', () => {
    assert.deepEqual(mergeMetrics({ 'a.json': { acc: 1, t: { x: 1 } }, 'b.json': { acc: 2 } }), { acc: 1, 't.x': 1, 'b.json:acc': 2 });
  });
});
