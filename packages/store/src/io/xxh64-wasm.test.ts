import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import xxhash from 'xxhash-wasm';
import { xxh64Over } from './xxh64-wasm.js';

test('the in-place XXH64 module agrees with xxhash-wasm for every length and alignment', async () => {
  const { h64Raw } = await xxhash();
  const memory = new WebAssembly.Memory({ initial: 160, maximum: 160, shared: true });
  const view = Buffer.from(memory.buffer as unknown as SharedArrayBuffer);
  const xxh = xxh64Over(memory);
  const expect = (data: Uint8Array) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(h64Raw(data));
    return b;
  };
  for (let n = 0; n <= 2000; n++) {
    const data = randomBytes(n);
    const at = (n * 13) % 67;
    data.copy(view, at);
    assert.deepEqual(xxh(at, n), expect(data), `length ${n} at ${at}`);
  }
  for (const n of [4 << 20, (4 << 20) + 4093, 9_999_999]) {
    const data = randomBytes(n);
    data.copy(view, 5);
    assert.deepEqual(xxh(5, n), expect(data), `length ${n}`);
  }
  // Known answer: XXH64 of the empty input, seed 0.
  assert.equal(xxh(0, 0).toString('hex'), 'ef46db3751d8e999');
});
