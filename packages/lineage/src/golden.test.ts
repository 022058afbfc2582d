// The checkpoint golden vector of docs/FORMAT.md, read from the document: a
// checkpoint built by lineage's own code must be stored as exactly those
// bytes (and ID), and those bytes must read back as the same checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { makeCheckpoint, putCheckpoint, readCheckpoint, type CheckpointRecord } from './records.js';
import { withStore } from './test-support.js';

/** One vector of the document's ```golden block, by name (format described in docs/FORMAT.md, "Golden vectors"). */
function goldenVector(name: string): Record<string, string> {
  const doc = readFileSync(new URL('../../../docs/FORMAT.md', import.meta.url), 'utf8');
  const block = /^```golden\n([\s\S]*?)^```$/m.exec(doc);
  assert.ok(block, 'docs/FORMAT.md has a ```golden block');
  for (const para of block[1].split(/\n\s*\n/)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of para.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^\s/.test(line)) fields[last] += line.trim();
      else {
        const m = /^(\S+)\s+(.*)$/.exec(line);
        assert.ok(m, `golden line '${line}'`);
        fields[(last = m[1])] = m[2];
      }
    }
    if (fields.vector === name) return fields;
  }
  assert.fail(`no golden vector '${name}' in docs/FORMAT.md`);
}

const golden = goldenVector('checkpoint');
const bytes = Buffer.from(golden.bytes, 'hex');
/** The record's body: in the JSON, record bodies hold no bin values (IDs in bodies are hex strings). */
const body = (JSON.parse(golden.value) as { body: CheckpointRecord }).body;

test('a checkpoint made by lineage is stored as the golden bytes, under the golden ID', async () => {
  assert.equal(golden.type, 'record');
  assert.equal(createHash('sha256').update(bytes).digest('hex'), golden.id);
  const { kind: _kind, version: _version, ...fields } = body;
  const record = makeCheckpoint(fields);
  await withStore(async (store) => {
    // A record is only stored once what it links to is: the vector's IDs are those of chunks holding these words.
    for (const word of ['parent', 'model', 'train.py', 'data', 'metrics.json']) await store.putBuffer(Buffer.from(word));
    const id = await putCheckpoint(store, record);
    assert.equal(id, golden.id);
    assert.equal((await store.readObject(id)).data.toString('hex'), golden.bytes);
  });
});

test('the golden bytes read back as the golden checkpoint', async () => {
  await withStore(async (store) => {
    await store.putObject(golden.id, 'record', bytes);
    assert.deepEqual(await readCheckpoint(store, golden.id), body);
    const { links } = await store.getRecord(golden.id);
    const ids = [body.parent, ...Object.values(body.outs), ...Object.values(body.deps), ...Object.values(body.metricsFiles ?? {})].map((x) => (typeof x === 'string' ? x : x!.id));
    assert.deepEqual(links, [...new Set(ids)].sort(), 'links: parent, outs, deps and metrics files, sorted');
  });
});
