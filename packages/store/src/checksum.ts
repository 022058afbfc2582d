import xxhash from 'xxhash-wasm';

// xxhash-wasm initialises asynchronously; every Store.open awaits this once
// so the hot paths can call xxh64() synchronously.
let h64Raw: ((input: Uint8Array, seed?: bigint) => bigint) | undefined;

export async function initChecksum(): Promise<void> {
  if (!h64Raw) h64Raw = (await xxhash()).h64Raw;
}

/** XXH64 of `data` as 8 big-endian bytes: the per-blob checksum stored in packs and the index. */
export function xxh64(data: Uint8Array): Buffer {
  if (!h64Raw) throw new Error('initChecksum() was not awaited');
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(h64Raw(data));
  return out;
}
