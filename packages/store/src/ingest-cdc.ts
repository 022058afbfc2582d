/**
 * Content-defined chunking of a large file on every core (see
 * chunker/resync.ts for why the cuts are exactly the single-threaded ones).
 *
 * The file is read in segments of a few arena slots. A pool thread reads a
 * segment and scans it for cuts as if a chunk began at its first byte; this
 * thread carries the true chain of cuts across segment edges (a chunk or
 * two of rescanning per edge), then hands every chunk to a pool thread for
 * SHA-256 and XXH64 while its bytes are still in the arena. Chunk order,
 * the dedup lookups and the pack appends are ChunkSink's, as for a planned
 * file.
 */
import type { FileHandle } from 'node:fs/promises';
import { CutResolver } from './chunker/resync.js';
import type { ResolvedOptions } from './chunker/options.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { readPool, type ArenaRead, type PoolResult } from './io/pool.js';

/** File bytes per arena slot (whole 4 KiB blocks, so reads stay aligned). */
const PIECE = 4 * 1024 * 1024;
/** Slots per segment: large enough that the rescans at edges stay a few percent of the scan. */
const SEGMENT_PIECES = 4;
/** Segments read and scanned at most at once (each holds SEGMENT_PIECES slots). */
const MAX_SEGMENTS = 8;

/** A chunk whose bytes are in the arena, being hashed. */
export interface ChunkItem {
  addr: number;
  len: number;
  /** SHA-256 and XXH64 of the bytes. */
  p: Promise<PoolResult>;
  r?: PoolResult;
  /** Gives the bytes' memory back; called exactly once. */
  release: () => void;
}

interface Piece {
  pos: number;
  len: number;
  slot: number;
  addr: number;
  /** One for the window while the open chunk may reach it, plus one per chunk item in it. */
  refs: number;
}

interface Segment {
  start: number;
  end: number;
  p: Promise<PoolResult>;
}

/** Whether a file can take this path: a chunk spanning two pieces fits a slot of its own. */
export function parallelCdcFits(o: ResolvedOptions): boolean {
  return o.maxSize <= SLOT_DATA;
}

/**
 * Yields a file's chunks in order, each in the arena with its hashes on the
 * way, keeping at most `ahead` chunks hashing at once beyond what the
 * consumer holds. The consumer must release every item it takes; on return
 * or throw everything not handed out is released.
 */
export async function* cdcChunks(fh: FileHandle, size: number, o: ResolvedOptions): AsyncGenerator<ChunkItem> {
  const pool = readPool();
  const A = arena();
  const resolver = new CutResolver(o);
  const pieces: Piece[] = [];
  const segments: Segment[] = [];
  const hashing: ChunkItem[] = [];
  let nextPos = 0;
  const maxSegments = Math.min(MAX_SEGMENTS, pool.threadCount + 1);
  const ahead = Math.max(4, 2 * pool.threadCount);

  const unref = (piece: Piece) => {
    if (--piece.refs === 0) A.give(piece.slot);
  };

  const dispatch = async () => {
    const start = nextPos;
    const end = Math.min(size, start + SEGMENT_PIECES * PIECE);
    const reads: ArenaRead[] = [];
    const ranges: Array<{ addr: number; len: number }> = [];
    for (let pos = start; pos < end; pos += PIECE) {
      const len = Math.min(PIECE, end - pos);
      const slot = await A.take();
      const addr = A.addr(slot);
      pieces.push({ pos, len, slot, addr, refs: 1 });
      reads.push({ fd: fh.fd, pos, len, addr });
      ranges.push({ addr, len });
    }
    nextPos = end;
    const p = pool.run({ reads, cdc: { ranges, base: start, minSize: o.minSize, avgSize: o.avgSize, maxSize: o.maxSize } });
    p.catch(() => {}); // awaited in order below
    segments.push({ start, end, p });
  };

  function* bytesFrom(from: number) {
    for (const piece of pieces) {
      if (piece.pos + piece.len <= from) continue;
      yield { pos: piece.pos, bytes: A.view(piece.addr, piece.len) };
    }
  }

  /** The chunk [a, b) as an item: a view of its piece, or a copy into a slot of its own when it spans two. */
  const chunk = async (a: number, b: number): Promise<ChunkItem> => {
    const first = pieces.findIndex((x) => x.pos + x.len > a);
    const piece = pieces[first];
    let addr: number;
    let release: () => void;
    if (b <= piece.pos + piece.len) {
      piece.refs++;
      addr = piece.addr + (a - piece.pos);
      release = once(() => unref(piece));
    } else {
      const slot = await A.take();
      addr = A.addr(slot);
      let at = a;
      for (let k = first; at < b; k++) {
        const x = pieces[k];
        const to = Math.min(b, x.pos + x.len);
        A.view(addr + (at - a), to - at).set(A.view(x.addr + (at - x.pos), to - at));
        at = to;
      }
      release = once(() => A.give(slot));
    }
    const len = b - a;
    const item: ChunkItem = { addr, len, release, p: pool.run({ reads: [], sha: { addr, len }, xxh: [{ addr, len }] }) };
    item.p.then((r) => (item.r = r), () => {});
    return item;
  };

  /** Drops the window's hold on pieces wholly before the open chunk. */
  const trim = () => {
    while (pieces.length > 0 && pieces[0].pos + pieces[0].len <= resolver.openChunkStart) unref(pieces.shift()!);
  };

  try {
    let last = 0;
    while (nextPos < size || segments.length > 0) {
      while (segments.length < maxSegments && nextPos < size) await dispatch();
      const seg = segments.shift()!;
      const r = await seg.p;
      for (const cut of resolver.feed(seg.start, seg.end, r.cuts ?? [], bytesFrom)) {
        hashing.push(await chunk(last, cut));
        last = cut;
      }
      trim();
      while (hashing.length > ahead) yield hashing.shift()!;
    }
    if (last < size) hashing.push(await chunk(last, size));
    while (hashing.length > 0) yield hashing.shift()!;
  } finally {
    // Nothing may still read into a slot, or hash from one, once it is given back.
    for (const s of segments) await s.p.catch(() => {});
    for (const h of hashing) {
      await h.p.catch(() => {});
      h.release();
    }
    for (const piece of pieces.splice(0)) unref(piece);
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) f();
    done = true;
  };
}
