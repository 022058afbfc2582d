import { Level } from 'level';
import { Packr } from 'msgpackr';
import { CairnError } from './errors.js';
import { TYPE_CODES, TYPE_NAMES, type PackEntry } from './pack/format.js';
import type { ObjectId, ObjectType } from './types.js';

/** Where an object's bytes are: the index value for one object ID. */
export interface Location {
  packId: string;
  offset: number;
  length: number;
  type: ObjectType;
  checksum: Buffer;
  size: number;
}

export const INDEX_VERSION = 1;
const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function encodeLocation(l: Location): Buffer {
  return packr.pack([l.packId, l.offset, l.length, TYPE_CODES[l.type], l.checksum, l.size]);
}

export function decodeLocation(b: Buffer): Location {
  const [packId, offset, length, type, checksum, size] = packr.unpack(b) as [string, number, number, number, Uint8Array, number];
  return { packId, offset, length, type: TYPE_NAMES[type], checksum: Buffer.from(checksum), size };
}

export function locationOf(packId: string, e: PackEntry): Location {
  return { packId, offset: e.offset, length: e.length, type: e.type, checksum: e.checksum, size: e.size };
}

function makeSub(parent: Level<string, Buffer>, name: string) {
  return parent.sublevel<string, Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
}
type Sub = ReturnType<typeof makeSub>;

/**
 * The LevelDB index. Sublevels: `obj` (object ID hex -> Location),
 * `kv-<ns>` (caches owned by upper layers), `meta` (index version).
 * Everything here can be rebuilt from the packs, except caches, which
 * their owners rebuild.
 */
export class IndexDb {
  readonly obj: Sub;
  readonly meta: Sub;
  private constructor(readonly db: Level<string, Buffer>) {
    this.obj = makeSub(db, 'obj');
    this.meta = makeSub(db, 'meta');
  }

  kv(ns: string): Sub {
    return makeSub(this.db, `kv-${ns}`);
  }

  /**
   * Opens the index, waiting with backoff while another process holds it:
   * long runs open the store only per checkpoint, so waits are short.
   */
  static async open(path: string, timeoutMs: number): Promise<IndexDb> {
    const deadline = Date.now() + timeoutMs;
    let delay = 5;
    for (;;) {
      const db = new Level<string, Buffer>(path, { valueEncoding: 'buffer' });
      try {
        await db.open();
        return new IndexDb(db);
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        if (cause?.code !== 'LEVEL_LOCKED') {
          throw new CairnError('CORRUPT', `cannot open the store index at ${path}: ${(cause as Error | undefined)?.message ?? (err as Error).message}`, {
            hint: 'run cairn fsck --repair to rebuild it from the packs',
            cause: err,
          });
        }
        if (Date.now() >= deadline) {
          throw new CairnError('LOCKED', `the store is locked by another cairn process (waited ${Math.round(timeoutMs / 1000)} s)`, {
            hint: 'wait for it to finish, or raise CAIRN_LOCK_TIMEOUT (seconds)',
          });
        }
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
        delay = Math.min(delay * 2, 200);
      }
    }
  }

  async version(): Promise<number | undefined> {
    const v = await this.meta.get('version');
    return v == null ? undefined : Number(v.toString());
  }

  async setVersion(): Promise<void> {
    await this.meta.batch([{ type: 'put', key: 'version', value: Buffer.from(String(INDEX_VERSION)) }], { sync: true } as object);
  }

  async get(id: ObjectId): Promise<Location | undefined> {
    const v = await this.obj.get(id);
    return v == null ? undefined : decodeLocation(v);
  }

  async getMany(ids: ObjectId[]): Promise<Array<Location | undefined>> {
    const vs = await this.obj.getMany(ids);
    return vs.map((v) => (v == null ? undefined : decodeLocation(v)));
  }

  /** Whether each ID is indexed: one LevelDB call for all of them. */
  async hasMany(ids: ObjectId[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const vs = await this.obj.getMany(ids);
    return vs.map((v) => v != null);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
