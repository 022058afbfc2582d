import { read as fsRead } from 'node:fs';
import { createHash } from 'node:crypto';
import { CairnError } from './errors.js';
import { readPool, type ArenaRead } from './io/pool.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { SlotShare } from './io/slot-share.js';
import { decodeFile, decodeTree, decodeRecord } from './objects.js';
import { sha256Async } from './ingest.js';
import { copyMany, readMany, type CopyManyOptions, type ObjectBatch, type ReadManyOptions } from './read-many.js';
import { detachedWrite, type Repository } from './repository/repository.js';
import type { ObjectId, ObjectType } from './types.js';

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

/**
 * What putObject checks of an object handed to it whole: `id` is an ID,
 * `data` hashes to it and decodes as `type` (BAD_INPUT otherwise). Returns
 * its content size (a file's or tree's content, else its length).
 */
export function checkObject(id: ObjectId, type: ObjectType, data: Buffer): number {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new CairnError('BAD_INPUT', `not an object ID: '${id.slice(0, 80)}'`);
  if (createHash('sha256').update(data).digest('hex') !== id) {
    throw new CairnError('BAD_INPUT', `the bytes given for object ${id.slice(0, 12)} hash to another ID`, { fields: { id } });
  }
  return checkedSize(id, type, data);
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

/**
 * Raw object copy between stores (exp export / exp import): objects moved
 * as their stored bytes, by ID, checked on the way in (hash against the
 * ID, decoding for structured types) and checksum-verified on the way out.
 */
export class RawObjects {
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

  constructor(private readonly repo: Repository) {}

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
    if (this.repo.detached) checked = checked.then((c) => (c.release?.(), Promise.reject(detachedWrite())));
    checked.catch(() => {}); // surfaced below
    const write = this.objectWrites.then(async () => {
      const c = await checked;
      try {
        // Overlapping puts queue behind this one, so none uses the index while it is closed.
        await this.repo.yieldPoint();
        this.repo.touch(id);
        if (await this.repo.has(id)) {
          c.release?.();
          return false;
        }
        this.putDrift = this.repo.session.packFor(len).size - raw;
      } catch (err) {
        c.release?.();
        throw err;
      }
      if (c.addr === undefined) await this.repo.add(id, c.idBytes, type, c.data!, c.size);
      else await this.repo.addOwned(id, c.idBytes, c.addr, len, c.release!, { type, size: c.size, checksum: c.checksum! });
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
    const loc = await this.repo.locate(id);
    return { type: loc.type, data: await this.repo.readBlob(id, loc) };
  }

  /**
   * Many objects' types and stored bytes (checksum-verified), in the order
   * of `ids`, in batches of a few MiB read ahead on the read pool's threads
   * (see read-many.ts). A batch's `data` buffers are views of memory that is
   * reused once the batch is released: release every batch handed out, after
   * writing or copying what it holds.
   */
  async *readObjects(ids: ObjectId[], opts: ReadManyOptions = {}): AsyncGenerator<ObjectBatch> {
    await this.repo.flushFor(ids);
    yield* readMany(this.repo, ids, opts);
  }

  /**
   * Writes each object's stored bytes (checksum-verified) at its position
   * of the open file `fd`, on the read pool's threads (see read-many.ts,
   * copyMany): for laying objects out in a file of another format, such as
   * an export tarball, without passing them through this thread. Resolves to
   * how many of `items` were written (fewer only if `opts.deadline` passed).
   */
  async copyObjectsTo(items: Array<{ id: ObjectId; position: number }>, fd: number, opts: CopyManyOptions = {}): Promise<number> {
    await this.repo.flushFor(items.map((i) => i.id));
    return copyMany(this.repo, items, fd, opts);
  }
}
