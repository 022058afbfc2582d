import { lstat, readdir, mkdir, rm, rename, symlink, chmod, unlink, type FileHandle } from 'node:fs/promises';
import { resolve as resolvePath, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { CairnError } from './errors.js';
import type { Location } from './index-db.js';
import { DirectWriter } from './io/direct.js';
import { readPool, type ArenaRead, type PoolResult } from './io/pool.js';
import { arena, SLOT_DATA, SLOT_SIZE } from './io/arena.js';
import { decodeFile, decodeTreeObject, entryNameBytes, legacyFileMode, MODE_BITS, type FileManifest } from './objects.js';
import { syncDir, tmpName } from './fsutil.js';
import { childPath } from './ingest.js';
import type { Repository } from './repository/repository.js';
import type { ObjectId } from './types.js';

const READ_AHEAD = 4;
/** Files at least this large are restored through the arena on the read pool's threads; smaller ones here. */
const POOL_MIN_FILE = 16 * 1024 * 1024;

/**
 * Reading content back out: file content as a stream, and files and
 * folders restored to disk (temp file, fsync, rename; chunks of zeros
 * left as holes). Every chunk is checked against its XXH64 on the way.
 */
export class Restore {
  constructor(private readonly repo: Repository) {}

  async readManifest(id: ObjectId): Promise<FileManifest> {
    return decodeFile(await this.repo.readTyped(id, 'file'), `file ${id.slice(0, 12)}`);
  }

  /** Where each of a file's chunks is: one index call per thousand chunks. */
  private async locateChunks(m: FileManifest): Promise<Location[]> {
    if (this.repo.session.size > 0) await this.repo.flush();
    return this.repo.locateMany(m.chunks.map((c) => c.id));
  }

  /** A file's chunks in order, verified, reading a few ahead so reads overlap the consumer's writes. */
  private async *fileChunks(m: FileManifest): AsyncGenerator<Buffer> {
    const locs = await this.locateChunks(m);
    const queue: Promise<Buffer>[] = [];
    let next = 0;
    const fill = () => {
      while (queue.length < READ_AHEAD && next < m.chunks.length) {
        const p = this.repo.readBlob(m.chunks[next].id, locs[next++]);
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
    const loc = await this.repo.locate(id);
    if (loc.type === 'chunk') return Readable.from([await this.repo.readBlob(id, loc)]);
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
    const loc = await this.repo.locate(id);
    if (loc.type === 'file' || loc.type === 'tree') {
      if (loc.type === 'file') await this.restoreFile(id, dest);
      else await this.restoreTree(id, dest);
      // The new entry in dest's folder is durable too, not only its content.
      await syncDir(dirname(resolvePath(dest)));
      return;
    }
    throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${loc.type}, not a file or folder`);
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
        const data = await this.repo.readBlob(id, locs[i]);
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
        const p = this.repo.readBlob(m.chunks[run.first].id, locs[run.first]).then((data) => ({ data }));
        p.catch(() => {});
        return { ...run, slot: -1, addr: 0, p };
      }
      const handles: FileHandle[] = [];
      for (let i = run.first; i < run.first + run.count; i++) handles.push(await this.repo.handle(locs[i].packId));
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
      while (queue.length < pool.window && next < runs.length) queue.push(await start(runs[next++]));
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
            throw new CairnError('CORRUPT', `object ${m.chunks[item.first + i].id.slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck', fields: { id: m.chunks[item.first + i].id } });
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
    const { entries, mode } = decodeTreeObject(await this.repo.readTyped(id, 'tree'), `tree ${id.slice(0, 12)}`);
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
