/**
 * Turns the segments a format parser found (tensors, zip entries, headers)
 * into chunk cuts. Every cut is decided by segment sizes and positions alone,
 * never by content, so an unchanged tensor keeps its chunks across versions
 * of a file as long as the layout around it keeps its shape.
 */

export interface Segment {
  /** Absolute byte range [start, end) in the file. */
  start: number;
  end: number;
  /** Never merged with neighbours (a header that changes on its own schedule). */
  solo?: boolean;
}

export interface PlanParams {
  minSize: number;
  maxSize: number;
}

/**
 * Chunk end offsets covering [0, size) exactly, ascending, the last one
 * `size` (none when size is 0). Bytes not covered by any segment form gap
 * segments. A segment larger than maxSize is cut into maxSize pieces counted
 * from its own start, so its pieces do not depend on what precedes it. Runs
 * of consecutive small segments are merged while the merged chunk stays
 * within minSize; a segment of minSize or more always stands alone, so no
 * merge spans it.
 */
export function planCuts(size: number, segments: readonly Segment[], p: PlanParams): number[] {
  if (!(p.minSize >= 1 && p.maxSize >= p.minSize)) throw new RangeError(`bad plan sizes: min ${p.minSize}, max ${p.maxSize}`);
  const cuts: number[] = [];
  let runStart = 0; // start of the pending merged run
  let runEnd = 0; // its end; runEnd === runStart when nothing is pending

  const flush = (): void => {
    if (runEnd > runStart) cuts.push(runEnd);
    runStart = runEnd;
  };
  const take = (start: number, end: number, solo: boolean): void => {
    const len = end - start;
    if (len === 0) return;
    if (!solo && len < p.minSize) {
      if (runEnd - runStart + len <= p.minSize) {
        runEnd = end;
        return;
      }
      flush();
      runEnd = end;
      return;
    }
    flush();
    for (let at = start + p.maxSize; at < end; at += p.maxSize) cuts.push(at);
    cuts.push(end);
    runStart = runEnd = end;
  };

  let pos = 0;
  for (const s of segments) {
    if (!(Number.isSafeInteger(s.start) && Number.isSafeInteger(s.end) && s.start >= pos && s.end >= s.start && s.end <= size)) {
      throw new RangeError(`segments must be ascending, disjoint and within [0, ${size}): got [${s.start}, ${s.end}) after ${pos}`);
    }
    take(pos, s.start, false);
    take(s.start, s.end, s.solo === true);
    pos = s.end;
  }
  take(pos, size, false);
  flush();
  return cuts;
}
