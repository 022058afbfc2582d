import { open, lstat, readdir, readlink, mkdir, rm, rename, symlink, chmod, readFile, unlink, stat as fsStat, type FileHandle } from 'node:fs/promises';
import { join, resolve as resolvePath, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { read as fsRead } from 'node:fs';
import { Packr } from 'msgpackr';
import { webcrypto } from 'node:crypto';
import { sha256 } from './codec.js';
import { initChecksum, xxh64 } from './checksum.js';
import { CairnError } from './errors.js';
import { IndexDb, decodeLocation, indexError, isIndexDamage, isLevelError, type Location } from './index-db.js';
import { packPath, TARGET_PACK_SIZE } from './pack/writer.js';
import { PackSession } from './pack-session.js';
import { DirectWriter } from './pack/direct.js';
import { SlotShare } from './pack/slot-share.js';
import { readExactly } from './pack/reader.js';
import { Refs } from './refs.js';
import { chunkFile, chunkStream, planFileCuts } from './chunker/index.js';
import { readPool, type ArenaRead, type PoolResult } from './chunker/pool.js';
import { arena, SLOT_DATA, SLOT_SIZE } from './pack/arena.js';
import { HEADER_SIZE } from './pack/format.js';
import { checkStoreFormat, FORMAT_FILE, FORMAT_TEXT } from './format-version.js';
import { encodeFile, decodeFile, encodeTree, decodeTree, decodeTreeObject, encodeRecord, decodeRecord, entryNameBytes, legacyFileMode, MODE_BITS, type FileManifest } from './objects.js';
import { mkdirDurable, syncDir, tmpName, writeFileAtomic } from './fsutil.js';
import { quarantineIndex, repairStore } from './repair.js';
import { verifyStore } from './verify.js';
import { collectGarbage } from './gc.js';
import { markFrom } from './reachable.js';
import { computeStats } from './stats.js';
import { Lease, listLeases, otherLeases, type LeaseInfo, type LeaseTerms } from './leases.js';
import { ordinaryGate, priorityGate, Yielder } from './yield.js';
import { copyMany, readMany, type CopyManyOptions, type ObjectBatch, type ReadManyOptions } from './read-many.js';
import type { ObjectId, ObjectStat, ObjectType, StoredStat, TreeEntry, StoreStats, VerifyReport, GcReport, RepairReport, PutOptions } from './types.js';

const READ_AHEAD = 4;
const HASH_AHEAD = 8;
/**
 * Files at least this large are read and hashed on the read pool's threads
 * through the arena (see chunker/pool.ts, pack/arena.ts); for smaller ones
 * the threads' start-up is not worth it.
 */
const POOL_MIN_FILE = 16 * 1024 * 1024;
/** Reads queued on the read pool per file (each holds an arena slot). */
const POOL_WINDOW = 8;

/** What putObject's checks found: the object is what its ID says, and decodes as its type. */
interface CheckedObject {
  idBytes: Buffer;
  /** Content size (a file's or tree's, else the stored length). */
  size: number;
  /** The bytes, for a small object. */
  data?: Buffer;
  /** Where in the arena the bytes wait, with their XXH64 and what gives the slot back (large objects). */
  addr?: number;
  checksum?: Buffer;
  release?: () => void;
}

/** putObject hashes objects at least this large on the read pool's threads. */
const POOL_MIN_OBJECT = 64 * 1024;

/** The content size of an object handed to putObject, which must decode as its type (BAD_INPUT if not). */
function checkedSize(id: ObjectId, type: ObjectType, data: Buffer): number {
  const where = `${type} ${id.slice(0, 12)}`;
  try {
    if (type === 'file') return decodeFile(data, where).size;
    if (type === 'tree') return decodeTree(data, where).reduce((n, e) => n + e.size, 0);
    if (type === 'record') decodeRecord(data, where);
    return data.length;
  } catch (err) {
    throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is not a valid ${type}: ${(err as Error).message}`);
  }
}

async function readFdExactly(fd: number, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  for (let done = 0; done < length; ) {
    const n = await new Promise<number>((resolve, reject) => fsRead(fd, buf, done, length - done, position + done, (err, got) => (err ? reject(err) : resolve(got))));
    if (n === 0) throw new CairnError('BAD_INPUT', `the file ends at byte ${position + done}, before the object's ${length} bytes at ${position} are read`);
    done += n;
  }
  return buf;
}

async function sha256Async(data: Buffer): Promise<ObjectId> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex');
}
const kvPackr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export interface OpenOptions {
  /** How long to wait for another process's lock (default: CAIRN_LOCK_TIMEOUT seconds, else 60 s). */
  lockTimeoutMs?: number;
  /**
   * For a repair (fsck --repair): an index that LevelDB reports damaged is
   * moved into quarantine and replaced by an empty one instead of failing
   * the open; the caller then runs repair(), which rebuilds it.
   */
  repairIndex?: boolean;
  /**
   * Wait for the lock ahead of ordinary openers (see yield.ts): for a
   * session that someone is waiting on, such as a training run's checkpoint.
   */
  priority?: boolean;
  /**
   * Let a priority opener in at safe points of long writes (putPath,
   * putStream, putObject) and of gc: what was written so far is committed
   * and leased, the lock given up until the waiter has had it, then taken
   * again. Only for callers that hold nothing across those calls that the
   * lock alone protects (a read of a ref they then change without
   * expectations, say).
   */
  yieldToPriority?: boolean;
}

/** A namespaced cache in the index, owned by an upper layer; empty after an index rebuild. */
export interface KvCache {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
}

function defaultLockTimeout(): number {
  const env = Number(process.env.CAIRN_LOCK_TIMEOUT);
  return Number.isFinite(env) && env >= 0 ? env * 1000 : 60_000;
}

const isHex = (s: string) => /^[0-9a-f]+$/.test(s);

/**
 * A content-addressed store in one folder. Open it, put files, folders,
 * streams, buffers or records (each put returns an ID; puts become durable
 * together at flush(), which every ref change and close() run first), read
 * them back, name them with refs, verify, collect garbage.
 * An open Store holds the folder's lock until close(): keep it open only as
 * long as one operation needs it.
 */
export class Store {
  readonly refs: Refs;
  readonly packsDir: string;
  /** What this session wrote and has not indexed yet (see pack-session.ts). */
  private readonly session: PackSession;
  private handles = new Map<string, Promise<FileHandle>>();
  private closed = false;
  /** Orders the pack appends of overlapping putObject() calls. */
  private objectWrites: Promise<unknown> = Promise.resolve();
  /**
   * putObject() copies a large object to where its pack write can take it
   * without another copy: its expected place in the pack is putRaw (the
   * bytes of the putObject calls before it) plus putDrift (how far the last
   * append found the pack from that: its header, a new pack, skipped
   * duplicates). A wrong guess costs a copy, nothing else.
   */
  private putRaw = 0;
  private putDrift = 0;
  /** Arena ranges for those objects, several to a slot. */
  private putSlots: SlotShare | undefined;
  /** Set while hashPath() runs: blobs are hashed, not written. */
  private hashOnly = false;
  /** Set on a detached copy (see detach()): the objects it can read, and where they are. */
  private snapshot: Map<ObjectId, Location> | undefined;

  /** Where the damaged index went, when open() moved it aside (repairIndex). */
  private indexQuarantined: string | undefined;
  /** Set when opened with yieldToPriority. */
  private yielder: Yielder | undefined;

  private constructor(readonly dir: string, private idx: IndexDb, readonly lockTimeoutMs: number) {
    this.refs = new Refs(join(dir, 'refs'), () => this.flush(), (name) => this.checkLeased(name));
    this.packsDir = join(dir, 'packs');
    this.session = new PackSession(this.packsDir, () => this.index);
  }

  /** Creates an empty store in `dir` (the folder may exist; an existing store is left as it is). */
  static async init(dir: string): Promise<void> {
    dir = resolvePath(dir);
    await mkdirDurable(dir);
    const marker = join(dir, FORMAT_FILE);
    try {
      await fsStat(marker);
      return;
    } catch {
      /* new store */
    }
    await mkdirDurable(join(dir, 'packs'));
    await mkdirDurable(join(dir, 'refs'));
    const idx = await IndexDb.open(join(dir, 'index'), defaultLockTimeout());
    await idx.setVersion();
    await idx.close();
    // The marker last and durable: a store whose marker survives a power cut
    // has its folders and index on disk too.
    await writeFileAtomic(marker, FORMAT_TEXT);
  }

  static async isStore(dir: string): Promise<boolean> {
    try {
      return (await readFile(join(dir, FORMAT_FILE), 'utf8')).startsWith('cairn store');
    } catch {
      return false;
    }
  }

  static async open(dir: string, opts: OpenOptions = {}): Promise<Store> {
    dir = resolvePath(dir);
    if (!(await Store.isStore(dir))) {
      throw new CairnError('NOT_FOUND', `no cairn store at ${dir}`, { hint: 'run cairn init, or pass --store DIR' });
    }
    await checkStoreFormat(dir);
    await initChecksum();
    const indexPath = join(dir, 'index');
    const timeout = opts.lockTimeoutMs ?? defaultLockTimeout();
    let idx: IndexDb;
    let quarantined: string | undefined;
    const gate = () => (opts.priority ? priorityGate(dir) : ordinaryGate(dir));
    try {
      idx = await IndexDb.open(indexPath, timeout, { gate: gate() });
      // Reading the version reads a table: damage that opening misses shows here.
      await idx.version().catch(async (err) => {
        await idx.close();
        throw indexError(err, indexPath);
      });
    } catch (err) {
      if (!opts.repairIndex || !isIndexDamage(err)) throw err;
      quarantined = await quarantineIndex(dir);
      idx = await IndexDb.open(indexPath, timeout, { gate: gate() });
    }
    const store = new Store(dir, idx, timeout);
    store.indexQuarantined = quarantined;
    if (opts.yieldToPriority) store.yielder = new Yielder(dir);
    try {
      // Holding the lock, so any temp file is a dead writer's leftover. (Leftover
      // ref temp files are harmless to readers; gc sweeps them, so opening stays
      // independent of the number of refs.)
      await rm(join(store.packsDir, 'tmp'), { recursive: true, force: true });
      // A missing or wiped index (no version key) is rebuilt from the packs,
      // unless the caller is about to repair it anyway.
      if (!opts.repairIndex && (await idx.version()) === undefined) await store.rebuild({});
    } catch (err) {
      await store.idx.close();
      throw isLevelError(err) ? indexError(err, indexPath) : err;
    }
    return store;
  }

  /** The LevelDB index (replaced by a rebuild: do not keep it across repair()). */
  get index(): IndexDb {
    return this.idx;
  }

  /** @internal Used by repair, which swaps a rebuilt index in. */
  setIndex(idx: IndexDb): void {
    this.idx = idx;
  }

  /**
   * Opens the store, runs `fn`, and closes it: committing what `fn` put when
   * it succeeds, discarding what was not yet committed when it throws.
   */
  static async with<T>(dir: string, fn: (store: Store) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
    const store = await Store.open(dir, opts);
    let result: T;
    try {
      result = await fn(store);
    } catch (err) {
      await store.close({ discard: true }).catch(() => {});
      // A read deep in some command that meets a damaged index: say which folder, and what cures it.
      throw isLevelError(err) ? indexError(err, store.index.path) : err;
    }
    await store.close();
    return result;
  }

  /**
   * Makes every put durable (see flush), then releases the lock. A failed
   * flush throws, having discarded what it could not commit. With `discard`,
   * puts not yet committed are dropped instead.
   */
  async close(opts: { discard?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.snapshot) {
      // A detached copy holds pack handles only; the index is its original's.
      for (const h of this.handles.values()) await (await h.catch(() => undefined))?.close().catch(() => {});
      this.handles.clear();
      return;
    }
    try {
      if (opts.discard) await this.session.discard();
      else await this.session.flush();
    } finally {
      for (const h of this.handles.values()) await (await h.catch(() => undefined))?.close().catch(() => {});
      this.handles.clear();
      // Under the lock still: what the lease rooted is named by now, or meant to go.
      await this.yielder?.release();
      await this.index.close();
    }
  }

  // ---- letting a priority opener in (see yield.ts) ----------------------

  /** Notes an object the session put or found stored: a later object may name it, so a step aside must lease it. */
  private touch(id: ObjectId): void {
    if (this.yielder && !this.hashOnly) this.yielder.touched.add(id);
  }

  /**
   * A safe point of a long write: when a priority opener waits, commits
   * what this session wrote, leases all it touched, gives the lock up and
   * takes it again after the waiter. Cheap when nobody waits.
   */
  private async yieldPoint(): Promise<void> {
    if (!this.yielder || this.closed || this.snapshot || this.hashOnly || !(await this.yielder.wanted())) return;
    await this.stepAside();
  }

  private async stepAside(): Promise<void> {
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

  // ---- writing -------------------------------------------------------

  private async putBlob(type: ObjectType, data: Buffer, size?: number, knownId?: ObjectId): Promise<ObjectId> {
    if (this.snapshot && !this.hashOnly) throw detachedWrite();
    const id = knownId ?? sha256(data).toString('hex');
    if (this.hashOnly) return id;
    await this.yieldPoint();
    this.touch(id);
    if (this.session.has(id) || (await this.index.get(id))) return id;
    await this.session.add(id, Buffer.from(id, 'hex'), type, data, size ?? data.length);
    return id;
  }

  /**
   * Appends a new blob that is in the arena (see PackWriter.addOwned; a
   * chunk unless `as` says otherwise); `release` is called once it is no
   * longer needed.
   */
  private async addOwnedBlob(id: ObjectId, idBytes: Buffer, addr: number, len: number, release: () => void, as?: { type: ObjectType; size: number; checksum: Buffer }): Promise<void> {
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

  /**
   * Seals the open pack and indexes everything written: data first, then
   * index. Runs before any ref changes and at close(), so puts of one
   * session share packs and a ref never names unindexed data. A failure
   * discards everything the session had not indexed (see pack-session.ts).
   */
  async flush(): Promise<void> {
    if (this.snapshot) return;
    await this.session.flush();
  }

  // ---- leases and detached reads ---------------------------------------

  /**
   * Takes a lease (see leases.ts): until it is released, or this process
   * ends, no other process may set or delete `refs`, and gc keeps `roots`
   * and all they reach. Taken under the store lock, so whatever this
   * session wrote and the roots name is safe from the moment the lock goes.
   * The lease outlives this session: release it when done.
   */
  async takeLease(terms: LeaseTerms): Promise<Lease> {
    if (this.closed || this.snapshot) throw new CairnError('FAILED', 'a lease is taken while the store is open');
    return Lease.take(this.dir, terms);
  }

  /** The live leases of the store in `dir` (dead ones are removed on the way); needs no lock. */
  static async listLeases(dir: string): Promise<LeaseInfo[]> {
    return listLeases(resolvePath(dir));
  }

  /** Refuses a change of a ref that another live process holds a lease on. */
  private async checkLeased(name: string): Promise<void> {
    if (this.snapshot) throw detachedWrite();
    const holder = (await otherLeases(this.dir)).find((l) => l.refs.includes(name));
    if (holder) {
      throw new CairnError('LOCKED', `ref '${name}' is held by process ${holder.pid}${holder.note ? ` (${holder.note})` : ''}`, {
        hint: 'wait for it to finish, or stop it first',
      });
    }
  }

  /**
   * A read-only copy of this store that can read exactly the objects `ids`
   * (stat, read*, getStream, getToPath, readObjects, copyObjectsTo) and
   * holds no lock: their locations are looked up now and every pack they
   * are in is opened now. Close this store (its lock goes) and keep reading
   * from the copy for as long as its output takes: packs are never changed
   * once written, and a pack that gc unlinks meanwhile stays readable
   * through the open handle. Close the copy when done.
   */
  async detach(ids: Iterable<ObjectId>): Promise<Store> {
    const list = [...ids];
    const locs = await this.locateMany(list);
    const copy = new Store(this.dir, this.idx, this.lockTimeoutMs);
    copy.snapshot = new Map(list.map((id, i) => [id, locs[i]]));
    try {
      for (const packId of new Set(locs.map((l) => l.packId))) await copy.handle(packId);
    } catch (err) {
      await copy.close();
      throw err;
    }
    return copy;
  }

  private async putChunks(chunks: AsyncIterable<Buffer>, mode: number, opts: PutOptions): Promise<ObjectId> {
    const manifest: FileManifest = { size: 0, exec: (mode & 0o111) !== 0, mode, chunks: [] };
    // Hashes run on the thread pool, several chunks ahead, so reading,
    // hashing and writing overlap on the machine's cores; the queue keeps
    // chunks in file order and bounds memory to HASH_AHEAD chunks.
    const queue: Array<{ chunk: Buffer; id: Promise<ObjectId> }> = [];
    const settle = async () => {
      const { chunk, id } = queue.shift()!;
      await this.putBlob('chunk', chunk, chunk.length, await id);
      manifest.chunks.push({ id: await id, length: chunk.length });
      manifest.size += chunk.length;
      opts.onProgress?.(manifest.size);
    };
    try {
      for await (const chunk of chunks) {
        const id = this.hashOnly ? Promise.resolve(sha256(chunk).toString('hex')) : sha256Async(chunk);
        id.catch(() => {}); // awaited in settle()
        queue.push({ chunk, id });
        if (queue.length >= HASH_AHEAD) await settle();
      }
      while (queue.length > 0) await settle();
    } finally {
      await Promise.allSettled(queue.map((q) => q.id));
    }
    return this.putBlob('file', encodeFile(manifest), manifest.size);
  }

  /**
   * Stores a file whose chunk cuts are known up front (a recognised model
   * layout). The read pool's threads read the chunks into the arena and
   * SHA-256 them there, several at once, while this thread looks their IDs
   * up (a batch at a time) and appends the new ones to the pack straight
   * from the arena. Chunks are taken in file order, so a file's new chunks
   * lie in its pack in order (restore reads them back in sequence).
   *
   * Each chunk is read to the offset within a 4 KiB block that it will have
   * in the pack if it turns out new (assuming the chunks before it are new
   * too), so that the pack writer can write it from where it is; when the
   * guess is off, the writer copies it instead.
   */
  private async putPlanned(fh: FileHandle, cuts: number[], mode: number, opts: PutOptions): Promise<ObjectId> {
    const pool = readPool();
    const A = arena();
    const manifest: FileManifest = { size: 0, exec: (mode & 0o111) !== 0, mode, chunks: [] };
    interface Item {
      slot: number;
      addr: number;
      len: number;
      p: Promise<PoolResult>;
      r?: PoolResult;
    }
    const queue: Item[] = [];
    /** Items taken from the queue to be handed on; the first `done` of them are. */
    let batch: Item[] = [];
    let done = 0;
    let next = 0;
    let packPos = 0; // where the next chunk dispatched would land in a pack if it and all before it are new
    const fill = async () => {
      // Chunks found already stored take no room: guesses start from where the pack really is.
      packPos = this.session.openPackSize ?? HEADER_SIZE;
      for (const q of [...batch.slice(done), ...queue]) packPos = landing(packPos, q.len) + q.len;
      while (queue.length + batch.length - done < POOL_WINDOW && next < cuts.length) {
        const pos = next === 0 ? 0 : cuts[next - 1];
        const len = cuts[next++] - pos;
        const slot = await A.take();
        packPos = landing(packPos, len);
        const addr = A.addr(slot, packPos % 4096);
        packPos += len;
        const item: Item = { slot, addr, len, p: pool.run({ reads: [{ fd: fh.fd, pos, len, addr }], sha: { addr, len } }) };
        item.p.then((r) => (item.r = r), () => {});
        queue.push(item);
      }
    };
    try {
      await fill();
      while (queue.length > 0) {
        await queue[0].p;
        // Whatever else is already hashed joins this index lookup.
        let n = 1;
        while (n < queue.length && queue[n].r) n++;
        batch = queue.splice(0, n);
        done = 0;
        const ids = batch.map((q) => q.r!.sha!.toString('hex'));
        // Before the lookup: after a step aside the index may know more.
        await this.yieldPoint();
        for (const id of ids) this.touch(id);
        const known = this.hashOnly ? [] : await this.index.hasMany(ids);
        while (done < batch.length) {
          const { slot, addr, len, r } = batch[done];
          const id = ids[done++];
          if (this.hashOnly || known[done - 1] || this.session.has(id)) A.give(slot);
          else await this.addOwnedBlob(id, r!.sha!, addr, len, () => A.give(slot));
          manifest.chunks.push({ id, length: len });
          manifest.size += len;
          opts.onProgress?.(manifest.size);
          await fill();
        }
      }
    } finally {
      // Slots not handed on go back; the threads read through fh until every job is back (the caller closes fh after this).
      for (const q of [...batch.slice(done), ...queue]) {
        await q.p.catch(() => {});
        A.give(q.slot);
      }
    }
    return this.putBlob('file', encodeFile(manifest), manifest.size);
  }

  private async putFileInner(path: string | Buffer, opts: PutOptions): Promise<ObjectId> {
    const fh = await openForRead(path);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new CairnError('BAD_INPUT', `${path} is not a regular file`);
      // Permission bits only: a restore must never create a setuid or setgid file.
      const mode = st.mode & MODE_BITS;
      if (st.size >= POOL_MIN_FILE) {
        const cuts = await planFileCuts(fh, st.size);
        if (cuts !== null && cuts.every((c, i) => c - (i === 0 ? 0 : cuts[i - 1]) <= SLOT_DATA)) return await this.putPlanned(fh, cuts, mode, opts);
      }
      return await this.putChunks(chunkFile(fh, st.size), mode, opts);
    } finally {
      await fh.close();
    }
  }

  private async putDirectoryInner(path: string | Buffer, opts: PutOptions): Promise<{ id: ObjectId; size: number }> {
    let dirents;
    let mode;
    try {
      // Names as bytes: one that is not UTF-8 would not survive a string.
      dirents = await readdir(path, { encoding: 'buffer', withFileTypes: true });
      mode = (await fsStat(path)).mode & MODE_BITS;
    } catch (err) {
      throw ioError(err, path);
    }
    const entries: TreeEntry[] = [];
    const named = dirents.map((d) => ({ d, name: d.name as unknown as Buffer })).sort((a, b) => Buffer.compare(a.name, b.name));
    for (const { d, name: raw } of named) {
      const p = childPath(path, raw);
      const name = nameFields(raw);
      if (d.isFile()) {
        const st = await fsStat(p);
        const id = await this.putFileInner(p, opts);
        entries.push({ ...name, kind: 'file', id, size: st.size, exec: (st.mode & 0o111) !== 0 });
      } else if (d.isDirectory()) {
        const sub = await this.putDirectoryInner(p, opts);
        entries.push({ ...name, kind: 'tree', id: sub.id, size: sub.size, exec: false });
      } else if (d.isSymbolicLink()) {
        const target = await readlink(p, { encoding: 'buffer' });
        const link = nameFields(target);
        entries.push({ ...name, kind: 'link', id: link.name, ...(link.rawName ? { rawTarget: link.rawName } : {}), size: 0, exec: false });
      }
      // Sockets, fifos and devices are not content: skipped.
    }
    const size = entries.reduce((n, e) => n + e.size, 0);
    return { id: await this.putBlob('tree', encodeTree(entries, mode), size), size };
  }

  /** Stores a regular file; returns its file-manifest ID. */
  async putFile(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    return this.putFileInner(path, opts);
  }

  /** Stores a folder recursively (files, folders, symlinks); returns its tree ID. */
  async putDirectory(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    return (await this.putDirectoryInner(path, opts)).id;
  }

  /** Stores a file or a folder, whichever `path` is. */
  async putPath(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      throw ioError(err, path);
    }
    if (st.isDirectory()) return this.putDirectory(path, opts);
    if (st.isFile()) return this.putFile(path, opts);
    throw new CairnError('BAD_INPUT', `${path} is neither a regular file nor a folder`);
  }

  /**
   * The ID `putPath` would return for a file or folder, computed without
   * writing anything: for comparing a workspace with a checkpoint.
   */
  async hashPath(path: string): Promise<ObjectId> {
    if (this.session.size > 0) await this.flush();
    this.hashOnly = true;
    try {
      return await this.putPath(path);
    } finally {
      this.hashOnly = false;
    }
  }

  /** Stores a stream's bytes as a file; returns its file-manifest ID. */
  async putStream(input: AsyncIterable<Uint8Array> | Readable, opts: PutOptions = {}): Promise<ObjectId> {
    return this.putChunks(chunkStream(input), 0o644, opts);
  }

  async putBuffer(data: Uint8Array): Promise<ObjectId> {
    return this.putStream(Readable.from([data]));
  }

  /** Stores an opaque record for an upper layer. `links` are the IDs it refers to: they must exist, and gc keeps them while the record lives. */
  async putRecord(body: unknown, links: ObjectId[] = []): Promise<ObjectId> {
    for (const l of links) {
      if (!(await this.has(l))) throw new CairnError('NOT_FOUND', `record links to a missing object ${l.slice(0, 7)}`);
    }
    return this.putBlob('record', encodeRecord(body, links));
  }

  /**
   * Stores an object received whole from elsewhere (an import), checking
   * that its bytes hash to `id` and, for structured types, that they decode.
   * Links are not checked here: an importer writes every object before any
   * ref, and verifies reachability itself. Calls may overlap (an importer
   * keeps several in flight so hashing uses every core). Resolves to
   * whether the object was new to the store.
   */
  async putObject(id: ObjectId, type: ObjectType, data: Buffer): Promise<boolean> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new CairnError('BAD_INPUT', `not an object ID: '${id.slice(0, 80)}'`);
    const raw = this.reservePut(data.length);
    const checked = data.length >= POOL_MIN_OBJECT && data.length <= SLOT_DATA ? this.checkInArena(id, type, data, data.length, raw) : this.checkHere(id, type, data);
    return this.appendChecked(id, type, data.length, raw, checked);
  }

  /**
   * putObject for an object whose stored bytes are `length` bytes at
   * `position` of the open file `fd` (an importer reading a tarball): large
   * objects are read by a read-pool thread straight to where the pack write
   * takes them, and hashed there, with no copy on this thread. The file must
   * stay open until this settles; a file that ends early is BAD_INPUT.
   */
  async putObjectAt(id: ObjectId, type: ObjectType, fd: number, position: number, length: number): Promise<boolean> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new CairnError('BAD_INPUT', `not an object ID: '${id.slice(0, 80)}'`);
    const raw = this.reservePut(length);
    const checked =
      length >= POOL_MIN_OBJECT && length <= SLOT_DATA
        ? this.checkInArena(id, type, { fd, position }, length, raw)
        : readFdExactly(fd, position, length).then((data) => this.checkHere(id, type, data));
    return this.appendChecked(id, type, length, raw, checked);
  }

  /** The expected place in the pack of a put of `len` bytes (see putRaw). */
  private reservePut(len: number): number {
    const raw = this.putRaw;
    this.putRaw += len;
    return raw;
  }

  /** Checks of overlapping puts run concurrently; appends happen in call order, each after its own checks. */
  private appendChecked(id: ObjectId, type: ObjectType, len: number, raw: number, checked: Promise<CheckedObject>): Promise<boolean> {
    if (this.snapshot) checked = checked.then((c) => (c.release?.(), Promise.reject(detachedWrite())));
    checked.catch(() => {}); // surfaced below
    const write = this.objectWrites.then(async () => {
      const c = await checked;
      try {
        // Overlapping puts queue behind this one, so none uses the index while it is closed.
        await this.yieldPoint();
        this.touch(id);
        if (this.session.has(id) || (await this.index.get(id))) {
          c.release?.();
          return false;
        }
        this.putDrift = this.session.packFor(len).size - raw;
      } catch (err) {
        c.release?.();
        throw err;
      }
      if (c.addr === undefined) await this.session.add(id, c.idBytes, type, c.data!, c.size);
      else await this.addOwnedBlob(id, c.idBytes, c.addr, len, c.release!, { type, size: c.size, checksum: c.checksum! });
      return true;
    });
    this.objectWrites = write.catch(() => {});
    return write;
  }

  /** putObject's checks of a small object: SHA-256 (off the main thread) and decoding. */
  private async checkHere(id: ObjectId, type: ObjectType, data: Buffer): Promise<CheckedObject> {
    if ((await sha256Async(data)) !== id) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} does not match its ID (its bytes hash to something else)`);
    return { idBytes: Buffer.from(id, 'hex'), size: checkedSize(id, type, data), data };
  }

  /**
   * putObject's checks of a large object: it goes into an arena slot (a
   * copy of `src`, or read there from a file by a read-pool thread) at the
   * offset within a 4 KiB block its place in the pack is expected to have
   * (`raw` + putDrift), so the pack write takes it from there (see
   * DirectWriter.appendOwned), and is hashed (SHA-256 and XXH64) in place on
   * a read-pool thread. The slot is the caller's to release.
   */
  private async checkInArena(id: ObjectId, type: ObjectType, src: Buffer | { fd: number; position: number }, len: number, raw: number): Promise<CheckedObject> {
    const A = arena();
    this.putSlots ??= new SlotShare(A);
    const { addr, release } = await this.putSlots.take(len, raw + this.putDrift);
    try {
      const reads: ArenaRead[] = [];
      if (Buffer.isBuffer(src)) A.view(addr, len).set(src);
      else reads.push({ fd: src.fd, pos: src.position, len, addr });
      const r = await readPool().run({ reads, sha: { addr, len }, xxh: [{ addr, len }] }, (read, at) => {
        return new CairnError('BAD_INPUT', `object ${id.slice(0, 12)}: the file ends at byte ${at}, before the object's ${len} bytes at ${read.pos} are read`);
      });
      if (r.sha!.toString('hex') !== id) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} does not match its ID (its bytes hash to something else)`);
      return { idBytes: r.sha!, size: checkedSize(id, type, A.view(addr, len)), addr, checksum: r.xxh![0], release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** An object's type and stored bytes (checksum-verified), as putObject takes them. */
  async readObject(id: ObjectId): Promise<{ type: ObjectType; data: Buffer }> {
    const loc = await this.locate(id);
    return { type: loc.type, data: await this.readBlob(id, loc) };
  }

  /**
   * Many objects' types and stored bytes (checksum-verified), in the order
   * of `ids`, in batches of a few MiB read ahead on the read pool's threads
   * (see read-many.ts). A batch's `data` buffers are views of memory that is
   * reused once the batch is released: release every batch handed out, after
   * writing or copying what it holds.
   */
  async *readObjects(ids: ObjectId[], opts: ReadManyOptions = {}): AsyncGenerator<ObjectBatch> {
    if (this.session.size > 0) await this.flush();
    yield* readMany(
      {
        locateMany: (part) => this.locateMany(part),
        handle: (packId) => this.handle(packId),
        readBlob: (id, loc) => this.readBlob(id, loc),
      },
      ids,
      opts,
    );
  }

  /**
   * Writes each object's stored bytes (checksum-verified) at its position
   * of the open file `fd`, on the read pool's threads (see read-many.ts,
   * copyMany): for laying objects out in a file of another format, such as
   * an export tarball, without passing them through this thread. Resolves to
   * how many of `items` were written (fewer only if `opts.deadline` passed).
   */
  async copyObjectsTo(items: Array<{ id: ObjectId; position: number }>, fd: number, opts: CopyManyOptions = {}): Promise<number> {
    if (this.session.size > 0) await this.flush();
    return copyMany(
      {
        locateMany: (part) => this.locateMany(part),
        handle: (packId) => this.handle(packId),
        readBlob: (id, loc) => this.readBlob(id, loc),
      },
      items,
      fd,
      opts,
    );
  }

  // ---- reading -------------------------------------------------------

  private async locate(id: ObjectId): Promise<Location> {
    if (this.session.size > 0) await this.flush();
    const loc = this.snapshot ? this.snapshot.get(id) : /^[0-9a-f]{64}$/.test(id) ? await this.index.get(id) : undefined;
    if (!loc) throw new CairnError('NOT_FOUND', `no object ${id.slice(0, 12)} in the store`);
    return loc;
  }

  private handle(packId: string): Promise<FileHandle> {
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

  /** Reads a blob's bytes and checks them against the stored checksum. */
  async readBlob(id: ObjectId, loc?: Location): Promise<Buffer> {
    loc ??= await this.locate(id);
    const fh = await this.handle(loc.packId);
    const data = await readExactly(fh, loc.length, loc.offset, `pack ${loc.packId}`);
    if (!xxh64(data).equals(loc.checksum)) {
      throw new CairnError('CORRUPT', `object ${id.slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck' });
    }
    return data;
  }

  async has(id: ObjectId): Promise<boolean> {
    if (this.snapshot) return this.snapshot.has(id);
    return this.session.has(id) || (/^[0-9a-f]{64}$/.test(id) && (await this.index.get(id)) !== undefined);
  }

  async stat(id: ObjectId): Promise<ObjectStat> {
    const loc = await this.locate(id);
    return { id, type: loc.type, size: loc.size };
  }

  /** stat() of many objects, with their stored lengths: one index call per thousand. A missing one is NOT_FOUND. */
  async statMany(ids: ObjectId[]): Promise<StoredStat[]> {
    if (this.session.size > 0) await this.flush();
    return (await this.locateMany(ids)).map((loc, i) => ({ id: ids[i], type: loc.type, size: loc.size, stored: loc.length }));
  }

  private async typed(id: ObjectId, type: ObjectType): Promise<Buffer> {
    const loc = await this.locate(id);
    if (loc.type !== type) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${loc.type}, not a ${type}`);
    return this.readBlob(id, loc);
  }

  async readManifest(id: ObjectId): Promise<FileManifest> {
    return decodeFile(await this.typed(id, 'file'), `file ${id.slice(0, 12)}`);
  }

  async readTree(id: ObjectId): Promise<TreeEntry[]> {
    return decodeTree(await this.typed(id, 'tree'), `tree ${id.slice(0, 12)}`);
  }

  async getRecord<T = unknown>(id: ObjectId): Promise<{ body: T; links: ObjectId[] }> {
    return decodeRecord<T>(await this.typed(id, 'record'), `record ${id.slice(0, 12)}`);
  }

  /** A file's chunks in order, verified, reading a few ahead so reads overlap the consumer's writes. */
  private async *fileChunks(m: FileManifest): AsyncGenerator<Buffer> {
    const locs = await this.locateChunks(m);
    const queue: Promise<Buffer>[] = [];
    let next = 0;
    const fill = () => {
      while (queue.length < READ_AHEAD && next < m.chunks.length) {
        const p = this.readBlob(m.chunks[next].id, locs[next++]);
        p.catch(() => {}); // surfaced when awaited below
        queue.push(p);
      }
    };
    fill();
    while (queue.length > 0) {
      const data = await queue.shift()!;
      fill();
      yield data;
    }
  }

  /** A file's (or chunk's) content as a stream, every chunk verified. */
  async getStream(id: ObjectId): Promise<Readable> {
    const loc = await this.locate(id);
    if (loc.type === 'chunk') return Readable.from([await this.readBlob(id, loc)]);
    if (loc.type !== 'file') throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${loc.type}, not file content`);
    return Readable.from(this.fileChunks(await this.readManifest(id)), { objectMode: false });
  }

  async getBuffer(id: ObjectId): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const p of await this.getStream(id)) parts.push(p as Buffer);
    return Buffer.concat(parts);
  }

  /** Restores a file or folder to `dest`, replacing what is there; files appear whole (temp file, fsync, rename). */
  async getToPath(id: ObjectId, dest: string): Promise<void> {
    const loc = await this.locate(id);
    if (loc.type === 'file' || loc.type === 'tree') {
      if (loc.type === 'file') await this.restoreFile(id, dest);
      else await this.restoreTree(id, dest);
      // The new entry in dest's folder is durable too, not only its content.
      await syncDir(dirname(resolvePath(dest)));
      return;
    }
    throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${loc.type}, not a file or folder`);
  }

  /** Where each of a file's chunks is: one index call per thousand chunks. */
  private async locateChunks(m: FileManifest): Promise<Location[]> {
    if (this.session.size > 0) await this.flush();
    return this.locateMany(m.chunks.map((c) => c.id));
  }

  /** Where each object is, in order: one index call per thousand; a missing one is NOT_FOUND. */
  private async locateMany(ids: ObjectId[]): Promise<Location[]> {
    const out: Location[] = [];
    for (let i = 0; i < ids.length; i += 1024) {
      const part = ids.slice(i, i + 1024);
      const locs = this.snapshot ? part.map((id) => this.snapshot!.get(id)) : await this.index.getMany(part);
      locs.forEach((loc, j) => {
        if (!loc) throw new CairnError('NOT_FOUND', `no object ${part[j].slice(0, 12)} in the store`);
        out.push(loc);
      });
    }
    return out;
  }

  /**
   * Writes a file's content to `out`, every chunk verified. Large files go
   * through the arena: the read pool's threads read runs of chunks into a
   * slot, each at the offset within a 4 KiB block that it has in the file
   * (chunks back to back in one pack, as a file's new chunks are written,
   * in one read), and check their XXH64 there; the writer then writes them
   * to disk from where they are. Small files are read and checked here.
   */
  private async writeContent(out: DirectWriter, m: FileManifest, locs: Location[]): Promise<void> {
    if (m.size < POOL_MIN_FILE) {
      for (let i = 0; i < locs.length; i++) {
        const id = m.chunks[i].id;
        if (zeroChunks.has(id)) {
          await out.skip(locs[i].length);
          continue;
        }
        const data = await this.readBlob(id, locs[i]);
        if (isAllZero(data)) {
          noteZero(id);
          await out.skip(data.length);
        } else await out.append(data);
      }
      await out.finish();
      return;
    }
    const pool = readPool();
    const A = arena();
    interface Run {
      /** Index of the first chunk. */
      first: number;
      count: number;
      /** Its place in the file. */
      pos: number;
      len: number;
      /** A chunk larger than a slot takes: read here. */
      big: boolean;
      /** Chunks known to be all zeros: not read, left as a hole. */
      hole?: boolean;
    }
    interface Item extends Run {
      slot: number;
      addr: number;
      p: Promise<{ pooled?: PoolResult; data?: Buffer; hole?: boolean }>;
    }
    // Runs of consecutive chunks that fit a slot at their block offset; a larger chunk is a run alone, read here.
    const runs: Run[] = [];
    let pos = 0;
    for (let i = 0; i < locs.length; i++) {
      const len = locs[i].length;
      const big = len > SLOT_DATA;
      const hole = zeroChunks.has(m.chunks[i].id);
      const last = runs[runs.length - 1];
      if (last?.hole && hole) {
        last.count++;
        last.len += len;
      } else if (last && !last.hole && !hole && !last.big && !big && (last.pos % 4096) + last.len + len <= SLOT_SIZE) {
        last.count++;
        last.len += len;
      } else runs.push({ first: i, count: 1, pos, len, big, hole });
      pos += len;
    }
    const start = async (run: Run): Promise<Item> => {
      // A run of one chunk may have been found to be zeros since the plan was made (the same zero chunk recurs through a sparse file).
      if (run.hole || (run.count === 1 && zeroChunks.has(m.chunks[run.first].id))) {
        return { ...run, hole: true, slot: -1, addr: 0, p: Promise.resolve({ hole: true }) };
      }
      if (run.big) {
        const p = this.readBlob(m.chunks[run.first].id, locs[run.first]).then((data) => ({ data }));
        p.catch(() => {});
        return { ...run, slot: -1, addr: 0, p };
      }
      const handles: FileHandle[] = [];
      for (let i = run.first; i < run.first + run.count; i++) handles.push(await this.handle(locs[i].packId));
      const slot = await A.take();
      const addr = A.addr(slot, run.pos % 4096);
      const reads: ArenaRead[] = [];
      const packOf = new Map<ArenaRead, string>();
      const xxh: Array<{ addr: number; len: number }> = [];
      let at = addr;
      for (let i = run.first; i < run.first + run.count; i++) {
        const loc = locs[i];
        const fd = handles[i - run.first].fd;
        const prev = reads[reads.length - 1];
        // Chunks back to back in one pack are read together.
        if (prev && prev.fd === fd && prev.pos + prev.len === loc.offset) prev.len += loc.length;
        else {
          const read = { fd, pos: loc.offset, len: loc.length, addr: at };
          reads.push(read);
          packOf.set(read, loc.packId);
        }
        xxh.push({ addr: at, len: loc.length });
        at += loc.length;
      }
      const p = pool
        .run({ reads, xxh }, (read, at) => {
          const packId = packOf.get(read) ?? locs[run.first].packId;
          return new CairnError('CORRUPT', `pack ${packId}: file ends early (wanted ${read.len} bytes at ${read.pos}, got ${at - read.pos})`, { hint: 'run cairn fsck' });
        })
        .then((pooled) => ({ pooled }));
      p.catch(() => {});
      return { ...run, slot, addr, p };
    };
    const queue: Item[] = [];
    let next = 0;
    const fill = async () => {
      while (queue.length < POOL_WINDOW && next < runs.length) queue.push(await start(runs[next++]));
    };
    try {
      await fill();
      while (queue.length > 0) {
        const item = queue.shift()!;
        let r: { pooled?: PoolResult; data?: Buffer; hole?: boolean };
        try {
          r = await item.p;
          await fill();
        } catch (err) {
          if (item.slot >= 0) A.give(item.slot);
          throw err;
        }
        if (r.hole) {
          await out.skip(item.len);
          continue;
        }
        if (r.data) {
          // A chunk larger than a slot, read and verified by readBlob.
          if (isAllZero(r.data)) {
            noteZero(m.chunks[item.first].id);
            await out.skip(r.data.length);
          } else await out.append(r.data);
          continue;
        }
        for (let i = 0; i < item.count; i++) {
          const loc = locs[item.first + i];
          if (!r.pooled!.xxh![i].equals(loc.checksum)) {
            A.give(item.slot);
            throw new CairnError('CORRUPT', `object ${m.chunks[item.first + i].id.slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck' });
          }
        }
        await this.appendRun(out, m, item, locs);
      }
      await out.finish();
    } finally {
      // Nothing may still read into the arena, or through the pack handles, once this returns.
      for (const q of queue) {
        await q.p.catch(() => {});
        if (q.slot >= 0) A.give(q.slot);
      }
    }
  }

  /**
   * A verified run of chunks in an arena slot, to `out`: from where they
   * are, except chunks of zeros, which become holes; the slot goes back once
   * every piece written from it is.
   */
  private async appendRun(out: DirectWriter, m: FileManifest, item: { first: number; count: number; addr: number; len: number; slot: number }, locs: Location[]): Promise<void> {
    const A = arena();
    const slot = item.slot;
    const pieces: Array<{ off: number; len: number; zero: boolean }> = [];
    for (let i = item.first, off = 0; i < item.first + item.count; off += locs[i++].length) {
      const len = locs[i].length;
      const zero = isAllZero(A.view(item.addr + off, len));
      if (zero) noteZero(m.chunks[i].id);
      const last = pieces[pieces.length - 1];
      if (last && last.zero === zero) last.len += len;
      else pieces.push({ off, len, zero });
    }
    if (pieces.length === 1 && !pieces[0].zero) return out.appendOwned(item.addr, item.len, () => A.give(slot));
    let left = pieces.filter((p) => !p.zero).length;
    const release = () => {
      if (--left === 0) A.give(slot);
    };
    if (left === 0) A.give(slot);
    let k = 0;
    try {
      for (; k < pieces.length; k++) {
        const p = pieces[k];
        if (p.zero) await out.skip(p.len);
        else await out.appendOwned(item.addr + p.off, p.len, release); // releases its piece even when it throws
      }
    } catch (err) {
      for (k++; k < pieces.length; k++) if (!pieces[k].zero) release();
      throw err;
    }
  }

  private async restoreFile(id: ObjectId, dest: string | Buffer): Promise<void> {
    const m = await this.readManifest(id);
    const locs = await this.locateChunks(m);
    if (typeof dest === 'string') await mkdir(dirname(dest), { recursive: true });
    const tmp = typeof dest === 'string' ? tmpName(dest) : Buffer.concat([dest, Buffer.from(tmpName(''))]);
    // Private until complete: the file's recorded mode may be narrower than the default (a key).
    const out = await DirectWriter.create(tmp, 'w', 0o600);
    try {
      await this.writeContent(out, m, locs);
      await out.fh.sync();
      await out.close();
      await chmod(tmp, m.mode ?? legacyFileMode(m.exec));
      const existing = await lstat(dest).catch(() => undefined);
      if (existing?.isDirectory()) await rm(dest, { recursive: true, force: true });
      await rename(tmp, dest);
    } catch (err) {
      await out.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  private async restoreTree(id: ObjectId, dest: string | Buffer): Promise<void> {
    const { entries, mode } = decodeTreeObject(await this.typed(id, 'tree'), `tree ${id.slice(0, 12)}`);
    const existing = await lstat(dest).catch(() => undefined);
    if (existing && !existing.isDirectory()) await rm(dest, { force: true });
    if (existing?.isDirectory()) {
      // Its entries are replaced below; its recorded mode is set once they are.
      if ((existing.mode & 0o700) !== 0o700) await chmod(dest, (existing.mode & MODE_BITS) | 0o700);
    } else {
      if (typeof dest === 'string') await mkdir(dirname(dest), { recursive: true });
      // Owner-only while it fills: its recorded mode may be narrower than the default.
      await mkdir(dest, { mode: 0o700 });
    }
    // The folder ends up holding exactly the tree: extra entries go. Names compare as bytes.
    const names = new Set(entries.map((e) => entryNameBytes(e).toString('latin1')));
    for (const name of await readdir(dest, { encoding: 'buffer' })) {
      if (!names.has(name.toString('latin1'))) await rm(childPath(dest, name), { recursive: true, force: true });
    }
    for (const e of entries) {
      const name = entryNameBytes(e);
      // On Windows '\\' separates folders: such a POSIX name would leave this one.
      if (process.platform === 'win32' && name.includes(0x5c)) throw new CairnError('BAD_INPUT', `cannot restore '${e.name}' here: '\\' separates folders on Windows`);
      const p = childPath(dest, name);
      if (e.kind === 'file') await this.restoreFile(e.id, p);
      else if (e.kind === 'tree') await this.restoreTree(e.id, p);
      else {
        await rm(p, { recursive: true, force: true });
        await symlink(e.rawTarget ?? e.id, p);
      }
    }
    await syncDir(dest);
    await chmod(dest, mode);
  }

  // ---- naming and listing ---------------------------------------------

  /**
   * Resolves a unique ID prefix (4+ hex digits) to a full ID. By default only
   * files, trees and records are candidates: chunk IDs are internal and would
   * make short prefixes ambiguous.
   */
  async resolve(prefix: string, opts: { types?: ObjectType[] } = {}): Promise<ObjectId> {
    const p = prefix.toLowerCase();
    if (p.length < 4 || p.length > 64 || !isHex(p)) {
      throw new CairnError('BAD_INPUT', `'${prefix}' is not an ID (4 to 64 hex digits)`);
    }
    if (this.session.size > 0) await this.flush();
    const types = opts.types ?? ['file', 'tree', 'record'];
    const found: ObjectId[] = [];
    for await (const [key, value] of this.index.obj.iterator({ gte: p, lt: p + 'g', limit: 10_000 })) {
      const loc = decodeLocation(value);
      if (types.includes(loc.type)) found.push(key);
      if (found.length > 10) break;
    }
    if (found.length === 0) throw new CairnError('NOT_FOUND', `no object matches '${prefix}'`);
    if (found.length > 1) {
      throw new CairnError('AMBIGUOUS', `'${prefix}' is ambiguous: it matches ${found.slice(0, 10).map((f) => f.slice(0, 12)).join(', ')}${found.length > 10 ? ', ...' : ''}`, {
        hint: 'give more hex digits',
      });
    }
    return found[0];
  }

  /** Every object in the index (optionally of some types), in ID order. */
  async *listObjects(opts: { types?: ObjectType[] } = {}): AsyncGenerator<ObjectStat> {
    for await (const [id, value] of this.index.obj.iterator()) {
      const loc = decodeLocation(value);
      if (!opts.types || opts.types.includes(loc.type)) yield { id, type: loc.type, size: loc.size };
    }
  }

  /**
   * Every object reachable from `roots` (records → links, trees → entries,
   * files → chunks), roots included. A missing object is NOT_FOUND.
   */
  async reachable(roots: ObjectId[]): Promise<Set<ObjectId>> {
    if (this.session.size > 0) await this.flush();
    return markFrom(this, roots.map((id) => ({ id, from: 'root' })), (id, from) => {
      throw new CairnError('NOT_FOUND', `object ${id.slice(0, 12)} (reached from ${from}) is missing from the store`, { hint: 'run cairn fsck' });
    });
  }

  /** A namespaced cache for an upper layer (values: any msgpack-able value). */
  kv(namespace: string): KvCache {
    const sub = this.index.kv(namespace);
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

  // ---- maintenance ------------------------------------------------------

  async stats(): Promise<StoreStats> {
    return computeStats(this);
  }

  /** Checks packs, index and refs. `readData` also re-hashes every object against its ID. */
  async verify(opts: { readData?: boolean } = {}): Promise<VerifyReport> {
    return verifyStore(this, opts);
  }

  /**
   * Rebuilds the index from the packs (caches are emptied), salvaging what
   * verifies of damaged packs and moving those packs, an unreadable index and
   * damaged ref files into `quarantine/` (see repair.ts).
   */
  async repair(): Promise<RepairReport> {
    return this.rebuild({ refs: true, indexQuarantined: this.indexQuarantined });
  }

  private async rebuild(opts: { refs?: boolean; indexQuarantined?: string }): Promise<RepairReport> {
    if (this.session.size > 0) await this.flush();
    for (const h of this.handles.values()) await (await h.catch(() => undefined))?.close().catch(() => {});
    this.handles.clear();
    const report = await repairStore(this, opts);
    this.indexQuarantined = undefined;
    return report;
  }

  /** Deletes what no ref reaches, rewriting packs that are mostly dead. */
  async gc(opts: { dryRun?: boolean } = {}): Promise<GcReport> {
    if (this.session.size > 0) await this.flush();
    if (!opts.dryRun) await this.refs.cleanTemp();
    const y = this.yielder;
    const report = await collectGarbage(this, opts, y && { wanted: () => y.wanted(), stepAside: () => this.stepAside() });
    for (const h of this.handles.values()) await (await h.catch(() => undefined))?.close().catch(() => {});
    this.handles.clear();
    return report;
  }
}

function detachedWrite(): CairnError {
  return new CairnError('FAILED', 'a detached store is read-only');
}


/** `dir`/`name` as a path the fs functions take: a string while every part is UTF-8, else bytes. */
function childPath(dir: string | Buffer, name: Buffer): string | Buffer {
  if (typeof dir === 'string' && isUtf8(name)) return join(dir, name.toString('utf8'));
  return Buffer.concat([typeof dir === 'string' ? Buffer.from(dir) : dir, Buffer.from('/'), name]);
}

/** A tree entry's name fields for these bytes (see TreeEntry.rawName). */
function nameFields(raw: Buffer): { name: string; rawName?: Buffer } {
  return isUtf8(raw) ? { name: raw.toString('utf8') } : { name: raw.toString('utf8'), rawName: raw };
}

/**
 * IDs of chunks found to hold only zeros (the runs of a sparse file, which
 * dedup to a few IDs): restores leave them as holes without reading them.
 * An ID names its content, so membership needs no other check. Bounded.
 */
const zeroChunks = new Set<ObjectId>();
const ZERO_CHUNKS_MAX = 4096;
function noteZero(id: ObjectId): void {
  if (zeroChunks.size < ZERO_CHUNKS_MAX) zeroChunks.add(id);
}

const ZEROS = Buffer.alloc(64 * 1024);
/** Whether `b` is all zero bytes. Dense data nearly always has a non-zero first or last byte, so only zero runs are scanned. */
function isAllZero(b: Uint8Array): boolean {
  if (b.length === 0 || b[0] !== 0 || b[b.length - 1] !== 0) return false;
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off);
    if (Buffer.compare(b.subarray(off, off + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

async function openForRead(path: string | Buffer): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw ioError(err, path);
  }
}

function ioError(err: unknown, path: string | Buffer): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new CairnError('NOT_FOUND', `no such file or folder: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return new CairnError('BAD_INPUT', `cannot read ${path}: permission denied`);
  if (code === 'EISDIR') return new CairnError('BAD_INPUT', `${path} is a folder`);
  return err as Error;
}

/** Where a blob of `len` bytes lands given a pack that has `size` bytes: a new pack starts when one would grow past TARGET_PACK_SIZE. */
function landing(size: number, len: number): number {
  return size > HEADER_SIZE && size + len > TARGET_PACK_SIZE ? HEADER_SIZE : size;
}
