/**
 * The public face of a store: a small facade over the parts that do the
 * work. Repository (repository/repository.ts) holds the session's
 * internals (index, pack session, pack handles, refs, yielding); Ingest
 * (ingest.ts) puts files, folders, streams and records; Restore
 * (restore.ts) reads content back out and restores it to disk; RawObjects
 * (raw-objects.ts) copies stored objects in and out for import and export;
 * gc.ts, verify.ts, repair.ts and stats.ts maintain the store. This file
 * adds opening (the lock, the format marker), naming and the session's
 * lifetime, and nothing it hands out exposes those internals.
 *
 * A little over 400 lines only because each public method keeps its
 * documentation here, where the other packages' authors look; the bodies
 * are one-line delegations.
 */
import { poolThreads, setPoolThreads } from './io/pool.js';
import { readFile, rm, stat as fsStat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { initChecksum } from './checksum.js';
import { CairnError } from './errors.js';
import { checkStoreFormat, FORMAT_FILE, FORMAT_TEXT, packLayoutOf } from './format-version.js';
import { IndexDb, indexError, isLevelError } from './index-db.js';
import { decodeTree, decodeRecord, type FileManifest } from './objects.js';
import { mkdirDurable, writeFileAtomic } from './fsutil.js';
import { repairStore } from './repair.js';
import { verifyStore } from './verify.js';
import { collectGarbage } from './gc.js';
import { markFrom } from './reachable.js';
import { computeStats } from './stats.js';
import { Lease, listLeases, type LeaseInfo, type LeaseTerms } from './leases.js';
import { Yielder } from './yield.js';
import type { Refs } from './refs.js';
import { Repository } from './repository/repository.js';
import { defaultLockTimeout, openIndex, type OpenOptions } from './repository/open.js';
import { kvCache, listObjects, resolvePrefix, type KvCache } from './lookup.js';
import { Ingest } from './ingest.js';
import { Restore } from './restore.js';
import { RawObjects } from './raw-objects.js';
import type { CopyManyOptions, ObjectBatch, ReadManyOptions } from './read-many.js';
import type { ObjectId, ObjectStat, ObjectType, StoredStat, TreeEntry, StoreStats, VerifyReport, GcReport, RepairReport, PutOptions } from './types.js';


export type { OpenOptions, KvCache };

/**
 * A content-addressed store in one folder. Open it, put files, folders,
 * streams, buffers or records (each put returns an ID; puts become durable
 * together at flush(), which every ref change and close() run first), read
 * them back, name them with refs, verify, collect garbage.
 * An open Store holds the folder's lock until close(): keep it open only as
 * long as one operation needs it.
 */
export class Store {
  private readonly ingest: Ingest;
  private readonly restore: Restore;
  private readonly raw: RawObjects;
  /** Where the damaged index went, when open() moved it aside (repairIndex). */
  private indexQuarantined: string | undefined;

  private constructor(private readonly repo: Repository) {
    this.ingest = new Ingest(repo);
    this.restore = new Restore(repo);
    this.raw = new RawObjects(repo);
  }

  get dir(): string {
    return this.repo.dir;
  }

  get lockTimeoutMs(): number {
    return this.repo.lockTimeoutMs;
  }

  get refs(): Refs {
    return this.repo.refs;
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
      throw new CairnError('NOT_FOUND', `no cairn store at ${dir}`, { hint: 'run cairn init, or pass --store DIR', fields: { path: dir } });
    }
    const format = await checkStoreFormat(dir);
    // A bad CAIRN_THREADS is refused here, before anything is written, not at the first large file.
    if (opts.threads !== undefined) setPoolThreads(opts.threads);
    else poolThreads();
    await initChecksum();
    const { idx, indexPath, timeout, quarantined } = await openIndex(dir, opts);
    const repo = new Repository(dir, idx, timeout, packLayoutOf(format));
    if (opts.yieldToPriority) repo.yielder = new Yielder(dir);
    const store = new Store(repo);
    store.indexQuarantined = quarantined;
    try {
      // Holding the lock, so any temp file is a dead writer's leftover. (Leftover
      // ref temp files are harmless to readers; gc sweeps them, so opening stays
      // independent of the number of refs.)
      await rm(join(repo.packsDir, 'tmp'), { recursive: true, force: true });
      // A missing or wiped index (no version key) is rebuilt from the packs,
      // unless the caller is about to repair it anyway.
      if (!opts.repairIndex && (await idx.version()) === undefined) await store.rebuild({});
    } catch (err) {
      await repo.index.close();
      throw isLevelError(err) ? indexError(err, indexPath) : err;
    }
    return store;
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
      throw isLevelError(err) ? indexError(err, store.repo.index.path) : err;
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
    await this.repo.close(opts);
  }

  /**
   * Seals the open pack and indexes everything written: data first, then
   * index. Runs before any ref changes and at close(), so puts of one
   * session share packs and a ref never names unindexed data. A failure
   * discards everything the session had not indexed (see pack-session.ts).
   */
  async flush(): Promise<void> {
    await this.repo.flush();
  }

  /** Flushes only when something waits, for calls that read the index as a whole. */
  private async flushPending(): Promise<void> {
    if (this.repo.session.size > 0) await this.repo.flush();
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
    if (this.repo.closed || this.repo.detached) throw new CairnError('FAILED', 'a lease is taken while the store is open');
    return Lease.take(this.dir, terms);
  }

  /** The live leases of the store in `dir` (dead ones are removed on the way); needs no lock. */
  static async listLeases(dir: string): Promise<LeaseInfo[]> {
    return listLeases(resolvePath(dir));
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
    return new Store(await this.repo.detach([...ids]));
  }

  // ---- writing -------------------------------------------------------

  /** Stores a regular file; returns its file-manifest ID. */
  async putFile(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    return this.ingest.putFile(path, opts);
  }

  /** Stores a folder recursively (files, folders, symlinks); returns its tree ID. */
  async putDirectory(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    return (await this.ingest.putDirectory(path, opts)).id;
  }

  /** Stores a file or a folder, whichever `path` is. */
  async putPath(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    return this.ingest.putPath(path, opts);
  }

  /**
   * The ID `putPath` would return for a file or folder, computed without
   * writing or looking anything up: for comparing a workspace with a
   * checkpoint. Puts of this session are not touched (no flush either).
   */
  async hashPath(path: string): Promise<ObjectId> {
    return new Ingest(this.repo, true).putPath(path);
  }

  /** Stores a stream's bytes as a file; returns its file-manifest ID. */
  async putStream(input: AsyncIterable<Uint8Array> | Readable, opts: PutOptions = {}): Promise<ObjectId> {
    return this.ingest.putStream(input, opts);
  }

  async putBuffer(data: Uint8Array): Promise<ObjectId> {
    return this.putStream(Readable.from([data]));
  }

  /** Stores an opaque record for an upper layer. `links` are the IDs it refers to: they must exist, and gc keeps them while the record lives. */
  async putRecord(body: unknown, links: ObjectId[] = []): Promise<ObjectId> {
    return this.ingest.putRecord(body, links);
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
    return this.raw.putObject(id, type, data);
  }

  /**
   * putObject for an object whose stored bytes are `length` bytes at
   * `position` of the open file `fd` (see raw-objects.ts). The file must
   * stay open until this settles; a file that ends early is BAD_INPUT.
   */
  async putObjectAt(id: ObjectId, type: ObjectType, fd: number, position: number, length: number): Promise<boolean> {
    return this.raw.putObjectAt(id, type, fd, position, length);
  }

  // ---- reading -------------------------------------------------------

  /** An object's type and stored bytes (checksum-verified), as putObject takes them. */
  async readObject(id: ObjectId): Promise<{ type: ObjectType; data: Buffer }> {
    return this.raw.readObject(id);
  }

  /**
   * Many objects' types and stored bytes (checksum-verified), in the order
   * of `ids`, in batches of a few MiB read ahead on the read pool's threads
   * (see read-many.ts). A batch's `data` buffers are views of memory that is
   * reused once the batch is released: release every batch handed out, after
   * writing or copying what it holds.
   */
  readObjects(ids: ObjectId[], opts: ReadManyOptions = {}): AsyncGenerator<ObjectBatch> {
    return this.raw.readObjects(ids, opts);
  }

  /**
   * Writes each object's stored bytes (checksum-verified) at its position
   * of the open file `fd`, on the read pool's threads (see read-many.ts,
   * copyMany). Resolves to how many of `items` were written (fewer only if
   * `opts.deadline` passed).
   */
  async copyObjectsTo(items: Array<{ id: ObjectId; position: number }>, fd: number, opts: CopyManyOptions = {}): Promise<number> {
    return this.raw.copyObjectsTo(items, fd, opts);
  }

  /** Whether the store holds `id`, counting this session's unflushed puts. */
  async has(id: ObjectId): Promise<boolean> {
    return this.repo.has(id);
  }

  /** An object's type and size; sees this session's unflushed puts without flushing them. */
  async stat(id: ObjectId): Promise<ObjectStat> {
    const loc = await this.repo.find(id);
    if (!loc) throw new CairnError('NOT_FOUND', `no object ${id.slice(0, 12)} in the store`, { fields: { id } });
    return { id, type: loc.type, size: loc.size };
  }

  /** stat() of many objects, with their stored lengths: one index call per thousand; unflushed puts seen too. A missing one is NOT_FOUND. */
  async statMany(ids: ObjectId[]): Promise<StoredStat[]> {
    return (await this.repo.locateMany(ids)).map((loc, i) => ({ id: ids[i], type: loc.type, size: loc.size, stored: loc.length }));
  }

  async readManifest(id: ObjectId): Promise<FileManifest> {
    return this.restore.readManifest(id);
  }

  async readTree(id: ObjectId): Promise<TreeEntry[]> {
    return decodeTree(await this.repo.readTyped(id, 'tree'), `tree ${id.slice(0, 12)}`);
  }

  async getRecord<T = unknown>(id: ObjectId): Promise<{ body: T; links: ObjectId[] }> {
    return decodeRecord<T>(await this.repo.readTyped(id, 'record'), `record ${id.slice(0, 12)}`);
  }

  /** A file's (or chunk's) content as a stream, every chunk verified. */
  async getStream(id: ObjectId): Promise<Readable> {
    return this.restore.getStream(id);
  }

  async getBuffer(id: ObjectId): Promise<Buffer> {
    return this.restore.getBuffer(id);
  }

  /** Restores a file or folder to `dest`, replacing what is there; files appear whole (temp file, fsync, rename). */
  async getToPath(id: ObjectId, dest: string): Promise<void> {
    return this.restore.getToPath(id, dest);
  }

  // ---- naming and listing ---------------------------------------------

  /**
   * Resolves a unique ID prefix (4+ hex digits) to a full ID. By default only
   * files, trees and records are candidates: chunk IDs are internal and would
   * make short prefixes ambiguous.
   */
  async resolve(prefix: string, opts: { types?: ObjectType[] } = {}): Promise<ObjectId> {
    return resolvePrefix(this.repo, prefix, opts);
  }

  /** Every object in the index (optionally of some types), in ID order. */
  listObjects(opts: { types?: ObjectType[] } = {}): AsyncGenerator<ObjectStat> {
    return listObjects(this.repo, opts);
  }

  /**
   * Every object reachable from `roots` (records → links, trees → entries,
   * files → chunks), roots included. A missing object is NOT_FOUND.
   */
  async reachable(roots: ObjectId[]): Promise<Set<ObjectId>> {
    await this.flushPending();
    return markFrom(this.repo, roots.map((id) => ({ id, from: 'root' })), (id, from) => {
      throw new CairnError('NOT_FOUND', `object ${id.slice(0, 12)} (reached from ${from}) is missing from the store`, { hint: 'run cairn fsck', fields: { id, from } });
    });
  }

  /** A namespaced cache for an upper layer (values: any msgpack-able value). */
  kv(namespace: string): KvCache {
    return kvCache(this.repo, namespace);
  }

  // ---- maintenance ------------------------------------------------------

  async stats(): Promise<StoreStats> {
    return computeStats(this.repo);
  }

  /** Checks packs, index and refs. `readData` also re-hashes every object against its ID. */
  async verify(opts: { readData?: boolean } = {}): Promise<VerifyReport> {
    return verifyStore(this.repo, opts);
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
    await this.flushPending();
    await this.repo.closeHandles();
    const report = await repairStore(this.repo, opts);
    this.indexQuarantined = undefined;
    return report;
  }

  /** Deletes what no ref reaches, rewriting packs that are mostly dead. */
  async gc(opts: { dryRun?: boolean } = {}): Promise<GcReport> {
    await this.flushPending();
    if (!opts.dryRun) await this.refs.cleanTemp();
    const repo = this.repo;
    const y = repo.yielder;
    const report = await collectGarbage(repo, opts, y && { wanted: () => y.wanted(), stepAside: () => repo.stepAside() });
    await repo.closeHandles();
    return report;
  }
}

/** @internal The repository behind a store, for the store's own tests (not exported from the package). */
export function repositoryOf(store: Store): Repository {
  return store['repo'];
}

