import { encodeCanonical, decode } from './codec.js';
import { CairnError } from './errors.js';
import type { ObjectId, TreeEntry } from './types.js';

/**
 * The structured objects, as canonical msgpack (docs/FORMAT.md):
 *   file   { v: 1, size, exec, chunks: [[id(32 bytes), length], ...] }
 *   tree   { v: 1, entries: [{ name, kind: 'file'|'tree'|'link', id, size, exec }] }  (id: 32 bytes; a link's target as a string)
 *   record { v: 1, body, links: [id(32 bytes), ...] }
 * An object's ID is the SHA-256 of these bytes; a chunk's, of its raw bytes.
 */
export interface FileManifest {
  size: number;
  exec: boolean;
  chunks: Array<{ id: ObjectId; length: number }>;
}

const idBytes = (id: ObjectId) => Buffer.from(id, 'hex');
const idHex = (b: unknown, where: string): ObjectId => {
  if (!(b instanceof Uint8Array) || b.length !== 32) throw new CairnError('CORRUPT', `${where}: malformed object ID`);
  return Buffer.from(b).toString('hex');
};

export function encodeFile(m: FileManifest): Buffer {
  return encodeCanonical({ v: 1, size: m.size, exec: m.exec, chunks: m.chunks.map((c) => [idBytes(c.id), c.length]) });
}

export function decodeFile(bytes: Buffer, where: string): FileManifest {
  const v = decode(bytes, where) as { v?: number; size?: number; exec?: boolean; chunks?: unknown[] } | null;
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
  return { size: v.size as number, exec: v.exec === true, chunks };
}

export function encodeTree(entries: TreeEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return encodeCanonical({
    v: 1,
    entries: sorted.map((e) => ({
      name: e.name,
      kind: e.kind,
      id: e.kind === 'link' ? e.id : idBytes(e.id),
      size: e.size,
      exec: e.exec,
    })),
  });
}

/** Names a tree may hold: one path segment, never a way out of its folder. */
export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

export function decodeTree(bytes: Buffer, where: string): TreeEntry[] {
  const v = decode(bytes, where) as { v?: number; entries?: unknown[] } | null;
  if (!v || typeof v !== 'object' || v.v !== 1 || !Array.isArray(v.entries)) throw new CairnError('CORRUPT', `${where}: malformed tree`);
  const seen = new Set<string>();
  return v.entries.map((raw) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CairnError('CORRUPT', `${where}: malformed tree entry`);
    const e = raw as Record<string, unknown>;
    if (!isSafeName(e.name) || seen.has(e.name)) throw new CairnError('CORRUPT', `${where}: tree has an unsafe or duplicate name`);
    seen.add(e.name);
    if (e.kind !== 'file' && e.kind !== 'tree' && e.kind !== 'link') throw new CairnError('CORRUPT', `${where}: tree entry of unknown kind`);
    if (!Number.isSafeInteger(e.size)) throw new CairnError('CORRUPT', `${where}: tree entry without size`);
    const id = e.kind === 'link' ? String(e.id) : idHex(e.id, where);
    return { name: e.name, kind: e.kind, id, size: e.size as number, exec: e.exec === true };
  });
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
