import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { arena, SLOT_SIZE, type Arena } from './arena.js';

/**
 * Sequential writing of a new file, the bulk of it with O_DIRECT.
 *
 * Through the page cache, every byte written costs a copy into freshly
 * allocated cache pages (on virtual machines often far more than the copy
 * itself), and the final fsync then waits for all of it to reach the disk.
 * With O_DIRECT the disk takes the bytes straight from our memory while we
 * go on reading and hashing, and the fsync has little left to do.
 *
 * O_DIRECT needs block-aligned memory, file offsets and lengths. Bytes
 * handed over by copy (append) are staged in an arena slot, which is
 * page-aligned. Bytes already in the arena (appendOwned) are written from
 * where they are when they sit at the same offset within a 4 KiB block as
 * their place in the file (callers arrange that): only the partial blocks at
 * their two ends are copied. The file's last partial block goes through the
 * page cache. Where O_DIRECT is not supported (tmpfs, some network
 * filesystems) everything goes through the page cache, in the same large
 * writes.
 */

const BLOCK = 4096;
/** Queued bytes that make one write (a writev of aligned pieces). */
const WRITE_SIZE = 16 * 1024 * 1024;
/** Writes in flight in the process (a pack sealing in the background and the next one share them). */
const MAX_INFLIGHT = 2;
let inflightTotal = 0;
const inflightWaiters: Array<() => void> = [];

async function writeSlot(): Promise<void> {
  while (inflightTotal >= MAX_INFLIGHT) await new Promise<void>((resolve) => inflightWaiters.push(resolve));
  inflightTotal++;
}

function writeSlotDone(): void {
  inflightTotal--;
  inflightWaiters.shift()?.();
}
/** Smaller owned pieces are copied: not worth a write of their own. */
const MIN_OWNED = 64 * 1024;

interface Piece {
  addr: number;
  len: number;
  release?: () => void;
  /** Nothing to write: the file keeps a hole here (see skip). */
  hole?: boolean;
}

/** Zeros for the partial blocks at the ends of a hole. */
const ZERO_BLOCK = Buffer.alloc(4096);

/**
 * A slot that copied bytes are staged in. Its bytes go out in pieces (each
 * ending on a block boundary), and later bytes are staged after them in the
 * same slot, so the partial blocks at the ends of many chunks share one
 * slot; it is given back once full and every piece of it is written.
 */
interface Stage {
  slot: number;
  /** Slot offset of the byte at stagePos (block-aligned). */
  base: number;
  /** Pieces queued or being written. */
  refs: number;
  retired: boolean;
}

export class DirectWriter {
  private readonly arena: Arena = arena();
  /** Bytes appended so far. */
  private end = 0;
  /** Pieces covering [qpos, stagePos), block-aligned, not yet written. */
  private queue: Piece[] = [];
  private queued = 0;
  private qpos = 0;
  /** Where [stagePos, end) is staged; stagePos is block-aligned. None: end is aligned. */
  private st: Stage | undefined;
  private stagePos = 0;
  private inflight: Promise<void>[] = [];
  private failed: unknown;
  /** Whether skip() left a hole: finish() then sets the file's size, which may end in one. */
  private holes = false;

  private constructor(
    /** The file opened normally: the last partial block goes through it, and fsync and close are done on it. */
    readonly fh: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  /** Creates `path` (flags 'w' or 'wx') and opens it for direct writing where the filesystem allows. */
  static async create(path: string | Buffer, flags: 'w' | 'wx', mode = 0o644): Promise<DirectWriter> {
    const fh = await open(path, flags, mode);
    let direct: FileHandle | undefined;
    if (process.platform === 'linux' && constants.O_DIRECT && process.env.CAIRN_NO_DIRECT_IO !== '1') {
      direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
    }
    return new DirectWriter(fh, direct);
  }

  /**
   * Whether writes still bypass the page cache: false where the filesystem
   * refused O_DIRECT at open, or a write fell back after EINVAL. Lets a
   * test tell a silent fallback from the real thing.
   */
  get directIO(): boolean {
    return this.direct !== undefined;
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.end;
  }

  private check(): void {
    if (this.failed) throw this.failed;
  }

  /** Copies bytes into the staging slot, starting a new one as each fills. */
  private async stage(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      this.check();
      if (!this.st) {
        const slot = await this.arena.take();
        this.st = { slot, base: 0, refs: 0, retired: false };
        this.stagePos = this.end;
      }
      const st = this.st;
      const fill = this.end - this.stagePos;
      const n = Math.min(SLOT_SIZE - st.base - fill, data.length - off);
      this.arena.write(this.arena.addr(st.slot, st.base + fill), data.subarray(off, off + n));
      this.end += n;
      off += n;
      if (st.base + this.end - this.stagePos === SLOT_SIZE) this.closeStage();
    }
  }

  /** Queues the staged bytes (they end on a block boundary); the slot stays for what comes next while it has room. */
  private closeStage(): void {
    const st = this.st;
    if (!st) return;
    const len = this.end - this.stagePos;
    if (len > 0) {
      st.refs++;
      this.enqueue({ addr: this.arena.addr(st.slot, st.base), len, release: () => this.unref(st) });
      st.base += len;
    }
    this.stagePos = this.end;
    if (st.base + BLOCK > SLOT_SIZE) this.retire();
  }

  private retire(): void {
    const st = this.st;
    if (!st) return;
    this.st = undefined;
    st.retired = true;
    if (st.refs === 0) this.arena.give(st.slot);
  }

  private unref(st: Stage): void {
    if (--st.refs === 0 && st.retired) this.arena.give(st.slot);
  }

  private enqueue(p: Piece): void {
    this.queue.push(p);
    if (!p.hole) this.queued += p.len;
  }

  /**
   * Appends a copy of `data`: the caller may reuse `data` as soon as this
   * resolves. Waits only while the writes in flight are at their limit.
   */
  async append(data: Uint8Array): Promise<void> {
    await this.stage(data);
    await this.pump(false);
  }

  /**
   * Appends `len` arena bytes at `addr`, written from where they are when
   * they sit at the offset within a 4 KiB block that their place in the file
   * has; `release` is called once they are no longer needed (written, or
   * copied).
   */
  async appendOwned(addr: number, len: number, release: () => void): Promise<void> {
    const phase = this.end % BLOCK;
    if (addr % BLOCK !== phase || len < MIN_OWNED) {
      try {
        await this.append(this.arena.view(addr, len));
      } finally {
        release();
      }
      return;
    }
    let released = false;
    try {
      this.check();
      // The head completes the staged partial block.
      const head = (BLOCK - phase) % BLOCK;
      if (head > 0) await this.stage(this.arena.view(addr, head));
      this.closeStage();
      const mid = Math.floor((len - head) / BLOCK) * BLOCK;
      this.enqueue({ addr: addr + head, len: mid, release });
      released = true;
      this.end += mid;
      this.stagePos = this.end;
      // The tail starts the next partial block.
      const tail = len - head - mid;
      if (tail > 0) await this.stage(this.arena.view(addr + head + mid, tail));
    } finally {
      if (!released) release();
    }
    await this.pump(false);
  }

  /**
   * Appends `len` zero bytes as a hole: the whole blocks among them are not
   * written at all, so the file system reads them back as zeros and, where
   * it can, allocates nothing for them (a sparse file stays sparse). The
   * partial blocks at either end are staged as zeros like appended bytes,
   * so every write stays block-aligned for O_DIRECT.
   */
  async skip(len: number): Promise<void> {
    this.check();
    const head = Math.min(len, (BLOCK - (this.end % BLOCK)) % BLOCK);
    if (head > 0) await this.stage(ZERO_BLOCK.subarray(0, head));
    const rest = len - head;
    const hole = rest - (rest % BLOCK);
    if (hole > 0) {
      this.closeStage();
      this.enqueue({ addr: 0, len: hole, hole: true });
      this.end += hole;
      this.stagePos = this.end;
      this.holes = true;
    }
    if (rest > hole) await this.stage(ZERO_BLOCK.subarray(0, rest - hole));
    await this.pump(false);
  }

  /** Starts writes of what is queued, in pieces of WRITE_SIZE (all of it when `all`), keeping at most MAX_INFLIGHT in flight. */
  private async pump(all: boolean): Promise<void> {
    while (this.queued >= WRITE_SIZE || (all && this.queued > 0)) {
      await writeSlot();
      if (this.failed) {
        writeSlotDone();
        throw this.failed;
      }
      // A hole writes nothing: the next write starts past it. (Something follows it: `queued` counts only bytes to write.)
      while (this.queue[0]?.hole) this.qpos += this.queue.shift()!.len;
      const batch: Piece[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && !this.queue[0].hole && (bytes < WRITE_SIZE || all) && batch.length < 512) {
        const p = this.queue.shift()!;
        batch.push(p);
        bytes += p.len;
      }
      this.queued -= bytes;
      const pos = this.qpos;
      this.qpos += bytes;
      const w = this.writeAt(batch.map((p) => this.arena.view(p.addr, p.len)), pos)
        .catch((err) => {
          this.failed ??= err;
        })
        .finally(() => {
          writeSlotDone();
          for (const p of batch) p.release?.();
        });
      this.inflight.push(w);
      // Settled writes need not be kept.
      void w.then(() => {
        const i = this.inflight.indexOf(w);
        if (i >= 0) this.inflight.splice(i, 1);
      });
    }
  }

  private async writeAt(bufs: Buffer[], pos: number): Promise<void> {
    if (this.direct) {
      try {
        await writeAllv(this.direct, bufs, pos);
        return;
      } catch (err) {
        // Alignment rules stricter than ours, or direct I/O refused after
        // all: from now on, the page cache.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        const d = this.direct;
        this.direct = undefined;
        await d?.close().catch(() => {});
      }
    }
    await writeAllv(this.fh, bufs, pos);
  }

  /** Writes everything and waits for it; the file is then complete (not yet fsynced). */
  async finish(): Promise<void> {
    this.check();
    const st = this.st;
    const fill = this.end - this.stagePos;
    const aligned = st ? fill - (fill % BLOCK) : 0;
    if (st && aligned > 0) {
      st.refs++;
      this.enqueue({ addr: this.arena.addr(st.slot, st.base), len: aligned, release: () => this.unref(st) });
    }
    await this.pump(true);
    await this.settle();
    this.check();
    if (st) {
      try {
        // The last partial block, through the page cache.
        if (fill > aligned) await writeAllv(this.fh, [this.arena.view(this.arena.addr(st.slot, st.base + aligned), fill - aligned)], this.stagePos + aligned);
      } finally {
        this.retire();
      }
    }
    // Past the last write the file has no size yet where it ends in a hole.
    if (this.holes) await this.fh.truncate(this.end);
  }

  /** Waits for writes in progress, ignoring failures. */
  async settle(): Promise<void> {
    while (this.inflight.length > 0) await this.inflight.shift();
  }

  /** Waits for writes in progress, gives back what is still queued or staged, closes both handles. */
  async close(): Promise<void> {
    await this.settle();
    for (const p of this.queue) p.release?.();
    this.queue = [];
    this.queued = 0;
    this.retire();
    const d = this.direct;
    this.direct = undefined;
    await d?.close().catch(() => {});
    await this.fh.close();
  }
}

/** Writes the buffers back to back from `pos`, looping over short writes. */
export async function writeAllv(fh: FileHandle, bufs: Buffer[], pos: number): Promise<void> {
  bufs = bufs.filter((b) => b.length > 0);
  while (bufs.length > 0) {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = bufs.length === 1 ? await fh.write(bufs[0], 0, bufs[0].length, pos) : await fh.writev(bufs, pos);
    if (bytesWritten <= 0) throw new Error(`write of ${total} bytes at ${pos} made no progress`);
    pos += bytesWritten;
    // Drop what was written: whole buffers, then the front of a partly written one.
    let skip = bytesWritten;
    while (bufs.length > 0 && skip >= bufs[0].length) skip -= bufs.shift()!.length;
    if (skip > 0) bufs[0] = bufs[0].subarray(skip);
  }
}

/** Positional writes in flight in the process (they run on libuv's threads; the read pool's threads keep reading). */
const MAX_POSITIONAL = 4;
let positionalInflight = 0;
const positionalWaiters: Array<() => void> = [];

async function positionalSlot(): Promise<void> {
  while (positionalInflight >= MAX_POSITIONAL) await new Promise<void>((resolve) => positionalWaiters.push(resolve));
  positionalInflight++;
}

function positionalDone(): void {
  positionalInflight--;
  positionalWaiters.shift()?.();
}

/**
 * A new file of known size written in any order: each range at its own
 * position, several at once, so that ranges are written as soon as they are
 * ready (read and verified) rather than in file order behind one another.
 * Every byte of the file is handed over exactly once: by writeAt, or by hole
 * for zeros that need no writing.
 *
 * The file is sized up front, so what is never written reads back as zeros
 * (a hole). Whole 4 KiB blocks are written with O_DIRECT straight from the
 * caller's arena memory, which sits at the same offset within a 4 KiB block
 * as its place in the file (arena slots are laid out so). A block shared by
 * two ranges (one's tail, the next one's head) is assembled in a staged
 * block of the arena as its bytes arrive, in whichever order, and written by
 * the range that completes it, in the same writev as its whole blocks; so
 * no partial block goes through the page cache, except the file's last,
 * and one fsync of `fh` makes all of it durable. Where O_DIRECT is not
 * supported, or a direct write fails with EINVAL, the same writes go
 * through the page cache.
 */
export class PositionalWriter {
  private readonly arena: Arena = arena();
  /** Direct handles given up after EINVAL: closed with the file, once no write can still be using them. */
  private dropped: FileHandle[] = [];
  /** Blocks being assembled, by their position: arena address of the staged copy, bytes still to come. */
  private staged = new Map<number, { addr: Promise<number> | number; missing: number }>();
  /** Arena slots holding staged blocks, and the free staged blocks among them. */
  private stageSlots: number[] = [];
  private freeBlocks: number[] = [];

  private constructor(
    /** The file opened normally: fsync and close are done on it (and every write where O_DIRECT is off). */
    readonly fh: FileHandle,
    private direct: FileHandle | undefined,
    /** The file's size. */
    readonly size: number,
  ) {}

  /** Creates `path` (flags 'w' or 'wx') with `size` bytes of zeros (a hole) to be written over. */
  static async create(path: string | Buffer, flags: 'w' | 'wx', size: number, mode = 0o644): Promise<PositionalWriter> {
    const fh = await open(path, flags, mode);
    let direct: FileHandle | undefined;
    try {
      await fh.truncate(size);
      if (process.platform === 'linux' && constants.O_DIRECT && process.env.CAIRN_NO_DIRECT_IO !== '1') {
        direct = await open(path, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
      }
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    return new PositionalWriter(fh, direct, size);
  }

  /** Whether whole blocks still bypass the page cache (see DirectWriter.directIO). */
  get directIO(): boolean {
    return this.direct !== undefined;
  }

  /** A zeroed 4 KiB block of the arena for a block being assembled. */
  private async stageBlock(): Promise<number> {
    while (this.freeBlocks.length === 0) {
      const slot = await this.arena.take();
      this.stageSlots.push(slot);
      for (let off = 0; off + BLOCK <= SLOT_SIZE; off += BLOCK) this.freeBlocks.push(this.arena.addr(slot, off));
    }
    const addr = this.freeBlocks.pop()!;
    this.arena.view(addr, BLOCK).fill(0);
    return addr;
  }

  /**
   * Adds the bytes of [pos, pos + len) (from `src`, or zeros) to the block
   * at `block`; returns the staged block's address once the block is
   * complete (its writer is then the caller).
   */
  private async contribute(block: number, pos: number, len: number, src: Uint8Array | undefined): Promise<number | undefined> {
    let st = this.staged.get(block);
    if (!st) {
      // Set before any wait, so that the block's other contributors find it.
      st = { addr: this.stageBlock(), missing: Math.min(BLOCK, this.size - block) };
      this.staged.set(block, st);
    }
    const addr = (st.addr = await st.addr);
    if (src) this.arena.view(addr + (pos - block), len).set(src);
    st.missing -= len;
    if (st.missing > 0) return undefined;
    this.staged.delete(block);
    return addr;
  }

  /**
   * Writes `data` at `pos`, except the whole blocks inside `zeros` (ranges
   * of `data`, relative to it, known to be zeros): they are left as holes.
   * `data` is a view of the arena for direct writes (any other memory goes
   * through the page cache). Resolves once every byte this call is to write
   * is written; the caller keeps `data` untouched until then.
   */
  async writeAt(data: Buffer, pos: number, zeros: Array<[number, number]> = []): Promise<void> {
    const len = data.length;
    if (len === 0) return;
    const end = pos + len;
    const inner0 = Math.min(end, Math.ceil(pos / BLOCK) * BLOCK);
    const inner1 = Math.max(inner0, Math.floor(end / BLOCK) * BLOCK);
    const segs: Array<{ pos: number; buf: Buffer; staged?: number }> = [];
    // The partial blocks at the ends, shared with the neighbouring ranges.
    if (pos % BLOCK !== 0) {
      const b = pos - (pos % BLOCK);
      const addr = await this.contribute(b, pos, inner0 - pos, data.subarray(0, inner0 - pos));
      if (addr !== undefined) segs.push({ pos: b, buf: this.arena.view(addr, Math.min(BLOCK, this.size - b)), staged: addr });
    }
    // The whole blocks, but those wholly inside zeros.
    let from = inner0;
    const cut = (to: number) => {
      if (to > from) segs.push({ pos: from, buf: data.subarray(from - pos, to - pos) });
    };
    for (const [z0, z1] of zeros) {
      const a = Math.max(from, Math.ceil((pos + z0) / BLOCK) * BLOCK);
      const b = Math.min(inner1, Math.floor((pos + z1) / BLOCK) * BLOCK);
      if (b <= a) continue;
      cut(a);
      from = b;
    }
    cut(inner1);
    if (end % BLOCK !== 0 && end > inner1 && (inner1 > pos || pos % BLOCK === 0)) {
      const addr = await this.contribute(inner1, inner1, end - inner1, data.subarray(inner1 - pos));
      if (addr !== undefined) segs.push({ pos: inner1, buf: this.arena.view(addr, Math.min(BLOCK, this.size - inner1)), staged: addr });
    }
    await this.writeSegs(segs);
  }

  /** Hands over [pos, pos + len) as zeros: nothing is written but the blocks it shares with written ranges. */
  async hole(pos: number, len: number): Promise<void> {
    if (len === 0) return;
    const end = pos + len;
    const segs: Array<{ pos: number; buf: Buffer; staged?: number }> = [];
    const b0 = pos - (pos % BLOCK);
    if (pos % BLOCK !== 0) {
      const addr = await this.contribute(b0, pos, Math.min(end, b0 + BLOCK) - pos, undefined);
      if (addr !== undefined) segs.push({ pos: b0, buf: this.arena.view(addr, Math.min(BLOCK, this.size - b0)), staged: addr });
    }
    const b1 = end - (end % BLOCK);
    if (end % BLOCK !== 0 && (b1 !== b0 || pos % BLOCK === 0)) {
      const addr = await this.contribute(b1, Math.max(pos, b1), end - Math.max(pos, b1), undefined);
      if (addr !== undefined) segs.push({ pos: b1, buf: this.arena.view(addr, Math.min(BLOCK, this.size - b1)), staged: addr });
    }
    await this.writeSegs(segs);
  }

  /** Writes segments (sorted by position), contiguous ones in one writev; staged blocks are freed once written. */
  private async writeSegs(segs: Array<{ pos: number; buf: Buffer; staged?: number }>): Promise<void> {
    const groups: Array<{ pos: number; bufs: Buffer[] }> = [];
    for (const sg of segs) {
      const g = groups[groups.length - 1];
      // Whole blocks only are joined: the file's last, partial block is written alone.
      if (g && g.pos + g.bufs.reduce((n, b) => n + b.length, 0) === sg.pos && sg.buf.length % BLOCK === 0 && g.bufs.every((b) => b.length % BLOCK === 0)) g.bufs.push(sg.buf);
      else groups.push({ pos: sg.pos, bufs: [sg.buf] });
    }
    try {
      // Every write is waited for, also when one fails: nothing may still write once this settles.
      const r = await Promise.allSettled(groups.map((g) => this.writeGroup(g.bufs, g.pos)));
      for (const x of r) if (x.status === 'rejected') throw x.reason;
    } finally {
      for (const sg of segs) if (sg.staged !== undefined) this.freeBlocks.push(sg.staged);
    }
  }

  private async writeGroup(bufs: Buffer[], pos: number): Promise<void> {
    const len = bufs.reduce((n, b) => n + b.length, 0);
    const d = this.direct;
    // Direct: whole blocks, from arena memory at the file's block offset (the file's last, partial block goes through the page cache).
    const ok = d && len % BLOCK === 0 && bufs.every((b) => b.buffer instanceof SharedArrayBuffer && b.byteOffset % BLOCK === 0 && b.length % BLOCK === 0);
    if (d && ok) {
      try {
        await this.write(d, bufs, pos);
        return;
      } catch (err) {
        // Alignment rules stricter than ours, or direct I/O refused after all: from now on, the page cache.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        if (this.direct === d) {
          this.direct = undefined;
          this.dropped.push(d);
        }
      }
    }
    await this.write(this.fh, bufs, pos);
  }

  private async write(fh: FileHandle, bufs: Buffer[], pos: number): Promise<void> {
    await positionalSlot();
    try {
      await writeAllv(fh, bufs, pos);
    } finally {
      positionalDone();
    }
  }

  /** Closes both handles and gives back the staging memory; the caller has waited for its writes. */
  async close(): Promise<void> {
    const d = this.direct;
    this.direct = undefined;
    await d?.close().catch(() => {});
    for (const h of this.dropped) await h.close().catch(() => {});
    this.dropped = [];
    for (const slot of this.stageSlots) this.arena.give(slot);
    this.stageSlots = [];
    this.freeBlocks = [];
    this.staged.clear();
    await this.fh.close();
  }
}
