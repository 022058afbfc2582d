/**
 * Content-defined chunking, FastCDC style (gear rolling hash, normalized
 * chunking, minimum-size skip, forced cut at the maximum).
 *
 * Everything here decides where boundaries fall and so which chunk IDs a
 * store holds: the gear table and its seed, the hash update, the mask rule
 * and the cut positions. Changing any of it breaks nothing already stored,
 * but new versions of a file stop deduplicating against old ones. Treat it
 * as part of the on-disk behaviour; gear.test.ts pins the table's digest and
 * the cut points of a fixed input so an accidental change fails loudly.
 */

/** Seed of the gear table ("cair"). Part of the on-disk behaviour: never change. */
export const GEAR_SEED = 0x63616972;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

/** 256 pseudo-random 32-bit values, stored signed so the hot loop stays in int32 arithmetic. */
export const GEAR: Int32Array = (() => {
  const next = mulberry32(GEAR_SEED);
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) t[i] = next();
  return t;
})();

/** A mask of the top `bits` bits. `h << 1` pushes older bytes up and out, so the high bits mix the most bytes (the last 32). */
export function highMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return -1;
  return (-1 << (32 - bits)) | 0;
}

/** See GearCdc.state. */
export interface GearState {
  h: number;
  len: number;
}

export interface CdcParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

// The hot loop reads four bytes per load through a Uint32Array view, which
// runs about 1.5x faster than byte loads in V8; the byte order of the view is
// the platform's, so big-endian hosts take the byte loop.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * hashRun compiled elsewhere (io/gear-wasm.ts: WebAssembly over the store's
 * arena), over addresses of one memory: the same cuts, faster. A GearCdc
 * given one must only ever scan views of that memory.
 */
export interface GearRun {
  /** hashRun over memory[p, stop): the address just past the cut, or -1 with the hash left in `hash`. */
  run(p: number, stop: number, h: number, mask: number): number;
  readonly hash: number;
}

/** The hash after a hashRun that found no cut (a second return value without an allocation). */
let runHash = 0;

/**
 * Hashes buf[i, stop) starting from hash h and returns the index just past
 * the first byte whose hash has no bit of `mask` set, or -1 (with the hash in
 * runHash). `words` views the 4-aligned part of buf, its word k holding
 * buf[d + 4k .. d + 4k + 3].
 */
function hashRun(buf: Uint8Array, words: Uint32Array | null, d: number, i: number, stop: number, h: number, mask: number): number {
  const gear = GEAR;
  if (words !== null) {
    for (; i < stop && ((i - d) & 3) !== 0; i++) {
      h = ((h << 1) + gear[buf[i]]) | 0;
      if ((h & mask) === 0) return i + 1;
    }
    const k0 = (i - d) >> 2;
    const kEnd = (stop - d) >> 2;
    let k = k0;
    for (; k < kEnd; k++) {
      const x = words[k];
      h = ((h << 1) + gear[x & 255]) | 0;
      if ((h & mask) === 0) return d + 4 * k + 1;
      h = ((h << 1) + gear[(x >>> 8) & 255]) | 0;
      if ((h & mask) === 0) return d + 4 * k + 2;
      h = ((h << 1) + gear[(x >>> 16) & 255]) | 0;
      if ((h & mask) === 0) return d + 4 * k + 3;
      h = ((h << 1) + gear[x >>> 24]) | 0;
      if ((h & mask) === 0) return d + 4 * k + 4;
    }
    if (k > k0) i = d + 4 * k;
  }
  for (; i < stop; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & mask) === 0) return i + 1;
  }
  runHash = h;
  return -1;
}

/**
 * Streaming boundary finder. Feed the bytes of a stream in order through
 * `scan`, in pieces of any size; the cuts it reports depend only on the
 * bytes, never on how they were split.
 */
export class GearCdc {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
  /** Stricter mask (two more bits) before avgSize, looser (two fewer) after: normalized chunking level 2, which narrows the size spread around avgSize. */
  readonly maskS: number;
  readonly maskL: number;
  private h = 0;
  /** Bytes of the current chunk seen so far. */
  private len = 0;
  private wordsOf: Uint8Array | null = null;
  private words: Uint32Array | null = null;
  private wordsD = 0;

  /**
   * `fast`: the compiled loop over the memory every buffer given to scan is
   * a view of (its byteOffset is then its address there).
   */
  constructor(
    p: CdcParams,
    private readonly fast?: GearRun,
  ) {
    if (!(p.minSize >= 1 && p.minSize <= p.avgSize && p.avgSize <= p.maxSize)) {
      throw new RangeError(`bad CDC sizes: min ${p.minSize}, avg ${p.avgSize}, max ${p.maxSize}`);
    }
    this.minSize = p.minSize;
    this.avgSize = p.avgSize;
    this.maxSize = p.maxSize;
    const bits = Math.round(Math.log2(p.avgSize));
    this.maskS = highMask(Math.min(bits + 2, 31));
    this.maskL = highMask(Math.max(bits - 2, 1));
  }

  /**
   * Continues the current chunk over buf[start, end). Returns the index just
   * past the chunk's last byte (and starts a new chunk there), or -1 if the
   * chunk goes on beyond `end`.
   */
  scan(buf: Uint8Array, start: number, end: number): number {
    let i = start;
    let len = this.len;
    const min = this.minSize;
    if (len < min) {
      // Bytes below minSize can never hold a cut, so they are not hashed at
      // all; the hash starts from zero at minSize.
      const skip = min - len;
      if (skip > end - i) {
        this.len = len + (end - i);
        return -1;
      }
      i += skip;
      len = min;
    }
    // Position of the chunk's first byte, negative if it began in an earlier buffer.
    const base = i - len;
    const normEnd = base + this.avgSize;
    const hardEnd = base + this.maxSize;
    if (!this.fast && buf !== this.wordsOf) this.viewWords(buf);
    const words = this.words;
    const d = this.wordsD;
    let h = this.h;

    if (i < normEnd) {
      const stop = normEnd < end ? normEnd : end;
      const c = this.fast ? this.fastRun(buf, i, stop, h, this.maskS) : hashRun(buf, words, d, i, stop, h, this.maskS);
      if (c >= 0) return this.cut(c);
      h = runHash;
      i = stop;
    }
    if (i < hardEnd) {
      const stop = hardEnd < end ? hardEnd : end;
      const c = this.fast ? this.fastRun(buf, i, stop, h, this.maskL) : hashRun(buf, words, d, i, stop, h, this.maskL);
      if (c >= 0) return this.cut(c);
      h = runHash;
      i = stop;
    }
    if (i === hardEnd) return this.cut(i);
    this.h = h;
    this.len = i - base;
    return -1;
  }

  /** Where the scan stands inside the current chunk: its hash, and its bytes seen so far. */
  get state(): GearState {
    return { h: this.h, len: this.len };
  }

  /** Continues a chunk from a state another scanner (another thread, say) reached over the same bytes. */
  resume(s: GearState): this {
    this.h = s.h | 0;
    this.len = s.len;
    return this;
  }

  /** hashRun through `fast`, in buffer indices. */
  private fastRun(buf: Uint8Array, i: number, stop: number, h: number, mask: number): number {
    const a = buf.byteOffset;
    const c = this.fast!.run(a + i, a + stop, h, mask);
    if (c >= 0) return c - a;
    runHash = this.fast!.hash;
    return -1;
  }

  private viewWords(buf: Uint8Array): void {
    this.wordsOf = buf;
    this.words = null;
    this.wordsD = 0;
    if (!LITTLE_ENDIAN || buf.length < 64) return;
    const d = (4 - (buf.byteOffset & 3)) & 3;
    this.words = new Uint32Array(buf.buffer, buf.byteOffset + d, (buf.length - d) >>> 2);
    this.wordsD = d;
  }

  private cut(at: number): number {
    this.h = 0;
    this.len = 0;
    return at;
  }
}

/** Cut positions (chunk end offsets) of a whole in-memory buffer. */
export function cdcCuts(data: Uint8Array, p: CdcParams): number[] {
  const cdc = new GearCdc(p);
  const cuts: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const c = cdc.scan(data, pos, data.length);
    if (c < 0) break;
    cuts.push(c);
    pos = c;
  }
  if (pos < data.length) cuts.push(data.length);
  return cuts;
}
