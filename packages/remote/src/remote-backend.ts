import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, checkObject, checkRefName, isCairnError, writeFileAtomic } from '@cairn/store';
import type { ObjectBackend, ObjectId, ObjectStat, ObjectType, RefBackend } from '@cairn/store';
import type { BlobStore } from './blob-store.js';

/*
 * Layout on the remote (docs/FORMAT.md, "Remotes"):
 *   packs/<sha256 of the pack>    "CAIRNRP1" then object bytes back to back
 *   index/<sha256 of the index>   "CAIRNRI1" | pack hash (32) | count (u32 BE) | count × entry
 *       entry: id (32) | type code (1) | offset (u64 BE) | length (u64 BE) | size (u64 BE)
 *   refs/<ref name>               "<id> <nonce>\n", or "deleted <nonce>\n" for a deleted ref
 */
export const PACK_MAGIC = Buffer.from('CAIRNRP1', 'latin1');
export const INDEX_MAGIC = Buffer.from('CAIRNRI1', 'latin1');
const INDEX_HEADER = 8 + 32 + 4;
const ENTRY_SIZE = 32 + 1 + 8 + 8 + 8;
/** About what a PutObject moves in a few seconds, and few enough requests per GiB. */
export const DEFAULT_PACK_SIZE = 32 * 1024 * 1024;
/** The largest object an import accepts (docs/FORMAT.md); larger claims in an index are damage. */
const MAX_OBJECT = 256 * 1024 * 1024;
/** An index describes at most one pack; this many bytes of entries is far past any real one. */
const MAX_INDEX = 64 * 1024 * 1024;
const MAX_REF_BODY = 1024;
/** Parallel reads when loading indexes or listing refs: enough to hide round trips, few enough for a small server. */
const PARALLEL = 8;
/** getMany reads objects lying back to back in a pack in ranges of up to this many bytes, this many ranges at once. */
const RANGE_BYTES = 8 * 1024 * 1024;
const RANGES_IN_FLIGHT = 4;
/** Packs written at once by one backend. */
const MAX_IN_FLIGHT = 2;

const TYPE_CODES: Record<ObjectType, number> = { chunk: 1, file: 2, tree: 3, record: 4 };
const TYPE_NAMES: Record<number, ObjectType> = { 1: 'chunk', 2: 'file', 3: 'tree', 4: 'record' };
export const HEX64 = /^[0-9a-f]{64}$/;
const REF_BODY = /^([0-9a-f]{64}) [0-9a-f]{32}\n$/;
export const TOMBSTONE = /^deleted [0-9a-f]{32}\n$/;

const sha256hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * A pack being filled: objects are copied into `buf` back to back after
 * the magic and hashed as they are copied (while their bytes are in the
 * CPU's cache), so sealing it needs neither another copy nor another pass.
 */
interface PackBuf {
  buf: Buffer;
  /** Bytes of `buf` filled (and hashed) so far. */
  at: number;
  hash: Hash;
  /** The digest, once taken (a Hash gives it once). */
  digest?: string;
}

export interface Location {
  pack: string;
  type: ObjectType;
  offset: number;
  length: number;
  size: number;
}

interface Pending {
  id: ObjectId;
  type: ObjectType;
  data: Buffer;
  size: number;
  /** Put order, kept when a failed pack's objects go back into the open one. */
  seq: number;
  /** The pack buffer `data` is a view of (see openBuf), when it is one. */
  buf?: PackBuf;
}

export interface RemoteBackendOptions {
  /** A local folder where index objects are kept between runs (they never change: each is named by its hash). */
  cacheDir?: string;
  /** Puts are sealed into a pack once they reach this many bytes. */
  packSize?: number;
}

/**
 * An ObjectBackend on a BlobStore: objects in packs of about 32 MiB, each
 * pack described by an index object written after it, refs as one small
 * blob each changed by compare-and-swap (conditional puts). Everything
 * read back is treated as hostile: index objects are checked against their
 * names and the pack sizes listed, and objects against their IDs.
 */
export class RemoteBackend implements ObjectBackend {
  readonly refs: RefBackend;
  private readonly packSize: number;
  private loading: Promise<Map<ObjectId, Location>> | undefined;
  /** What `loading` resolved to, once it has (and it is still the current load). */
  private loaded: Map<ObjectId, Location> | undefined;
  private loadingSeen: Promise<Map<ObjectId, Location>> | undefined;
  /** Puts not yet in a pack, and those of packs being written (readable until their index is merged). */
  private readonly pending = new Map<ObjectId, Pending>();
  private open: Pending[] = [];
  private openBytes = 0;
  /**
   * Where puts are copied, back to back after the pack's magic, so a sealed
   * pack is this buffer's first bytes and not another copy (allocated
   * unfilled: a small push touches only the pages it writes).
   */
  private openBuf: PackBuf | undefined;
  /** Packs being written; a failed one puts its objects back into the open pack and leaves its error for flush(). */
  private readonly inFlight = new Set<Promise<void>>();
  private writeError: unknown;
  private closed = false;
  private nextSeq = 0;
  /**
   * Resolves once the index of the last pack sealed is published (true) or
   * its write failed (false). A push puts an object only after all it
   * links to and stops its walk at objects the remote has, so an index
   * published before an earlier pack's would let a push killed in between
   * leave objects whose links are missing, and the next push would move a
   * ref onto them. Pack bytes still upload in parallel.
   */
  private indexTail: Promise<boolean> = Promise.resolve(true);
  /**
   * Packs a remote gc has condemned (docs/FORMAT.md, "Remotes"): their
   * objects may be deleted soon, so has() and stat() report them absent
   * and a push sends them again; get() still reads them.
   */
  private readonly condemned = new Set<string>();
  /** Packs whose objects has(), stat() or put() reported present: what a push relies on being there when it moves a ref. */
  private readonly reliedOn = new Set<string>();

  constructor(readonly store: BlobStore, private readonly opts: RemoteBackendOptions = {}) {
    this.packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
    this.refs = new RemoteRefs(this);
  }

  get url(): string {
    return this.store.url;
  }

  /** Forgets the indexes read so far, so the next read sees packs other writers added since. */
  refresh(): void {
    this.loading = undefined;
    this.loaded = undefined;
  }

  private index(): Promise<Map<ObjectId, Location>> {
    const p = (this.loading ??= this.loadIndex());
    // Remembered once loaded, so a put finds what the remote has without yielding (see add).
    if (p !== this.loadingSeen) {
      this.loadingSeen = p;
      this.loaded = undefined;
      p.then(
        (m) => {
          if (this.loading === p) this.loaded = m;
        },
        () => {},
      );
    }
    // A failed load (the remote was unreachable) is tried again by the next call, not remembered.
    p.catch(() => {
      if (this.loading === p) this.loading = undefined;
    });
    return p;
  }

  /**
   * Starts reading the remote's indexes now, so that a push's first has()
   * does not wait for them (a caller with local work to do first: the
   * round trips overlap it). A failure is left for the next read to see.
   */
  prefetch(): void {
    this.index().catch(() => {});
  }

  private async loadIndex(): Promise<Map<ObjectId, Location>> {
    // The condemned list is read alongside: nothing below depends on its order with the listings.
    const condemned = this.loadCondemned();
    condemned.catch(() => {}); // awaited below
    // Indexes first, then packs: an index is written only after its pack, so every index listed here has its pack in the later listing.
    const indexes: Array<{ key: string; size: number }> = [];
    for await (const b of this.store.list('index/')) indexes.push(b);
    const packs = new Map<string, number>();
    for await (const b of this.store.list('packs/')) packs.set(b.key.slice('packs/'.length), b.size);
    await condemned;
    const out = new Map<ObjectId, Location>();
    await forEachLimited(indexes, PARALLEL, async ({ key, size }) => {
      const name = key.slice('index/'.length);
      if (!HEX64.test(name)) throw this.corrupt(`${key} is not named by a hash`, key);
      if (size > MAX_INDEX) throw this.corrupt(`${key} is ${size} bytes, more than an index can be`, key);
      let bytes: Buffer;
      try {
        bytes = await this.readIndexObject(name);
      } catch (err) {
        // Listed, then gone: a gc collected it (indexes go before their packs).
        if (isCairnError(err, 'NOT_FOUND')) return;
        throw err;
      }
      // A gc deletes an index and then its pack: between our two listings that reads as an index without its pack, which is damage only if the index is still there.
      if (!packs.has(bytes.subarray(8, 40).toString('hex')) && bytes.length >= INDEX_HEADER && (await this.store.head(key)) === null) return;
      for (const [id, loc] of parseIndex(bytes, packs, (why) => this.corrupt(`${key}: ${why}`, key))) this.remember(out, id, loc);
    });
    return out;
  }

  /** Keeps the first location read of an object, unless that one is in a condemned pack and this one is not. */
  private remember(index: Map<ObjectId, Location>, id: ObjectId, loc: Location): void {
    const had = index.get(id);
    if (!had || (this.condemned.has(had.pack) && !this.condemned.has(loc.pack))) index.set(id, loc);
  }

  private async loadCondemned(): Promise<string[]> {
    const fresh: string[] = [];
    for await (const b of this.store.list('condemned/')) {
      const pack = b.key.slice('condemned/'.length);
      if (HEX64.test(pack) && !this.condemned.has(pack)) {
        this.condemned.add(pack);
        fresh.push(pack);
      }
    }
    return fresh;
  }

  /** Where an object a writer may rely on is: not in a condemned pack. */
  private async live(id: ObjectId): Promise<Location | undefined> {
    if (!HEX64.test(id)) return undefined;
    return this.liveIn(await this.index(), id);
  }

  private liveIn(index: Map<ObjectId, Location>, id: ObjectId): Location | undefined {
    const loc = index.get(id);
    if (!loc || this.condemned.has(loc.pack)) return undefined;
    this.reliedOn.add(loc.pack);
    return loc;
  }

  /**
   * Whether a gc condemned, since this backend last looked, a pack whose
   * objects it reported present (a push then relied on them without
   * sending them). Those objects read as absent from now on, so copying
   * the same roots again sends them; a push does that before it moves a
   * ref (docs/FORMAT.md, "Remotes").
   */
  async recheckCondemned(): Promise<boolean> {
    // Nothing relied on (a push that found nothing to send or check): nothing a gc condemned can matter, and no listing is needed.
    if (this.reliedOn.size === 0) return false;
    const fresh = await this.loadCondemned();
    return fresh.some((p) => this.reliedOn.has(p));
  }

  /** Reads an index object by name (from the cache when there), checked against its name. */
  async readIndexObject(name: string): Promise<Buffer> {
    const cached = this.opts.cacheDir ? join(this.opts.cacheDir, 'index', name) : undefined;
    if (cached) {
      try {
        const data = await readFile(cached);
        if (sha256hex(data) === name) return data;
      } catch {
        // Not cached yet (or unreadable): the remote has it.
      }
    }
    const { data } = await this.store.get(`index/${name}`);
    if (data.length > MAX_INDEX || sha256hex(data) !== name) throw this.corrupt(`index/${name} does not hash to its name`, `index/${name}`);
    if (cached) {
      await mkdir(join(this.opts.cacheDir!, 'index'), { recursive: true });
      // The cache is only a shortcut: failing to write it must not fail the read.
      await writeFileAtomic(cached, data).catch(() => {});
    }
    return data;
  }

  corrupt(message: string, key: string, id?: string): CairnError {
    return new CairnError('CORRUPT', `remote ${this.url}: ${message}`, { fields: { path: `${this.url}/${key}`, ...(id ? { id } : {}) } });
  }

  async put(id: ObjectId, type: ObjectType, data: Buffer): Promise<boolean> {
    this.checkOpen();
    const size = checkObject(id, type, data);
    return this.add(id, type, data, size);
  }

  /**
   * put() of bytes read from a local store, which verified them when it
   * read them (each stored object's checksum) and hashed them to their IDs
   * when it stored them: not hashed again here. `size` is the store's
   * (stat): a file's or tree's content size, else the stored length.
   * Resolves once `data` is copied, so the caller may reuse its buffer then.
   */
  async putVerified(id: ObjectId, type: ObjectType, data: Buffer, size: number): Promise<boolean> {
    this.checkOpen();
    if (!HEX64.test(id) || !(type in TYPE_CODES)) throw new CairnError('BAD_INPUT', `not an object ID and type: '${id.slice(0, 80)}' ${type}`);
    if ((type === 'chunk' || type === 'record') && size !== data.length) throw new CairnError('BAD_INPUT', `a ${type}'s size is its length (${size} given for ${data.length} bytes)`);
    return this.add(id, type, data, size);
  }

  private async add(id: ObjectId, type: ObjectType, data: Buffer, size: number): Promise<boolean> {
    // Readers refuse larger entries (hostile sizes), so a writer must not store what it could not read back.
    if (data.length > MAX_OBJECT) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is ${data.length} bytes; a remote holds objects of at most ${MAX_OBJECT}`, { fields: { id } });
    if (this.pending.has(id)) return false;
    // The index is loaded once; after that this is a lookup, and the bytes are copied before any other await.
    const index = this.loaded ?? (await this.index());
    if (this.pending.has(id) || this.liveIn(index, id)) return false;
    // A pack stays under packSize unless one object alone is larger: what would overflow it goes to the next.
    if (this.openBytes > 0 && this.openBytes + data.length > this.packSize) this.seal();
    // Copied: the caller may reuse its buffer once this resolves, and the pack is written later.
    const p: Pending = { id, type, data: this.copyIn(data), size, seq: this.nextSeq++ };
    if (p.data.buffer === this.openBuf?.buf.buffer) p.buf = this.openBuf;
    this.pending.set(id, p);
    this.open.push(p);
    this.openBytes += data.length;
    if (this.openBytes >= this.packSize) this.seal();
    // One pack uploads while the next fills; more would only hold memory.
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    return true;
  }

  /** A copy of `data` in the open pack's buffer (a buffer of its own if it is larger than a pack). */
  private copyIn(data: Buffer): Buffer {
    if (data.length > this.packSize) return Buffer.from(data);
    let pb = this.openBuf;
    if (!pb || pb.at + data.length > pb.buf.length) {
      pb = this.openBuf = { buf: Buffer.allocUnsafeSlow(PACK_MAGIC.length + this.packSize), at: PACK_MAGIC.length, hash: createHash('sha256') };
      PACK_MAGIC.copy(pb.buf, 0);
      pb.hash.update(PACK_MAGIC);
    }
    const view = pb.buf.subarray(pb.at, pb.at + data.length);
    data.copy(view);
    pb.hash.update(view);
    pb.at += data.length;
    return view;
  }

  /** Starts writing the open pack. */
  private seal(): void {
    const batch = this.open;
    this.open = [];
    this.openBytes = 0;
    // The buffer now belongs to the batch; the next put starts a new one.
    this.openBuf = undefined;
    if (batch.length === 0) return;
    // With nothing in flight every earlier pack is published or back in this batch: a failure must not hold back later ones forever.
    const before = this.inFlight.size === 0 ? Promise.resolve(true) : this.indexTail;
    let published!: (ok: boolean) => void;
    this.indexTail = new Promise<boolean>((resolve) => (published = resolve));
    const w: Promise<void> = this.writePack(batch, before, published)
      .catch((err) => {
        this.writeError ??= err;
      })
      .finally(() => this.inFlight.delete(w));
    this.inFlight.add(w);
  }

  private async writePack(batch: Pending[], before: Promise<boolean>, published: (ok: boolean) => void): Promise<void> {
    try {
      let built = buildPack(batch);
      if (this.condemned.has(built.packHash)) {
        // Sent again because a gc condemned them, the same objects would make the same (condemned) pack: a random filler chunk makes it a new one.
        const filler = randomBytes(32);
        built = buildPack([...batch, { id: sha256hex(filler), type: 'chunk', data: filler, size: filler.length, seq: -1 }]);
      }
      const { pack, packHash, entries, indexBytes } = built;
      // A push relies on what it sent as much as on what it found: if a gc condemns this pack, it must send these again.
      this.reliedOn.add(packHash);
      // Create-only: a pack or index of that name holds exactly these bytes already (names are hashes), so CONFLICT means done.
      await createOnly(this.store, `packs/${packHash}`, pack, packHash);
      if (!(await before)) throw new CairnError('FAILED', `remote ${this.url}: an earlier pack failed to upload, so this one is not published before it`);
      const indexHash = sha256hex(indexBytes);
      await createOnly(this.store, `index/${indexHash}`, indexBytes, indexHash);
      published(true);
      const index = await this.index();
      batch.forEach((p, i) => {
        this.remember(index, p.id, { pack: packHash, type: p.type, offset: Number(entries[i].readBigUInt64BE(33)), length: p.data.length, size: p.size });
        this.pending.delete(p.id);
      });
    } catch (err) {
      published(false);
      // Back into the open pack, in put order: the next flush tries again, and reads still find them.
      this.open = [...batch, ...this.open].sort((a, b) => a.seq - b.seq);
      this.openBytes += batch.reduce((n, p) => n + p.data.length, 0);
      throw err;
    }
  }

  async flush(): Promise<void> {
    this.seal();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    const err = this.writeError;
    this.writeError = undefined;
    // The failed pack's objects are back in the open pack: the next flush tries them again.
    if (err !== undefined) throw err;
  }

  /**
   * get() of many objects, yielded in the order of `ids`: objects that lie
   * back to back in one pack are read with one ranged GET of up to
   * RANGE_BYTES (a pull's chunks, which a push wrote in file order), a few
   * such reads in flight; each object is checked as get() checks it.
   */
  async *getMany(ids: ObjectId[]): AsyncGenerator<{ id: ObjectId; type: ObjectType; data: Buffer }> {
    const index = await this.index();
    type Run = { pack: string; offset: number; length: number; items: Array<{ id: ObjectId; loc?: Location; pending?: Pending }> };
    const runs: Run[] = [];
    for (const id of ids) {
      const p = this.pending.get(id);
      const loc = p ? undefined : HEX64.test(id) ? index.get(id) : undefined;
      if (!p && !loc) throw new CairnError('NOT_FOUND', `object ${id.slice(0, 64)} is not on ${this.url}`, { fields: { id } });
      const last = runs[runs.length - 1];
      if (loc && last && last.pack === loc.pack && last.offset + last.length === loc.offset && last.length + loc.length <= RANGE_BYTES) {
        last.length += loc.length;
        last.items.push({ id, loc });
      } else runs.push(loc ? { pack: loc.pack, offset: loc.offset, length: loc.length, items: [{ id, loc }] } : { pack: '', offset: 0, length: 0, items: [{ id, pending: p }] });
    }
    const fetchRun = async (run: Run): Promise<Buffer> => {
      if (run.pack === '') return Buffer.alloc(0);
      const key = `packs/${run.pack}`;
      try {
        return (await this.store.get(key, { offset: run.offset, length: run.length })).data;
      } catch (err) {
        if (isCairnError(err, 'NOT_FOUND')) throw this.corrupt(`${key}, listed by an index, is missing`, key, run.items[0].id);
        throw err;
      }
    };
    const inFlight: Array<Promise<Buffer>> = [];
    let next = 0;
    const fill = () => {
      while (next < runs.length && inFlight.length < RANGES_IN_FLIGHT) {
        const f = fetchRun(runs[next++]);
        f.catch(() => {}); // awaited in turn below
        inFlight.push(f);
      }
    };
    try {
      for (const run of runs) {
        fill();
        const data = await inFlight.shift()!;
        let at = 0;
        for (const { id, loc, pending } of run.items) {
          if (pending) {
            yield { id, type: pending.type, data: Buffer.from(pending.data) };
            continue;
          }
          const key = `packs/${loc!.pack}`;
          const bytes = data.subarray(at, at + loc!.length);
          at += loc!.length;
          if (bytes.length !== loc!.length) throw this.corrupt(`${key} ends before object ${id.slice(0, 12)} (${bytes.length} of ${loc!.length} bytes)`, key, id);
          try {
            checkObject(id, loc!.type, bytes);
          } catch (err) {
            if (isCairnError(err, 'BAD_INPUT')) throw this.corrupt(`object ${id.slice(0, 12)} in ${key} is damaged: ${err.message}`, key, id);
            throw err;
          }
          yield { id, type: loc!.type, data: bytes };
        }
      }
    } finally {
      // Reads still in flight when the consumer stops (or one failed) settle before this returns.
      await Promise.allSettled(inFlight);
    }
  }

  async get(id: ObjectId): Promise<{ type: ObjectType; data: Buffer }> {
    const p = this.pending.get(id);
    if (p) return { type: p.type, data: Buffer.from(p.data) };
    const loc = HEX64.test(id) ? (await this.index()).get(id) : undefined;
    if (!loc) throw new CairnError('NOT_FOUND', `object ${id.slice(0, 64)} is not on ${this.url}`, { fields: { id } });
    const key = `packs/${loc.pack}`;
    let data: Buffer;
    try {
      ({ data } = await this.store.get(key, { offset: loc.offset, length: loc.length }));
    } catch (err) {
      // The object is listed, so a missing pack is damage to the remote, not an unknown ID.
      if (isCairnError(err, 'NOT_FOUND')) throw this.corrupt(`${key}, listed by an index, is missing`, key, id);
      throw err;
    }
    if (data.length !== loc.length) throw this.corrupt(`${key} ends before object ${id.slice(0, 12)} (${data.length} of ${loc.length} bytes)`, key, id);
    try {
      checkObject(id, loc.type, data);
    } catch (err) {
      if (isCairnError(err, 'BAD_INPUT')) throw this.corrupt(`object ${id.slice(0, 12)} in ${key} is damaged: ${err.message}`, key, id);
      throw err;
    }
    return { type: loc.type, data };
  }

  async has(id: ObjectId): Promise<boolean> {
    if (!HEX64.test(id)) return false;
    return this.pending.has(id) || (await this.live(id)) !== undefined;
  }

  async stat(id: ObjectId): Promise<ObjectStat> {
    const p = this.pending.get(id);
    if (p) return { id, type: p.type, size: p.size };
    const loc = await this.live(id);
    if (!loc) throw new CairnError('NOT_FOUND', `object ${id.slice(0, 64)} is not on ${this.url}`, { fields: { id } });
    return { id, type: loc.type, size: loc.size };
  }

  async *list(opts: { types?: ObjectType[] } = {}): AsyncIterable<ObjectStat> {
    const index = await this.index();
    const types = opts.types ? new Set(opts.types) : undefined;
    const ids = [...index.keys()].filter((id) => !this.pending.has(id)).sort();
    for (const id of ids) {
      const loc = index.get(id)!;
      if (!types || types.has(loc.type)) yield { id, type: loc.type, size: loc.size };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.store.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new CairnError('FAILED', `the remote ${this.url} was closed`);
  }
}

/** The pack's bytes and hash: the batch's own buffer when its objects fill it back to back (see RemoteBackend.copyIn), else a copy, hashed now. */
function packBytes(batch: Pending[], length: number): { pack: Buffer; packHash: string } {
  const pb = batch[0]?.buf;
  let at = PACK_MAGIC.length;
  for (const p of batch) {
    if (pb === undefined || p.buf !== pb || p.data.byteOffset !== pb.buf.byteOffset + at) break;
    at += p.data.length;
  }
  if (pb !== undefined && at === length && pb.at === length) return { pack: pb.buf.subarray(0, length), packHash: (pb.digest ??= pb.hash.digest('hex')) };
  const pack = Buffer.concat([PACK_MAGIC, ...batch.map((q) => q.data)], length);
  return { pack, packHash: sha256hex(pack) };
}

function buildPack(batch: Pending[]): { pack: Buffer; packHash: string; entries: Buffer[]; indexBytes: Buffer } {
  const entries: Buffer[] = [];
  let offset = PACK_MAGIC.length;
  for (const p of batch) {
    const e = Buffer.alloc(ENTRY_SIZE);
    Buffer.from(p.id, 'hex').copy(e, 0);
    e[32] = TYPE_CODES[p.type];
    e.writeBigUInt64BE(BigInt(offset), 33);
    e.writeBigUInt64BE(BigInt(p.data.length), 41);
    e.writeBigUInt64BE(BigInt(p.size), 49);
    entries.push(e);
    offset += p.data.length;
  }
  const { pack, packHash } = packBytes(batch, offset);
  const head = Buffer.alloc(INDEX_HEADER);
  INDEX_MAGIC.copy(head, 0);
  Buffer.from(packHash, 'hex').copy(head, 8);
  head.writeUInt32BE(batch.length, 40);
  const indexBytes = Buffer.concat([head, ...entries]);
  return { pack, packHash, entries, indexBytes };
}

async function createOnly(store: BlobStore, key: string, body: Buffer, sha256: string): Promise<void> {
  try {
    await store.put(key, body, { ifNoneMatch: true }, { sha256 });
  } catch (err) {
    if (!isCairnError(err, 'CONFLICT')) throw err;
  }
}

/** Decodes and checks an index object against the packs listed (name → size); `bad` makes the error. */
export function parseIndex(bytes: Buffer, packs: Map<string, number>, bad: (why: string) => Error): Array<[ObjectId, Location]> {
  if (bytes.length < INDEX_HEADER || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) throw bad('not a cairn remote index (bad header)');
  const pack = bytes.subarray(8, 40).toString('hex');
  const count = bytes.readUInt32BE(40);
  if (bytes.length !== INDEX_HEADER + count * ENTRY_SIZE) throw bad(`${bytes.length} bytes for ${count} entries`);
  const packBytes = packs.get(pack);
  if (packBytes === undefined) throw bad(`its pack packs/${pack} is missing`);
  const out: Array<[ObjectId, Location]> = [];
  let expect = PACK_MAGIC.length;
  for (let i = 0; i < count; i++) {
    const at = INDEX_HEADER + i * ENTRY_SIZE;
    const id = bytes.subarray(at, at + 32).toString('hex');
    const type = TYPE_NAMES[bytes[at + 32]];
    const offset = bytes.readBigUInt64BE(at + 33);
    const length = bytes.readBigUInt64BE(at + 41);
    const size = bytes.readBigUInt64BE(at + 49);
    if (!type) throw bad(`entry ${i} has an unknown type ${bytes[at + 32]}`);
    // Objects tile the pack exactly, so every byte of a pack belongs to one object and no entry reaches past its end.
    if (offset !== BigInt(expect) || length > BigInt(MAX_OBJECT) || offset + length > BigInt(packBytes)) throw bad(`entry ${i} points outside its pack`);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`entry ${i} has an impossible size`);
    if ((type === 'chunk' || type === 'record') && size !== length) throw bad(`entry ${i}: a ${type}'s size must be its length`);
    out.push([id, { pack, type, offset: expect, length: Number(length), size: Number(size) }]);
    expect += Number(length);
  }
  if (expect !== packBytes) throw bad(`its pack has ${packBytes - expect} bytes no entry accounts for`);
  return out;
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Refs as blobs `refs/<name>`; the random nonce makes every write's bytes unique, so a writer can tell its own write from another's. */
class RemoteRefs implements RefBackend {
  /** Each ref as last read (its etag too), so a compare-and-swap from what was read can put conditionally at once, without reading it again. */
  private readonly seen = new Map<string, { id: ObjectId | null; etag: string }>();

  constructor(private readonly backend: RemoteBackend) {}

  private get store(): BlobStore {
    return this.backend.store;
  }

  /** The ref's blob: absent (null), deleted (id null) or naming an ID. */
  private async read(name: string): Promise<{ id: ObjectId | null; etag: string } | null> {
    const key = `refs/${name}`;
    let got;
    try {
      got = await this.store.get(key);
    } catch (err) {
      if (isCairnError(err, 'NOT_FOUND')) return null;
      throw err;
    }
    const text = got.data.length <= MAX_REF_BODY ? got.data.toString('latin1') : '';
    const m = REF_BODY.exec(text);
    const r = m ? { id: m[1], etag: got.etag } : TOMBSTONE.test(text) ? { id: null, etag: got.etag } : null;
    if (r) {
      if (r.etag) this.seen.set(name, r);
      return r;
    }
    throw new CairnError('CORRUPT', `remote ${this.store.url}: ref ${name} is damaged: its content is not an object ID`, { fields: { ref: name, path: `${this.store.url}/${key}` } });
  }

  private conflict(name: string, expected: ObjectId | null | undefined, found: ObjectId | null): CairnError {
    return new CairnError('CONFLICT', `ref '${name}' on ${this.store.url} changed underneath (expected ${expected?.slice(0, 7) ?? 'none'}, found ${found?.slice(0, 7) ?? 'none'})`, {
      fields: { ref: name, expected: expected ?? null, found },
    });
  }

  async get(name: string): Promise<ObjectId | null> {
    checkRefName(name);
    return (await this.read(name))?.id ?? null;
  }

  async set(name: string, id: ObjectId, expected?: ObjectId | null): Promise<void> {
    checkRefName(name);
    if (!HEX64.test(id)) throw new CairnError('BAD_INPUT', `not a full object ID: '${id.slice(0, 80)}'`);
    if (expected !== undefined && expected !== null && !HEX64.test(expected)) throw new CairnError('BAD_INPUT', `not a full object ID: '${expected.slice(0, 80)}'`);
    // What a ref names must be durable before the ref.
    await this.backend.flush();
    const key = `refs/${name}`;
    const body = Buffer.from(`${id} ${randomBytes(16).toString('hex')}\n`, 'latin1');
    if (expected === undefined) {
      await this.store.put(key, body);
      return;
    }
    let current: { id: ObjectId | null; etag: string } | null = null;
    if (expected === null) {
      try {
        await this.store.put(key, body, { ifNoneMatch: true });
        return;
      } catch (err) {
        if (!isCairnError(err, 'CONFLICT')) throw err;
      }
      current = await this.read(name);
      // A deleted ref leaves a tombstone (see delete): replacing it is creating the ref.
      if (current === null || current.id !== null) throw this.conflict(name, expected, current?.id ?? null);
    } else {
      // The ref as last read, if it named `expected` then: put on condition it is still that version (a changed ref fails the condition and is read again below).
      const known = this.seen.get(name);
      this.seen.delete(name);
      if (known?.id === expected) {
        try {
          await this.store.put(key, body, { ifMatch: known.etag });
          return;
        } catch (err) {
          if (!isCairnError(err, 'CONFLICT')) throw err;
        }
      }
      current = await this.read(name);
      if (current?.id !== expected) throw this.conflict(name, expected, current?.id ?? null);
    }
    await this.replace(name, key, body, current.etag, expected);
  }

  private async replace(name: string, key: string, body: Buffer, etag: string, expected: ObjectId | null | undefined): Promise<void> {
    try {
      await this.store.put(key, body, { ifMatch: etag });
    } catch (err) {
      if (!isCairnError(err, 'CONFLICT')) throw err;
      throw this.conflict(name, expected, (await this.read(name))?.id ?? null);
    }
  }

  /**
   * A deleted ref becomes a tombstone rather than disappearing: S3's
   * DeleteObject takes no condition (radosgw ignores one), so a delete
   * could remove a ref another machine had just set; a conditional put of
   * a tombstone cannot.
   */
  async delete(name: string, expected?: ObjectId | null): Promise<void> {
    checkRefName(name);
    const key = `refs/${name}`;
    const current = await this.read(name);
    const found = current?.id ?? null;
    if (expected !== undefined && found !== expected) throw this.conflict(name, expected, found);
    if (found === null) throw new CairnError('NOT_FOUND', `no ref '${name}' on ${this.store.url}`, { fields: { ref: name } });
    const body = Buffer.from(`deleted ${randomBytes(16).toString('hex')}\n`, 'latin1');
    if (expected === undefined) await this.store.put(key, body);
    else await this.replace(name, key, body, current!.etag, expected);
  }

  async list(prefix = ''): Promise<Array<{ name: string; id: ObjectId }>> {
    const names: string[] = [];
    for await (const b of this.store.list(`refs/${prefix}`)) {
      const name = b.key.slice('refs/'.length);
      try {
        checkRefName(name);
      } catch {
        throw new CairnError('CORRUPT', `remote ${this.store.url}: ${b.key} is not a valid ref name`, { fields: { path: `${this.store.url}/${b.key}` } });
      }
      names.push(name);
    }
    const out: Array<{ name: string; id: ObjectId }> = [];
    await forEachLimited(names, PARALLEL, async (name) => {
      const r = await this.read(name);
      if (r?.id) out.push({ name, id: r.id });
    });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
