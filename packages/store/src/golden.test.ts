// The golden vectors of docs/FORMAT.md, read from the document itself, so
// that the document and the encoders cannot drift apart: every vector must
// encode to its bytes and decode to its value, every reject must be refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode, encodeCanonical, sha256 } from './codec.js';
import { isCairnError } from './errors.js';
import { decodeFile, decodeRecord, decodeTree, decodeTreeObject, encodeFile, encodeRecord, encodeTree } from './objects.js';

interface Vector {
  kind: 'vector' | 'reject';
  name: string;
  fields: Record<string, string>;
}

/** The ```golden block of docs/FORMAT.md, as its vectors (format described there). */
function goldenVectors(): Vector[] {
  const doc = readFileSync(new URL('../../../docs/FORMAT.md', import.meta.url), 'utf8');
  const m = /^```golden\n([\s\S]*?)^```$/m.exec(doc);
  assert.ok(m, 'docs/FORMAT.md has a ```golden block');
  const out: Vector[] = [];
  for (const para of m[1].split(/\n\s*\n/)) {
    let last = '';
    const fields: Record<string, string> = {};
    for (const line of para.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^\s/.test(line)) fields[last] += line.trim();
      else {
        const [, key, value] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
        assert.ok(key, `golden line '${line}'`);
        fields[(last = key)] = value;
      }
    }
    if (Object.keys(fields).length === 0) continue;
    const kind = 'vector' in fields ? 'vector' : 'reject';
    assert.ok(kind in fields, `golden entry without a vector or reject line: ${para}`);
    out.push({ kind, name: fields[kind], fields });
  }
  return out;
}

/** JSON as msgpack values: {"bin": hex} is a bin. */
function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'bin') return Buffer.from(o.bin as string, 'hex');
    return Object.fromEntries(keys.map((k) => [k, fromJson(o[k])]));
  }
  return v;
}

const vectors = goldenVectors();
const hexOf = (v: Vector) => Buffer.from(v.fields.bytes.replace(/\s/g, ''), 'hex');

test('the golden block holds the vectors the document promises', () => {
  const names = vectors.map((v) => `${v.kind} ${v.name}`);
  for (const want of ['vector chunk', 'vector file-small', 'vector file-5gib', 'vector tree', 'vector record', 'vector checkpoint', 'reject file-float-size', 'reject record-key-order', 'reject tree-utf16-order']) {
    assert.ok(names.includes(want), `${want} missing from docs/FORMAT.md`);
  }
  for (const v of vectors) assert.ok(['chunk', 'file', 'tree', 'record'].includes(v.fields.type), `${v.name}: type ${v.fields.type}`);
});

for (const v of vectors.filter((x) => x.kind === 'vector')) {
  test(`golden vector ${v.name}: value -> bytes -> value, and its ID`, () => {
    const bytes = hexOf(v);
    assert.equal(sha256(bytes).toString('hex'), v.fields.id, 'id is the SHA-256 of the bytes');
    if (v.fields.type === 'chunk') {
      assert.deepEqual(Buffer.from(JSON.parse(v.fields.value) as string, 'utf8'), bytes);
      return;
    }
    const value = fromJson(JSON.parse(v.fields.value));
    assert.equal(encodeCanonical(value).toString('hex'), bytes.toString('hex'), 'encoding');
    assert.deepEqual(decode(bytes), value, 'decoding');
    // The object encoders give the same bytes from what their decoders return, whatever the input order.
    if (v.fields.type === 'file') {
      assert.equal(encodeFile(decodeFile(bytes, v.name)).toString('hex'), bytes.toString('hex'));
    } else if (v.fields.type === 'tree') {
      const { entries, mode } = decodeTreeObject(bytes, v.name);
      assert.equal(encodeTree([...entries].reverse(), mode).toString('hex'), bytes.toString('hex'));
    } else {
      const { body, links } = decodeRecord(bytes, v.name);
      assert.equal(encodeRecord(body, [...links].reverse()).toString('hex'), bytes.toString('hex'));
    }
  });
}

for (const v of vectors.filter((x) => x.kind === 'reject')) {
  test(`golden reject ${v.name} is refused as corrupt`, () => {
    const bytes = hexOf(v);
    const read = { file: decodeFile, tree: decodeTree, record: decodeRecord }[v.fields.type as 'file' | 'tree' | 'record'];
    assert.throws(() => read(bytes, v.name), (e) => isCairnError(e, 'CORRUPT'));
  });
}
