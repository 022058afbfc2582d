// The canonical msgpack rules of docs/FORMAT.md, one per test, and the
// reader's refusal of every other encoding of the same value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encodeCanonical } from './codec.js';
import { isCairnError } from './errors.js';
import { decodeTree, encodeTree } from './objects.js';

const hex = (v: unknown) => encodeCanonical(v).toString('hex');
const refused = (h: string) => assert.throws(() => decode(Buffer.from(h, 'hex')), (e) => isCairnError(e, 'CORRUPT'), h);

test('integers take the smallest form, uint64 from 2^32; other numbers are float64', () => {
  assert.equal(hex(0), '00');
  assert.equal(hex(-0), '00');
  assert.equal(hex(127), '7f');
  assert.equal(hex(128), 'cc80');
  assert.equal(hex(65536), 'ce00010000');
  assert.equal(hex(2 ** 32), 'cf0000000100000000');
  assert.equal(hex(Number.MAX_SAFE_INTEGER), 'cf001fffffffffffff');
  assert.equal(hex(2 ** 53), 'cb4340000000000000', 'beyond 2^53 - 1 a number is a float');
  assert.equal(hex(-1), 'ff');
  assert.equal(hex(-33), 'd0df');
  assert.equal(hex(-(2 ** 32)), 'd3ffffffff00000000');
  assert.equal(hex(0.5), 'cb3fe0000000000000');
  for (const n of [0, 1, -1, 200, 2 ** 32, 2 ** 40 + 3, -(2 ** 31) - 1, 0.25]) assert.equal(decode(encodeCanonical(n)), n);
  assert.throws(() => encodeCanonical(NaN), (e) => isCairnError(e, 'BAD_INPUT'));
});

test('map keys are sorted by their UTF-8 bytes, not in JavaScript property order', () => {
  // JS puts "9" before "10" (integer-like keys first); bytes put "10" first.
  assert.equal(hex({ 9: 1, 10: 2, a: 3 }), '83a2313002a13901a16103');
  // U+FF21 (EF BC A1) before U+1F600 (F0 9F 98 80), which UTF-16 order reverses.
  assert.equal(hex({ '\u{1F600}': 1, '\uff21': 2 }), '82a3efbca102a4f09f988001');
  assert.equal(hex({ a: undefined, b: null }), '81a162c0', 'undefined values are left out');
});

test('strings are str, bytes are bin, both with the shortest length header', () => {
  assert.equal(hex('a'.repeat(31)).slice(0, 2), 'bf');
  assert.equal(hex('a'.repeat(32)).slice(0, 4), 'd920');
  assert.equal(hex(Buffer.from([1, 2])), 'c4020102');
  assert.equal(hex(new Array(16).fill(0)).slice(0, 6), 'dc0010');
  assert.throws(() => encodeCanonical('\ud800'), (e) => isCairnError(e, 'BAD_INPUT'), 'a lone surrogate has no UTF-8 form');
  assert.throws(() => encodeCanonical(new Date(0)), (e) => isCairnError(e, 'BAD_INPUT'));
  assert.throws(() => encodeCanonical(new Map()), (e) => isCairnError(e, 'BAD_INPUT'));
  assert.throws(() => encodeCanonical(1n), (e) => isCairnError(e, 'BAD_INPUT'));
});

test('the reader refuses every non-canonical encoding of a value', () => {
  refused('cb41f0000000000000'); // 2^32 as float64 (what msgpackr writes)
  refused('cc05'); // 5 as uint8
  refused('ce00000005'); // 5 as uint32
  refused('cf00000000ffffffff'); // 2^32 - 1 as uint64
  refused('d001'); // 1 as int8
  refused('ca3f000000'); // 0.5 as float32
  refused('cb3ff0000000000000'); // 1 as float64
  refused('cb8000000000000000'); // -0.0
  refused('cf0020000000000001'); // 2^53 + 1: not a JS number
  refused('82a13901a2313002'); // keys "9", "10" unsorted
  refused('82a16101a16102'); // duplicate key
  refused('d90161'); // "a" as str8
  refused('c50001ff'); // bin16 for one byte
  refused('dc000100'); // array16 for one element
  refused('a2c328'); // invalid UTF-8 in a str
  refused('81c4016101'); // a bin map key
  refused('0000'); // bytes after the value
  refused('d6000000000000'); // extension types are not part of the format
  refused('c1');
  refused('');
  assert.deepEqual(decode(Buffer.from('83a2313002a13901a16103', 'hex')), { 10: 2, 9: 1, a: 3 });
});

test('a tree whose entries are out of byte order, or repeated, is refused', () => {
  const id = Buffer.alloc(32, 1);
  const entry = (name: string) => ({ exec: false, id, kind: 'file', name, size: 1 });
  const good = encodeTree(['9', '10'].map((name) => ({ name, kind: 'file', id: id.toString('hex'), size: 1, exec: false })));
  assert.deepEqual(decodeTree(good, 't').map((e) => e.name), ['10', '9']);
  assert.throws(() => decodeTree(encodeCanonical({ v: 1, entries: [entry('9'), entry('10')] }), 't'), /not sorted by name bytes/);
  assert.throws(() => decodeTree(encodeCanonical({ v: 1, entries: [entry('\u{1F600}'), entry('\uff21')] }), 't'), /not sorted/, 'UTF-16 order');
  assert.throws(() => decodeTree(encodeCanonical({ v: 1, entries: [entry('a'), entry('a')] }), 't'), /duplicate/);
});
