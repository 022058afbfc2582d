/**
 * Reading many objects in a given order (an export, a copy to another
 * store), without a buffer per object: objects are grouped into batches of
 * up to an arena slot; the read pool's threads read each batch into its slot
 * (blobs back to back in one pack in one read) and check every blob's XXH64
 * there, a few batches ahead of the consumer. The consumer gets views of the
 * slot, and gives the slot back when done with them (so it may keep a few
 * batches being written while it takes the next).
 */
import type { FileHandle } from 'node:fs/promises';
import { write as fsWrite } from 'node:fs';
import { CairnError } from './errors.js';
import type { Location } from './index-db.js';
import { readPool, type ArenaRead } from './io/pool.js';
import { arena, SLOT_DATA } from './io/arena.js';
import { Inflight } from './io/inflight.js';
import type { ObjectId, ObjectType } from './types.js';

export interface ReadObject {
  id: ObjectId;
  type: ObjectType;
  /** The stored bytes, checksum-verified: a view that is valid until its batch is released. */
  data: Buffer;
}

export interface ReadManyOptions {
  /** Batches read ahead of the consumer (each holds an arena slot of about 4 MiB). Default 8. */
  window?: number;
}

/** Objects read together. Their views stay valid until release() (which the consumer must call, also when it gives up). */
export interface ObjectBatch {
  objects: ReadObject[];
  /** Gives the batch's memory back for reuse; later calls do nothing. */
  release(): void;
}

/** What readMany needs of the store. */
export interface ReadManySource {
  locateMany(ids: ObjectId[]): Promise<Location[]>;
  handle(packId: string): Promise<FileHandle>;
  /** Reads and verifies one blob into a buffer of its own (for objects larger than a slot). */
  readBlob(id: ObjectId, loc: Location): Promise<Buffer>;
}

interface Batch {
  ids: ObjectId[];
  locs: Location[];
  /** Bytes of the batch (the slot holds them back to back from offset 0). */
  len: number;
  /** One object larger than a slot: read by readBlob. */
  big: boolean;
}

interface Started {
  batch: Batch;
  slot: number;
  done: Promise<{ xxh?: Buffer[]; data?: Buffer }>;
}

const LOCATE_STEP = 1024;

/** Groups located objects into batches that fill a slot, in the given order. */
function* batches(ids: ObjectId[], locs: Location[]): Generator<Batch> {
  let cur: Batch | undefined;
  for (let i = 0; i < ids.length; i++) {
    const loc = locs[i];
    if (loc.length > SLOT_DATA) {
      if (cur) yield cur;
      cur = undefined;
      yield { ids: [ids[i]], locs: [loc], len: loc.length, big: true };
      continue;
    }
    if (cur && cur.len + loc.length > SLOT_DATA) {
      yield cur;
      cur = undefined;
    }
    cur ??= { ids: [], locs: [], len: 0, big: false };
    cur.ids.push(ids[i]);
    cur.locs.push(loc);
    cur.len += loc.length;
  }
  if (cur) yield cur;
}

interface BatchJob {
  reads: ArenaRead[];
  /** Where each object of the batch lands, in order. */
  xxh: Array<{ addr: number; len: number }>;
  /** The error for a pack that ends before a read is done. */
  short: (read: ArenaRead, at: number) => Error;
}

/** The reads that bring a batch's objects into the arena from `addr` on, back to back: blobs back to back in one pack are one read. */
async function batchJob(src: ReadManySource, batch: Batch, addr: number): Promise<BatchJob> {
  const reads: ArenaRead[] = [];
  const packs: string[] = [];
  const xxh: Array<{ addr: number; len: number }> = [];
  let at = addr;
  for (const loc of batch.locs) {
    const fd = (await src.handle(loc.packId)).fd;
    const prev = reads[reads.length - 1];
    if (prev && prev.fd === fd && prev.pos + prev.len === loc.offset) prev.len += loc.length;
    else {
      reads.push({ fd, pos: loc.offset, len: loc.length, addr: at });
      packs.push(loc.packId);
    }
    xxh.push({ addr: at, len: loc.length });
    at += loc.length;
  }
  const short = (read: ArenaRead, got: number) => {
    const packId = packs[reads.indexOf(read)] ?? batch.locs[0].packId;
    return new CairnError('CORRUPT', `pack ${packId}: file ends early (wanted ${read.len} bytes at ${read.pos}, got ${got - read.pos})`, { hint: 'run cairn fsck' });
  };
  return { reads, xxh, short };
}

export async function* readMany(src: ReadManySource, ids: ObjectId[], opts: ReadManyOptions = {}): AsyncGenerator<ObjectBatch> {
  const window = Math.max(1, opts.window ?? 8);
  const A = arena();
  const pool = readPool();

  // Objects are located a thousand at a time, as the batches reach them.
  async function* allBatches(): AsyncGenerator<Batch> {
    for (let i = 0; i < ids.length; i += LOCATE_STEP) {
      const part = ids.slice(i, i + LOCATE_STEP);
      yield* batches(part, await src.locateMany(part));
    }
  }

  const start = async (batch: Batch): Promise<Started> => {
    if (batch.big) {
      const done = src.readBlob(batch.ids[0], batch.locs[0]).then((data) => ({ data }));
      done.catch(() => {}); // surfaced when awaited
      return { batch, slot: -1, done };
    }
    const slot = await A.take();
    let job: BatchJob;
    try {
      job = await batchJob(src, batch, A.addr(slot));
    } catch (err) {
      A.give(slot);
      throw err;
    }
    const done = pool.run({ reads: job.reads, xxh: job.xxh }, job.short);
    done.catch(() => {});
    return { batch, slot, done };
  };

  const source = allBatches();
  const queue: Started[] = [];
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && queue.length < window) {
      const r = await source.next();
      if (r.done) exhausted = true;
      else queue.push(await start(r.value));
    }
  };
  let current: Started | undefined;
  try {
    await fill();
    while (queue.length > 0) {
      current = queue.shift()!;
      const { batch, slot } = current;
      const r = await current.done;
      await fill();
      if (r.data) {
        yield { objects: [{ id: batch.ids[0], type: batch.locs[0].type, data: r.data }], release: () => {} };
        current = undefined;
        continue;
      }
      const out: ReadObject[] = [];
      let at = A.addr(slot);
      batch.locs.forEach((loc, i) => {
        if (!r.xxh![i].equals(loc.checksum)) {
          throw new CairnError('CORRUPT', `object ${batch.ids[i].slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck', fields: { id: batch.ids[i] } });
        }
        out.push({ id: batch.ids[i], type: loc.type, data: A.view(at, loc.length) });
        at += loc.length;
      });
      current = undefined;
      let held = true;
      yield {
        objects: out,
        release: () => {
          if (held) A.give(slot);
          held = false;
        },
      };
    }
  } finally {
    // Nothing may still read into a slot once it is given back.
    const left = current ? [current, ...queue] : queue;
    for (const s of left) {
      await s.done.catch(() => {});
      if (s.slot >= 0) A.give(s.slot);
    }
    await source.return(undefined);
  }
}

export interface CopyManyOptions {
  /** Batches in flight (each holds an arena slot of about 4 MiB). Default 4. */
  window?: number;
  /** Start no batch after this time (Date.now() milliseconds); the ones started are finished. */
  deadline?: number;
  /** Called as batches finish, with the number of objects and stored bytes they wrote. */
  onCopied?: (objects: number, bytes: number) => void;
}

/**
 * Writes each object's stored bytes at its position of the open file `fd`,
 * in the order given: the read pool's threads read a batch (blobs back to
 * back in a pack in one read), check every blob's XXH64 and only then write
 * the blobs, from the same thread while they are in its cache. Resolves to
 * how many objects (from the start of `items`) were written: all of them,
 * or fewer if `deadline` passed.
 */
export async function copyMany(src: ReadManySource, items: Array<{ id: ObjectId; position: number }>, fd: number, opts: CopyManyOptions = {}): Promise<number> {
  const window = Math.max(1, opts.window ?? 4);
  const A = arena();
  const pool = readPool();
  const inflight = new Inflight(window);
  let started = 0;
  const copyBatch = async (batch: Batch, positions: number[]): Promise<void> => {
    if (batch.big) {
      const data = await src.readBlob(batch.ids[0], batch.locs[0]);
      for (let done = 0; done < data.length; ) done += await writeAt(fd, data, done, positions[0] + done);
      return;
    }
    const slot = await A.take();
    try {
      const job = await batchJob(src, batch, A.addr(slot));
      const expect = new Uint8Array(8 * batch.locs.length);
      batch.locs.forEach((loc, i) => expect.set(loc.checksum, 8 * i));
      const writes = job.xxh.map((x, i) => ({ fd, pos: positions[i], addr: x.addr, len: x.len }));
      const r = await pool.run({ reads: job.reads, xxh: job.xxh, expect, writes }, job.short);
      if (r.mismatch !== undefined) {
        const loc = batch.locs[r.mismatch];
        throw new CairnError('CORRUPT', `object ${batch.ids[r.mismatch].slice(0, 12)} in pack ${loc.packId} is damaged (checksum mismatch)`, { hint: 'run cairn fsck', fields: { id: batch.ids[r.mismatch] } });
      }
    } finally {
      A.give(slot);
    }
  };
  try {
    outer: for (let i = 0; i < items.length; i += LOCATE_STEP) {
      const part = items.slice(i, i + LOCATE_STEP);
      const ids = part.map((x) => x.id);
      let k = 0;
      for (const batch of batches(ids, await src.locateMany(ids))) {
        if (inflight.failed) break outer;
        if (opts.deadline !== undefined && Date.now() >= opts.deadline && started > 0) break outer;
        const positions = part.slice(k, k + batch.ids.length).map((x) => x.position);
        k += batch.ids.length;
        started += batch.ids.length;
        await inflight.add(copyBatch(batch, positions).then(() => opts.onCopied?.(batch.ids.length, batch.len)));
      }
    }
  } finally {
    await inflight.drain();
  }
  await inflight.settle();
  return started;
}

function writeAt(fd: number, data: Buffer, offset: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, data, offset, data.length - offset, position, (err, n) => (err ? reject(err) : resolve(n))));
}
