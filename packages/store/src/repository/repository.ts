import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { xxh64 } from '../checksum.js';
import { CairnError } from '../errors.js';
import { IndexDb, type Location } from '../index-db.js';
import { packPath } from '../pack/writer.js';
import { readExactly } from '../pack/reader.js';
import type { PackLayout } from '../pack/format.js';
import { PackSession } from '../pack-session.js';
import { arena } from '../io/arena.js';
import { Refs } from '../refs.js';
import { otherLeases } from '../leases.js';
import { ordinaryGate, type Yielder } from '../yield.js';
import type { ObjectId, ObjectType } from '../types.js';

const isId = (id: string) => /^[0-9a-f]{64}$/.test(id);

export function detachedWrite(): CairnError {
  return new CairnError('FAILED', 'a detached store is read-only');
}

/**
 * The internals of one open store session that every part of the store
 * shares: the index, the pack session (what was written and not yet
 * indexed), open pack handles, refs, and the lock-yielding state. Ingest,
 * restore, raw object copy and maintenance (gc, verify, repair, stats)
 * take this instead of the public Store, which stays a facade; nothing
 * here knows of Store.
 */
export class Repository {
  readonly refs: Refs;
  readonly packsDir: string;
  /** What this session wrote and has not indexed yet (see pack-session.ts). */
  readonly session: PackSession;
  private handles = new Map<string, Promise<FileHandle>>();
  private isClosed = false;
  /** Set when opened with yieldToPriority (see yield.ts). */
  yielder: Yielder | undefined;

  constructor(
    readonly dir: string,
    private idx: IndexDb,
    readonly lockTimeoutMs: number,
    /** Packs this store writes (see format-version.ts). */
    readonly packLayout: PackLayout,
    /** Set on a detached copy (see detach()): the objects it can read, and where they are. */
    private readonly snapshot?: Map<ObjectId, Location>,
  ) {
    this.refs = new Refs(join(dir, 'refs'), () => this.flush(), (name) => this.checkLeased(name));
    this.packsDir = join(dir, 'packs');
    this.session = new PackSession(this.packsDir, () => this.index, packLayout);
  }

  /** The LevelDB index (replaced by a rebuild or a step aside: do not keep it across either). */
  get index(): IndexDb {
    return this.idx;
  }

  /** Used by repair, which swaps a rebuilt index in. */
  setIndex(idx: IndexDb): void {
    this.idx = idx;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** A read-only copy that reads from handles opened under the lock (see Store.detach). */
  get detached(): boolean {
    return this.snapshot !== undefined;
  }

  /**
   * Seals the open pack and indexes everything written (see
   * pack-session.ts); a detached copy has nothing to flush.
   */
  async flush(): Promise<void> {
    if (this.snapshot) return;
    await this.session.flush();
  }

  /** Commits (or with `discard` drops) what is pending, closes every handle and releases the lock. */
  async close(opts: { discard?: boolean } = {}): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.snapshot) {
      // A detached copy holds pack handles only; the index is its original's.
      await this.closeHandles();
      return;
    }
    try {
      if (opts.discard) await this.session.discard();
      else await this.session.flush();
    } finally {
      await this.closeHandles();
      // Under the lock still: what the lease rooted is named by now, or meant to go.
      await this.yielder?.release();
      await this.index.close();
    }
  }

  /**
   * Closes every open pack handle. Runs wherever packs may have been
   * replaced or unlinked underneath (gc, repair) and at close, so a later
   * read opens the pack that is there now.
   */
  async closeHandles(): Promise<void> {
    for (const h of this.handles.values()) await (await h.catch(() => undefined))?.close().catch(() => {});
    this.handles.clear();
  }

  /** A read handle on a pack, opened once per session. */
  handle(packId: string): Promise<FileHandle> {
    let h = this.handles.get(packId);
    if (!h) {
      h = open(packPath(this.packsDir, packId), 'r').catch((err) => {
        this.handles.delete(packId);
        throw new CairnError('CORRUPT', `pack ${packId} is missing or unreadable: ${(err as Error).message}`, { hint: 'run cairn fsck' });
      });
      this.handles.set(packId, h);
    }
    return h;
  }

  /**
   * Where an object is, without flushing: objects this session wrote and
   * has not indexed yet are seen too (their packs are not readable until
   * flush). For stat and has, so that a checkpoint's puts share one pack.
   */
  async find(id: ObjectId): Promise<Location | undefined> {
    if (this.snapshot) return this.snapshot.get(id);
    if (!isId(id)) return undefined;
    return this.session.get(id) ?? (await this.index.get(id));
  }

  /** Flushes if this session wrote any of `ids` and has not flushed it (see locate). */
  async flushFor(ids: Iterable<ObjectId>): Promise<void> {
    if (this.session.size === 0) return;
    for (const id of ids) {
      if (this.session.has(id)) return this.flush();
    }
  }

  /**
   * Where an object is, to read it: flushes first if this session wrote it
   * and has not flushed it, so its pack is on disk. Only then: reading an
   * object stored before (a checkpoint's parent record, an out's previous
   * manifest) must not seal the pack the session is filling, or a
   * checkpoint would take two packs and two fsyncs. NOT_FOUND when missing.
   */
  async locate(id: ObjectId): Promise<Location> {
    await this.flushFor([id]);
    const loc = await this.find(id);
    if (!loc) throw new CairnError('NOT_FOUND', `no object ${id.slice(0, 12)} in the store`, { fields: { id } });
    return loc;
  }

  /**
   * Where each object is, in order: one index call per thousand; a missing
   * one is NOT_FOUND. Sees unflushed objects: callers that read flush first.
   */
  async locateMany(ids: ObjectId[]): Promise<Location[]> {
    const out: Location[] = [];
    for (let i = 0; i < ids.length; i += 1024) {
      const part = ids.slice(i, i + 1024);
      const locs = this.snapshot ? part.map((id) => this.snapshot!.get(id)) : await this.index.getMany(part);
      locs.forEach((loc, j) => {
        loc ??= this.snapshot ? undefined : this.session.get(part[j]);
        if (!loc) throw new CairnError('NOT_FOUND', `no object ${part[j].slice(0, 12)} in the store`, { fields: { id: part[j] } });
        out.push(loc);
      });
    }
    return out;
  }

  async has(id: ObjectId): Promise<boolean> {
    return (await this.find(id)) !== undefined;
  }

  /** Reads a blob's bytes and checks them against the stored checksum. */
  async readBlob(id: ObjectId, loc?: Location): Promise<Buffer> {
    loc ??= await this.locate(id);
    const fh = await this.handle(loc.packId);
    const data = await readExactly(fh, loc.length, loc.offset, `pack ${loc.packId}`);
    if (!xxh64(data).equals(loc.checksum)) {
      throw new CairnError('CORRUPT', `object ${id.slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck', fields: { id } });
    }
    return data;
  }

  /** An object's stored bytes, which must be of `type` (BAD_INPUT if not). */
  async readTyped(id: ObjectId, type: ObjectType): Promise<Buffer> {
    const loc = await this.locate(id);
    if (loc.type !== type) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${loc.type}, not a ${type}`);
    return this.readBlob(id, loc);
  }

  /** Appends a blob known to be new to the session (copied from `data`). */
  async add(id: ObjectId, idBytes: Buffer, type: ObjectType, data: Buffer, size: number): Promise<void> {
    if (this.snapshot) throw detachedWrite();
    await this.session.add(id, idBytes, type, data, size);
  }

  /**
   * Appends a new blob that is in the arena (see PackWriter.addOwned; a
   * chunk unless `as` says otherwise); `release` is called once it is no
   * longer needed.
   */
  async addOwned(id: ObjectId, idBytes: Buffer, addr: number, len: number, release: () => void, as?: { type: ObjectType; size: number; checksum?: Buffer }): Promise<void> {
    let checksum: Buffer;
    try {
      if (this.snapshot) throw detachedWrite();
      checksum = as?.checksum ?? arena().xxh64(addr, len);
    } catch (err) {
      release();
      throw err;
    }
    await this.session.addOwned(id, idBytes, as?.type ?? 'chunk', addr, len, checksum, release, as?.size ?? len);
  }

  /** Refuses a change of a ref that another live process holds a lease on. */
  private async checkLeased(name: string): Promise<void> {
    if (this.snapshot) throw detachedWrite();
    const holder = (await otherLeases(this.dir)).find((l) => l.refs.includes(name));
    if (holder) {
      throw new CairnError('LOCKED', `ref '${name}' is held by process ${holder.pid}${holder.note ? ` (${holder.note})` : ''}`, {
        hint: 'wait for it to finish, or stop it first',
        fields: { ref: name, pid: holder.pid },
      });
    }
  }

  /**
   * A read-only copy that can read exactly `ids`, from pack handles opened
   * now, under the lock (see Store.detach).
   */
  async detach(ids: ObjectId[]): Promise<Repository> {
    const locs = await this.locateMany(ids);
    const copy = new Repository(this.dir, this.idx, this.lockTimeoutMs, this.packLayout, new Map(ids.map((id, i) => [id, locs[i]])));
    try {
      for (const packId of new Set(locs.map((l) => l.packId))) await copy.handle(packId);
    } catch (err) {
      await copy.close();
      throw err;
    }
    return copy;
  }

  // ---- letting a priority opener in (see yield.ts) ----------------------

  /** Notes an object the session put or found stored: a later object may name it, so a step aside must lease it. */
  touch(id: ObjectId): void {
    this.yielder?.touched.add(id);
  }

  /**
   * A safe point of a long write: when a priority opener waits, commits
   * what this session wrote, leases all it touched, gives the lock up and
   * takes it again after the waiter. Cheap when nobody waits.
   */
  async yieldPoint(): Promise<void> {
    if (!this.yielder || this.isClosed || this.snapshot || !(await this.yielder.wanted())) return;
    await this.stepAside();
  }

  async stepAside(): Promise<void> {
    const y = this.yielder!;
    await this.session.flush();
    // Leased under the lock, after the flush indexed it: never unnamed, unleased and unlocked at once.
    await y.protect();
    const path = this.index.path;
    await this.index.close();
    // An ordinary opener defers to the waiter, so this returns once it has been and gone.
    this.idx = await IndexDb.open(path, this.lockTimeoutMs, { gate: ordinaryGate(this.dir) });
    y.yields++;
  }
}
