import { Level } from 'level';
import { Packr } from 'msgpackr';
import { CairnError } from './errors.js';
import { TYPE_CODES, TYPE_NAMES, type PackEntry } from './pack/format.js';
import type { ObjectId, ObjectType } from './types.js';
import type { LockGate } from './yield.js';

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

/** The LevelDB error inside `err` (abstract-level wraps the binding's errors in `cause`). */
function levelCause(err: unknown): { code?: string; message: string } {
  let e = err as { code?: string; message?: string; cause?: unknown } | undefined;
  const texts: string[] = [];
  let code: string | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (e.message) texts.push(e.message);
    if (e.code && e.code !== 'LEVEL_DATABASE_NOT_OPEN') code = e.code;
  }
  return { code, message: texts[texts.length - 1] ?? String(err) };
}

const NO_SPACE = /No space left on device|ENOSPC|Disk quota exceeded/;
const IO_ERROR = /Input\/output error|EIO\b/;
const NO_ACCESS = /Permission denied|EACCES|EPERM|Operation not permitted|Read-only file system/;

/**
 * What a LevelDB error means for the user. A full disk, an I/O error or a
 * permission problem is the system's, and repairing would not help (it could
 * even make things worse); anything else the database reports (a checksum
 * mismatch, a CURRENT file naming no manifest, a missing table file) is
 * damage to the index, which `fsck --repair` rebuilds from the packs.
 */
export function indexError(err: unknown, path: string): CairnError {
  if (err instanceof CairnError) return err;
  const { code, message } = levelCause(err);
  if (NO_SPACE.test(message)) return new CairnError('IO', `the disk is full: cannot write the store index at ${path} (${message})`, { hint: 'free some space and run it again', cause: err, fields: { errno: 'ENOSPC', path } });
  if (IO_ERROR.test(message)) return new CairnError('IO', `I/O error on the store index at ${path} (${message})`, { hint: 'check the disk (dmesg), then run cairn fsck', cause: err, fields: { errno: 'EIO', path } });
  if (NO_ACCESS.test(message)) return new CairnError('IO', `permission denied on the store index at ${path} (${message})`, { cause: err, fields: { errno: 'EACCES', path } });
  return new CairnError('CORRUPT', `the store index at ${path} is damaged (${code ? `${code}: ` : ''}${message}); run cairn fsck --repair to rebuild it from the packs`, { cause: err, fields: { path } });
}

/** Whether `err` is an error of the LevelDB index (as opposed to one of cairn's or of a pack file). */
export function isLevelError(err: unknown): boolean {
  if (err instanceof CairnError) return false;
  const { code, message } = levelCause(err);
  return (code?.startsWith('LEVEL_') ?? false) || /^(Corruption|IO error|Invalid argument|NotFound):/.test(message);
}

/** Whether `err` (from indexError) says the index is damaged, so moving it aside and rebuilding is the cure. */
export function isIndexDamage(err: unknown): boolean {
  return err instanceof CairnError && err.code === 'CORRUPT' && /the store index at .* is damaged/.test(err.message);
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
  private constructor(readonly db: Level<string, Buffer>, readonly path: string) {
    this.obj = makeSub(db, 'obj');
    this.meta = makeSub(db, 'meta');
  }

  kv(ns: string): Sub {
    return makeSub(this.db, `kv-${ns}`);
  }

  /**
   * Opens the index, waiting with backoff while another process holds it:
   * long runs open the store only per checkpoint, so waits are short. A
   * `gate` (yield.ts) lets priority openers go first.
   */
  static async open(path: string, timeoutMs: number, opts: { createIfMissing?: boolean; gate?: LockGate } = {}): Promise<IndexDb> {
    const deadline = Date.now() + timeoutMs;
    const gate = opts.gate;
    let delay = 5;
    try {
      for (;;) {
        await gate?.beforeTry(deadline);
        const db = new Level<string, Buffer>(path, { valueEncoding: 'buffer', createIfMissing: opts.createIfMissing ?? true });
        try {
          await db.open();
          return new IndexDb(db, path);
        } catch (err) {
          const cause = (err as { cause?: { code?: string } }).cause;
          if (cause?.code !== 'LEVEL_LOCKED') throw indexError(err, path);
          if (Date.now() >= deadline) {
            throw new CairnError('LOCKED', `the store is locked by another cairn process (waited ${Math.round(timeoutMs / 1000)} s)`, {
              hint: 'wait for it to finish, or raise CAIRN_LOCK_TIMEOUT (seconds)',
              fields: { path },
            });
          }
          await gate?.locked();
          await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
          delay = Math.min(delay * 2, gate?.maxDelayMs ?? 200);
        }
      }
    } finally {
      await gate?.end();
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
