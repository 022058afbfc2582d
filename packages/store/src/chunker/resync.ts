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
import { GearCdc, type CdcParams, type GearRun, type GearState } from './gear.js';

/** File bytes from `from` on, in pieces, in order (as many as the caller holds). */
export type BytesFrom = (from: number) => Iterable<{ pos: number; bytes: Uint8Array }>;

export class CutResolver {
  /** The last true cut: every byte before it is in a resolved chunk. */
  private last = 0;
  /** Where the segments fed so far end. */
  private fed = 0;
  /** The true scan state at `fed`, when known: then the next edge needs no rescan of the bytes before it. */
  private atFed: GearState | undefined;

  /** `fast`: as for GearCdc (every buffer `bytes` yields is then a view of its memory). */
  constructor(
    private readonly params: CdcParams,
    private readonly fast?: GearRun,
  ) {}

  /** The start of the chunk still open (the last true cut so far). */
  get openChunkStart(): number {
    return this.last;
  }

  /**
   * Takes the next segment, [start, end), with the cuts a scan of it alone
   * made (ascending, absolute, each in (start, end]), and returns the true
   * cuts that are now known: those in (openChunkStart, end]. `bytes` must
   * reach from openChunkStart to end. `endState` is the segment scan's
   * state at its end (GearCdc.state), if the caller has it.
   */
  feed(start: number, end: number, speculative: readonly number[], bytes: BytesFrom, endState?: GearState): number[] {
    if (start !== this.fed) throw new RangeError(`segment starts at ${start}, expected ${this.fed}`);
    const carried = this.atFed;
    this.fed = end;
    this.atFed = undefined;
    if (this.last === start) {
      this.atFed = endState;
      return this.adopt(speculative);
    }
    const spec = new Set(speculative);
    // From the true state at the edge if known, else from the last true cut.
    const cdc = carried ? new GearCdc(this.params, this.fast).resume(carried) : new GearCdc(this.params, this.fast);
    const from = carried ? start : this.last;
    const out: number[] = [];
    for (const { pos, bytes: buf } of bytes(from)) {
      const stop = Math.min(buf.length, end - pos);
      let i = Math.max(0, from - pos);
      while (i < stop) {
        const c = cdc.scan(buf, i, stop);
        if (c < 0) break;
        const at = pos + c;
        out.push(at);
        this.last = at;
        i = c;
        if (spec.has(at)) {
          // The chains meet: the segment's later cuts are the file's, and so is its end state.
          for (const s of speculative) if (s > at) out.push(s);
          if (out.length > 0) this.last = out[out.length - 1];
          this.atFed = endState;
          return out;
        }
      }
      if (pos + buf.length >= end) break;
    }
    // No meeting: this walk reached the end itself.
    this.atFed = cdc.state;
    return out;
  }

  private adopt(cuts: readonly number[]): number[] {
    if (cuts.length > 0) this.last = cuts[cuts.length - 1];
    return [...cuts];
  }
}

/** Cuts of `buf` scanned alone, as if a chunk began at its first byte (offsets absolute: base + index), and the scan's state at its end. */
export function speculativeScan(buf: Uint8Array, p: CdcParams, base = 0): { cuts: number[]; end: GearState } {
  const cdc = new GearCdc(p);
  const cuts: number[] = [];
  let i = 0;
  while (i < buf.length) {
    const c = cdc.scan(buf, i, buf.length);
    if (c < 0) break;
    cuts.push(base + c);
    i = c;
  }
  return { cuts, end: cdc.state };
}
