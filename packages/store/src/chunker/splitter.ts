import { GearCdc, type CdcParams } from './gear.js';

/**
 * Cuts a sequence of owned buffers into chunks. A chunk that lies inside one
 * buffer is yielded as a subarray of it (no copy); one that spans buffers is
 * gathered into a new Buffer. Buffers passed to push must never be written
 * again, since yielded chunks may alias them.
 */
export abstract class Splitter {
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Bytes pushed before the current block. */
  private consumed = 0;

  /**
   * The index in buf[start, end) just past the current chunk's end (> start),
   * or -1 if it ends later. bufPos is buf[0]'s offset in the whole input.
   */
  protected abstract findCut(buf: Buffer, start: number, end: number, bufPos: number): number;

  *push(block: Buffer): Generator<Buffer> {
    const bufPos = this.consumed;
    this.consumed += block.length;
    let start = 0;
    while (start < block.length) {
      const cut = this.findCut(block, start, block.length, bufPos);
      if (cut < 0) {
        this.parts.push(block.subarray(start));
        this.partsLen += block.length - start;
        return;
      }
      const piece = block.subarray(start, cut);
      if (this.parts.length === 0) {
        yield piece;
      } else {
        this.parts.push(piece);
        const chunk = Buffer.concat(this.parts, this.partsLen + piece.length);
        this.parts = [];
        this.partsLen = 0;
        yield chunk;
      }
      start = cut;
    }
  }

  /** The last chunk, if the input did not end on a cut. */
  *finish(): Generator<Buffer> {
    if (this.parts.length === 0) return;
    const chunk = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    yield chunk;
  }
}

export class CdcSplitter extends Splitter {
  private readonly cdc: GearCdc;
  constructor(p: CdcParams) {
    super();
    this.cdc = new GearCdc(p);
  }
  protected findCut(buf: Buffer, start: number, end: number): number {
    return this.cdc.scan(buf, start, end);
  }
}

/** Cuts at precomputed absolute offsets (from planCuts). */
export class PlannedSplitter extends Splitter {
  private next = 0;

  constructor(private readonly cuts: readonly number[]) {
    super();
  }

  protected findCut(_buf: Buffer, start: number, end: number, bufPos: number): number {
    const at = this.cuts[this.next];
    if (at === undefined) throw new RangeError('input runs past the last planned cut');
    const rel = at - bufPos;
    if (rel <= start) throw new RangeError(`planned cut ${at} is not ahead of the input`);
    if (rel > end) return -1;
    this.next++;
    return rel;
  }
}
