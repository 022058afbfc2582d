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
 * "Unchanged" is decided by the XXH64 the index keeps of every chunk,
 * computed over the new bytes on the read pool's threads, instead of by
 * SHA-256: that is what makes a rewrite cheaper than hashing every byte.
 * A chunk rewritten with different bytes of the same XXH64 (odds of 2^-64
 * for bytes not built to collide) would keep its old ID; CAIRN_FULL_HASH=1
 * turns this path off.
 */
import type { FileHandle } from 'node:fs/promises';
import { GearCdc, type CdcParams } from './chunker/gear.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { Inflight } from './io/inflight.js';
import { readPool } from './io/pool.js';
import { readExact } from './read-exact.js';
import type { Location } from './index-db.js';
import type { FileManifest } from './objects.js';
import type { ObjectId } from './types.js';

/** A chunk of the new version: a previous one taken as it is, or new bytes to hash and store. */
export type DeltaItem = { reuse: ObjectId; length: number } | { data: Buffer };

/** @internal For tests: whether the last put given a previous version took this path, the bytes it took from that version, and the bytes it read to chunk and hash. */
export const deltaStats = { taken: false, reused: 0, scanned: 0 };

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
 * comparison costs ~0.45 s of CPU spread over the threads, cutting and
 * hashing what changed ~1.5 s on the main thread alone, the parallel path
 * ~2.6 s spread over the threads. So on 2 threads it pays up to ~70%
 * changed, on 16 up to ~9%.
 */
export function deltaPays(unchanged: number, threads: number): boolean {
  return (1 - unchanged) * 1.5 + 0.45 / threads < 2.6 / threads;
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
  return {
    async unchanged(i) {
      if (runOf[i] < 0) return false;
      await runs[runOf[i]].p;
      return matched[i] === 1;
    },
    startingAt: (pos) => startAt.get(pos),
    done,
  };
}

/** Bytes read at a time where chunks are cut afresh: a few chunks at first (most changes end within them), then more. */
const SCAN_BLOCK_MIN = 2 * 1024 * 1024;
const SCAN_BLOCK_MAX = 16 * 1024 * 1024;

/**
 * The chunks of the new version in file order: previous chunks the
 * comparison finds unchanged wherever the true chain of cuts reaches
 * their start, new bytes (read here, cut by GearCdc) in between.
 */
export async function* deltaChunks(fh: FileHandle, size: number, prev: FileManifest, cmp: Comparison, o: CdcParams): AsyncGenerator<DeltaItem> {
  deltaStats.taken = true;
  deltaStats.reused = 0;
  deltaStats.scanned = 0;
  const takeAt = async (pos: number) => {
    const i = cmp.startingAt(pos);
    return i !== undefined && (await cmp.unchanged(i)) ? i : undefined;
  };
  let pos = 0;
  while (pos < size) {
    const i = await takeAt(pos);
    if (i !== undefined) {
      deltaStats.reused += prev.chunks[i].length;
      yield { reuse: prev.chunks[i].id, length: prev.chunks[i].length };
      pos += prev.chunks[i].length;
      continue;
    }
    // Changed bytes from a true cut: cut until a cut lands where a previous chunk can be
    // taken, or the file ends. `win` holds file bytes [winPos, winPos + win.length), the
    // current chunk begins at win[start]; a chunk is yielded as a view of win (a new
    // window is a new buffer, with the unfinished chunk's bytes copied to its front).
    const cdc = new GearCdc(o);
    let win = Buffer.alloc(0);
    let winPos = pos;
    let start = 0;
    let scanned = 0;
    let block = Math.max(SCAN_BLOCK_MIN, 2 * o.avgSize);
    for (;;) {
      if (scanned === win.length) {
        const end = winPos + win.length;
        if (end >= size) {
          if (start < win.length) yield { data: win.subarray(start) };
          pos = size;
          break;
        }
        const want = Math.min(block, size - end);
        block = Math.min(SCAN_BLOCK_MAX, 2 * block);
        const next = Buffer.allocUnsafe(win.length - start + want);
        win.copy(next, 0, start);
        await readExact(fh, next.subarray(win.length - start), end);
        deltaStats.scanned += want;
        scanned -= start;
        winPos += start;
        win = next;
        start = 0;
      }
      const c = cdc.scan(win, scanned, win.length);
      if (c < 0) {
        scanned = win.length;
        continue;
      }
      yield { data: win.subarray(start, c) };
      pos = winPos + c;
      start = scanned = c;
      if (pos >= size || (await takeAt(pos)) !== undefined) break;
    }
  }
}
