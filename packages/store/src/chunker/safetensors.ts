import type { Segment } from './plan.js';
import type { Source } from './source.js';

/**
 * Larger headers are refused (the file falls back to CDC) to keep memory
 * bounded; the safetensors reference reader's own limit is 100 MB, but real
 * headers are ~100 bytes per tensor, so 16 MiB covers ~150k tensors.
 */
export const MAX_HEADER = 16 * 1024 * 1024;

/** Element sizes in bytes, used only as an extra sanity check; unknown dtypes skip it. */
const DTYPE_BYTES = new Map<string, number>([
  ...['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E4M3FN', 'F8_E8M0'].map((t) => [t, 1] as const),
  ...['I16', 'U16', 'F16', 'BF16'].map((t) => [t, 2] as const),
  ...['I32', 'U32', 'F32'].map((t) => [t, 4] as const),
  ...['I64', 'U64', 'F64', 'C64'].map((t) => [t, 8] as const),
]);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The segments of a safetensors file: the 8-byte length plus JSON header as
 * one solo segment, then each tensor's data range. Null when the file is not
 * plainly a well-formed safetensors file; never throws for bad content (only
 * for I/O errors).
 */
export async function parseSafetensors(src: Source): Promise<Segment[] | null> {
  const { size } = src;
  if (size < 10) return null;
  const n64 = (await src.read(0, 8)).readBigUInt64LE(0);
  if (n64 < 2n || n64 > BigInt(MAX_HEADER) || n64 + 8n > BigInt(size)) return null;
  const n = Number(n64);
  const raw = await src.read(8, n);
  // Cheap rejection before decoding: the header is a JSON object.
  if (raw[0] !== 0x7b) return null;
  let header: unknown;
  try {
    header = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  if (!isPlainObject(header)) return null;

  const dataStart = 8 + n;
  const tensors: Segment[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(info)) return null;
      continue;
    }
    if (!isPlainObject(info)) return null;
    const { dtype, shape, data_offsets: offs } = info;
    if (typeof dtype !== 'string' || !Array.isArray(shape) || !shape.every(isCount)) return null;
    if (!Array.isArray(offs) || offs.length !== 2 || !isCount(offs[0]) || !isCount(offs[1])) return null;
    const [b, e] = offs as [number, number];
    if (b > e || e > size - dataStart) return null;
    const elemBytes = DTYPE_BYTES.get(dtype);
    if (elemBytes !== undefined) {
      const elems = (shape as number[]).reduce((a, x) => a * x, 1);
      if (elems * elemBytes !== e - b) return null;
    }
    tensors.push({ start: dataStart + b, end: dataStart + e });
  }
  tensors.sort((x, y) => x.start - y.start || x.end - y.end);
  let pos = dataStart;
  for (const t of tensors) {
    if (t.start < pos) return null;
    pos = t.end;
  }
  return [{ start: 0, end: dataStart, solo: true }, ...tensors];
}
