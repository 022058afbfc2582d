import { CairnError, objectLinks, type ObjectId, type ObjectType, type Store } from '@cairn/store';
import type { CopyReport, ObjectWriter } from './copy-objects.js';
import { childrenFirst } from './children-first.js';

/** A writer that takes bytes a local store verified without hashing them again (RemoteBackend.putVerified). */
export interface VerifiedWriter extends ObjectWriter {
  putVerified(id: ObjectId, type: ObjectType, data: Buffer, size: number): Promise<boolean>;
}

export interface SendOptions {
  /** Called after each object written, with the totals so far. */
  onProgress?: (objects: number, bytes: number) => void;
}

/** Objects read at once when read one by one (the walk, small sends). */
const WALK_AHEAD = 16;
/** Sends of at least this many bytes are read through the store's read pool (Store.readObjects). */
const POOL_MIN_BYTES = 16 * 1024 * 1024;

const verified = (w: ObjectWriter): w is VerifiedWriter => typeof (w as Partial<VerifiedWriter>).putVerified === 'function';

/**
 * copyObjects for a push (from a local store, which is trusted, to a
 * remote): the same objects in an order that keeps its guarantee (each
 * object written after everything it links to, the walk stopping at
 * objects `to` has), but read in bulk. First the walk reads only the
 * objects that link (records, trees, files), a level at a time (small:
 * one by one); then everything missing is streamed out of the store's
 * packs in that order (from 16 MiB on, Store.readObjects: batches read and
 * checksum-verified on the read pool's threads, ahead of this thread;
 * below, one by one, as the pool's start would cost more) into `to`, whose pack
 * buffer is the only copy (VerifiedWriter: the store hashed every object
 * to its ID when it stored it, and checks its checksum on every read, so
 * nothing is hashed again on the way out).
 */
export async function sendObjects(from: Pick<Store, 'readObject' | 'readObjects' | 'statMany'>, to: ObjectWriter, roots: ObjectId[], opts: SendOptions = {}): Promise<CopyReport> {
  const report: CopyReport = { objects: 0, bytes: 0 };
  // Objects `to` lacks, with the type the link to them names (null for a root), and the IDs each linking one links to.
  const want = new Map<ObjectId, ObjectType | null>();
  const links = new Map<ObjectId, ObjectId[]>();
  const seen = new Set<ObjectId>();

  let level: Array<{ id: ObjectId; type: ObjectType | null }> = [];
  for (const id of roots) {
    if (seen.has(id)) continue;
    seen.add(id);
    level.push({ id, type: null });
  }
  while (level.length > 0) {
    const walk: ObjectId[] = [];
    for (const { id, type } of level) {
      if (await to.has(id)) continue;
      want.set(id, type);
      if (type !== 'chunk') walk.push(id);
    }
    const next: typeof level = [];
    // Linking objects are small: read one by one (a few at a time), not through the read pool.
    for (let i = 0; i < walk.length; i += WALK_AHEAD) {
      const part = walk.slice(i, i + WALK_AHEAD);
      const objs = await Promise.all(part.map((id) => from.readObject(id)));
      part.forEach((id, j) => {
        const obj = objs[j];
        checkType(id, obj.type, want.get(id) ?? null);
        const out = objectLinks(obj.type, obj.data, `${obj.type} ${id.slice(0, 12)}`);
        links.set(
          id,
          out.map((l) => l.id),
        );
        for (const l of out) {
          if (seen.has(l.id)) continue;
          seen.add(l.id);
          next.push({ id: l.id, type: l.type });
        }
      });
    }
    level = next;
  }

  // Children before parents: a post-order of the missing objects from the roots.
  const order = childrenFirst(
    roots,
    (id) => want.has(id),
    (id) => links.get(id) ?? [],
  );

  const fast = verified(to);
  const sizes = await from.statMany(order);
  let i = 0;
  const send = async (obj: { id: ObjectId; type: ObjectType; data: Buffer }, copy: boolean) => {
    checkType(obj.id, obj.type, want.get(obj.id) ?? null);
    if (sizes[i].id !== obj.id) throw new CairnError('FAILED', `objects read out of order (${obj.id.slice(0, 12)})`);
    const wrote = fast ? await to.putVerified(obj.id, obj.type, obj.data, sizes[i].size) : await to.put(obj.id, obj.type, copy ? Buffer.from(obj.data) : obj.data);
    i++;
    if (wrote) {
      report.objects++;
      report.bytes += obj.data.length;
      opts.onProgress?.(report.objects, report.bytes);
    }
  };
  const total = sizes.reduce((n, s) => n + s.stored, 0);
  if (total < POOL_MIN_BYTES) {
    // A few MiB: read here, a few objects ahead; starting the read pool's threads would cost more than it saves.
    for (let at = 0; at < order.length; at += WALK_AHEAD) {
      const part = order.slice(at, at + WALK_AHEAD);
      const objs = await Promise.all(part.map((id) => from.readObject(id)));
      for (let j = 0; j < part.length; j++) await send({ id: part[j], ...objs[j] }, false);
    }
    return report;
  }
  for await (const batch of from.readObjects(order)) {
    try {
      for (const obj of batch.objects) await send(obj, true);
    } finally {
      batch.release();
    }
  }
  return report;
}

function checkType(id: ObjectId, type: ObjectType, want: ObjectType | null): void {
  if (want !== null && type !== want) throw new CairnError('CORRUPT', `object ${id.slice(0, 12)} is a ${type} where a ${want} is linked`, { fields: { id } });
}
