import { CairnError, isCairnError, objectLinks, sha256, type ObjectId, type ObjectType } from '@cairn/store';
import { MAX_OBJECT_BYTES } from './manifest.js';

/** Where objects are read from: a local Store and an ObjectBackend both fit. */
export interface ObjectReader {
  readObject(id: ObjectId): Promise<{ type: ObjectType; data: Buffer }>;
}

/** Where objects go: an ObjectBackend (a remote, or storeBackend of a local store). */
export interface ObjectWriter {
  has(id: ObjectId): Promise<boolean>;
  put(id: ObjectId, type: ObjectType, data: Buffer): Promise<boolean>;
}

export interface CopyOptions {
  /** Reads and writes in flight at once (default 8): a remote's latency, not its bandwidth, bounds one at a time. */
  concurrency?: number;
  /** Called after each object written, with the totals so far. */
  onProgress?: (objects: number, bytes: number) => void;
  /** How errors name the side objects come from ("remote 'origin'"); its objects are then checked as hostile input. */
  untrusted?: string;
  /**
   * Walk into objects the destination has too (writing only what it
   * lacks), for a destination that may hold an object without all it
   * reaches (left by an interrupted import). Reads every linked object.
   */
  deep?: boolean;
}

export interface CopyReport {
  /** Objects written, and their stored bytes. */
  objects: number;
  bytes: number;
}

/** A counting semaphore: at most `n` holders at once. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/**
 * Copies every object reachable from `roots` that `to` lacks, walking down
 * from the roots and stopping at each object `to` already has: an object is
 * only ever written after everything it links to, so one that is there has
 * all it reaches there too (a checkpoint the remote holds brings its whole
 * chain). Each object read is checked against its ID, its size bounded and
 * its type matched with what its parent says it is, before anything it
 * links to is followed, so a hostile source cannot send the walk astray.
 */
export async function copyObjects(from: ObjectReader, to: ObjectWriter, roots: ObjectId[], opts: CopyOptions = {}): Promise<CopyReport> {
  const slots = new Slots(opts.concurrency ?? 8);
  const report: CopyReport = { objects: 0, bytes: 0 };
  const visits = new Map<ObjectId, Promise<void>>();
  const source = opts.untrusted;
  // After the first failure no new work starts, and what is in flight is waited for, so no write outlives the call.
  let failure: { err: unknown } | undefined;
  const live = () => {
    if (failure) throw failure.err;
  };

  const fetch = async (id: ObjectId, want: ObjectType | null): Promise<{ type: ObjectType; data: Buffer }> => {
    let obj: { type: ObjectType; data: Buffer };
    try {
      obj = await from.readObject(id);
    } catch (err) {
      if (source && isCairnError(err, 'NOT_FOUND')) throw new CairnError('BAD_INPUT', `${source} is missing object ${id.slice(0, 12)}`, { fields: { id } });
      throw err;
    }
    if (source) {
      if (obj.data.length > MAX_OBJECT_BYTES) throw new CairnError('BAD_INPUT', `${source} sent object ${id.slice(0, 12)} of ${obj.data.length} bytes; an object holds at most ${MAX_OBJECT_BYTES / 2 ** 20} MiB`);
      if (sha256(obj.data).toString('hex') !== id) throw new CairnError('BAD_INPUT', `${source} sent object ${id.slice(0, 12)} whose bytes do not match its ID`, { fields: { id } });
    }
    if (want !== null && obj.type !== want) throw new CairnError(source ? 'BAD_INPUT' : 'CORRUPT', `object ${id.slice(0, 12)} is a ${obj.type} where a ${want} is linked`, { fields: { id } });
    return obj;
  };

  const write = async (id: ObjectId, obj: { type: ObjectType; data: Buffer }) => {
    try {
      if (await to.put(id, obj.type, obj.data)) {
        report.objects++;
        report.bytes += obj.data.length;
        opts.onProgress?.(report.objects, report.bytes);
      }
    } catch (err) {
      if (source && isCairnError(err, 'BAD_INPUT')) throw new CairnError('BAD_INPUT', `${source} sent a bad object: ${err.message}`, { fields: { id } });
      throw err;
    }
  };

  const visit = (id: ObjectId, want: ObjectType | null): Promise<void> => {
    let v = visits.get(id);
    if (!v) {
      v = (async () => {
        live();
        // Chunks lead nowhere: checked, read and written in one slot, so few are held in memory at once.
        if (want === 'chunk') {
          return slots.run(async () => {
            live();
            if (!(await to.has(id))) await write(id, await fetch(id, want));
          });
        }
        const got = await slots.run(async () => {
          const there = await to.has(id);
          return there && !opts.deep ? null : { there, obj: await fetch(id, want) };
        });
        if (got === null) return;
        const { there, obj } = got;
        let links;
        try {
          links = objectLinks(obj.type, obj.data, `${obj.type} ${id.slice(0, 12)}`);
        } catch (err) {
          if (source && isCairnError(err)) throw new CairnError('BAD_INPUT', `${source} sent a malformed object: ${err.message}`, { fields: { id } });
          throw err;
        }
        const settled = await Promise.allSettled(links.map((l) => visit(l.id, l.type)));
        for (const r of settled) if (r.status === 'rejected') throw r.reason;
        live();
        if (!there) await slots.run(() => write(id, obj));
      })();
      visits.set(id, v);
      v.catch((err) => (failure ??= { err })); // also awaited by every parent
    }
    return v;
  };
  await Promise.allSettled(roots.map((r) => visit(r, null)));
  // Every visit started is settled once the roots' are: parents wait for all their links.
  await Promise.allSettled(visits.values());
  if (failure) throw failure.err;
  return report;
}
