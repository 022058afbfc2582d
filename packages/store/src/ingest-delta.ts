/**
 * A new version of a file the store already holds a version of (PutOptions
 * `previous`), as a training run rewrites its checkpoint in place: the
 * previous version's chunks that still hold the same bytes at the same
 * offsets are taken as they are, and content-defined chunking runs only
 * from where the bytes differ until its cuts meet the previous ones again.
 *
 * The cuts, and so the chunk IDs, are exactly those chunkFile makes of the
 * whole file. A cut depends only on the bytes since the cut before it (the
 * scan state starts afresh at every cut), so from a true cut, a previous
 * chunk whose bytes are unchanged ends where it ended before, and a scan
 * of changed bytes from a true cut makes true cuts. The one exception, the
 * previous version's last chunk, which ended at its end of file, is taken
 * only where the new file ends at the same place.
 *
 * That argument needs the previous chunks to be content-defined cuts
 * themselves, which they are when the previous version was chunked as
 * raw bytes, as this one is. Were it a recognised tensor layout (planned
 * cuts) and this one not, a planned boundary that a new cut meets could be
 * taken where chunkFile would not cut: the bytes stored are still exact,
 * but the file's ID may differ from a fresh `store add` of it.
 *
 * The changed bytes are cut and hashed on the pool's threads too: a job
 * reads a changed region, from its true first cut to a little past where
 * the previous chunks are unchanged again, into the arena, cuts it from that
 * first cut (so its cuts are true cuts) and takes each chunk's SHA-256 and
 * XXH64 while the bytes are in cache; the new chunks go to the pack from
 * where they were read. This thread only follows the chain of cuts.
 *
 * "Unchanged" is decided by the XXH64 the index keeps of every chunk,
 * computed over the new bytes on the read pool's threads, instead of by
 * SHA-256: that is what makes a rewrite cheaper than hashing every byte.
 * A chunk rewritten with different bytes of the same XXH64 (odds of 2^-64
 * for bytes not built to collide) would keep its old ID; CAIRN_FULL_HASH=1
 * turns this path off.
 */
import type { FileHandle } from 'node:fs/promises';
import type { CdcParams } from './chunker/gear.js';
import { arena, SLOT_DATA, SLOT_SIZE } from './io/arena.js';
import { Inflight } from './io/inflight.js';
import { readPool, type PoolResult } from './io/pool.js';
import type { ChunkItem } from './ingest-cdc.js';
import type { Location } from './index-db.js';
import type { FileManifest } from './objects.js';
import type { ObjectId } from './types.js';

/** A chunk of the new version: a previous one taken as it is, or new bytes in the arena, hashed on a pool thread. */
export type DeltaItem = { reuse: ObjectId; length: number } | { chunk: ChunkItem };

/** @internal For tests: whether the last put given a previous version took this path, the bytes it took from that version, the bytes it read to chunk and hash, and the changes it had read ahead when the walk reached them. */
export const deltaStats = { taken: false, reused: 0, scanned: 0, readAhead: 0 };

/** Whether the previous-version path may be taken (CAIRN_FULL_HASH=1 hashes every byte instead). */
export function deltaAllowed(): boolean {
  return process.env.CAIRN_FULL_HASH !== '1';
}

/** The comparison of a previous version's chunks with the new file, under way on the pool's threads (see compareChunks). */
export interface Comparison {
  /** Whether chunk i of the previous version may be taken as it is; waits for its run's comparison. */
  unchanged(i: number): Promise<boolean>;
  /** The chunk of the previous version that starts at this file offset, if one may be taken there at all. */
  startingAt(pos: number): number | undefined;
  /** Where the first previous chunk at or after `pos` that may be taken starts, looking no further than `limit` (else `limit`). */
  nextUnchanged(pos: number, limit: number): Promise<number>;
  /** Where the first previous chunk at or after `pos` that may not be taken starts, if one does. */
  nextChanged(pos: number): Promise<number | undefined>;
  /** Settles once no comparison reads into the arena any more; rejects with the first failure. */
  done: Promise<void>;
}

/** Where the previous version's chunks start, and which may be taken at all (see compareChunks). */
function layout(size: number, prev: FileManifest, locs: Location[]) {
  const n = prev.chunks.length;
  const starts = new Float64Array(n);
  for (let i = 0, pos = 0; i < n; pos += prev.chunks[i++].length) starts[i] = pos;
  const candidate = (i: number) => {
    const len = prev.chunks[i].length;
    const end = starts[i] + len;
    const loc = locs[i];
    if (loc.type !== 'chunk' || loc.length !== len || loc.checksum.length !== 8 || len > SLOT_DATA || end > size) return false;
    return i < n - 1 || end === size;
  };
  return { n, starts, candidate };
}

/** Reads chunks [first, first + count) of the previous version's layout from the new file into one slot on a pool thread; whether each has its XXH64. */
async function compareRun(fh: FileHandle, prev: FileManifest, locs: Location[], starts: Float64Array, first: number, count: number): Promise<boolean[]> {
  const A = arena();
  const slot = await A.take();
  try {
    const addr = A.addr(slot);
    const len = starts[first + count - 1] + prev.chunks[first + count - 1].length - starts[first];
    const xxh: Array<{ addr: number; len: number }> = [];
    for (let i = first; i < first + count; i++) xxh.push({ addr: addr + (starts[i] - starts[first]), len: prev.chunks[i].length });
    const r = await readPool().run({ reads: [{ fd: fh.fd, pos: starts[first], len, addr }], xxh });
    return r.xxh!.map((x, i) => x.equals(locs[first + i].checksum));
  } finally {
    A.give(slot);
  }
}

/**
 * The share of the previous version's bytes still in place, estimated from
 * `samples` of its chunks spread over the file (a few MiB read and hashed).
 */
export async function sampleUnchanged(fh: FileHandle, size: number, prev: FileManifest, locs: Location[], samples = 16): Promise<number> {
  const { n, starts, candidate } = layout(size, prev, locs);
  const picked = [...new Set(Array.from({ length: Math.min(samples, n) }, (_, k) => Math.floor(((k + 0.5) * n) / Math.min(samples, n))))];
  const same = await Promise.all(picked.map(async (i) => candidate(i) && (await compareRun(fh, prev, locs, starts, i, 1))[0]));
  const total = picked.reduce((t, i) => t + prev.chunks[i].length, 0);
  const kept = picked.reduce((t, i, k) => t + (same[k] ? prev.chunks[i].length : 0), 0);
  return total === 0 ? 0 : kept / total;
}

/**
 * Whether storing from the previous version beats chunking the whole file
 * on `threads` threads, with `unchanged` of it still in place. Per GiB: the
 * comparison costs ~0.45 s of CPU spread over the threads; what changed is
 * cut and hashed a region at a time, each on one thread (the next read
 * ahead on another), counted here as ~1.5 s of wall time whatever the
 * thread count, since one long change gets no help; the parallel path
 * costs ~2.0 s spread over the threads (its gear loop in wasm, its reads
 * aligned with the pack's blocks). So on 2 threads it pays up to ~50%
 * changed, on 16 up to ~6%. Measured on the 2-core VM at d13c164, 1 GiB
 * with 10 regions rewritten, CAIRN_THREADS=2, store open to close, the
 * previous-version path forced against CAIRN_FULL_HASH=1, 2 reps: 30%
 * changed 0.70-0.73 s against 0.98-1.12 s, 50% 0.96-1.16 s against
 * 0.97-1.11 s, 70% 1.29-1.40 s against 0.96-1.06 s.
 */
export function deltaPays(unchanged: number, threads: number): boolean {
  return (1 - unchanged) * 1.5 + 0.45 / threads < 2.0 / threads;
}

/**
 * Starts comparing each chunk of `prev` (located at `locs`) with the new
 * file's bytes at the same offset, by XXH64: runs of chunks, as many as
 * one arena slot holds, are read and hashed on the pool's threads, a few
 * at a time, in file order, so that the walk (deltaChunks) can go on
 * behind them. A chunk is a candidate only if it lies inside the new file,
 * fits a slot, and (the previous last chunk) ends where the new file does.
 */
export function compareChunks(fh: FileHandle, size: number, prev: FileManifest, locs: Location[]): Comparison {
  const { n, starts, candidate } = layout(size, prev, locs);
  const matched = new Uint8Array(n);
  const startAt = new Map<number, number>();
  const runOf = new Int32Array(n).fill(-1);
  const runs: Array<{ first: number; count: number; settled: boolean; resolve: () => void; reject: (e: unknown) => void; p: Promise<void> }> = [];
  for (let i = 0; i < n; ) {
    if (!candidate(i)) {
      i++;
      continue;
    }
    // Consecutive candidates, as many as one slot holds, in one read.
    let j = i + 1;
    while (j < n && candidate(j) && starts[j] + prev.chunks[j].length - starts[i] <= SLOT_DATA) j++;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const p = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    p.catch(() => {}); // surfaced through unchanged() or done
    for (let k = i; k < j; k++) {
      runOf[k] = runs.length;
      startAt.set(starts[k], k);
    }
    runs.push({ first: i, count: j - i, settled: false, resolve, reject, p });
    i = j;
  }
  const check = async (run: (typeof runs)[number]) => {
    const same = await compareRun(fh, prev, locs, starts, run.first, run.count);
    same.forEach((ok, k) => ok && (matched[run.first + k] = 1));
  };
  const done = (async () => {
    const inflight = new Inflight(readPool().window);
    try {
      for (const run of runs) {
        if (inflight.failed) break;
        await inflight.add(
          check(run).then(
            () => ((run.settled = true), run.resolve()),
            (err) => {
              run.settled = true;
              run.reject(err);
              throw err;
            },
          ),
        );
      }
    } finally {
      await inflight.drain();
      // Runs never started (after a failure) answer with it, so no walk waits forever.
      for (const run of runs) if (!run.settled) run.reject(inflight.failed ?? new Error('comparison stopped'));
    }
    await inflight.settle();
  })();
  done.catch(() => {}); // the walk awaits it
  /** The first chunk that starts at or after pos. */
  const firstFrom = (pos: number) => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    async unchanged(i) {
      if (runOf[i] < 0) return false;
      await runs[runOf[i]].p;
      return matched[i] === 1;
    },
    startingAt: (pos) => startAt.get(pos),
    async nextUnchanged(pos, limit) {
      for (let k = firstFrom(pos); k < n && starts[k] < limit; k++) if (runOf[k] >= 0 && (await this.unchanged(k))) return starts[k];
      return limit;
    },
    async nextChanged(pos) {
      for (let k = firstFrom(pos); k < n; k++) if (runOf[k] < 0 || !(await this.unchanged(k))) return starts[k];
      return undefined;
    },
    done,
  };
}

/** Arena slots a changed region is read into at once (up to 16 MiB; a longer change takes several jobs). */
const REGION_SLOTS = 4;
/** Changes read ahead at most (one per thread beyond the first, up to this): each holds a region's slots. */
const MAX_AHEAD = 3;

/** Changed bytes read into a run of arena slots and being cut and hashed there; its slots go back when the walk and every chunk item let go. */
interface Region {
  pos: number;
  len: number;
  addr: number;
  first: number;
  refs: number;
  job: Promise<PoolResult>;
}

/**
 * The chunks of the new version in file order: previous chunks the
 * comparison finds unchanged wherever the true chain of cuts reaches
 * their start, new chunks cut (from a true cut) and hashed on a pool
 * thread in between. A new chunk's bytes are read to where in a 4 KiB
 * block they will land in the pack, guessed by `landAt` (the open pack's
 * size), so that the pack writer writes them from where they are.
 *
 * While one changed region is cut, the next change is read and cut on
 * another thread, on the bet that the chain of cuts will reach its start
 * (then a true cut, as the chains meet again before it); if the chain
 * passes it by instead, that work is dropped.
 * The consumer must release every chunk item it takes.
 */
export async function* deltaChunks(fh: FileHandle, size: number, prev: FileManifest, cmp: Comparison, o: CdcParams, landAt: () => number): AsyncGenerator<DeltaItem> {
  deltaStats.taken = true;
  deltaStats.reused = 0;
  deltaStats.scanned = 0;
  deltaStats.readAhead = 0;
  const A = arena();
  const pool = readPool();
  const takeAt = async (pos: number) => {
    const i = cmp.startingAt(pos);
    return i !== undefined && (await cmp.unchanged(i)) ? i : undefined;
  };
  const unref = (r: Region) => {
    if (--r.refs === 0) A.giveRun(r.first, REGION_SLOTS);
  };
  /** Reads [pos, pos + len) at `addr`'s offset `phase` in a 4 KiB block and cuts it from pos, a true cut (or one bet on). */
  const read = async (pos: number, len: number, phase: number): Promise<Region> => {
    const first = await A.takeRun(REGION_SLOTS);
    const addr = A.addr(first, phase);
    const reads = [];
    for (let at = 0; at < len; at += SLOT_DATA) reads.push({ fd: fh.fd, pos: pos + at, len: Math.min(SLOT_DATA, len - at), addr: addr + at });
    deltaStats.scanned += len;
    const job = pool.run({ reads, cdc: { ranges: [{ addr, len }], base: pos, minSize: o.minSize, avgSize: o.avgSize, maxSize: o.maxSize, hash: true, xxh: true, startsChunk: true } });
    job.catch(() => {}); // awaited by the walk, or when dropped
    return { pos, len, addr, first, refs: 1, job };
  };
  /** How far to read a change that starts at pos: to where the previous chunks are unchanged again (`end`), and an average chunk on (where the chains mostly meet). */
  const extent = async (pos: number, room: number) => {
    const end = await cmp.nextUnchanged(pos, pos + room);
    return { end, len: end - pos + o.avgSize };
  };
  /** Regions read ahead, by where they start. */
  const ahead = new Map<number, Promise<Region>>();
  const dropping: Array<Promise<void>> = [];
  const drop = (p: Promise<Region>) =>
    dropping.push(
      p.then(
        async (r) => {
          await r.job.catch(() => {});
          unref(r);
        },
        () => {},
      ),
    );
  /**
   * Reads ahead the change after the unchanged chunks from `from` on, if
   * threads are free for it, to where it lands if `newBefore` new bytes go to the pack before it.
   */
  const lookAhead = async (from: number, newBefore: number) => {
    const full = () => ahead.size >= Math.min(MAX_AHEAD, pool.threadCount - 1);
    if (full()) return;
    const at = await cmp.nextChanged(from);
    if (at === undefined || ahead.has(at) || at <= walked) return;
    const phase = (landAt() + newBefore) % 4096;
    const room = REGION_SLOTS * SLOT_SIZE - phase;
    const len = Math.min(size - at, room, (await extent(at, room)).len);
    // Checked again: the walk, or another look ahead, may have moved on meanwhile.
    if (full() || ahead.has(at) || at <= walked) return;
    const p = read(at, len, phase);
    p.catch(() => {});
    ahead.set(at, p);
  };
  let walked = 0;
  let region: Region | undefined;
  try {
    let pos = 0;
    let len = 0; // how far to read at least, while the chains have not met since a read
    while (pos < size) {
      walked = pos;
      const i = await takeAt(pos);
      if (i !== undefined) {
        deltaStats.reused += prev.chunks[i].length;
        yield { reuse: prev.chunks[i].id, length: prev.chunks[i].length };
        pos += prev.chunks[i].length;
        len = 0;
        continue;
      }
      // Changed bytes from a true cut.
      for (const [at, p] of ahead) {
        if (at > pos) continue;
        ahead.delete(at);
        if (at === pos && len === 0) {
          region = await p;
          deltaStats.readAhead++;
        } else drop(p);
      }
      const phase = landAt() % 4096;
      const room = REGION_SLOTS * SLOT_SIZE - phase;
      const { end, len: want } = await extent(pos, room);
      region ??= await read(pos, Math.min(size - pos, room, Math.max(len, want)), phase);
      const r = region;
      // The next change lands after this one's new chunks, which end where the chains meet: mostly where the previous chunks are unchanged again.
      void lookAhead(r.pos + r.len, end - pos).catch(() => {});
      const job = await r.job;
      const cuts = job.cuts!;
      let from = pos;
      let met = false;
      for (let k = 0; k < cuts.length; k++) {
        const hashes = job.chunkHashes!.subarray(40 * k, 40 * k + 40);
        r.refs++;
        yield { chunk: arenaItem(r.addr + (from - pos), cuts[k] - from, { sha: hashes.subarray(0, 32), xxh: [hashes.subarray(32, 40)] }, () => unref(r)) };
        from = cuts[k];
        if (from >= size || (await takeAt(from)) !== undefined) {
          met = true;
          break;
        }
      }
      if (!met && from === pos && pos + r.len < size && r.len >= REGION_SLOTS * SLOT_SIZE - 4096) throw new RangeError(`no cut in ${r.len} bytes: chunks longer than a region`);
      if (!met && pos + r.len === size && from < size) {
        // The file's last chunk, which no cut ends: hashed on its own.
        const tail = { addr: r.addr + (from - pos), len: size - from };
        const hashes = await pool.run({ reads: [], sha: tail, xxh: [tail] });
        r.refs++;
        yield { chunk: arenaItem(tail.addr, tail.len, hashes, () => unref(r)) };
        from = size;
      }
      region = undefined;
      unref(r);
      // On from the last true cut: a previous chunk there (met), or more changed bytes, read again
      // from that cut, and twice as far past it as this read went (the chains can take a few chunks
      // to meet; a read that made no cut at all is made twice as long).
      len = met ? 0 : from === pos ? 2 * r.len : 2 * (pos + r.len - from) + o.avgSize;
      pos = from;
    }
  } finally {
    // Nothing may still read into a slot, or hash from one, once it is given back.
    if (region) {
      await region.job.catch(() => {});
      unref(region);
    }
    walked = Infinity;
    for (const p of ahead.values()) drop(p);
    ahead.clear();
    await Promise.all(dropping);
  }
}

/** A chunk in the arena whose hashes are known. */
function arenaItem(addr: number, len: number, r: PoolResult, release: () => void): ChunkItem {
  let done = false;
  return { addr, len, p: Promise.resolve(r), r, release: () => (done ? undefined : ((done = true), release())) };
}
