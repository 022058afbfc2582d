import { Packr } from 'msgpackr';
import { CairnError } from './errors.js';
import { decodeLocation } from './index-db.js';
import type { Repository } from './repository/repository.js';
import type { ObjectId, ObjectStat, ObjectType } from './types.js';

// Finding objects by what a user types, listing them, and the index's caches for upper layers.

const kvPackr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
const isHex = (s: string) => /^[0-9a-f]+$/.test(s);

/** A namespaced cache in the index, owned by an upper layer; empty after an index rebuild. */
export interface KvCache {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
}

/** A unique ID prefix (4+ hex digits) resolved to a full ID among objects of `types` (default: all but chunks). */
export async function resolvePrefix(repo: Repository, prefix: string, opts: { types?: ObjectType[] } = {}): Promise<ObjectId> {
  const p = prefix.toLowerCase();
  if (p.length < 4 || p.length > 64 || !isHex(p)) {
    throw new CairnError('BAD_INPUT', `'${prefix}' is not an ID (4 to 64 hex digits)`);
  }
  if (repo.session.size > 0) await repo.flush();
  const types = opts.types ?? ['file', 'tree', 'record'];
  const found: ObjectId[] = [];
  for await (const [key, value] of repo.index.obj.iterator({ gte: p, lt: p + 'g', limit: 10_000 })) {
    const loc = decodeLocation(value);
    if (types.includes(loc.type)) found.push(key);
    if (found.length > 10) break;
  }
  if (found.length === 0) throw new CairnError('NOT_FOUND', `no object matches '${prefix}'`, { fields: { id: prefix } });
  if (found.length > 1) {
    throw new CairnError('AMBIGUOUS', `'${prefix}' is ambiguous: it matches ${found.slice(0, 10).map((f) => f.slice(0, 12)).join(', ')}${found.length > 10 ? ', ...' : ''}`, {
      hint: 'give more hex digits',
      fields: { id: prefix, matches: found.slice(0, 10) },
    });
  }
  return found[0];
}

/** Every indexed object (optionally of some types), in ID order. */
export async function* listObjects(repo: Repository, opts: { types?: ObjectType[] } = {}): AsyncGenerator<ObjectStat> {
  for await (const [id, value] of repo.index.obj.iterator()) {
    const loc = decodeLocation(value);
    if (!opts.types || opts.types.includes(loc.type)) yield { id, type: loc.type, size: loc.size };
  }
}

/** A namespaced cache in the index (values: any msgpack-able value). */
export function kvCache(repo: Repository, namespace: string): KvCache {
  const sub = repo.index.kv(namespace);
  return {
    get: async <T>(key: string) => {
      const v = await sub.get(key);
      return v == null ? undefined : (kvPackr.unpack(v) as T);
    },
    put: async (key: string, value: unknown) => {
      await sub.put(key, kvPackr.pack(value));
    },
    del: async (key: string) => {
      await sub.del(key);
    },
  };
}
