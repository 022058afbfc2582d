import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CairnError } from './errors.js';
import { decodeLocation, encodeLocation, locationOf, type Location } from './index-db.js';
import { PackWriter, TARGET_PACK_SIZE } from './pack/writer.js';
import { encodeTrailer } from './pack/format.js';
import { listPackFiles, type PackFile } from './packfiles.js';
import { markFrom, markReachable } from './reachable.js';
import { listLeases } from './leases.js';
import { syncDir } from './fsutil.js';
import type { Repository } from './repository/repository.js';
import type { GcReport } from './types.js';

/** A pack whose dead bytes pass this share is rewritten; below it, kept as is. */
const REWRITE_DEAD_SHARE = 0.2;
/**
 * Every checkpoint seals a small pack of its own (records plus changed
 * chunks). Once this many packs under SMALL_PACK exist, gc merges them, so
 * the pack count follows the data size rather than the checkpoint count.
 */
const SMALL_PACK = 8 * 1024 * 1024;
const MERGE_SMALL_PACKS = 16;

/** How gc lets a priority opener in (see yield.ts): given by a store opened with yieldToPriority. */
export interface GcYield {
  /** Cheap: whether someone waits for the lock. */
  wanted(): Promise<boolean>;
  /** Gives the lock up until the waiter has had it, then takes it again. */
  stepAside(): Promise<void>;
}

/** A pack this round deletes (rewriting its live blobs elsewhere first, if it has any). */
interface Doomed {
  file: PackFile;
  live: Array<[string, Location]>;
  dead: string[];
}

/** What the first round chose to do with each pack; later rounds only finish that. */
type Decision = 'delete' | 'rewrite' | 'merge';

/**
 * Mark from refs and from the roots of every live lease, then sweep: packs
 * with no live blob are deleted, packs that are mostly dead are rewritten.
 * Order keeps every reachable object readable at every moment: new packs
 * sealed, then the index batch, then the old packs unlinked.
 *
 * What other processes have written but not yet named by a ref is safe
 * without a time-based rule: gc runs under the store lock, so no session is
 * in flight, and a session names what it wrote before it ends (a checkpoint
 * puts its objects, then advances its ref, in one session). The one writer
 * that keeps unnamed objects across sessions, `exp run` (its dep snapshot
 * waits for the first checkpoint), leases them, and leases are taken under
 * the lock, so this mark sees every one. A writer that ever gives the lock
 * up mid-way must lease what it wrote first (a yielding session does, see
 * yield.ts). Readers that read after the lock is gone (Store.detach) hold
 * the packs open, and an unlinked pack stays readable through its handle.
 *
 * With `yielding`, gc works in rounds: when a priority opener waits, the
 * round commits what it has done (packs sealed, index batch, old packs
 * unlinked, as at the end), gc steps aside, and the next round marks again
 * before it deletes anything, since refs, leases and the index changed
 * meanwhile (a run may have deduplicated against an object the last mark
 * found dead). Later rounds only finish the first round's plan, so gc ends.
 */
export async function collectGarbage(repo: Repository, opts: { dryRun?: boolean }, yielding?: GcYield): Promise<GcReport> {
  const report: GcReport = { dryRun: !!opts.dryRun, liveObjects: 0, deadObjects: 0, bytesFreed: 0, packsDeleted: 0, packsRewritten: 0, packsWritten: 0 };
  let decided: Map<string, Decision> | undefined;
  const bytes = { freed: 0, written: 0 };
  for (;;) {
    const { live, byPack, files } = await mark(repo);
    report.liveObjects = live.size;
    decided ??= decide(files, byPack);
    const doomed: Doomed[] = [];
    for (const f of files) {
      const d = decided.get(f.packId);
      if (d === undefined) continue;
      const p = byPack.get(f.packId);
      // A later round: what the first found mostly dead may have been revived (deduplicated against) since.
      if (p && p.live.length > 0 && d !== 'merge' && p.deadBytes <= REWRITE_DEAD_SHARE * p.bytes) continue;
      doomed.push({ file: f, live: p?.live ?? [], dead: p?.dead.map(([id]) => id) ?? [] });
    }
    if (opts.dryRun) {
      // The packs sweep() would write, counted whole (header, blobs, trailer),
      // so a dry run reports exactly what gc frees.
      const start = repo.session.layout.dataStart;
      const planned = plannedPacks(sweepOrder(doomed).flatMap((d) => d.live), start);
      const written = planned.reduce((n, blobs) => n + packBytes(blobs, start), 0);
      report.bytesFreed = Math.max(0, doomed.reduce((n, d) => n + d.file.size, 0) - written);
      report.packsWritten = planned.length;
      report.packsDeleted = doomed.length;
      report.packsRewritten = doomed.filter((d) => d.live.length > 0).length;
      report.deadObjects = doomed.reduce((n, d) => n + d.dead.length, 0);
      return report;
    }
    const finished = await sweep(repo, doomed, report, bytes, yielding);
    for (const d of finished) decided.delete(d.file.packId);
    if (finished.length === doomed.length) break;
    await yielding!.stepAside();
  }
  report.bytesFreed = Math.max(0, bytes.freed - bytes.written);
  return report;
}

async function mark(repo: Repository) {
  // A damaged ref may name objects that would otherwise look dead: sweeping now could delete what it points to.
  const damaged = await repo.refs.damaged();
  if (damaged.length > 0) {
    throw new CairnError('CORRUPT', `gc refused: ref file ${damaged[0].path} is damaged (${damaged[0].reason})${damaged.length > 1 ? ` and ${damaged.length - 1} more` : ''}; run cairn fsck --repair first`, { fields: { ref: damaged[0].name, path: damaged[0].path } });
  }
  const missing: string[] = [];
  const live = await markReachable(repo, (id, from) => missing.push(`${from} -> ${id.slice(0, 12)}`));
  const leased = (await listLeases(repo.dir)).flatMap((l) => l.roots.map((id) => ({ id, from: `lease ${l.id} (process ${l.pid})` })));
  // A leased root that is missing is its holder's problem, not a reason to refuse gc.
  for (const id of await markFrom(repo, leased.filter((r) => !live.has(r.id)), () => {})) live.add(id);
  if (missing.length > 0) {
    throw new CairnError('CORRUPT', `gc refused: ${missing.length} reachable objects are missing (${missing[0]})`, { hint: 'run cairn fsck' });
  }
  const byPack = new Map<string, PackTally>();
  for await (const [id, value] of repo.index.obj.iterator()) {
    const loc = decodeLocation(value);
    let p = byPack.get(loc.packId);
    if (!p) byPack.set(loc.packId, (p = { live: [], dead: [], deadBytes: 0, bytes: 0 }));
    p.bytes += loc.length;
    if (live.has(id)) p.live.push([id, loc]);
    else {
      p.dead.push([id, loc]);
      p.deadBytes += loc.length;
    }
  }
  return { live, byPack, files: await listPackFiles(repo.packsDir) };
}

interface PackTally {
  live: Array<[string, Location]>;
  dead: Array<[string, Location]>;
  deadBytes: number;
  bytes: number;
}

function decide(files: PackFile[], byPack: Map<string, PackTally>): Map<string, Decision> {
  const out = new Map<string, Decision>();
  const small = files.filter((f) => {
    const p = byPack.get(f.packId);
    return f.size < SMALL_PACK && p && p.live.length > 0 && p.deadBytes <= REWRITE_DEAD_SHARE * p.bytes;
  });
  const mergeSmall = new Set(small.length >= MERGE_SMALL_PACKS ? small.map((f) => f.packId) : []);
  for (const f of files) {
    const p = byPack.get(f.packId);
    if (mergeSmall.has(f.packId)) out.set(f.packId, 'merge');
    // No indexed live blob: all of it goes (this also clears packs orphaned by a killed gc).
    else if (!p || p.live.length === 0) out.set(f.packId, 'delete');
    else if (p.deadBytes > REWRITE_DEAD_SHARE * p.bytes) out.set(f.packId, 'rewrite');
  }
  return out;
}

/**
 * Deletes the `doomed` packs, moving their live blobs to new packs first;
 * returns those it finished. Stops early when a priority opener waits (after
 * moving at least one blob, so every round gets somewhere), committing what
 * it did: blobs moved out of an unfinished pack are indexed at their new
 * place, and the pack stays for the next round.
 */
async function sweep(repo: Repository, doomed: Doomed[], report: GcReport, bytes: { freed: number; written: number }, yielding?: GcYield): Promise<Doomed[]> {
  // Packs with nothing to move first: they cost no copying.
  const order = sweepOrder(doomed);
  const finished: Doomed[] = [];
  const moved = new Map<string, Location>();
  let writer: PackWriter | undefined;
  let stop = false;
  try {
    outer: for (const d of order) {
      for (const [id, loc] of d.live) {
        if (yielding && moved.size > 0 && (await yielding.wanted())) {
          stop = true;
          break outer;
        }
        const data = await repo.readBlob(id, loc);
        if (writer && writer.size + data.length > TARGET_PACK_SIZE) {
          bytes.written += (await writer.seal()).bytes;
          report.packsWritten++;
          writer = undefined;
        }
        writer ??= new PackWriter(repo.packsDir, repo.session.layout);
        moved.set(id, locationOf(writer.packId, await writer.add(Buffer.from(id, 'hex'), loc.type, data, loc.size)));
      }
      finished.push(d);
    }
    if (writer) {
      bytes.written += (await writer.seal()).bytes;
      report.packsWritten++;
    }
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  if (stop && moved.size === 0 && finished.length === 0) return finished;
  const batch = repo.index.obj.batch();
  for (const [id, loc] of moved) batch.put(id, encodeLocation(loc));
  for (const d of finished) for (const id of d.dead) batch.del(id);
  await batch.write({ sync: true });
  const dirs = new Set<string>();
  for (const d of finished) {
    await unlink(d.file.path).catch(() => {});
    dirs.add(dirname(d.file.path));
    bytes.freed += d.file.size;
    report.packsDeleted++;
    if (d.live.length > 0) report.packsRewritten++;
    report.deadObjects += d.dead.length;
  }
  for (const dir of dirs) await syncDir(dir);
  return finished;
}

/** Packs with nothing to move first: they cost no copying. */
function sweepOrder(doomed: Doomed[]): Doomed[] {
  return [...doomed].sort((a, b) => Number(a.live.length > 0) - Number(b.live.length > 0));
}

/** The packs sweep() writes for `blobs`: a new one when the next blob would take the current past TARGET_PACK_SIZE. */
function plannedPacks(blobs: Array<[string, Location]>, start: number): Array<Array<[string, Location]>> {
  const packs: Array<Array<[string, Location]>> = [];
  let current: Array<[string, Location]> = [];
  let size = start;
  for (const blob of blobs) {
    if (current.length > 0 && size + blob[1].length > TARGET_PACK_SIZE) {
      packs.push(current);
      current = [];
      size = start;
    }
    current.push(blob);
    size += blob[1].length;
  }
  if (current.length > 0) packs.push(current);
  return packs;
}

/** A sealed pack's size on disk: header, blobs, trailer and footer. */
function packBytes(blobs: Array<[string, Location]>, start: number): number {
  let offset = start;
  const entries = blobs.map(([id, loc]) => {
    const entry = { id: Buffer.from(id, 'hex'), type: loc.type, offset, length: loc.length, checksum: loc.checksum, size: loc.size };
    offset += loc.length;
    return entry;
  });
  return offset + encodeTrailer(entries).length;
}
