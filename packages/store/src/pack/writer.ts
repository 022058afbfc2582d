import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodeTrailer, headerBytes, PACK_V2, type PackEntry, type PackLayout } from './format.js';
import { mkdirDurable, syncDir } from '../fsutil.js';
import { DirectWriter } from '../io/direct.js';
import { xxh64 } from '../checksum.js';
import type { ObjectType } from '../types.js';

/** Where a pack of many files (or gc's and repair's copies) stops growing: a new one starts before the next file that would take it past this. */
export const TARGET_PACK_SIZE = 128 * 1024 * 1024;
/**
 * Where even one file's pack stops: past it, its chunks go on in a new
 * pack. It only bounds a pack's trailer (an entry per chunk, ~70 bytes:
 * 16 GiB of 256 KiB chunks stays far below MAX_TRAILER).
 */
export const MAX_PACK_SIZE = 16 * 1024 * 1024 * 1024;
/** The most blobs in one pack: a trailer of ~64 bytes each stays far below MAX_TRAILER. */
export const MAX_PACK_ENTRIES = 1024 * 1024;
/**
 * Blobs below this (file manifests, trees, records) go to the open pack
 * even past TARGET_PACK_SIZE, so the record and tree of a checkpoint do not
 * start a pack of their own after its outs; only MAX_PACK_SIZE and
 * MAX_PACK_ENTRIES bound them.
 */
export const SMALL_BLOB = 64 * 1024;

/** Where a blob of `len` bytes lands in a pack that has `size` bytes and stops at `limit`: at its end, or at `start`, the start of a new one. */
export function landing(size: number, len: number, limit: number, start: number): number {
  return size > start && size + len > limit ? start : size;
}

export interface SealedPack {
  packId: string;
  entries: PackEntry[];
  bytes: number;
}

export function packPath(packsDir: string, packId: string): string {
  return join(packsDir, packId.slice(0, 2), `${packId}.pack`);
}

/**
 * Appends blobs to a temporary pack file. Bytes are copied into staging
 * buffers and written in large direct writes (see direct.ts) while the
 * caller goes on hashing; seal() makes the pack durable and visible under
 * its final name.
 */
export class PackWriter {
  readonly packId = randomBytes(16).toString('hex');
  private opening: Promise<DirectWriter> | undefined;
  private readonly tmpPath: string;
  private offset: number;
  private readonly entries: PackEntry[] = [];

  constructor(
    private readonly packsDir: string,
    /** The store's pack layout (format 3 stores keep PACK_V1). */
    private readonly layout: PackLayout = PACK_V2,
  ) {
    this.offset = layout.dataStart;
    this.tmpPath = join(packsDir, 'tmp', `${this.packId}.pack.tmp`);
  }

  get size(): number {
    return this.offset;
  }

  get count(): number {
    return this.entries.length;
  }

  private file(): Promise<DirectWriter> {
    this.opening ??= (async () => {
      await mkdirDurable(join(this.packsDir, 'tmp'));
      const out = await DirectWriter.create(this.tmpPath, 'wx');
      await out.append(headerBytes(this.layout));
      return out;
    })();
    return this.opening;
  }

  /**
   * Appends `data` as a blob with ID `id`; returns its entry. `data` is
   * copied: the caller may reuse it once this resolves.
   */
  async add(id: Buffer, type: ObjectType, data: Buffer, size = data.length, checksum?: Buffer): Promise<PackEntry> {
    const out = await this.file();
    const entry: PackEntry = { id, type, offset: this.offset, length: data.length, checksum: checksum ?? xxh64(data), size };
    await out.append(data);
    this.entries.push(entry);
    this.offset += data.length;
    return entry;
  }

  /**
   * Appends `len` bytes of the arena at `addr` as a blob (see
   * DirectWriter.appendOwned: written from where they are when their offset
   * within a 4 KiB block is this.size's); `release` is called once they are
   * no longer needed.
   */
  async addOwned(id: Buffer, type: ObjectType, addr: number, len: number, checksum: Buffer, release: () => void, size = len): Promise<PackEntry> {
    let out: DirectWriter;
    try {
      out = await this.file();
    } catch (err) {
      release();
      throw err;
    }
    const entry: PackEntry = { id, type, offset: this.offset, length: len, checksum, size };
    await out.appendOwned(addr, len, release);
    this.entries.push(entry);
    this.offset += len;
    return entry;
  }

  /** Writes the trailer, fsyncs, renames into place and fsyncs the folder. */
  async seal(): Promise<SealedPack> {
    const out = await this.file();
    const tail = encodeTrailer(this.entries);
    try {
      await out.append(tail);
      await out.finish();
      await out.fh.sync();
    } catch (err) {
      await this.abort();
      throw err;
    }
    await out.close();
    this.opening = undefined;
    const final = packPath(this.packsDir, this.packId);
    await mkdirDurable(join(this.packsDir, this.packId.slice(0, 2)));
    await rename(this.tmpPath, final);
    await syncDir(join(this.packsDir, this.packId.slice(0, 2)));
    return { packId: this.packId, entries: this.entries, bytes: this.offset + tail.length };
  }

  /** Drops the unfinished pack (nothing refers to it yet). */
  async abort(): Promise<void> {
    const out = await this.opening?.catch(() => undefined);
    this.opening = undefined;
    if (out) await out.close().catch(() => {});
    await unlink(this.tmpPath).catch(() => {});
  }
}
