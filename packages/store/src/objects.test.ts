// Tree and file-manifest encoding: names as bytes, permission bits, and the
// decoder's refusal of hostile trees (docs/FORMAT.md, "Objects").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeCanonical, decode } from './codec.js';
import { isCairnError } from './errors.js';
import { decodeFile, decodeTree, decodeTreeObject, encodeFile, encodeTree, entryNameBytes } from './objects.js';
import type { TreeEntry } from './types.js';

const ID = Buffer.alloc(32, 7);
const id = ID.toString('hex');
const file = (name: string, rawName?: Buffer): TreeEntry => ({ name, ...(rawName ? { rawName } : {}), kind: 'file', id, size: 1, exec: false });
/** A tree's bytes built by hand, as a hostile or foreign writer could. */
const rawTree = (entries: unknown[], extra: Record<string, unknown> = {}) => encodeCanonical({ v: 1, entries, ...extra });
const rawEntry = (name: unknown, more: Record<string, unknown> = {}) => ({ name, kind: 'file', id: ID, size: 1, exec: false, ...more });
const corrupt = (e: unknown) => isCairnError(e, 'CORRUPT');

test('UTF-8 names are msgpack strings, others binary; both come back as the same bytes', () => {
  const odd = Buffer.from([0x66, 0xff, 0x2e, 0x62, 0x69, 0x6e]);
  const bytes = encodeTree([file('plain.txt'), file('f\ufffd.bin', odd)]);
  const raw = decode(bytes) as { entries: Array<{ name: unknown }> };
  assert.equal(raw.entries.find((e) => typeof e.name === 'string')?.name, 'plain.txt');
  assert.deepEqual(Buffer.from(raw.entries.find((e) => typeof e.name !== 'string')!.name as Uint8Array), odd);
  const back = decodeTree(bytes, 't');
  assert.deepEqual(back.map((e) => entryNameBytes(e)), [Buffer.from('f\xff.bin', 'latin1'), Buffer.from('plain.txt')]);
  assert.equal(back[0].name, 'f\ufffd.bin', 'a display form for code that wants a string');
  assert.equal(back[1].rawName, undefined, 'UTF-8 names carry no raw bytes');
  // A rawName that happens to be UTF-8 is stored as the string: one encoding per name.
  assert.deepEqual(encodeTree([file('x', Buffer.from('abc'))]), encodeTree([file('abc')]));
});

test('entries are sorted by the bytes of their names, not by UTF-16 code units', () => {
  const names = ['b', '\ufffd', 'a', '\u{1F600}'];
  const entries = [...names.map((n) => file(n)), file('\ufffd', Buffer.from([0xff]))];
  const order = decodeTree(encodeTree(entries), 't').map((e) => entryNameBytes(e).toString('hex'));
  // U+FFFD is EF BF BD, U+1F600 is F0 9F 98 80: byte order puts U+FFFD first (UTF-16 order would not).
  assert.deepEqual(order, ['61', '62', 'efbfbd', 'f09f9880', 'ff']);
  assert.deepEqual(encodeTree([...entries].reverse()), encodeTree(entries), 'the input order does not matter');
});

test('trees with ordinary modes keep the bytes (and IDs) they had before modes were recorded', () => {
  const entries = [file('a'), { ...file('run.sh'), exec: true }];
  const old = encodeCanonical({ v: 1, entries: entries.map((e) => ({ name: e.name, kind: e.kind, id: ID, size: e.size, exec: e.exec })) });
  assert.deepEqual(encodeTree(entries), old);
  assert.deepEqual(encodeTree(entries, 0o755), old);
  assert.equal(decodeTreeObject(old, 't').mode, 0o755, 'no mode: a folder is 0755');
  const priv = encodeTree(entries, 0o700);
  assert.notDeepEqual(priv, old);
  assert.equal(decodeTreeObject(priv, 't').mode, 0o700);
  assert.equal(decodeTreeObject(encodeTree(entries, 0o41777), 't').mode, 0o777, 'sticky and the type bits are not recorded');
});

test('file manifests record permission bits; setuid, setgid and sticky are dropped', () => {
  const chunks = [{ id, length: 3 }];
  const legacy = (exec: boolean) => encodeCanonical({ v: 1, size: 3, exec, chunks: [[ID, 3]] });
  // The modes cairn always restored (0644, 0755) are not written: the same bytes and IDs as before.
  assert.deepEqual(encodeFile({ size: 3, exec: false, mode: 0o644, chunks }), legacy(false));
  assert.deepEqual(encodeFile({ size: 3, exec: true, mode: 0o755, chunks }), legacy(true));
  assert.deepEqual(encodeFile({ size: 3, exec: false, chunks }), legacy(false), 'no mode given: the legacy one');
  assert.equal(decodeFile(legacy(false), 'f').mode, 0o644);
  assert.equal(decodeFile(legacy(true), 'f').mode, 0o755);
  for (const [mode, exec] of [[0o600, false], [0o640, false], [0o444, false], [0o700, true], [0o711, true]] as const) {
    const m = decodeFile(encodeFile({ size: 3, exec, mode, chunks }), 'f');
    assert.equal(m.mode, mode);
    assert.equal(m.exec, exec);
  }
  assert.equal(decodeFile(encodeFile({ size: 3, exec: true, mode: 0o4755, chunks }), 'f').mode, 0o755, 'setuid is not recorded');
  assert.throws(() => encodeFile({ size: 3, exec: false, mode: 0o755, chunks }), (e) => isCairnError(e, 'BAD_INPUT'));
});

test('hostile or non-canonical modes are refused', () => {
  const manifest = (more: Record<string, unknown>) => encodeCanonical({ v: 1, size: 3, exec: false, chunks: [[ID, 3]], ...more });
  assert.equal(decodeFile(manifest({ mode: 0o600 }), 'f').mode, 0o600);
  for (const mode of [0o4644, 0o1000, -1, 1.5, '644', 0o644]) assert.throws(() => decodeFile(manifest({ mode }), 'f'), corrupt, `file mode ${String(mode)}`);
  assert.throws(() => decodeFile(manifest({ mode: 0o700 }), 'f'), corrupt, 'an exec bit the exec flag denies');
  for (const mode of [0o4755, 0o755, 'x', 512]) assert.throws(() => decodeTree(rawTree([], { mode }), 't'), corrupt, `folder mode ${String(mode)}`);
});

test('a tree whose names would leave its folder is refused, as bytes or as a string', () => {
  const bad: unknown[] = [
    '.', '..', 'a/b', '/', '', 'x\0y',
    Buffer.from('.'), Buffer.from('..'), Buffer.from([0xff, 0x2f, 0x61]), Buffer.from([0xff, 0x00]), Buffer.alloc(0),
    42, null, ['a'],
  ];
  for (const name of bad) assert.throws(() => decodeTree(rawTree([rawEntry(name)]), 't'), corrupt, `name ${JSON.stringify(name)}`);
  // Bytes that are UTF-8 must be a string: a second encoding of the same name.
  assert.throws(() => decodeTree(rawTree([rawEntry(Buffer.from('abc'))]), 't'), corrupt);
  // The same name twice, however it is spelled.
  assert.throws(() => decodeTree(rawTree([rawEntry('a'), rawEntry('a')]), 't'), corrupt);
  assert.throws(() => decodeTree(rawTree([rawEntry(Buffer.from([0xff])), rawEntry(Buffer.from([0xff]))]), 't'), corrupt);
  // A str whose bytes are not UTF-8: an overlong '/' (C0 AF) must not come out as a way out.
  const overlong = Buffer.from(rawTree([rawEntry('QQ')]));
  overlong.set([0xc0, 0xaf], overlong.indexOf('QQ'));
  try {
    for (const e of decodeTree(overlong, 't')) assert.ok(!entryNameBytes(e).includes(0x2f) && !e.name.includes('/'));
  } catch (e) {
    assert.ok(corrupt(e));
  }
  // '\' is an ordinary byte on POSIX.
  assert.equal(decodeTree(rawTree([rawEntry('a\\b')]), 't')[0].name, 'a\\b');
});

test('encodeTree will not write a tree its decoder refuses', () => {
  for (const name of ['', '.', '..', 'a/b', 'x\0']) assert.throws(() => encodeTree([file(name)]), (e) => isCairnError(e, 'BAD_INPUT'), name);
  assert.throws(() => encodeTree([file('..x', Buffer.from('..'))]), (e) => isCairnError(e, 'BAD_INPUT'));
  assert.throws(() => encodeTree([file('a'), file('a')]), (e) => isCairnError(e, 'BAD_INPUT'));
});

test('link targets are bytes too', () => {
  const target = Buffer.from([0x2e, 0x2e, 0x2f, 0xfe]);
  const entries: TreeEntry[] = [
    { name: 'l', kind: 'link', id: '../\ufffd', rawTarget: target, size: 0, exec: false },
    { name: 'm', kind: 'link', id: 'plain/target', size: 0, exec: false },
  ];
  const back = decodeTree(encodeTree(entries), 't');
  assert.deepEqual(back[0].rawTarget, target);
  assert.equal(back[1].id, 'plain/target');
  assert.equal(back[1].rawTarget, undefined);
  assert.throws(() => decodeTree(rawTree([rawEntry('l', { kind: 'link', id: Buffer.from('x') })]), 't'), corrupt, 'a UTF-8 target stored as bytes');
});
