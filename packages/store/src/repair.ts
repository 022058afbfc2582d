import { encodeLocation, locationOf } from './index-db.js';
import { readPackEntries } from './pack/reader.js';
import { listPackFiles } from './packfiles.js';
import type { Store } from './store.js';
import type { RepairReport } from './types.js';

/**
 * Rebuilds the object index from the pack trailers alone. Caches of upper
 * layers are dropped (they are derived data). A damaged pack is skipped and
 * named; its intact twin blobs in other packs still get indexed.
 */
export async function rebuildIndex(store: Store): Promise<RepairReport> {
  const idx = store.index;
  await idx.obj.clear();
  // Caches live in `kv-<ns>` sublevels; they are derived data.
  for await (const key of idx.db.keys({ gte: '!kv-', lt: '!kv.' })) await idx.db.del(key);
  const report: RepairReport = { packsRead: 0, objectsIndexed: 0, packsSkipped: [] };
  for (const pack of await listPackFiles(store.packsDir)) {
    let entries;
    try {
      ({ entries } = await readPackEntries(pack.path));
    } catch (err) {
      report.packsSkipped.push(`${pack.packId}: ${(err as Error).message}`);
      continue;
    }
    const batch = idx.obj.batch();
    for (const e of entries) batch.put(e.id.toString('hex'), encodeLocation(locationOf(pack.packId, e)));
    await batch.write({ sync: true });
    report.packsRead++;
    report.objectsIndexed += entries.length;
  }
  await idx.setVersion();
  return report;
}
