import { decodeLocation } from './index-db.js';
import { listPackFiles } from './packfiles.js';
import type { Repository } from './repository/repository.js';
import type { StoreStats } from './types.js';

export async function computeStats(repo: Repository): Promise<StoreStats> {
  const s: StoreStats = { logicalBytes: 0, storedBytes: 0, packBytes: 0, packs: 0, chunks: 0, files: 0, trees: 0, records: 0, dedupRatio: 1 };
  for await (const value of repo.index.obj.values()) {
    const loc = decodeLocation(value);
    s.storedBytes += loc.length;
    if (loc.type === 'chunk') s.chunks++;
    else if (loc.type === 'file') {
      s.files++;
      s.logicalBytes += loc.size;
    } else if (loc.type === 'tree') s.trees++;
    else s.records++;
  }
  for (const p of await listPackFiles(repo.packsDir)) {
    s.packs++;
    s.packBytes += p.size;
  }
  s.dedupRatio = s.storedBytes > 0 ? s.logicalBytes / s.storedBytes : 1;
  return s;
}
