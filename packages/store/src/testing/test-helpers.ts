// Helpers shared by the chunker tests (not a test file itself).
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Deterministic pseudo-random bytes (xorshift32), so pinned expectations stay valid. */
export function pseudoRandom(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed | 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x, i);
  }
  for (; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

export function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

/** End offsets of consecutive chunks. */
export function cutsOf(chunks: readonly Uint8Array[]): number[] {
  const cuts: number[] = [];
  let pos = 0;
  for (const c of chunks) cuts.push((pos += c.length));
  return cuts;
}

/** Runs fn with the bytes written to a temporary file, opened for reading. */
export async function withFile<T>(data: Uint8Array, fn: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-chunker-'));
  const path = join(dir, 'f');
  try {
    await writeFile(path, data);
    const fh = await open(path, 'r');
    try {
      return await fn(fh, data.length);
    } finally {
      await fh.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface TestTensor {
  name: string;
  /** float32 element count; the data is pseudo-random. */
  elems: number;
  shape?: number[];
}

/** A safetensors file of float32 tensors laid out in the given order, plus each tensor's absolute byte range. */
export function makeSafetensors(
  tensors: readonly TestTensor[],
  seed = 7,
  metadata: Record<string, string> = { format: 'pt' },
): { file: Buffer; ranges: Map<string, [number, number]>; headerLen: number } {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const datas: Buffer[] = [];
  let off = 0;
  for (const [i, t] of tensors.entries()) {
    const data = pseudoRandom(t.elems * 4, seed * 1000 + i + 1);
    header[t.name] = { dtype: 'F32', shape: t.shape ?? [t.elems], data_offsets: [off, off + data.length] };
    datas.push(data);
    off += data.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  // Writers pad the header with spaces to an 8-byte boundary.
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const headerLen = 8 + json.length;
  const ranges = new Map<string, [number, number]>();
  let pos = headerLen;
  for (const [i, t] of tensors.entries()) {
    ranges.set(t.name, [pos, pos + datas[i].length]);
    pos += datas[i].length;
  }
  return { file: Buffer.concat([len, json, ...datas]), ranges, headerLen };
}
