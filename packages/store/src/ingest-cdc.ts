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
import { arena, SLOT_SIZE } from './io/arena.js';
import { readPool, type ArenaRead, type PoolResult } from './io/pool.js';

/** File bytes per arena slot of a segment's run (whole 4 KiB blocks; a run of n slots holds n pieces at any offset below 4 KiB). */
const PIECE = 4 * 1024 * 1024;
/**
 * Pieces read and scanned at once, all segments together (48 MiB; at least two pieces per segment). Each
 * thread gets a segment and one more is read ahead; segments are as long as
 * that allows, up to 8 pieces, since the rescans at their edges (a couple of
 * MiB each) cost less the longer they are.
 */
const PIECES_IN_FLIGHT = 12;
const MAX_SEGMENT_PIECES = 8;

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

/**
 * Where new chunks will land in the pack, so that their bytes can sit at
 * the same offset within a 4 KiB block in the arena and be written with
 * O_DIRECT from where they are (see io/direct.ts).
 */
export interface Placement {
  /** The pack position a chunk of `len` bytes made now would land at, if it is new; undefined when not guessing. */
  land(len: number): number | undefined;
  /** The pack position file byte `pos` would land at if every chunk up to it is new and lands contiguously. */
  at(pos: number): number | undefined;
}

/** Arena memory shared by chunk items: a slot, or a run of `run` slots, given back when the last user lets go. */
interface Held {
  slot: number;
  run?: number;
  refs: number;
}

/** A segment's bytes, back to back in one run of slots, so no chunk inside it is split. */
interface Piece extends Held {
  pos: number;
  len: number;
  addr: number;
}

interface Segment {
  start: number;
  end: number;
  /** Whether its scan job took each chunk's XXH64 too. */
  xxh: boolean;
  p: Promise<PoolResult>;
}

/** Whether a file can take this path: no chunk spans more than two segments, and one spanning two fits a slot. */
export function parallelCdcFits(o: ResolvedOptions): boolean {
  return o.maxSize <= PIECE;
}

/**
 * Yields a file's chunks in order, each in the arena with its hashes on the
 * way, a few ahead of the consumer. The consumer must release every item it
 * takes; on return or throw everything not handed out is released.
 */
export async function* cdcChunks(fh: FileHandle, size: number, o: ResolvedOptions, place: Placement): AsyncGenerator<ChunkItem> {
  const pool = readPool();
  const A = arena();
  const resolver = new CutResolver(o, A.gear);
  /** Segments' memory read (or being read) and not yet left behind by the open chunk, in file order. */
  const pieces: Piece[] = [];
  const segments: Segment[] = [];
  const hashing: ChunkItem[] = [];
  let nextPos = 0;
  const maxSegments = pool.threadCount + 1;
  // A smaller file gets shorter segments (eight or more): fewer fresh arena pages to fault in, which is what a small file's time goes to.
  const segmentPieces = Math.max(2, Math.min(MAX_SEGMENT_PIECES, Math.floor(PIECES_IN_FLIGHT / maxSegments), Math.floor(size / PIECE / 8)));
  const ahead = Math.max(4, 2 * pool.threadCount);

  const unref = (h: Held) => {
    if (--h.refs > 0) return;
    if (h.run === undefined) A.give(h.slot);
    else A.giveRun(h.slot, h.run);
  };

  const dispatch = async () => {
    const start = nextPos;
    const end = Math.min(size, start + segmentPieces * PIECE);
    const xxh = place.at(start) !== undefined;
    // Read at the offset within a block that the bytes will have in the pack, if the guess holds.
    const phase = (place.at(start) ?? 0) % 4096;
    const run = segmentPieces;
    const slot = await A.takeRun(run);
    const addr = A.addr(slot, phase);
    const piece: Piece = { pos: start, len: end - start, slot, run, addr, refs: 1 };
    pieces.push(piece);
    // Several reads, so no single read is longer than a slot's worth.
    const reads: ArenaRead[] = [];
    for (let pos = start; pos < end; pos += PIECE) reads.push({ fd: fh.fd, pos, len: Math.min(PIECE, end - pos), addr: addr + (pos - start) });
    nextPos = end;
    const p = pool.run({ reads, cdc: { ranges: [{ addr, len: end - start }], base: start, minSize: o.minSize, avgSize: o.avgSize, maxSize: o.maxSize, hash: true, xxh } });
    p.catch(() => {}); // awaited in order below
    segments.push({ start, end, xxh, p });
  };

  function* bytesFrom(from: number) {
    for (const piece of pieces) {
      if (piece.pos + piece.len <= from) continue;
      yield { pos: piece.pos, bytes: A.view(piece.addr, piece.len) };
    }
  }

  /**
   * Room for chunks that must move (to sit where the pack writer can write
   * them from, or to be whole when they span two segments): a slot filled in
   * order, so that chunks landing back to back in the pack lie back to back
   * here too; it goes back once every chunk in it is done with.
   */
  let stage: { held: Held; next: number; end: number } | undefined;
  const stageRetire = () => {
    if (stage) unref(stage.held);
    stage = undefined;
  };
  const stageAlloc = async (len: number, phase: number | undefined): Promise<{ addr: number; held: Held }> => {
    if (stage) {
      const at = phase === undefined ? stage.next : stage.next + ((phase - (stage.next % 4096) + 4096) % 4096);
      if (at + len <= stage.end) {
        stage.next = at + len;
        stage.held.refs++;
        return { addr: at, held: stage.held };
      }
      stageRetire();
    }
    const held: Held = { slot: await A.take(), refs: 2 }; // the stage's hold and this chunk's
    const at = A.addr(held.slot, (phase ?? 0) % 4096);
    stage = { held, next: at + len, end: A.addr(held.slot) + SLOT_SIZE };
    return { addr: at, held };
  };

  /** The chunk [a, b) as an item; `hashes` are the scan job's, when it hashed exactly this chunk. */
  const chunk = async (a: number, b: number, hashes: { bytes: Buffer; xxh: boolean } | undefined): Promise<ChunkItem> => {
    const len = b - a;
    const want = place.land(len);
    const k = pieces.findIndex((x) => x.pos + x.len > a);
    const first = pieces[k];
    const from = first.addr + (a - first.pos);
    const inPiece = b <= first.pos + first.len;
    let item: ChunkItem;
    if (inPiece && (want === undefined || from % 4096 === want % 4096)) {
      first.refs++;
      const p = hashes ? Promise.resolve<PoolResult>(known(hashes)) : pool.run({ reads: [], sha: { addr: from, len }, xxh: [{ addr: from, len }] });
      item = { addr: from, len, p, release: once(() => unref(first)) };
    } else {
      // Moved on a pool thread, and hashed there (XXH64 at least) where it now is.
      const dest = await stageAlloc(len, want);
      const sources = inPiece ? [first] : [first, pieces[k + 1]];
      const head = inPiece ? len : first.pos + first.len - a;
      const copies = [{ from, to: dest.addr, len: head }];
      if (!inPiece) copies.push({ from: sources[1].addr, to: dest.addr + head, len: len - head });
      const xxh = [{ addr: dest.addr, len }];
      const p = hashes
        ? pool.run({ reads: [], copies, xxh }).then((r) => ({ sha: hashes.bytes.subarray(0, 32), xxh: r.xxh }))
        : pool.run({ reads: [], copies, sha: { addr: dest.addr, len }, xxh });
      // The sources may be let go once the copies are done.
      for (const src of sources) {
        src.refs++;
        p.then(
          () => unref(src),
          () => unref(src),
        );
      }
      item = { addr: dest.addr, len, p, release: once(() => unref(dest.held)) };
    }
    item.p.then((r) => (item.r = r), () => {});
    return item;
  };

  /** Drops the window's hold on pieces wholly before the open chunk. */
  const trim = () => {
    while (pieces.length > 0 && pieces[0].pos + pieces[0].len <= resolver.openChunkStart) {
      unref(pieces.shift()!);
    }
  };

  try {
    let last = 0;
    while (nextPos < size || segments.length > 0) {
      while (segments.length < maxSegments && nextPos < size) await dispatch();
      const seg = segments.shift()!;
      const r = await seg.p;
      const spec = r.cuts ?? [];
      // The scan job hashed the chunk between spec[i] and spec[i + 1].
      const hashed = new Map<number, number>(spec.slice(0, -1).map((c, i) => [c, i]));
      for (const cut of resolver.feed(seg.start, seg.end, spec, bytesFrom, r.cdcEnd)) {
        const i = hashed.get(last);
        const hashes = i !== undefined && spec[i + 1] === cut ? { bytes: r.chunkHashes!.subarray(40 * i, 40 * i + 40), xxh: seg.xxh } : undefined;
        hashing.push(await chunk(last, cut, hashes));
        last = cut;
      }
      trim();
      while (hashing.length > ahead) yield hashing.shift()!;
    }
    if (last < size) hashing.push(await chunk(last, size, undefined));
    while (hashing.length > 0) yield hashing.shift()!;
  } finally {
    // Nothing may still read into a slot, or hash from one, once it is given back.
    for (const s of segments) await s.p.catch(() => {});
    for (const h of hashing) {
      await h.p.catch(() => {});
      h.release();
    }
    for (const piece of pieces.splice(0)) unref(piece);
    stageRetire();
  }
}

/** A scan job's hashes of a chunk; without its XXH64 the pack writer takes one if the chunk is new. */
function known(hashes: { bytes: Buffer; xxh: boolean }): PoolResult {
  return { sha: hashes.bytes.subarray(0, 32), xxh: hashes.xxh ? [hashes.bytes.subarray(32, 40)] : undefined };
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) f();
    done = true;
  };
}
