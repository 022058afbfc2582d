import { open } from 'node:fs/promises';
import { sha256 } from './codec.js';
import { xxh64 } from './checksum.js';
import { decodeLocation } from './index-db.js';
import { readExactly, readPackEntries } from './pack/reader.js';
import { listPackFiles } from './packfiles.js';
import { markFrom } from './reachable.js';
import type { Repository } from './repository/repository.js';
import type { VerifyReport } from './types.js';

/**
 * Checks every pack's structure and every blob's checksum (so one flipped
 * byte anywhere in a pack is found), that the index agrees with the packs,
 * and that everything the refs reach is present. `readData` adds a SHA-256
 * of every blob against its ID.
 */
export async function verifyStore(repo: Repository, opts: { readData?: boolean }): Promise<VerifyReport> {
  const report: VerifyReport = { ok: true, packsChecked: 0, objectsChecked: 0, bytesRead: 0, problems: [], notes: [] };
  const problem = (where: string, message: string) => report.problems.push({ where, message });
  // packId -> offset -> blob ID, for cross-checking the index.
  const inPacks = new Map<string, Map<number, string>>();

  for (const pack of await listPackFiles(repo.packsDir)) {
    report.packsChecked++;
    let entries;
    try {
      ({ entries } = await readPackEntries(pack.path));
    } catch (err) {
      problem(`pack ${pack.path}`, (err as Error).message.replace(`${pack.path}: `, ''));
      continue;
    }
    const byOffset = new Map<number, string>();
    inPacks.set(pack.packId, byOffset);
    const fh = await open(pack.path, 'r');
    try {
      for (const e of entries) {
        const id = e.id.toString('hex');
        byOffset.set(e.offset, id);
        const data = await readExactly(fh, e.length, e.offset, pack.path);
        report.bytesRead += data.length;
        report.objectsChecked++;
        if (!xxh64(data).equals(e.checksum)) problem(`pack ${pack.path}`, `${e.type} ${id.slice(0, 12)} at offset ${e.offset} is damaged (checksum mismatch)`);
        else if (opts.readData && !sha256(data).equals(e.id)) problem(`pack ${pack.path}`, `${e.type} ${id.slice(0, 12)} at offset ${e.offset} does not hash to its ID`);
      }
    } finally {
      await fh.close();
    }
  }

  const indexed = new Set<string>();
  for await (const [id, value] of repo.index.obj.iterator()) {
    const loc = decodeLocation(value);
    indexed.add(`${loc.packId}:${loc.offset}`);
    const atOffset = inPacks.get(loc.packId)?.get(loc.offset);
    if (atOffset !== id) problem(`index`, `object ${id.slice(0, 12)} points to pack ${loc.packId} offset ${loc.offset}, which does not hold it`);
  }
  let unindexed = 0;
  for (const [packId, byOffset] of inPacks) {
    const missing = [...byOffset.keys()].filter((offset) => !indexed.has(`${packId}:${offset}`)).length;
    // A pack none of whose objects is indexed is what a writer killed between
    // sealing it and writing the index leaves (write order: data, then index):
    // unreferenced data, harmless, which gc deletes. Some objects of a pack
    // missing from the index means the index lost entries.
    if (missing > 0 && missing === byOffset.size) report.notes.push(`pack ${packId}: none of its ${missing} objects is indexed (left by an interrupted write; cairn gc deletes it, fsck --repair indexes it)`);
    else unindexed += missing;
  }
  if (unindexed > 0) problem('index', `${unindexed} objects in packs are not in the index (run cairn fsck --repair)`);

  try {
    // A damaged ref file is a problem of its own (named by path); the other refs are still followed.
    const refs = await repo.refs.list('', { onDamaged: (d) => problem(`ref file ${d.path}`, `${d.reason} (cairn fsck --repair moves it into quarantine)`) });
    await markFrom(repo, refs.map((r) => ({ id: r.id, from: `ref ${r.name}` })), (id, from) => problem(from, `refers to missing object ${id.slice(0, 12)}`));
  } catch (err) {
    problem('refs', (err as Error).message);
  }
  report.ok = report.problems.length === 0;
  return report;
}
