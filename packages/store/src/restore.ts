import { lstat, readdir, mkdir, rm, rename, symlink, chmod, unlink, type FileHandle } from 'node:fs/promises';
import { resolve as resolvePath, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { read as fsRead } from 'node:fs';
import { CairnError } from './errors.js';
import type { Location } from './index-db.js';
import { DirectWriter, PositionalWriter } from './io/direct.js';
import { readPool, type ArenaRead } from './io/pool.js';
import { arena, SLOT_DATA, SLOT_SIZE } from './io/arena.js';
import { Inflight } from './io/inflight.js';
import { decodeFile, decodeTreeObject, entryNameBytes, legacyFileMode, MODE_BITS, type FileManifest } from './objects.js';
import { syncDir, tmpName } from './fsutil.js';
import { childPath } from './ingest.js';
import type { Repository } from './repository/repository.js';
import type { ObjectId } from './types.js';

const READ_AHEAD = 4;
/** Files at least this large are restored through the arena on the read pool's threads; smaller ones here. */
const POOL_MIN_FILE = 16 * 1024 * 1024;
/**
 * Files at least this large start the read pool's threads if they are not
 * running yet; smaller ones are read on libuv's threads and checked on this
 * one (XXH64 runs at GB/s): starting two threads cost ~90 ms of CPU and
 * doubled a cold 64 MiB restore on a 2-core VM.
 */
const POOL_START_FILE = 256 * 1024 * 1024;
/** Runs of a large file that may wait on or be in their writes, beyond the pool's window of reads (each holds a ~4 MiB slot). */
const RESTORE_WRITING = 16;
/** The most runs of one file in flight (~200 MiB of arena). */
const RESTORE_WINDOW_MAX = 48;
/**
 * Runs in flight for a file read on this thread (libuv's 4 threads read and
 * write): a cold 64 MiB restore took the same time with 8 as with 24 and
 * ~15% less CPU (arena pages faulted in: 87 against 122 MiB peak RSS).
 */
const RESTORE_HERE_WINDOW = 8;

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
    const ids = m.chunks.map((c) => c.id);
    await this.repo.flushFor(ids);
    return this.repo.locateMany(ids);
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

  /** A small file's content to `out`, in order, every chunk read and verified here. */
  private async writeContent(out: DirectWriter, m: FileManifest, locs: Location[]): Promise<void> {
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
  }

  /**
   * A large file's content to `out` (sized already, all zeros), every chunk
   * verified before any of its bytes is written, nothing waiting on
   * anything else in the file: the read pool's threads read runs of chunks
   * into arena slots, each at the offset within a 4 KiB block that it has in
   * the file (chunks back to back in one pack, as a file's new chunks are
   * written, in one read), and check their XXH64 there; as each run is
   * verified its bytes are written at their place from where they are (the
   * whole blocks with O_DIRECT, see PositionalWriter), while the next runs
   * are read. Chunks of zeros are not written: the file reads them back as
   * a hole. On any failure no new run starts, and this settles only once
   * nothing reads into the arena or writes to the file any more.
   */
  private async writeParallel(out: PositionalWriter, m: FileManifest, locs: Location[]): Promise<void> {
    const pool = readPool();
    const A = arena();
    // Runs of consecutive chunks that fit a slot at their block offset; a larger chunk is a run alone, read by readBlob.
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
    // Runs in flight, each holding a slot from its read to the end of its write: the pool's window of reads, and as many again waiting on or in writes (fewer, and reads stall behind writes: 8 in all restored 1 GiB ~15% slower than 24 on a 2-core VM).
    // A file read here throughout (the pool not started, and this file too small to start it) has libuv's few threads for its reads and writes: more runs than they serve at once only touch more fresh arena memory.
    const here = !poolWarm && pos < POOL_START_FILE;
    const window = here ? RESTORE_HERE_WINDOW : Math.min(RESTORE_WINDOW_MAX, pool.window + RESTORE_WRITING);
    const inflight = new Inflight(window);
    // Until a pool thread has answered (starting one takes tens of milliseconds, far more on a busy machine), runs are read here: a run sent to a thread still starting would hold up the whole file.
    try {
      for (const run of runs) {
        if (inflight.failed) break;
        // Known zeros: nothing is written but the blocks they share with written runs.
        if (run.hole) await inflight.add(out.hole(run.pos, run.len), false);
        else await inflight.add(this.restoreRun(out, m, locs, run, !poolWarm));
      }
    } finally {
      // Nothing may still read into the arena, or write to the file, once this returns.
      await inflight.drain();
    }
    await inflight.settle();
  }

  /** One run: read and verified on a pool thread (or `here`), then its chunks that are not zeros written at their place. */
  private async restoreRun(out: PositionalWriter, m: FileManifest, locs: Location[], run: Run, here: boolean): Promise<void> {
    if (run.big || (run.count === 1 && zeroChunks.has(m.chunks[run.first].id))) {
      // A chunk larger than a slot (read and verified by readBlob), or one found to be zeros since the plan was made.
      if (zeroChunks.has(m.chunks[run.first].id)) return out.hole(run.pos, run.len);
      const data = await this.repo.readBlob(m.chunks[run.first].id, locs[run.first]);
      if (isAllZero(data)) {
        noteZero(m.chunks[run.first].id);
        return out.hole(run.pos, run.len);
      }
      return out.writeAt(data, run.pos);
    }
    const handles: FileHandle[] = [];
    for (let i = run.first; i < run.first + run.count; i++) handles.push(await this.repo.handle(locs[i].packId));
    const A = arena();
    const slot = await A.take();
    try {
      const addr = A.addr(slot, run.pos % 4096);
      const reads: ArenaRead[] = [];
      const packOf = new Map<ArenaRead, string>();
      const xxh: Array<{ addr: number; len: number }> = [];
      const expect = new Uint8Array(8 * run.count);
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
        expect.set(loc.checksum, 8 * (i - run.first));
        at += loc.length;
      }
      const short = (read: ArenaRead, at: number) => {
        const packId = packOf.get(read) ?? locs[run.first].packId;
        return new CairnError('CORRUPT', `pack ${packId}: file ends early (wanted ${read.len} bytes at ${read.pos}, got ${at - read.pos})`, { hint: 'run cairn fsck' });
      };
      const r = here ? await readHere({ reads, xxh, expect }, short) : await readPool().run({ reads, xxh, expect }, short);
      if (!here) poolWarm = true;
      if (r.mismatch !== undefined) {
        const i = run.first + r.mismatch;
        throw new CairnError('CORRUPT', `object ${m.chunks[i].id.slice(0, 12)} in pack ${locs[i].packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck', fields: { id: m.chunks[i].id } });
      }
      // Verified: written from where it is, but chunks of zeros, which are left as holes.
      const zeros: Array<[number, number]> = [];
      for (let i = run.first, off = 0; i < run.first + run.count; off += locs[i++].length) {
        const len = locs[i].length;
        if (!isAllZero(A.view(addr + off, len))) continue;
        noteZero(m.chunks[i].id);
        const last = zeros[zeros.length - 1];
        if (last && last[1] === off) last[1] += len;
        else zeros.push([off, off + len]);
      }
      await out.writeAt(A.view(addr, run.len), run.pos, zeros);
    } finally {
      A.give(slot);
    }
  }

  private async restoreFile(id: ObjectId, dest: string | Buffer): Promise<void> {
    const m = await this.readManifest(id);
    const locs = await this.locateChunks(m);
    if (typeof dest === 'string') await mkdir(dirname(dest), { recursive: true });
    const tmp = typeof dest === 'string' ? tmpName(dest) : Buffer.concat([dest, Buffer.from(tmpName(''))]);
    // Private until complete: the file's recorded mode may be narrower than the default (a key).
    const size = locs.reduce((n, l) => n + l.length, 0);
    if (size >= POOL_START_FILE && !poolWarm) {
      // Starts the pool's threads now, while the file is created; runs are read here until one answers.
      readPool()
        .run({ reads: [] })
        .then(
          () => (poolWarm = true),
          () => {},
        );
    }
    const out = size >= POOL_MIN_FILE ? await PositionalWriter.create(tmp, 'w', size, 0o600) : await DirectWriter.create(tmp, 'w', 0o600);
    try {
      if (out instanceof PositionalWriter) await this.writeParallel(out, m, locs);
      else await this.writeContent(out, m, locs);
      // One fsync: the direct writes' blocks and the partial blocks written through the page cache alike.
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

/** Whether a pool thread of this process has answered a restore's job: it is started (threads stay once started). */
let poolWarm = false;

/** A pool job's reads and XXH64 checks done on this thread (reads on libuv's), for while the pool's threads start. */
async function readHere(job: { reads: ArenaRead[]; xxh: Array<{ addr: number; len: number }>; expect: Uint8Array }, short: (read: ArenaRead, at: number) => Error): Promise<{ mismatch?: number }> {
  const A = arena();
  await Promise.all(
    job.reads.map(async (r) => {
      const dest = A.view(r.addr, r.len);
      for (let done = 0; done < r.len; ) {
        const n = await new Promise<number>((resolve, reject) => fsRead(r.fd, dest, done, r.len - done, r.pos + done, (err, n) => (err ? reject(err) : resolve(n))));
        if (n === 0) throw short(r, r.pos + done);
        done += n;
      }
    }),
  );
  for (let i = 0; i < job.xxh.length; i++) {
    const sum = A.xxh64(job.xxh[i].addr, job.xxh[i].len);
    if (!sum.equals(job.expect.subarray(8 * i, 8 * i + 8))) return { mismatch: i };
  }
  return {};
}

/** Consecutive chunks of a file read (or skipped) together. */
interface Run {
  /** Index of the first chunk. */
  first: number;
  count: number;
  /** Its place in the file. */
  pos: number;
  len: number;
  /** A chunk larger than a slot takes: read by readBlob. */
  big: boolean;
  /** Chunks known to be all zeros: not read, left as a hole. */
  hole?: boolean;
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

/** @internal For tests: whether large restores send runs to the pool (true) or read them here until a pool thread answers (false, as in a fresh process). */
export function poolWarmForTests(warm: boolean): void {
  poolWarm = warm;
}
