import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodeTrailer, PACK_MAGIC, HEADER_SIZE, type PackEntry } from './format.js';
import { mkdirDurable, syncDir } from '../fsutil.js';
import { xxh64 } from '../checksum.js';
import type { ObjectType } from '../types.js';

export const TARGET_PACK_SIZE = 128 * 1024 * 1024;
/** Writes in flight before add() waits: bounds memory while hashing overlaps I/O. */
const MAX_INFLIGHT_BYTES = 32 * 1024 * 1024;

export interface SealedPack {
  packId: string;
  entries: PackEntry[];
  bytes: number;
}

export function packPath(packsDir: string, packId: string): string {
  return join(packsDir, packId.slice(0, 2), `${packId}.pack`);
}

/**
 * Appends blobs to a temporary pack file. Writes are issued without waiting
 * so the caller hashes the next chunk while the kernel copies this one;
 * seal() makes the pack durable and visible under its final name.
 */
export class PackWriter {
  readonly packId = randomBytes(16).toString('hex');
  private fh: FileHandle | undefined;
  private readonly tmpPath: string;
  private offset = HEADER_SIZE;
  private readonly entries: PackEntry[] = [];
  private inflight: Promise<unknown>[] = [];
  private inflightBytes = 0;
  private failed: unknown;

  constructor(private readonly packsDir: string) {
    this.tmpPath = join(packsDir, 'tmp', `${this.packId}.pack.tmp`);
  }

  get size(): number {
    return this.offset;
  }

  get count(): number {
    return this.entries.length;
  }

  private async handle(): Promise<FileHandle> {
    if (!this.fh) {
      await mkdirDurable(join(this.packsDir, 'tmp'));
      this.fh = await open(this.tmpPath, 'wx');
      await this.fh.write(PACK_MAGIC, 0, PACK_MAGIC.length, 0);
    }
    return this.fh;
  }

  /** Queues `data` as a blob with ID `id`; returns its entry. `data` must not be modified afterwards. */
  async add(id: Buffer, type: ObjectType, data: Buffer, size = data.length): Promise<PackEntry> {
    if (this.failed) throw this.failed;
    const fh = await this.handle();
    const entry: PackEntry = { id, type, offset: this.offset, length: data.length, checksum: xxh64(data), size };
    this.entries.push(entry);
    this.offset += data.length;
    this.inflightBytes += data.length;
    const p = fh.write(data, 0, data.length, entry.offset).then(
      () => { this.inflightBytes -= data.length; },
      (err) => { this.failed ??= err; },
    );
    this.inflight.push(p);
    if (this.inflightBytes > MAX_INFLIGHT_BYTES) await this.drain();
    return entry;
  }

  private async drain(): Promise<void> {
    const pending = this.inflight;
    this.inflight = [];
    await Promise.all(pending);
    if (this.failed) throw this.failed;
  }

  /** Writes the trailer, fsyncs, renames into place and fsyncs the folder. */
  async seal(): Promise<SealedPack> {
    const fh = await this.handle();
    await this.drain();
    const tail = encodeTrailer(this.entries);
    await fh.write(tail, 0, tail.length, this.offset);
    await fh.sync();
    await fh.close();
    this.fh = undefined;
    const final = packPath(this.packsDir, this.packId);
    await mkdirDurable(join(this.packsDir, this.packId.slice(0, 2)));
    await rename(this.tmpPath, final);
    await syncDir(join(this.packsDir, this.packId.slice(0, 2)));
    return { packId: this.packId, entries: this.entries, bytes: this.offset + tail.length };
  }

  /** Drops the unfinished pack (nothing refers to it yet). */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inflight);
    if (this.fh) await this.fh.close().catch(() => {});
    this.fh = undefined;
    await unlink(this.tmpPath).catch(() => {});
  }
}
