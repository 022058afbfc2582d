import type { Repository } from './repository/repository.js';
import { decodeFile, decodeRecord, decodeTree } from './objects.js';
import type { ObjectId } from './types.js';

/**
 * Marks every object reachable from the refs: records lead to their links,
 * trees to their entries, files to their chunks. Missing objects are
 * reported through `onMissing` with the path that led to them.
 */
export async function markReachable(repo: Repository, onMissing: (id: ObjectId, from: string) => void): Promise<Set<ObjectId>> {
  return markFrom(repo, (await repo.refs.list()).map((r) => ({ id: r.id, from: `ref ${r.name}` })), onMissing);
}

/** Marks every object reachable from `roots` (each with a description of where it came from). */
export async function markFrom(repo: Repository, roots: Array<{ id: ObjectId; from: string }>, onMissing: (id: ObjectId, from: string) => void): Promise<Set<ObjectId>> {
  const marked = new Set<ObjectId>();
  const stack = [...roots];
  while (stack.length > 0) {
    const { id, from } = stack.pop()!;
    if (marked.has(id)) continue;
    const loc = await repo.index.get(id);
    if (!loc) {
      onMissing(id, from);
      continue;
    }
    marked.add(id);
    const here = `${loc.type} ${id.slice(0, 12)}`;
    if (loc.type === 'record') for (const l of decodeRecord(await repo.readBlob(id, loc), here).links) stack.push({ id: l, from: here });
    else if (loc.type === 'tree') {
      for (const e of decodeTree(await repo.readBlob(id, loc), here)) if (e.kind !== 'link') stack.push({ id: e.id, from: here });
    } else if (loc.type === 'file') {
      // Chunks are only marked, never opened: they lead nowhere. One index call per thousand.
      const chunks = decodeFile(await repo.readBlob(id, loc), here).chunks.map((c) => c.id).filter((c) => !marked.has(c));
      for (let i = 0; i < chunks.length; i += 1024) {
        const part = chunks.slice(i, i + 1024);
        (await repo.index.getMany(part)).forEach((loc, j) => (loc ? marked.add(part[j]) : onMissing(part[j], here)));
      }
    }
  }
  return marked;
}
