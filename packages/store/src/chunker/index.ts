/**
 * The chunker: splits a file's bytes into chunks for the store. Cuts follow
 * the file's structure where a known model format is recognised (tensor and
 * zip-entry boundaries), so an unchanged tensor yields the same chunks in
 * every checkpoint; anything else gets content-defined chunking.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { resolveOptions, type ChunkerOptions, type ResolvedOptions } from './options.js';
import { planCuts, type Segment } from './plan.js';
import { parseSafetensors } from './safetensors.js';
import { FileSource, type Source } from './source.js';
import { readExact } from '../read-exact.js';
import { CdcSplitter, PlannedSplitter, type Splitter } from './splitter.js';
import { parseZip } from './torchzip.js';

export type { ChunkerOptions } from './options.js';

/** Which layout chunkFile recognised; exported for diagnostics and tests. */
export type Layout = 'safetensors' | 'zip';

/** The format segments of a file, or null to use CDC. Throws only on I/O errors. */
export async function detectSegments(src: Source): Promise<{ layout: Layout; segments: Segment[] } | null> {
  const st = await parseSafetensors(src);
  if (st !== null) return { layout: 'safetensors', segments: st };
  const zip = await parseZip(src);
  if (zip !== null) return { layout: 'zip', segments: zip };
  return null;
}

/** The cut list chunkFile will use for a file, or null when it falls back to CDC. */
export async function planFile(src: Source, opts: ResolvedOptions): Promise<{ layout: Layout; cuts: number[] } | null> {
  const found = await detectSegments(src);
  if (found === null) return null;
  return { layout: found.layout, cuts: planCuts(src.size, found.segments, opts) };
}

/**
 * The chunk cuts of a file whose layout is recognised (safetensors, zip),
 * found from its head alone; null when the file needs content-defined
 * chunking, whose cuts depend on every byte. chunkFile cuts such a file at
 * exactly these offsets.
 */
export async function planFileCuts(fh: FileHandle, size: number, opts?: ChunkerOptions): Promise<number[] | null> {
  const o = resolveOptions(opts);
  if (!Number.isSafeInteger(size) || size <= 0) return null;
  const head = Buffer.allocUnsafe(Math.min(HEAD_READ, size));
  await readExact(fh, head, 0);
  return (await planFile(new FileSource(fh, size, head), o))?.cuts ?? null;
}

/** What planFileCuts reads first; parsers read more when a header is larger. */
const HEAD_READ = 64 * 1024;

/**
 * Yields the file's bytes as consecutive chunks (Buffers; concatenated they
 * equal the file). Bounded memory: never holds more than a few readSize
 * buffers. Detects safetensors and PyTorch zip (torch.save) layouts and cuts
 * at tensor boundaries; otherwise content-defined chunking.
 */
export async function* chunkFile(fh: FileHandle, size: number, opts?: ChunkerOptions): AsyncGenerator<Buffer> {
  const o = resolveOptions(opts);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad file size ${size}`);
  if (size === 0) return;
  // The first block doubles as the parsers' view of the file head, so a
  // small file costs one read whatever its format.
  let block: Buffer = Buffer.allocUnsafe(Math.min(o.readSize, size));
  await readExact(fh, block, 0);
  const plan = await planFile(new FileSource(fh, size, block), o);
  const splitter: Splitter = plan === null ? new CdcSplitter(o) : new PlannedSplitter(plan.cuts);
  // One block is read ahead while the current one is hashed, so the disk
  // (or page cache copy) and the CPU overlap. Blocks are fresh every time:
  // the chunks just yielded may alias the previous one.
  const readBlock = async (pos: number): Promise<Buffer> => {
    const b = Buffer.allocUnsafe(Math.min(o.readSize, size - pos));
    await readExact(fh, b, pos);
    return b;
  };
  let pos = block.length;
  for (;;) {
    const ahead = pos < size ? readBlock(pos) : null;
    // If the consumer stops early, the read-ahead's failure has no one to go to.
    ahead?.catch(() => {});
    yield* splitter.push(block);
    if (ahead === null) break;
    block = await ahead;
    pos += block.length;
  }
  yield* splitter.finish();
}

/** Same for a stream of unknown length: content-defined chunking only. */
export async function* chunkStream(input: AsyncIterable<Uint8Array> | Readable, opts?: ChunkerOptions): AsyncGenerator<Buffer> {
  const o = resolveOptions(opts);
  const splitter = new CdcSplitter(o);
  // Input is copied into blocks we own: a producer may reuse its buffers once
  // it is asked for the next piece, and the chunks we yield (or hold pending)
  // must not change under the caller.
  let block = Buffer.allocUnsafe(o.readSize);
  let fill = 0;
  for await (const piece of input as AsyncIterable<unknown>) {
    if (!(piece instanceof Uint8Array)) throw new TypeError(`chunkStream needs binary input, got ${typeof piece}`);
    let off = 0;
    while (off < piece.length) {
      const n = Math.min(o.readSize - fill, piece.length - off);
      block.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === o.readSize) {
        yield* splitter.push(block);
        block = Buffer.allocUnsafe(o.readSize);
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    // A short last block is copied to its own size so that a small stream's
    // chunk does not pin a whole readSize buffer.
    const last = fill < o.readSize / 2 ? Buffer.from(block.subarray(0, fill)) : block.subarray(0, fill);
    yield* splitter.push(last);
  }
  yield* splitter.finish();
}
