import { isUtf8 } from 'node:buffer';
import { encodeCanonical, decode } from './codec.js';
import { CairnError } from './errors.js';
import type { ObjectId, ObjectType, TreeEntry } from './types.js';

/**
 * The structured objects, as canonical msgpack (docs/FORMAT.md):
 *   file   { v: 1, size, exec, mode?, chunks: [[id(32 bytes), length], ...] }
 *   tree   { v: 1, mode?, entries: [{ name, kind: 'file'|'tree'|'link', id, size, exec }] }  (id: 32 bytes; a link's target)
 *   record { v: 1, body, links: [id(32 bytes), ...] }
 * An object's ID is the SHA-256 of these bytes; a chunk's, of its raw bytes.
 *
 * `mode` is written only when it differs from what a manifest or tree
 * without one means (see legacyFileMode, DEFAULT_FOLDER_MODE), so objects
 * with ordinary modes keep the IDs cairn gave them before modes were
 * recorded, and older readers still read them. Names and link targets are
 * msgpack strings when their bytes are valid UTF-8 and binary only when not,
 * so each value has one encoding.
 */
export interface FileManifest {
  size: number;
  /** Whether any execute bit is set (mode & 0o111). */
  exec: boolean;
  /** Permission bits (mode & 0o777); setuid, setgid and sticky are never recorded. Absent: legacyFileMode(exec) (decodeFile always sets it). */
  mode?: number;
  chunks: Array<{ id: ObjectId; length: number }>;
}

/** Permission bits kept; setuid, setgid and sticky are dropped on record (a restore must not create setuid files). */
export const MODE_BITS = 0o777;
/** The mode of a folder whose tree records none. */
export const DEFAULT_FOLDER_MODE = 0o755;
/** The mode of a file whose manifest records none: what cairn restored before it recorded modes. */
export const legacyFileMode = (exec: boolean): number => (exec ? 0o755 : 0o644);

const idBytes = (id: ObjectId) => Buffer.from(id, 'hex');
const idHex = (b: unknown, where: string): ObjectId => {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new CairnError('CORRUPT', `${where}: malformed object ID`);
  return Buffer.from(b).toString('hex');
};

export function encodeFile(m: FileManifest): Buffer {
  const mode = (m.mode ?? legacyFileMode(m.exec)) & MODE_BITS;
  if (m.exec !== ((mode & 0o111) !== 0)) throw new CairnError('BAD_INPUT', `file mode ${mode.toString(8)} disagrees with exec=${m.exec}`);
  return encodeCanonical({
    v: 1,
    size: m.size,
    exec: m.exec,
    mode: mode === legacyFileMode(m.exec) ? undefined : mode,
    chunks: m.chunks.map((c) => [idBytes(c.id), c.length]),
  });
}

/** A recorded mode: permission bits only, never the value its absence means (one encoding per value). */
function checkMode(mode: unknown, absent: number, where: string, what: string): number {
  if (mode === undefined) return absent;
  if (!Number.isSafeInteger(mode) || (mode as number) < 0 || (mode as number) > MODE_BITS || mode === absent) {
    throw new CairnError('CORRUPT', `${where}: malformed ${what} mode`);
  }
  return mode as number;
}

export function decodeFile(bytes: Buffer, where: string): FileManifest {
  const v = decode(bytes, where) as { v?: number; size?: number; exec?: boolean; mode?: unknown; chunks?: unknown[] } | null;
  if (!v || typeof v !== 'object' || v.v !== 1 || !Number.isSafeInteger(v.size) || !Array.isArray(v.chunks)) {
    throw new CairnError('CORRUPT', `${where}: malformed file manifest`);
  }
  let total = 0;
  const chunks = v.chunks.map((c) => {
    if (!Array.isArray(c) || c.length !== 2) throw new CairnError('CORRUPT', `${where}: malformed chunk entry`);
    const [id, length] = c as [unknown, number];
    if (!Number.isSafeInteger(length) || length < 0) throw new CairnError('CORRUPT', `${where}: malformed chunk length`);
    total += length;
    return { id: idHex(id, where), length };
  });
  if (total !== v.size) throw new CairnError('CORRUPT', `${where}: chunk lengths do not add up to the file size`);
  const exec = v.exec === true;
  const mode = checkMode(v.mode, legacyFileMode(exec), where, 'file');
  if (((mode & 0o111) !== 0) !== exec) throw new CairnError('CORRUPT', `${where}: file mode disagrees with its exec flag`);
  return { size: v.size as number, exec, mode, chunks };
}

/** An entry's name as bytes: what a tree sorts and stores. */
export function entryNameBytes(e: Pick<TreeEntry, 'name' | 'rawName'>): Buffer {
  return e.rawName ?? Buffer.from(e.name, 'utf8');
}

/** A name or link target for msgpack: a string when the bytes are UTF-8 (as every store before format 2 holds them), else binary. */
const asText = (b: Buffer): string | Buffer => (isUtf8(b) ? b.toString('utf8') : b);

/** Names a tree may hold: one path segment, never a way out of its folder (bytes; '\\' is an ordinary byte on POSIX). */
export function isSafeName(name: unknown): boolean {
  if (typeof name === 'string') name = Buffer.from(name, 'utf8');
  if (!(name instanceof Uint8Array)) return false;
  const b = name;
  return b.length > 0 && !(b.length === 1 && b[0] === 0x2e) && !(b.length === 2 && b[0] === 0x2e && b[1] === 0x2e) && !b.includes(0x2f) && !b.includes(0);
}

/**
 * A tree's bytes. Entries are sorted by their names' bytes (unsigned,
 * shorter first on a common prefix: Buffer.compare); `mode` is the folder's
 * own permission bits.
 */
export function encodeTree(entries: TreeEntry[], mode = DEFAULT_FOLDER_MODE): Buffer {
  const named = entries.map((e) => ({ e, name: entryNameBytes(e) }));
  named.sort((a, b) => Buffer.compare(a.name, b.name));
  named.forEach(({ name }, i) => {
    if (!isSafeName(name)) throw new CairnError('BAD_INPUT', `a tree cannot hold the name '${name.toString()}'`);
    if (i > 0 && name.equals(named[i - 1].name)) throw new CairnError('BAD_INPUT', `a tree cannot hold the name '${name.toString()}' twice`);
  });
  const folderMode = mode & MODE_BITS;
  return encodeCanonical({
    v: 1,
    mode: folderMode === DEFAULT_FOLDER_MODE ? undefined : folderMode,
    entries: named.map(({ e, name }) => ({
      name: asText(name),
      kind: e.kind,
      id: e.kind === 'link' ? asText(e.rawTarget ?? Buffer.from(e.id, 'utf8')) : idBytes(e.id),
      size: e.size,
      exec: e.exec,
    })),
  });
}

/** Text that may come as binary: binary only when not UTF-8 (else the same value would have two encodings). */
function textOrBytes(value: unknown, where: string, what: string): { text: string; raw?: Buffer } {
  if (typeof value === 'string') return { text: value };
  if (value instanceof Uint8Array) {
    const raw = Buffer.from(value); // a copy: the decoder's view shares the object's bytes
    if (isUtf8(raw)) throw new CairnError('CORRUPT', `${where}: ${what} stored as bytes although it is UTF-8`);
    return { text: raw.toString('utf8'), raw };
  }
  throw new CairnError('CORRUPT', `${where}: malformed ${what}`);
}

/** A tree's entries and its folder's mode. Hostile names ('.', '..', '/' or NUL in them, empty, twice) are CORRUPT. */
export function decodeTreeObject(bytes: Buffer, where: string): { entries: TreeEntry[]; mode: number } {
  const v = decode(bytes, where) as { v?: number; mode?: unknown; entries?: unknown[] } | null;
  if (!v || typeof v !== 'object' || v.v !== 1 || !Array.isArray(v.entries)) throw new CairnError('CORRUPT', `${where}: malformed tree`);
  const mode = checkMode(v.mode, DEFAULT_FOLDER_MODE, where, 'folder');
  let prev: Buffer | null = null;
  const entries = v.entries.map((raw): TreeEntry => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CairnError('CORRUPT', `${where}: malformed tree entry`);
    const e = raw as Record<string, unknown>;
    if (typeof e.name !== 'string' && !(e.name instanceof Uint8Array)) throw new CairnError('CORRUPT', `${where}: tree has an unsafe or duplicate name`);
    const name = textOrBytes(e.name, where, 'name');
    // Checked on the bytes a restore will use: a string's re-encoding, which is what reaches the filesystem.
    const bytes = name.raw ?? Buffer.from(name.text, 'utf8');
    if (!isSafeName(bytes)) throw new CairnError('CORRUPT', `${where}: tree has an unsafe or duplicate name`);
    // Strictly ascending by bytes: the order is part of the encoding (one tree, one ID), and it rules out duplicates.
    const order = prev === null ? -1 : Buffer.compare(prev, bytes);
    if (order === 0) throw new CairnError('CORRUPT', `${where}: tree has an unsafe or duplicate name`);
    if (order > 0) throw new CairnError('CORRUPT', `${where}: tree entries are not sorted by name bytes`);
    prev = bytes;
    if (e.kind !== 'file' && e.kind !== 'tree' && e.kind !== 'link') throw new CairnError('CORRUPT', `${where}: tree entry of unknown kind`);
    if (!Number.isSafeInteger(e.size)) throw new CairnError('CORRUPT', `${where}: tree entry without size`);
    const entry: TreeEntry = { name: name.text, kind: e.kind, id: '', size: e.size as number, exec: e.exec === true };
    if (name.raw) entry.rawName = name.raw;
    if (e.kind === 'link') {
      const target = e.id instanceof Uint8Array ? textOrBytes(e.id, where, 'link target') : { text: String(e.id), raw: undefined };
      entry.id = target.text;
      if (target.raw) entry.rawTarget = target.raw;
    } else entry.id = idHex(e.id, where);
    return entry;
  });
  return { entries, mode };
}

export function decodeTree(bytes: Buffer, where: string): TreeEntry[] {
  return decodeTreeObject(bytes, where).entries;
}

export function encodeRecord(body: unknown, links: ObjectId[]): Buffer {
  const unique = [...new Set(links)].sort();
  return encodeCanonical({ v: 1, body, links: unique.map(idBytes) });
}

export function decodeRecord<T>(bytes: Buffer, where: string): { body: T; links: ObjectId[] } {
  const v = decode(bytes, where) as { v?: number; body?: T; links?: unknown[] } | null;
  if (!v || typeof v !== 'object' || v.v !== 1 || !Array.isArray(v.links)) throw new CairnError('CORRUPT', `${where}: malformed record`);
  return { body: v.body as T, links: v.links.map((l) => idHex(l, where)) };
}

/**
 * The IDs an object's stored bytes link to, with the type each must have
 * where the format fixes it (a file's chunks, a tree's files and folders; a
 * record's links may be of any type). For copying objects between backends
 * by walking down from a root, where no index is at hand to ask.
 */
export function objectLinks(type: ObjectType, bytes: Buffer, where: string): Array<{ id: ObjectId; type: ObjectType | null }> {
  switch (type) {
    case 'chunk':
      return [];
    case 'file':
      return decodeFile(bytes, where).chunks.map((c) => ({ id: c.id, type: 'chunk' as const }));
    case 'tree':
      return decodeTree(bytes, where)
        .filter((e) => e.kind !== 'link')
        .map((e) => ({ id: e.id, type: e.kind as 'file' | 'tree' }));
    case 'record':
      return decodeRecord(bytes, where).links.map((id) => ({ id, type: null }));
  }
}
