import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256 } from './codec.js';
import { xxh64 } from './checksum.js';
import { CairnError, ioFailure } from './errors.js';
import { IndexDb, decodeLocation, encodeLocation, indexError, isLevelError, locationOf, type Location } from './index-db.js';
import { HEADER_SIZE, TYPE_NAMES, type PackEntry } from './pack/format.js';
import { readPackEntries } from './pack/reader.js';
import { PackWriter, TARGET_PACK_SIZE } from './pack/writer.js';
import { listPackFiles } from './packfiles.js';
import { mkdirDurable, syncDir } from './fsutil.js';
import type { Repository } from './repository/repository.js';
import type { DamagedPackReport, RepairReport } from './types.js';

export const QUARANTINE_DIR = 'quarantine';
/** Where a rebuild writes the new index; it replaces `index/` only once complete. */
const INDEX_NEW = 'index.new';
/** Where the previous index waits while the new one is renamed into place. */
const INDEX_OLD = 'index.old';

export interface RepairOptions {
  /** Move damaged ref files into quarantine too (fsck --repair); the rebuild that Store.open runs on a missing index does not. */
  refs?: boolean;
  /** The damaged index Store.open already moved into quarantine (see quarantineIndex). */
  indexQuarantined?: string;
}

/**
 * A folder under `<store>/quarantine/` for what one repair moves aside. Named
 * by time so that repairs never overwrite each other's evidence; user bytes
 * are moved here, never deleted.
 */
class Quarantine {
  private made: string | undefined;
  constructor(private readonly storeDir: string, existing?: string) {
    this.made = existing;
  }

  get dir(): string | undefined {
    return this.made;
  }

  async folder(): Promise<string> {
    if (!this.made) {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const dir = join(this.storeDir, QUARANTINE_DIR, `${stamp}-${randomBytes(2).toString('hex')}`);
      await mkdirDurable(dir);
      this.made = dir;
    }
    return this.made;
  }

  /** Moves `path` (inside the store) to the same relative place (or `as`) under the quarantine folder, durably. */
  async move(path: string, as = relative(this.storeDir, path)): Promise<string> {
    const to = join(await this.folder(), as);
    await mkdirDurable(dirname(to));
    await rename(path, to);
    await syncDir(dirname(to));
    await syncDir(dirname(path));
    return to;
  }
}

/**
 * Moves an index that LevelDB cannot open into quarantine, so that a fresh
 * one can be built in its place. Returns where it went.
 */
export async function quarantineIndex(storeDir: string): Promise<string> {
  const q = new Quarantine(storeDir);
  try {
    return await q.move(join(storeDir, 'index'));
  } catch (err) {
    throw ioFailure(err, `moving the damaged index ${join(storeDir, 'index')} into quarantine`);
  }
}

// ---- salvage --------------------------------------------------------------

interface Candidate {
  id: Buffer;
  type: PackEntry['type'];
  offset: number;
  length: number;
  checksum: Buffer;
  size: number;
}

/** `{v: 1, entries: [` as the pack writer's msgpack encodes it: where a trailer starts. */
const TRAILER_START = Buffer.from([0x82, 0xa1, 0x76, 0x01, 0xa7, ...Buffer.from('entries', 'latin1')]);

/**
 * The entries of a damaged trailer that can still be read, in order, up to
 * the first one that cannot (a cut-off or overwritten tail). Each entry is
 * only a candidate: its blob is checked against its XXH64 and ID before use.
 */
export function scanTrailer(pack: Buffer): Candidate[] {
  const start = pack.lastIndexOf(TRAILER_START);
  if (start < HEADER_SIZE) return [];
  let p = start + TRAILER_START.length;
  const out: Candidate[] = [];
  const need = (n: number) => {
    if (p + n > pack.length) throw new RangeError('truncated');
  };
  const uint = (): number => {
    need(1);
    const b = pack[p++];
    if (b <= 0x7f) return b;
    const widths: Record<number, number> = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xcb: 8 };
    const w = widths[b];
    if (!w) throw new RangeError('not an unsigned integer');
    need(w);
    const v = b === 0xcb ? pack.readDoubleBE(p) : w === 8 ? Number(pack.readBigUInt64BE(p)) : pack.readUIntBE(p, w);
    p += w;
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError('not an unsigned integer');
    return v;
  };
  const bin = (len: number): Buffer => {
    need(2 + len);
    if (pack[p] !== 0xc4 || pack[p + 1] !== len) throw new RangeError('not a byte string');
    const b = Buffer.from(pack.subarray(p + 2, p + 2 + len));
    p += 2 + len;
    return b;
  };
  try {
    need(1);
    const h = pack[p++];
    let count: number;
    if (h >= 0x90 && h <= 0x9f) count = h & 0x0f;
    else if (h === 0xdc) (need(2), (count = pack.readUInt16BE(p)), (p += 2));
    else if (h === 0xdd) (need(4), (count = pack.readUInt32BE(p)), (p += 4));
    else return [];
    for (let i = 0; i < count; i++) {
      need(1);
      if (pack[p++] !== 0x96) break;
      const id = bin(32);
      const type = TYPE_NAMES[uint()];
      const offset = uint();
      const length = uint();
      const checksum = bin(8);
      const size = uint();
      if (!type) break;
      out.push({ id, type, offset, length, checksum, size });
    }
  } catch {
    /* the trailer ends here: keep what was read */
  }
  return out;
}

/** Whether the blob `c` describes is intact in `pack`: its bytes match both its XXH64 and its ID. */
function verified(pack: Buffer, c: Candidate): Buffer | undefined {
  if (c.offset < HEADER_SIZE || c.length < 0 || c.offset + c.length > pack.length) return undefined;
  const data = pack.subarray(c.offset, c.offset + c.length);
  return xxh64(data).equals(c.checksum) && sha256(data).equals(c.id) ? data : undefined;
}

// ---- rebuild --------------------------------------------------------------

/**
 * Rebuilds the index from the packs, keeping every object that can still be
 * proven intact.
 *
 * A pack whose trailer reads is indexed from it. A pack that is damaged (cut
 * off, trailer or footer overwritten) is salvaged: each blob that the old
 * index or what remains of the trailer locates, and whose bytes still match
 * its XXH64 and its ID, is copied into a new sealed pack; the damaged pack is
 * then moved into `quarantine/<time>/packs/`, never deleted.
 *
 * The new index is written to `index.new/` while the old one stays in place
 * and in use, then renamed over it (folder fsynced), so a kill or a full disk
 * at any point leaves either the old index, the new one, or (between the two
 * renames) no `index/`, which the next open rebuilds. Caches of upper layers
 * are not carried over (derived data).
 */
export async function repairStore(repo: Repository, opts: RepairOptions = {}): Promise<RepairReport> {
  const storeDir = repo.dir;
  const indexPath = join(storeDir, 'index');
  const newPath = join(storeDir, INDEX_NEW);
  const oldPath = join(storeDir, INDEX_OLD);
  const quarantine = new Quarantine(storeDir, opts.indexQuarantined ? dirname(opts.indexQuarantined) : undefined);
  const report: RepairReport = {
    packsRead: 0,
    objectsIndexed: 0,
    objectsSalvaged: 0,
    objectsLost: 0,
    packsWritten: 0,
    packsDamaged: [],
    indexQuarantined: opts.indexQuarantined ?? null,
    refsQuarantined: [],
    quarantine: null,
  };
  // Leftovers of a repair that was killed: neither is in use (we hold the lock).
  await rm(newPath, { recursive: true, force: true });
  await rm(oldPath, { recursive: true, force: true });

  // What the current index says about each pack: the only map of a damaged pack's blobs besides its trailer.
  const oldByPack = new Map<string, Candidate[]>();
  let oldIndexDamaged = false;
  try {
    for await (const [id, value] of repo.index.obj.iterator()) {
      let loc: Location;
      try {
        loc = decodeLocation(value);
      } catch {
        oldIndexDamaged = true;
        continue;
      }
      let list = oldByPack.get(loc.packId);
      if (!list) oldByPack.set(loc.packId, (list = []));
      list.push({ id: Buffer.from(id, 'hex'), type: loc.type, offset: loc.offset, length: loc.length, checksum: loc.checksum, size: loc.size });
    }
  } catch (err) {
    if (!isLevelError(err)) throw err;
    // Entries read before the damage still help salvage; the rest of the index is rebuilt from the packs.
    oldIndexDamaged = true;
  }

  let fresh: IndexDb | undefined = await IndexDb.open(newPath, 0);
  const damaged: Array<{ packId: string; path: string; reason: string }> = [];
  let writer: PackWriter | undefined;
  try {
    for (const pack of await listPackFiles(repo.packsDir)) {
      let entries: PackEntry[];
      try {
        ({ entries } = await readPackEntries(pack.path));
      } catch (err) {
        if (!(err instanceof CairnError)) throw ioFailure(err, `reading pack ${pack.path}`);
        damaged.push({ packId: pack.packId, path: pack.path, reason: err.message.replace(`${pack.path}: `, '') });
        continue;
      }
      const batch = fresh.obj.batch();
      for (const e of entries) batch.put(e.id.toString('hex'), encodeLocation(locationOf(pack.packId, e)));
      await batch.write();
      report.packsRead++;
      report.objectsIndexed += entries.length;
    }

    // Salvage after every intact pack is indexed, so a blob that also lives
    // in an intact pack is not copied again.
    const seal = async () => {
      if (!writer) return;
      const w = writer;
      writer = undefined;
      const s = await w.seal();
      const batch = fresh!.obj.batch();
      for (const e of s.entries) batch.put(e.id.toString('hex'), encodeLocation(locationOf(s.packId, e)));
      await batch.write();
      report.packsWritten++;
    };
    for (const d of damaged) {
      const entry: DamagedPackReport = { packId: d.packId, path: d.path, reason: d.reason, salvaged: 0, lost: 0, quarantinedTo: null };
      report.packsDamaged.push(entry);
      let bytes: Buffer;
      try {
        bytes = await readFile(d.path);
      } catch (err) {
        throw ioFailure(err, `reading damaged pack ${d.path}`);
      }
      const seen = new Set<string>();
      for (const c of [...(oldByPack.get(d.packId) ?? []), ...scanTrailer(bytes)]) {
        const id = c.id.toString('hex');
        if (seen.has(id)) continue;
        seen.add(id);
        if ((await fresh.obj.get(id)) !== undefined) {
          entry.salvaged++; // already held by an intact pack (or salvaged from another damaged one)
          continue;
        }
        const data = verified(bytes, c);
        if (!data) {
          entry.lost++;
          continue;
        }
        if (writer && writer.size + data.length > TARGET_PACK_SIZE) await seal();
        writer ??= new PackWriter(repo.packsDir, repo.session.layout);
        await writer.add(c.id, c.type, data, c.size, c.checksum);
        entry.salvaged++;
        report.objectsSalvaged++;
      }
      // Indexed before the next damaged pack is looked at, so duplicates across damaged packs are copied once.
      await seal();
    }
    report.objectsIndexed += report.objectsSalvaged;
    report.objectsLost = report.packsDamaged.reduce((n, p) => n + p.lost, 0);
    await fresh.setVersion();
    await fresh.close();
    fresh = undefined;
  } catch (err) {
    await writer?.abort();
    await fresh?.close().catch(() => {});
    await rm(newPath, { recursive: true, force: true }).catch(() => {});
    throw isLevelError(err) ? indexError(err, newPath) : ioFailure(err, 'rebuilding the index');
  }

  await swapIndex(repo, indexPath, newPath, oldPath);
  if (oldIndexDamaged) {
    report.indexQuarantined = await quarantine.move(oldPath, 'index').catch((err) => {
      throw ioFailure(err, `moving the damaged index ${oldPath} into quarantine`);
    });
  } else await rm(oldPath, { recursive: true, force: true });

  // Only now, with every salvaged object indexed elsewhere, do damaged packs leave packs/.
  for (let i = 0; i < damaged.length; i++) {
    try {
      report.packsDamaged[i].quarantinedTo = await quarantine.move(damaged[i].path);
    } catch (err) {
      throw ioFailure(err, `moving damaged pack ${damaged[i].path} into quarantine`);
    }
  }
  if (opts.refs) {
    for (const d of await repo.refs.damaged()) {
      try {
        report.refsQuarantined.push({ name: d.name, path: d.path, reason: d.reason, movedTo: await quarantine.move(d.path) });
      } catch (err) {
        throw ioFailure(err, `moving damaged ref file ${d.path} into quarantine`);
      }
    }
  }
  report.quarantine = quarantine.dir ?? null;
  return report;
}

/**
 * Puts the complete new index in place of the old one. The old one stays
 * open (so its lock is held) until the new one is in place; then the store
 * reopens `index/`.
 */
async function swapIndex(repo: Repository, indexPath: string, newPath: string, oldPath: string): Promise<void> {
  const old = repo.index;
  const storeDir = dirname(indexPath);
  try {
    await rename(indexPath, oldPath).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return mkdir(oldPath); // no index/ (a previous swap was cut short): nothing to keep
    });
    try {
      await rename(newPath, indexPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Another process found no index/ in the gap and created one: it rebuilds that one itself.
      if (code === 'ENOTEMPTY' || code === 'EEXIST') await rm(newPath, { recursive: true, force: true });
      else {
        await rename(oldPath, indexPath).catch(() => {}); // the old index back in use
        throw err;
      }
    }
    await syncDir(storeDir);
  } catch (err) {
    throw ioFailure(err, `renaming the rebuilt index ${newPath} to ${indexPath}`);
  } finally {
    await old.close().catch(() => {});
  }
  repo.setIndex(await IndexDb.open(indexPath, repo.lockTimeoutMs));
}
