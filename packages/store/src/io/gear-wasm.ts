/**
 * The gear hash's hot loop (chunker/gear.ts, hashRun) as a tiny
 * WebAssembly module that scans bytes where they already are, in the
 * store's arena. V8 runs it at about 2.5x the speed of the JavaScript loop
 * (`npm run bench:cdc`: 4.19 against 1.72 GB/s here): the update
 * h = (h << 1) + GEAR[b] compiles to a shift and an add on an i32, with
 * none of the JavaScript loop's int32 checks and Uint32Array unpacking.
 * The cuts are the JavaScript loop's, bit for bit (gear-wasm.test.ts).
 *
 * The gear table lives in the imported memory itself, at GEAR_TABLE_ADDR
 * (a wasm module of this era has one memory, and the data is in the
 * shared one); installGearTable writes it there before any thread scans.
 *
 * Exports: run(p, stop, h, mask) -> i32, the address just past the first
 * byte in [p, stop) after which (h & mask) == 0, or -1, leaving the hash
 * in the global `h`.
 */
import { GEAR, type GearRun } from '../chunker/gear.js';
import {
  MAGIC, I32, get, set, tee, gset, c32, add32, and32, shl32, eqz32, gtu32, geu32, load32, load8u,
  block, loop, end, br, brIf, ret, if_, section, vec, str, u32, funcType, funcBody, sharedMemoryImport,
} from './wasm-asm.js';

/** Where the 256 little-endian i32 gear values sit in the memory (1 KiB). */
export const GEAR_TABLE_ADDR = 0;
/** Bytes hashed per trip of the unrolled loop. */
const UNROLL = 8;

// Params: 0 p, 1 stop, 2 h, 3 mask.
const P = 0, S = 1, H = 2, M = 3;
/** h = (h << 1) + GEAR[mem[p + k]]; if (h & mask) == 0, return p + k + 1. */
const step = (k: number) => [
  ...get(H), ...c32(1), ...shl32,
  ...get(P), ...load8u(k), ...c32(2), ...shl32, ...load32(GEAR_TABLE_ADDR, 2), ...add32, ...tee(H),
  ...get(M), ...and32, ...eqz32, ...if_, ...get(P), ...c32(k + 1), ...add32, ...ret, ...end,
];
const code = [
  // Whole trips of UNROLL bytes while p + UNROLL <= stop (addresses stay far below 2^32).
  ...block, ...loop,
    ...get(P), ...c32(UNROLL), ...add32, ...get(S), ...gtu32, ...brIf(1),
    ...Array.from({ length: UNROLL }, (_, k) => step(k)).flat(),
    ...get(P), ...c32(UNROLL), ...add32, ...set(P), ...br(0),
  ...end, ...end,
  // Then single bytes.
  ...block, ...loop,
    ...get(P), ...get(S), ...geu32, ...brIf(1),
    ...step(0),
    ...get(P), ...c32(1), ...add32, ...set(P), ...br(0),
  ...end, ...end,
  ...get(H), ...gset(0), ...c32(-1),
  ...end,
];

export const GEAR_WASM = new Uint8Array([
  ...MAGIC,
  ...section(1, vec([funcType([I32, I32, I32, I32], [I32])])),
  ...section(2, vec([sharedMemoryImport(1, 65536)])),
  ...section(3, vec([u32(0)])),
  // global 0: the hash where a run found no cut (mutable i32, 0).
  ...section(6, vec([[I32, 0x01, ...c32(0), ...end]])),
  ...section(7, vec([[...str('run'), 0x00, ...u32(0)], [...str('h'), 0x03, ...u32(0)]])),
  ...section(10, vec([funcBody([], code)])),
]);

let compiled: WebAssembly.Module | undefined;

/** Writes the gear table into `memory` (at least one page) at GEAR_TABLE_ADDR. Once, before any thread scans. */
export function installGearTable(memory: WebAssembly.Memory): void {
  // Wasm memory is little-endian whatever the host is.
  const dv = new DataView(memory.buffer);
  for (let i = 0; i < 256; i++) dv.setInt32(GEAR_TABLE_ADDR + 4 * i, GEAR[i], true);
}

/** The gear loop over bytes of `memory`, whose table installGearTable wrote. */
export function gearOver(memory: WebAssembly.Memory): GearRun {
  compiled ??= new WebAssembly.Module(GEAR_WASM);
  const ex = new WebAssembly.Instance(compiled, { env: { mem: memory } }).exports as { run: GearRun['run']; h: WebAssembly.Global };
  const h = ex.h;
  return {
    run: ex.run,
    get hash() {
      return h.value as number;
    },
  };
}
