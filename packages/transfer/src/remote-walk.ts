import { CairnError, isCairnError, objectLinks, type ObjectBackend, type ObjectId, type ObjectType } from '@cairn/store';

/**
 * Everything `roots` reach on a remote, added to `seen` (what is already
 * there is not walked again): what a remote gc keeps. Chunks lead nowhere
 * and are not read. An object a root reaches that the remote lacks stops
 * the walk with CORRUPT: collecting a damaged remote could delete what is
 * left of the experiment that reaches it.
 */
export async function walkRemote(remote: ObjectBackend, roots: Array<{ id: ObjectId; type: ObjectType | null }>, seen: Set<ObjectId>, opts: { concurrency?: number } = {}): Promise<void> {
  const queue = roots.filter((r) => !seen.has(r.id));
  for (const r of queue) seen.add(r.id);
  const worker = async () => {
    for (let next = queue.pop(); next; next = queue.pop()) {
      if (next.type === 'chunk') continue;
      let obj;
      try {
        obj = await remote.get(next.id);
      } catch (err) {
        if (isCairnError(err, 'NOT_FOUND')) throw new CairnError('CORRUPT', `the remote is missing object ${next.id.slice(0, 12)}, which an experiment reaches; nothing was collected`, { fields: { id: next.id } });
        throw err;
      }
      for (const l of objectLinks(obj.type, obj.data, `${obj.type} ${next.id.slice(0, 12)}`)) {
        if (seen.has(l.id)) continue;
        seen.add(l.id);
        queue.push({ id: l.id, type: l.type });
      }
    }
  };
  // Workers end when the queue is empty for a moment; run rounds until no object is left.
  while (queue.length > 0) await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
}
