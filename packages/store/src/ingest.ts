import { open, lstat, readdir, readlink, stat as fsStat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { webcrypto } from 'node:crypto';
import { sha256 } from './codec.js';
import { CairnError } from './errors.js';
import { chunkFile, chunkStream, planFileCuts } from './chunker/index.js';
import { resolveOptions } from './chunker/options.js';
import { cdcChunks, parallelCdcFits, type ChunkItem, type Placement } from './ingest-cdc.js';
import { compareChunks, deltaAllowed, deltaChunks, deltaPays, deltaStats, sampleUnchanged } from './ingest-delta.js';
import type { Location } from './index-db.js';
import { poolStarted, readPool, type PoolResult } from './io/pool.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { decodeFile, decodeTreeObject, encodeFile, encodeTree, encodeRecord, entryNameBytes, MODE_BITS, type FileManifest } from './objects.js';
import { detachedWrite, type Repository } from './repository/repository.js';
import type { ObjectId, ObjectType, TreeEntry, PutOptions } from './types.js';

const HASH_AHEAD = 8;
/**
 * Files at least this large are read and hashed on the read pool's threads
 * through the arena (see io/pool.ts, io/arena.ts); for smaller ones
 * the threads' start-up is not worth it.
 */
const POOL_MIN_FILE = 16 * 1024 * 1024;
/**
 * Once the threads are running (exp run starts them with the training, and
 * a large file leaves them), files from this size on go to them too: their
 * gear scan then runs as WebAssembly on a pool thread, not as JavaScript on
 * this one. A 10 MiB out fully rewritten at every checkpoint of a real
 * exp run blocked the training a median 43-53 ms instead of 60-65, its
 * first checkpoint 74-84 ms instead of 107-125 (bench/run.mjs --resume
 * 10MiB:21, the two builds alternated, 3 runs each; cp + fsync 14-18 ms).
 */
const POOL_MIN_FILE_STARTED = 1024 * 1024;
/** Chunks of a content-defined file looked up in the index at once. */
const CDC_BATCH = 8;

export async function sha256Async(data: Buffer): Promise<ObjectId> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex');
}

/**
 * Putting files, folders, streams and records into a store session: files
 * are chunked (planned cuts for recognised model layouts, else
 * content-defined), chunks hashed on the read pool's threads and appended
 * to the session's pack unless already stored. With `hashOnly` the same
 * IDs are computed and nothing is written or looked up: one Ingest per
 * call that wants that (Store.hashPath), so no other put is affected.
 */
export class Ingest {
  constructor(
    private readonly repo: Repository,
    private readonly hashOnly = false,
  ) {}

  private async putBlob(type: ObjectType, data: Buffer, size?: number, knownId?: ObjectId): Promise<ObjectId> {
    const id = knownId ?? sha256(data).toString('hex');
    if (this.hashOnly) return id;
    if (this.repo.detached) throw detachedWrite();
    await this.repo.yieldPoint();
    this.repo.touch(id);
    if (await this.repo.has(id)) return id;
    await this.repo.add(id, Buffer.from(id, 'hex'), type, data, size ?? data.length);
    return id;
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
    const repo = this.repo;
    const manifest: FileManifest = { size: 0, exec: (mode & 0o111) !== 0, mode, chunks: [] };
    interface Item {
      slot: number;
      addr: number;
      len: number;
      p: Promise<PoolResult>;
      r?: PoolResult;
    }
    const queue: Item[] = [];
    let mostlyNew = !this.hashOnly;
    /** Items taken from the queue to be handed on; the first `done` of them are. */
    let batch: Item[] = [];
    let done = 0;
    let next = 0;
    let packPos = 0; // where the next chunk dispatched would land in a pack if it and all before it are new
    const fill = async () => {
      // Chunks found already stored take no room: guesses start from where the pack really is.
      packPos = repo.session.openPackSize;
      for (const q of [...batch.slice(done), ...queue]) packPos = repo.session.land(packPos, q.len) + q.len;
      while (queue.length + batch.length - done < pool.window && next < cuts.length) {
        const pos = next === 0 ? 0 : cuts[next - 1];
        const len = cuts[next++] - pos;
        const slot = await A.take();
        packPos = repo.session.land(packPos, len);
        const addr = A.addr(slot, packPos % 4096);
        packPos += len;
        // XXH64 here, in cache, while chunks are turning out new; else the few new ones get theirs when appended.
        const xxh = mostlyNew ? [{ addr, len }] : undefined;
        const item: Item = { slot, addr, len, p: pool.run({ reads: [{ fd: fh.fd, pos, len, addr }], sha: { addr, len }, xxh }) };
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
        let known: boolean[] = [];
        if (!this.hashOnly) {
          // Before the lookup: after a step aside the index may know more.
          await repo.yieldPoint();
          for (const id of ids) repo.touch(id);
          known = await repo.index.hasMany(ids);
          mostlyNew = 2 * known.filter((k) => !k).length >= known.length;
        }
        while (done < batch.length) {
          const { slot, addr, len, r } = batch[done];
          const id = ids[done++];
          if (this.hashOnly || known[done - 1] || repo.session.has(id)) A.give(slot);
          else await repo.addOwned(id, r!.sha!, addr, len, () => A.give(slot), { type: 'chunk', size: len, checksum: r!.xxh?.[0] });
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

  /**
   * Stores a large file that needs content-defined chunking: its chunks are
   * found and hashed on the pool's threads (ingest-cdc.ts), and looked up
   * and appended here a batch at a time, in file order.
   */
  private async putCdc(fh: FileHandle, size: number, mode: number, opts: PutOptions): Promise<ObjectId> {
    const repo = this.repo;
    const manifest: FileManifest = { size: 0, exec: (mode & 0o111) !== 0, mode, chunks: [] };
    let batch: ChunkItem[] = [];
    // Where new chunks will land, guessed as for a planned file: the lengths
    // of the chunks made and not yet committed, after the pack as it is, while
    // most chunks are turning out new (a rewrite of a stored file is mostly
    // known chunks: then no guess, and no copies for them).
    const uncommitted: number[] = [];
    let mostlyNew = !this.hashOnly;
    const predicted = () => {
      let pos = repo.session.openPackSize;
      for (const len of uncommitted) pos = repo.session.land(pos, len) + len;
      return pos;
    };
    const place: Placement = {
      land: (len) => {
        const at = mostlyNew ? repo.session.land(predicted(), len) : undefined;
        uncommitted.push(len);
        return at;
      },
      at: (pos) => (mostlyNew ? predicted() + (pos - manifestEnd()) : undefined),
    };
    /** File bytes of the chunks made so far. */
    const manifestEnd = () => manifest.size + uncommitted.reduce((n, l) => n + l, 0);
    const commit = async () => {
      const items = batch;
      batch = [];
      /** Items [0, handed) are released or handed to addOwned (which releases its item even when it throws). */
      let handed = 0;
      try {
        const rs = await Promise.all(items.map((i) => i.p));
        const ids = rs.map((r) => r.sha!.toString('hex'));
        let known: boolean[] = [];
        if (!this.hashOnly) {
          await repo.yieldPoint();
          for (const id of ids) repo.touch(id);
          known = await repo.index.hasMany(ids);
        }
        let fresh = 0;
        for (let k = 0; k < items.length; k++) {
          const { addr, len, release } = items[k];
          const id = ids[k];
          handed = k + 1;
          uncommitted.shift();
          if (!(this.hashOnly || known[k] || repo.session.has(id))) fresh++;
          if (this.hashOnly || known[k] || repo.session.has(id)) release();
          else await repo.addOwned(id, rs[k].sha!, addr, len, release, { type: 'chunk', size: len, checksum: rs[k].xxh?.[0] });
          manifest.chunks.push({ id, length: len });
          manifest.size += len;
          opts.onProgress?.(manifest.size);
        }
        if (!this.hashOnly) mostlyNew = 2 * fresh >= items.length;
      } finally {
        for (let k = handed; k < items.length; k++) {
          await items[k].p.catch(() => {});
          items[k].release();
        }
      }
    };
    try {
      for await (const item of cdcChunks(fh, size, resolveOptions(), place)) {
        batch.push(item);
        if (batch.length >= CDC_BATCH) await commit();
      }
      await commit();
    } finally {
      for (const item of batch) {
        await item.p.catch(() => {});
        item.release();
      }
    }
    return this.putBlob('file', encodeFile(manifest), manifest.size);
  }

  /**
   * An earlier version (PutOptions.previous) decoded, if `id` is an object
   * of `type` the store holds; else null, and the put goes the full way.
   */
  private async previous<T>(id: ObjectId, type: 'file' | 'tree', decode: (bytes: Buffer) => Promise<T> | T): Promise<T | null> {
    try {
      if ((await this.repo.locate(id)).type !== type) return null;
      return await decode(await this.repo.readTyped(id, type));
    } catch (err) {
      // Gone, or not what it claims.
      if (err instanceof CairnError && (err.code === 'NOT_FOUND' || err.code === 'CORRUPT' || err.code === 'BAD_INPUT')) return null;
      throw err;
    }
  }

  /** An earlier version's manifest and where its chunks are, if `id` is a file whose chunks the store holds. */
  private previousFile(id: ObjectId): Promise<{ manifest: FileManifest; locs: Location[] } | null> {
    return this.previous(id, 'file', async (bytes) => {
      const manifest = decodeFile(bytes, `file ${id.slice(0, 12)}`);
      return { manifest, locs: await this.repo.locateMany(manifest.chunks.map((c) => c.id)) };
    });
  }

  /** A new version of a stored file: see ingest-delta.ts. */
  private async putDelta(fh: FileHandle, size: number, mode: number, prev: FileManifest, locs: Location[], opts: PutOptions): Promise<ObjectId> {
    const repo = this.repo;
    // Leased before anything can step aside: the manifest may name them.
    for (const c of prev.chunks) repo.touch(c.id);
    const cmp = compareChunks(fh, size, prev, locs);
    const manifest: FileManifest = { size: 0, exec: (mode & 0o111) !== 0, mode, chunks: [] };
    try {
      for await (const item of deltaChunks(fh, size, prev, cmp, resolveOptions(), () => repo.session.openPackSize)) {
        let id: ObjectId;
        let length: number;
        if ('reuse' in item) {
          id = item.reuse;
          length = item.length;
        } else {
          const { addr, len, r, release } = item.chunk;
          id = r!.sha!.toString('hex');
          length = len;
          let handed = false;
          try {
            await repo.yieldPoint();
            repo.touch(id);
            const known = repo.session.has(id) || (await repo.index.hasMany([id]))[0];
            handed = true;
            if (known) release();
            else await repo.addOwned(id, r!.sha!, addr, len, release, { type: 'chunk', size: len, checksum: r!.xxh![0] });
          } finally {
            if (!handed) release();
          }
        }
        manifest.chunks.push({ id, length });
        manifest.size += length;
        opts.onProgress?.(manifest.size);
      }
      await cmp.done;
    } finally {
      // Nothing reads into the arena once this returns.
      await cmp.done.catch(() => {});
    }
    return this.putBlob('file', encodeFile(manifest), manifest.size);
  }

  /** Stores a regular file; returns its file-manifest ID. */
  async putFile(path: string | Buffer, opts: PutOptions = {}): Promise<ObjectId> {
    const fh = await openForRead(path);
    const endFile = this.hashOnly ? () => {} : this.repo.session.beginFile();
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new CairnError('BAD_INPUT', `${path} is not a regular file`);
      // Permission bits only: a restore must never create a setuid or setgid file.
      const mode = st.mode & MODE_BITS;
      if (st.size >= (poolStarted() ? POOL_MIN_FILE_STARTED : POOL_MIN_FILE)) {
        const cuts = await planFileCuts(fh, st.size);
        if (cuts !== null && cuts.every((c, i) => c - (i === 0 ? 0 : cuts[i - 1]) <= SLOT_DATA)) return await this.putPlanned(fh, cuts, mode, opts);
        if (cuts === null && opts.previous !== undefined && !this.hashOnly && deltaAllowed()) {
          deltaStats.taken = false;
          const prev = await this.previousFile(opts.previous);
          // A file mostly rewritten is chunked on every thread instead: the changed bytes are cut on this one alone.
          if (prev && deltaPays(await sampleUnchanged(fh, st.size, prev.manifest, prev.locs), readPool().threadCount)) {
            return await this.putDelta(fh, st.size, mode, prev.manifest, prev.locs, opts);
          }
        }
        if (cuts === null && parallelCdcFits(resolveOptions())) return await this.putCdc(fh, st.size, mode, opts);
      }
      return await this.putChunks(chunkFile(fh, st.size), mode, opts);
    } finally {
      endFile();
      await fh.close();
    }
  }

  /** Stores a folder recursively (files, folders, symlinks); returns its tree ID and content size. */
  async putDirectory(path: string | Buffer, opts: PutOptions = {}): Promise<{ id: ObjectId; size: number }> {
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
    const before = opts.previous === undefined ? new Map<string, ObjectId>() : await this.previousEntries(opts.previous);
    const named = dirents.map((d) => ({ d, name: d.name as unknown as Buffer })).sort((a, b) => Buffer.compare(a.name, b.name));
    for (const { d, name: raw } of named) {
      const p = childPath(path, raw);
      const name = nameFields(raw);
      if (d.isFile()) {
        const st = await fsStat(p);
        const id = await this.putFile(p, { ...opts, previous: before.get(raw.toString('latin1')) });
        entries.push({ ...name, kind: 'file', id, size: st.size, exec: (st.mode & 0o111) !== 0 });
      } else if (d.isDirectory()) {
        const sub = await this.putDirectory(p, { ...opts, previous: before.get(raw.toString('latin1')) });
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

  /** An earlier version's entries by name (as bytes, latin1), if `id` is a stored tree. */
  private async previousEntries(id: ObjectId): Promise<Map<string, ObjectId>> {
    const entries = await this.previous(id, 'tree', (bytes) => decodeTreeObject(bytes, `tree ${id.slice(0, 12)}`).entries);
    return new Map((entries ?? []).filter((e) => e.kind !== 'link').map((e) => [entryNameBytes(e).toString('latin1'), e.id]));
  }

  /** Stores a file or a folder, whichever `path` is. */
  async putPath(path: string, opts: PutOptions = {}): Promise<ObjectId> {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      throw ioError(err, path);
    }
    if (st.isDirectory()) return (await this.putDirectory(path, opts)).id;
    if (st.isFile()) return this.putFile(path, opts);
    throw new CairnError('BAD_INPUT', `${path} is neither a regular file nor a folder`);
  }

  /** Stores a stream's bytes as a file; returns its file-manifest ID. */
  async putStream(input: AsyncIterable<Uint8Array> | Readable, opts: PutOptions = {}): Promise<ObjectId> {
    return this.putChunks(chunkStream(input), 0o644, opts);
  }

  /** Stores an opaque record; `links` must exist. */
  async putRecord(body: unknown, links: ObjectId[] = []): Promise<ObjectId> {
    for (const l of links) {
      if (!(await this.repo.has(l))) throw new CairnError('NOT_FOUND', `record links to a missing object ${l.slice(0, 7)}`, { fields: { id: l } });
    }
    return this.putBlob('record', encodeRecord(body, links));
  }
}

/** `dir`/`name` as a path the fs functions take: a string while every part is UTF-8, else bytes. */
export function childPath(dir: string | Buffer, name: Buffer): string | Buffer {
  if (typeof dir === 'string' && isUtf8(name)) return join(dir, name.toString('utf8'));
  return Buffer.concat([typeof dir === 'string' ? Buffer.from(dir) : dir, Buffer.from('/'), name]);
}

/** A tree entry's name fields for these bytes (see TreeEntry.rawName). */
function nameFields(raw: Buffer): { name: string; rawName?: Buffer } {
  return isUtf8(raw) ? { name: raw.toString('utf8') } : { name: raw.toString('utf8'), rawName: raw };
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
  if (code === 'ENOENT') return new CairnError('NOT_FOUND', `no such file or folder: ${path}`, { fields: { path: String(path) } });
  if (code === 'EACCES' || code === 'EPERM') return new CairnError('BAD_INPUT', `cannot read ${path}: permission denied`);
  if (code === 'EISDIR') return new CairnError('BAD_INPUT', `${path} is a folder`);
  return err as Error;
}

