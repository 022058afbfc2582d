import { CairnError, isCairnError, objectLinks, sha256, type ObjectId, type ObjectType } from '@cairn/store';
import type { CopyReport, ObjectReader, ObjectWriter } from './copy-objects.js';
import { MAX_OBJECT_BYTES } from './manifest.js';
import { childrenFirst } from './children-first.js';

/** A remote that reads many objects at once, in ranges of its packs (RemoteBackend.getMany); each object checked against its ID. */
export interface BulkReader extends ObjectReader {
  getMany(ids: ObjectId[]): AsyncIterable<{ id: ObjectId; type: ObjectType; data: Buffer }>;
}

/** Whether a remote (an ObjectBackend) can read in bulk. */
export const readsInBulk = (r: unknown): r is Pick<BulkReader, 'getMany'> => typeof (r as Partial<BulkReader>)?.getMany === 'function';

/**
 * copyObjects for a pull from a remote that reads in bulk: the same walk
 * (from the roots, stopping at objects `to` has, each object read checked
 * as hostile input: its size, its bytes against its ID, its type against
 * the link to it, before anything it links to is followed), but the
 * chunks, which are most of the bytes, are not read one request each:
 * once the walk has found every missing one, they are read with
 * `getMany` (runs of chunks back to back in a remote pack in one ranged
 * read) and written. The linking objects the walk read are written last,
 * children before parents, so that an object `to` holds has all it
 * reaches there, as with copyObjects.
 */
export async function receiveObjects(from: BulkReader, to: ObjectWriter, roots: ObjectId[], opts: { untrusted: string; onProgress?: (objects: number, bytes: number) => void }): Promise<CopyReport> {
  const source = opts.untrusted;
  const report: CopyReport = { objects: 0, bytes: 0 };
  const want = new Map<ObjectId, ObjectType | null>();
  const linking = new Map<ObjectId, { type: ObjectType; data: Buffer; links: ObjectId[] }>();
  const chunks: ObjectId[] = [];
  const seen = new Set<ObjectId>();

  const check = (id: ObjectId, obj: { type: ObjectType; data: Buffer }, type: ObjectType | null, hashed: boolean) => {
    if (obj.data.length > MAX_OBJECT_BYTES) throw new CairnError('BAD_INPUT', `${source} sent object ${id.slice(0, 12)} of ${obj.data.length} bytes; an object holds at most ${MAX_OBJECT_BYTES / 2 ** 20} MiB`);
    if (!hashed && sha256(obj.data).toString('hex') !== id) throw new CairnError('BAD_INPUT', `${source} sent object ${id.slice(0, 12)} whose bytes do not match its ID`, { fields: { id } });
    if (type !== null && obj.type !== type) throw new CairnError('BAD_INPUT', `object ${id.slice(0, 12)} is a ${obj.type} where a ${type} is linked`, { fields: { id } });
  };
  const read = async (id: ObjectId) => {
    try {
      return await from.readObject(id);
    } catch (err) {
      if (isCairnError(err, 'NOT_FOUND')) throw new CairnError('BAD_INPUT', `${source} is missing object ${id.slice(0, 12)}`, { fields: { id } });
      throw err;
    }
  };
  const write = async (id: ObjectId, type: ObjectType, data: Buffer) => {
    let wrote;
    try {
      wrote = await to.put(id, type, data);
    } catch (err) {
      if (isCairnError(err, 'BAD_INPUT')) throw new CairnError('BAD_INPUT', `${source} sent a bad object: ${err.message}`, { fields: { id } });
      throw err;
    }
    if (wrote) {
      report.objects++;
      report.bytes += data.length;
      opts.onProgress?.(report.objects, report.bytes);
    }
  };

  let level: Array<{ id: ObjectId; type: ObjectType | null }> = [];
  for (const id of roots) {
    if (seen.has(id)) continue;
    seen.add(id);
    level.push({ id, type: null });
  }
  while (level.length > 0) {
    const walk: Array<{ id: ObjectId; type: ObjectType | null }> = [];
    for (const l of level) {
      if (await to.has(l.id)) continue;
      want.set(l.id, l.type);
      if (l.type === 'chunk') chunks.push(l.id);
      else walk.push(l);
    }
    const next: typeof level = [];
    for (let i = 0; i < walk.length; i += WALK_AHEAD) {
      const part = walk.slice(i, i + WALK_AHEAD);
      const objs = await Promise.all(part.map((l) => read(l.id)));
      part.forEach(({ id, type }, j) => {
        const obj = objs[j];
        check(id, obj, type, false);
        let out;
        try {
          out = objectLinks(obj.type, obj.data, `${obj.type} ${id.slice(0, 12)}`);
        } catch (err) {
          if (isCairnError(err)) throw new CairnError('BAD_INPUT', `${source} sent a malformed object: ${err.message}`, { fields: { id } });
          throw err;
        }
        linking.set(id, { type: obj.type, data: obj.data, links: out.map((l) => l.id) });
        for (const l of out) {
          if (seen.has(l.id)) continue;
          seen.add(l.id);
          next.push({ id: l.id, type: l.type });
        }
      });
    }
    level = next;
  }

  // Chunks first (they link to nothing), in one bulk read.
  let i = 0;
  try {
    for await (const obj of from.getMany(chunks)) {
      if (obj.id !== chunks[i++]) throw new CairnError('FAILED', `objects read out of order (${obj.id.slice(0, 12)})`);
      check(obj.id, obj, 'chunk', true);
      await write(obj.id, obj.type, obj.data);
    }
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND')) throw new CairnError('BAD_INPUT', `${source} is missing object ${(err.fields?.id as string | undefined)?.slice(0, 12) ?? ''}`, { fields: err.fields });
    throw err;
  }

  // Then the linking objects, each after all it links to.
  for (const id of childrenFirst(roots, (x) => linking.has(x), (x) => linking.get(x)!.links)) {
    const obj = linking.get(id)!;
    await write(id, obj.type, obj.data);
  }
  return report;
}

/** Linking objects the walk reads at once. */
const WALK_AHEAD = 16;
