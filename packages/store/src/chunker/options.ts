import { CairnError } from '../errors.js';

export interface ChunkerOptions {
  /** Smallest content-defined chunk; also the size up to which small format segments are merged. Default avgSize / 4. */
  minSize?: number;
  /** Target mean of content-defined chunks. Default 1 MiB. */
  avgSize?: number;
  /** Largest chunk; also the fixed piece size large format segments are split into. Default avgSize * 4. */
  maxSize?: number;
  /** Bytes read from a file (or gathered from a stream) at a time. Default 8 MiB. */
  readSize?: number;
}

export type ResolvedOptions = Required<ChunkerOptions>;

export const KiB = 1024;
export const MiB = 1024 * KiB;

const DEFAULT_AVG = 1 * MiB;
const DEFAULT_READ = 8 * MiB;
// Bounds keep every offset and length a small integer and the mask bit counts in range.
const MAX_CHUNK = 1024 * MiB;

function check(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isSafeInteger(v) || v < lo || v > hi) {
    throw new CairnError('BAD_INPUT', `chunker option ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/** Fills in defaults so that giving only avgSize scales min and max with it. */
export function resolveOptions(opts: ChunkerOptions = {}): ResolvedOptions {
  const avgSize = check('avgSize', opts.avgSize ?? DEFAULT_AVG, 4, MAX_CHUNK);
  const minSize = check('minSize', opts.minSize ?? Math.floor(avgSize / 4), 1, avgSize);
  const maxSize = check('maxSize', opts.maxSize ?? avgSize * 4, avgSize, MAX_CHUNK);
  const readSize = check('readSize', opts.readSize ?? DEFAULT_READ, 1, MAX_CHUNK);
  return { minSize, avgSize, maxSize, readSize };
}
