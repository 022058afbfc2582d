/**
 * Content-defined chunking across cores with the single-threaded cut points.
 *
 * A file is cut into segments; each is scanned on its own (on any thread)
 * as if a chunk began at its first byte, which gives speculative cuts. The
 * true chain of cuts, found in file order here, is then carried across each
 * segment edge: from the last true cut before the edge, GearCdc runs over
 * the real bytes until it makes a cut that the segment's scan also made.
 * GearCdc's state right after a cut is the same whichever byte it started
 * from (hash and length reset), so from a shared cut on the two chains are
 * one: the segment's remaining speculative cuts are true cuts. Should the
 * chains never meet, the walk simply continues through the segment, so
 * the result is exactly cdcCuts() of the whole file in every case, and in
 * practice costs a chunk or two of scanning per edge.
 */
import { GearCdc, type CdcParams } from './gear.js';

/** File bytes from `from` on, in pieces, in order (as many as the caller holds). */
export type BytesFrom = (from: number) => Iterable<{ pos: number; bytes: Uint8Array }>;

export class CutResolver {
  /** The last true cut: every byte before it is in a resolved chunk. */
  private last = 0;
  /** Where the segments fed so far end. */
  private fed = 0;

  constructor(private readonly params: CdcParams) {}

  /** The start of the chunk still open (the last true cut so far). */
  get openChunkStart(): number {
    return this.last;
  }

  /**
   * Takes the next segment, [start, end), with the cuts a scan of it alone
   * made (ascending, absolute, each in (start, end]), and returns the true
   * cuts that are now known: those in (openChunkStart, end]. `bytes` must
   * reach from openChunkStart to end.
   */
  feed(start: number, end: number, speculative: readonly number[], bytes: BytesFrom): number[] {
    if (start !== this.fed) throw new RangeError(`segment starts at ${start}, expected ${this.fed}`);
    this.fed = end;
    if (this.last === start) return this.adopt(speculative);
    const spec = new Set(speculative);
    const cdc = new GearCdc(this.params);
    const out: number[] = [];
    for (const { pos, bytes: buf } of bytes(this.last)) {
      const stop = Math.min(buf.length, end - pos);
      let i = Math.max(0, this.last - pos);
      while (i < stop) {
        const c = cdc.scan(buf, i, stop);
        if (c < 0) break;
        const at = pos + c;
        out.push(at);
        this.last = at;
        i = c;
        if (spec.has(at)) {
          // The chains meet: the segment's later cuts are the file's.
          for (const s of speculative) if (s > at) out.push(s);
          if (out.length > 0) this.last = out[out.length - 1];
          return out;
        }
      }
      if (pos + buf.length >= end) break;
    }
    return out;
  }

  private adopt(cuts: readonly number[]): number[] {
    if (cuts.length > 0) this.last = cuts[cuts.length - 1];
    return [...cuts];
  }
}

/** Cuts of buf[start, end) scanned alone, as if a chunk began at `start`; offsets absolute (start + index). */
export function speculativeCuts(buf: Uint8Array, p: CdcParams, base = 0): number[] {
  const cdc = new GearCdc(p);
  const cuts: number[] = [];
  let i = 0;
  while (i < buf.length) {
    const c = cdc.scan(buf, i, buf.length);
    if (c < 0) break;
    cuts.push(base + c);
    i = c;
  }
  return cuts;
}
