/**
 * A thread of the store's ReadPool (see pool.ts): reads byte ranges of open
 * files into the shared arena, hashes them there, and may write them on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { xxh64Over } from './xxh64-wasm.js';
import { gearOver } from './gear-wasm.js';
import type { PoolReply, PoolRequest } from './pool.js';
import { GearCdc } from '../chunker/gear.js';

const memory = (workerData as { memory: WebAssembly.Memory }).memory;
const xxh64 = xxh64Over(memory);
// The arena wrote the gear table before this thread started.
const gear = gearOver(memory);
let buf = memory.buffer as unknown as SharedArrayBuffer;
const port = parentPort!;

/** A view of arena bytes; the arena may have grown since the last look. */
function view(addr: number, len: number): Buffer {
  if (addr + len > buf.byteLength) buf = memory.buffer as unknown as SharedArrayBuffer;
  return Buffer.from(buf, addr, len);
}

port.on('message', (m: PoolRequest) => {
  const reply: PoolReply = { job: m.job };
  try {
    for (let i = 0; i < m.reads.length && !reply.short; i++) {
      const r = m.reads[i];
      const dest = view(r.addr, r.len);
      let done = 0;
      while (done < r.len) {
        const n = readSync(r.fd, dest, done, r.len - done, r.pos + done);
        if (n === 0) {
          reply.short = { read: i, got: done };
          break;
        }
        done += n;
      }
    }
    if (!reply.short) {
      // copyWithin: TypedArray.set on shared memory runs at a quarter of memcpy's speed.
      for (const c of m.copies ?? []) new Uint8Array(memory.buffer).copyWithin(c.to, c.from, c.from + c.len);
      if (m.cdc) {
        const cdc = new GearCdc(m.cdc, gear);
        reply.cuts = cdcCuts(cdc, m.cdc);
        reply.cdcEnd = cdc.state;
        if (m.cdc.hash) reply.chunkHashes = chunkHashes(m.cdc, m.cdc.startsChunk ? Float64Array.of(m.cdc.base, ...reply.cuts) : reply.cuts);
      }
      if (m.sha) reply.sha = createHash('sha256').update(view(m.sha.addr, m.sha.len)).digest();
      if (m.xxh) {
        const out = new Uint8Array(8 * m.xxh.length);
        m.xxh.forEach((x, i) => out.set(xxh64(x.addr, x.len), 8 * i));
        reply.xxh = out;
        if (m.expect) {
          for (let i = 0; i < m.xxh.length && reply.mismatch === undefined; i++) {
            for (let j = 0; j < 8; j++) if (out[8 * i + j] !== m.expect[8 * i + j]) reply.mismatch = i;
          }
        }
      }
      // Written here, while the bytes are still in this core's cache.
      if (m.writes && reply.mismatch === undefined) {
        for (const w of m.writes) {
          const src = view(w.addr, w.len);
          for (let done = 0; done < w.len; ) done += writeSync(w.fd, src, done, w.len - done, w.pos + done);
        }
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply.error = { message: e.message, code: e.code };
  }
  port.postMessage(reply);
});

/** The cuts of the ranges as one stream whose first byte starts a chunk. */
function cdcCuts(cdc: GearCdc, job: NonNullable<PoolRequest['cdc']>): Float64Array {
  const cuts: number[] = [];
  let pos = job.base;
  for (const r of job.ranges) {
    const bytes = view(r.addr, r.len);
    let i = 0;
    while (i < bytes.length) {
      const c = cdc.scan(bytes, i, bytes.length);
      if (c < 0) break;
      cuts.push(pos + c);
      i = c;
    }
    pos += r.len;
  }
  return Float64Array.from(cuts);
}

/** SHA-256 and XXH64 of each chunk between consecutive cuts (see PoolJob.cdc.hash). */
function chunkHashes(job: NonNullable<PoolRequest['cdc']>, cuts: Float64Array): Uint8Array {
  const n = Math.max(0, cuts.length - 1);
  const out = new Uint8Array(40 * n);
  const starts: number[] = [];
  let pos = job.base;
  for (const r of job.ranges) {
    starts.push(pos);
    pos += r.len;
  }
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = cuts[i];
    const len = cuts[i + 1] - a;
    while (a >= starts[k] + job.ranges[k].len) k++;
    const r = job.ranges[k];
    const addr = r.addr + (a - starts[k]);
    const inRange = r.len - (a - starts[k]);
    if (len > inRange) {
      // Across the edge after range k (no chunk is longer than a range).
      const next = job.ranges[k + 1];
      out.set(createHash('sha256').update(view(addr, inRange)).update(view(next.addr, len - inRange)).digest(), 40 * i);
      continue;
    }
    out.set(createHash('sha256').update(view(addr, len)).digest(), 40 * i);
    if (job.xxh !== false) out.set(xxh64(addr, len), 40 * i + 32);
  }
  return out;
}
