/**
 * Just enough of the WebAssembly binary format to assemble the store's two
 * tiny hot loops (xxh64-wasm.ts, gear-wasm.ts) at load time from
 * instruction lists, so that no compiler or generated binary has to live
 * in the repository. Opcodes are those of the WebAssembly 1.0 core spec.
 */

/** Unsigned LEB128. */
export const u32 = (n: number): number[] => {
  const o: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
};
/** Signed LEB128 of a 64-bit value (also right for i32 constants). */
export const s64 = (value: bigint): number[] => {
  let v = BigInt.asIntN(64, value);
  const o: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) {
      o.push(b);
      return o;
    }
    o.push(b | 0x80);
  }
};
export const str = (s: string): number[] => [...u32(s.length), ...Buffer.from(s)];
export const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()];
export const section = (id: number, bytes: number[]): number[] => [id, ...u32(bytes.length), ...bytes];

export const I32 = 0x7f;
export const I64 = 0x7e;

// Instructions.
export const get = (i: number) => [0x20, ...u32(i)];
export const set = (i: number) => [0x21, ...u32(i)];
export const tee = (i: number) => [0x22, ...u32(i)];
export const gset = (i: number) => [0x24, ...u32(i)];
export const c64 = (v: bigint) => [0x42, ...s64(v)];
export const c32 = (v: number) => [0x41, ...s64(BigInt(v))];
export const add64 = [0x7c], sub64 = [0x7d], mul64 = [0x7e], xor64 = [0x85], shru64 = [0x88], rotl64 = [0x89];
export const eqz32 = [0x45], add32 = [0x6a], sub32 = [0x6b], and32 = [0x71], shl32 = [0x74], gtu32 = [0x4b], leu32 = [0x4d], geu32 = [0x4f];
/** Loads with alignment hint 0 (inputs need not be aligned) unless given. */
export const load64 = (off: number) => [0x29, 0, ...u32(off)];
export const load32 = (off = 0, align = 0) => [0x28, align, ...u32(off)];
export const load32u = [0x35, 0, 0];
export const load8u = (off = 0) => [0x2d, 0, ...u32(off)];
export const load8u64 = [0x31, 0, 0];
export const extendU = [0xad];
export const block = [0x02, 0x40], loop = [0x03, 0x40], end = [0x0b];
export const br = (l: number) => [0x0c, ...u32(l)];
export const brIf = (l: number) => [0x0d, ...u32(l)];
export const ret = [0x0f];
export const if_ = [0x04, 0x40], else_ = [0x05];

/** A function type: params and results as value types. */
export const funcType = (params: number[], results: number[]): number[] => [0x60, ...vec(params.map((t) => [t])), ...vec(results.map((t) => [t]))];
/** A function body: local declarations as [count, type] pairs, then the code (which must end with `end`). */
export const funcBody = (locals: Array<[number, number]>, code: number[]): number[] => {
  const body = [...vec(locals.map(([n, t]) => [...u32(n), t])), ...code];
  return [...u32(body.length), ...body];
};
/** The import of a shared memory env.mem of at least `min` and at most `max` 64 KiB pages. */
export const sharedMemoryImport = (min: number, max: number): number[] => [...str('env'), ...str('mem'), 0x02, 0x03, ...u32(min), ...u32(max)];
export const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
