import { unlink } from 'node:fs/promises';
import { encodeLocation, locationOf, type IndexDb, type Location } from './index-db.js';
import type { PackLayout } from './pack/format.js';
import { landing, MAX_PACK_ENTRIES, MAX_PACK_SIZE, PackWriter, packPath, SMALL_BLOB, TARGET_PACK_SIZE, type SealedPack } from './pack/writer.js';
import { ioFailure } from './errors.js';
import type { ObjectId, ObjectType } from './types.js';

/**
 * The writes of one store session: the open pack, packs sealing in the
 * background, and the index entries waiting for them. Failure-atomic: the
 * first failed write, fsync or rename discards everything not yet indexed
 * (the unfinished pack, sealed packs the index never heard of, the pending
 * entries), and every later write of the session fails with that error, so
 * a session either indexes all it wrote or leaves the store as it was
 * (apart from, at worst, unreferenced packs after a failed index write,
 * which the index may or may not have taken: those stay, since deleting
 * them could leave the index pointing at nothing).
 */
export class PackSession {
  private writer: PackWriter | undefined;
  private readonly pending = new Map<ObjectId, Location>();
  private sealing: Array<Promise<SealedPack>> = [];
  private failed: Error | undefined;
  /** Files being put (see beginFile): while there are any, the open pack grows up to MAX_PACK_SIZE. */
  private files = 0;

  constructor(
    private readonly packsDir: string,
    private readonly index: () => IndexDb,
    readonly layout: PackLayout,
    /** Pack sizes (see TARGET_PACK_SIZE, MAX_PACK_SIZE, MAX_PACK_ENTRIES and SMALL_BLOB); smaller in tests. */
    private readonly limits = { target: TARGET_PACK_SIZE, max: MAX_PACK_SIZE, entries: MAX_PACK_ENTRIES, small: SMALL_BLOB },
  ) {}

  /** Entries written and not yet indexed. */
  get size(): number {
    return this.pending.size;
  }

  /** Bytes in the open pack (its header counts), or in a new one before its first blob: for guessing where the next blob lands. */
  get openPackSize(): number {
    return this.writer?.size ?? this.layout.dataStart;
  }

  /** Where a blob of `len` bytes put now would land if the open pack (or the pack before it) had `size` bytes. */
  land(size: number, len: number): number {
    return landing(size, len, this.packLimit, this.layout.dataStart);
  }

  /** Where the open pack stops growing now (see beginFile). */
  get packLimit(): number {
    return this.files > 0 ? this.limits.max : this.limits.target;
  }

  /**
   * Starts putting one file: a new pack if the open one is past
   * TARGET_PACK_SIZE, then, until the returned function is called, no new
   * pack below MAX_PACK_SIZE. So a file's new chunks lie in one pack, back
   * to back (a checkpoint of one big out is one pack), and where each will
   * land can be known before its bytes are read (ingest reads them to the
   * offset within a 4 KiB block they will have there, so they are written
   * from where they are read; a pack started mid-file would shift every
   * chunk read ahead of it, and those were copied).
   */
  beginFile(): () => void {
    if (this.files === 0 && this.writer && this.writer.count > 0 && this.writer.size >= this.limits.target) this.roll();
    this.files++;
    let ended = false;
    return () => {
      if (!ended) this.files--;
      ended = true;
    };
  }

  has(id: ObjectId): boolean {
    return this.pending.has(id);
  }

  get(id: ObjectId): Location | undefined {
    return this.pending.get(id);
  }

  /** Throws the error that ended the session, if one did. */
  check(): void {
    if (this.failed) throw this.failed;
  }

  /** The pack to append `len` bytes to: the open one, or a new one when it would grow past packLimit (a small blob: past the most one pack holds). */
  packFor(len: number): PackWriter {
    this.check();
    const w = this.writer;
    if (w && w.count > 0) {
      const limit = len < this.limits.small ? this.limits.max : this.packLimit;
      if (w.count >= this.limits.entries || landing(w.size, len, limit, this.layout.dataStart) !== w.size) this.roll();
    }
    return (this.writer ??= new PackWriter(this.packsDir, this.layout));
  }

  /** Seals the open pack in the background (its fsync takes a while; flush() waits for it). */
  private roll(): void {
    const sealing = this.writer!.seal();
    sealing.catch(() => {});
    this.sealing.push(sealing);
    this.writer = undefined;
  }

  /** Appends a blob known to be new (copied: the caller may reuse `data` once this resolves). */
  async add(id: ObjectId, idBytes: Buffer, type: ObjectType, data: Buffer, size: number): Promise<void> {
    await this.guard(async () => {
      const writer = this.packFor(data.length);
      const entry = await writer.add(idBytes, type, data, size);
      this.pending.set(id, locationOf(writer.packId, entry));
    });
  }

  /**
   * Appends a new blob that is in the arena (see PackWriter.addOwned);
   * `release` is called once it is no longer needed, whatever happens.
   */
  async addOwned(id: ObjectId, idBytes: Buffer, type: ObjectType, addr: number, len: number, checksum: Buffer, release: () => void, size: number): Promise<void> {
    let handed = false;
    try {
      await this.guard(async () => {
        const writer = this.packFor(len);
        handed = true;
        const entry = await writer.addOwned(idBytes, type, addr, len, checksum, release, size);
        this.pending.set(id, locationOf(writer.packId, entry));
      });
    } finally {
      if (!handed) release();
    }
  }

  /**
   * Seals the open pack and indexes everything written: data first, then
   * index, so the index never points at bytes that are not on disk.
   */
  async flush(): Promise<void> {
    this.check();
    if (this.writer && this.writer.count > 0) this.sealing.push(this.writer.seal());
    this.writer = undefined;
    const sealing = this.sealing;
    this.sealing = [];
    const settled = await Promise.allSettled(sealing);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure) {
      // Packs that did seal are known to no index: they go with the rest.
      const sealed = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.packId] : []));
      await this.fail(failure.reason, sealed);
      this.check();
    }
    if (this.pending.size === 0) return;
    const batch = this.index().obj.batch();
    for (const [id, loc] of this.pending) batch.put(id, encodeLocation(loc));
    try {
      await batch.write({ sync: true });
    } catch (err) {
      // The index may have taken the batch after all (a failed fsync of its
      // log): its packs stay, they are sealed and whole.
      await this.fail(err, []);
      this.check();
    }
    this.pending.clear();
  }

  /** Drops everything not yet indexed (the session ends without committing). */
  async discard(): Promise<void> {
    const sealing = this.sealing;
    this.sealing = [];
    const settled = await Promise.allSettled(sealing);
    await this.writer?.abort();
    this.writer = undefined;
    this.pending.clear();
    for (const s of settled) if (s.status === 'fulfilled') await unlink(packPath(this.packsDir, s.value.packId)).catch(() => {});
  }

  private async guard(fn: () => Promise<void>): Promise<void> {
    this.check();
    try {
      await fn();
    } catch (err) {
      await this.fail(err, []);
      this.check();
    }
  }

  /** Ends the session with `err`: the unfinished pack, `sealedPacks` and every pending entry are dropped. */
  private async fail(err: unknown, sealedPacks: string[]): Promise<void> {
    if (!this.failed) this.failed = ioFailure(err, 'writing to the store');
    await this.discard();
    for (const packId of sealedPacks) await unlink(packPath(this.packsDir, packId)).catch(() => {});
  }
}
