/**
 * XXH64 as a tiny WebAssembly module that hashes bytes where they already
 * are: it imports a (shared) memory instead of owning one, so data read
 * into the store's arena (see arena.ts) is checked without the copy into a
 * private wasm memory that xxhash-wasm makes. The module is assembled here,
 * at load time, from the instruction list below (XXH64 as in the reference
 * implementation, seed 0 or any); xxh64-wasm.test.ts checks it against
 * xxhash-wasm for every length up to 2000 bytes and for large inputs.
 *
 * Exports: xxh64(ptr: i32, len: i32, seed: i64) -> i64.
 */
import {
  MAGIC, I32, I64, get, set, c64, c32, add64, sub64, mul64, xor64, shru64, rotl64, add32, sub32, gtu32, leu32, geu32,
  load64, load32u, load8u64, extendU, block, loop, end, br, brIf, if_, else_, section, vec, str, u32, funcType, funcBody, sharedMemoryImport,
} from './wasm-asm.js';

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
// Locals: 0 ptr, 1 len, 2 seed (params); 3 end, 4 limit (i32); 5..8 v1..v4, 9 h (i64).
const p = 0, len = 1, seed = 2, e = 3, lim = 4, h = 9;
const v = [5, 6, 7, 8];
/** acc = rotl(acc + load64(p + off) * P2, 31) * P1 */
const round = (acc: number, off: number) => [...get(acc), ...get(p), ...load64(off), ...c64(P2), ...mul64, ...add64, ...c64(31n), ...rotl64, ...c64(P1), ...mul64, ...set(acc)];
/** h = (h ^ round(0, vi)) * P1 + P4 */
const merge = (vi: number) => [...get(h), ...get(vi), ...c64(P2), ...mul64, ...c64(31n), ...rotl64, ...c64(P1), ...mul64, ...xor64, ...c64(P1), ...mul64, ...c64(P4), ...add64, ...set(h)];

const code = [
  ...get(p), ...get(len), ...add32, ...set(e),
  ...get(len), ...c32(32), ...geu32, ...if_,
    ...get(e), ...c32(32), ...sub32, ...set(lim),
    ...get(seed), ...c64(P1), ...add64, ...c64(P2), ...add64, ...set(v[0]),
    ...get(seed), ...c64(P2), ...add64, ...set(v[1]),
    ...get(seed), ...set(v[2]),
    ...get(seed), ...c64(P1), ...sub64, ...set(v[3]),
    ...loop,
      ...round(v[0], 0), ...round(v[1], 8), ...round(v[2], 16), ...round(v[3], 24),
      ...get(p), ...c32(32), ...add32, ...set(p),
      ...get(p), ...get(lim), ...leu32, ...brIf(0),
    ...end,
    ...get(v[0]), ...c64(1n), ...rotl64, ...get(v[1]), ...c64(7n), ...rotl64, ...add64,
    ...get(v[2]), ...c64(12n), ...rotl64, ...add64, ...get(v[3]), ...c64(18n), ...rotl64, ...add64, ...set(h),
    ...merge(v[0]), ...merge(v[1]), ...merge(v[2]), ...merge(v[3]),
  ...else_,
    ...get(seed), ...c64(P5), ...add64, ...set(h),
  ...end,
  ...get(h), ...get(len), ...extendU, ...add64, ...set(h),
  // 8-byte lanes
  ...block, ...loop,
    ...get(p), ...c32(8), ...add32, ...get(e), ...gtu32, ...brIf(1),
    ...get(h), ...get(p), ...load64(0), ...c64(P2), ...mul64, ...c64(31n), ...rotl64, ...c64(P1), ...mul64, ...xor64,
    ...c64(27n), ...rotl64, ...c64(P1), ...mul64, ...c64(P4), ...add64, ...set(h),
    ...get(p), ...c32(8), ...add32, ...set(p), ...br(0),
  ...end, ...end,
  // a 4-byte lane
  ...get(p), ...c32(4), ...add32, ...get(e), ...leu32, ...if_,
    ...get(h), ...get(p), ...load32u, ...c64(P1), ...mul64, ...xor64, ...c64(23n), ...rotl64, ...c64(P2), ...mul64, ...c64(P3), ...add64, ...set(h),
    ...get(p), ...c32(4), ...add32, ...set(p),
  ...end,
  // single bytes
  ...block, ...loop,
    ...get(p), ...get(e), ...geu32, ...brIf(1),
    ...get(h), ...get(p), ...load8u64, ...c64(P5), ...mul64, ...xor64, ...c64(11n), ...rotl64, ...c64(P1), ...mul64, ...set(h),
    ...get(p), ...c32(1), ...add32, ...set(p), ...br(0),
  ...end, ...end,
  // avalanche
  ...get(h), ...get(h), ...c64(33n), ...shru64, ...xor64, ...c64(P2), ...mul64, ...set(h),
  ...get(h), ...get(h), ...c64(29n), ...shru64, ...xor64, ...c64(P3), ...mul64, ...set(h),
  ...get(h), ...get(h), ...c64(32n), ...shru64, ...xor64,
  ...end,
];

/** The module's bytes. Its memory import is env.mem: shared, up to 4 GiB. */
export const XXH64_WASM = new Uint8Array([
  ...MAGIC,
  ...section(1, vec([funcType([I32, I32, I64], [I64])])),
  ...section(2, vec([sharedMemoryImport(0, 65536)])),
  ...section(3, vec([u32(0)])),
  ...section(7, vec([[...str('xxh64'), 0x00, ...u32(0)]])),
  ...section(10, vec([funcBody([[2, I32], [5, I64]], code)])),
]);

let compiled: WebAssembly.Module | undefined;

/** XXH64 over bytes of `memory` (a shared WebAssembly.Memory): hash(ptr, len) as 8 big-endian bytes. */
export function xxh64Over(memory: WebAssembly.Memory): (ptr: number, len: number) => Buffer {
  compiled ??= new WebAssembly.Module(XXH64_WASM);
  const fn = new WebAssembly.Instance(compiled, { env: { mem: memory } }).exports.xxh64 as (ptr: number, len: number, seed: bigint) => bigint;
  return (ptr, len) => {
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE(BigInt.asUintN(64, fn(ptr, len, 0n)));
    return out;
  };
}
