import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CairnError } from './errors.js';
import { decodeLocation, encodeLocation, locationOf, type Location } from './index-db.js';
import { PackWriter, TARGET_PACK_SIZE } from './pack/writer.js';
import { encodeTrailer, HEADER_SIZE } from './pack/format.js';
import { listPackFiles } from './packfiles.js';
import { markFrom, markReachable } from './reachable.js';
import { listLeases } from './leases.js';
import { syncDir } from './fsutil.js';
import type { Store } from './store.js';
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
 * up mid-way must lease what it wrote first. Readers that read after the
 * lock is gone (Store.detach) hold the packs open, and an unlinked pack
 * stays readable through its handle.
 */
export async function collectGarbage(store: Store, opts: { dryRun?: boolean }): Promise<GcReport> {
  // A damaged ref may name objects that would otherwise look dead: sweeping now could delete what it points to.
  const damaged = await store.refs.damaged();
  if (damaged.length > 0) {
    throw new CairnError('CORRUPT', `gc refused: ref file ${damaged[0].path} is damaged (${damaged[0].reason})${damaged.length > 1 ? ` and ${damaged.length - 1} more` : ''}; run cairn fsck --repair first`);
  }
  const missing: string[] = [];
  const live = await markReachable(store, (id, from) => missing.push(`${from} -> ${id.slice(0, 12)}`));
  const leased = (await listLeases(store.dir)).flatMap((l) => l.roots.map((id) => ({ id, from: `lease ${l.id} (process ${l.pid})` })));
  // A leased root that is missing is its holder's problem, not a reason to refuse gc.
  for (const id of await markFrom(store, leased.filter((r) => !live.has(r.id)), () => {})) live.add(id);
  if (missing.length > 0) {
    throw new CairnError('CORRUPT', `gc refused: ${missing.length} reachable objects are missing (${missing[0]})`, { hint: 'run cairn fsck' });
  }
  const byPack = new Map<string, { live: Array<[string, Location]>; dead: Array<[string, Location]>; deadBytes: number; bytes: number }>();
  for await (const [id, value] of store.index.obj.iterator()) {
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
  const files = await listPackFiles(store.packsDir);
  const report: GcReport = { dryRun: !!opts.dryRun, liveObjects: live.size, deadObjects: 0, bytesFreed: 0, packsDeleted: 0, packsRewritten: 0, packsWritten: 0 };
  const toDelete: typeof files = [];
  const toRewrite: Array<Array<[string, Location]>> = [];
  const deadIds: string[] = [];
  const small = files.filter((f) => {
    const p = byPack.get(f.packId);
    return f.size < SMALL_PACK && p && p.live.length > 0 && p.deadBytes <= REWRITE_DEAD_SHARE * p.bytes;
  });
  const mergeSmall = new Set(small.length >= MERGE_SMALL_PACKS ? small.map((f) => f.packId) : []);
  for (const f of files) {
    const p = byPack.get(f.packId);
    if (mergeSmall.has(f.packId)) {
      toDelete.push(f);
      toRewrite.push(p!.live);
    } else if (!p || p.live.length === 0) {
      // No indexed live blob: all of it goes (this also clears packs orphaned by a killed gc).
      toDelete.push(f);
    } else if (p.deadBytes > REWRITE_DEAD_SHARE * p.bytes) {
      toDelete.push(f);
      toRewrite.push(p.live);
    } else continue;
    if (p) {
      report.deadObjects += p.dead.length;
      for (const [id] of p.dead) deadIds.push(id);
    }
  }
  const freedBefore = toDelete.reduce((n, f) => n + f.size, 0);
  // The new packs are planned once, for both modes, so a dry run reports
  // exactly what gc frees: the packs deleted less the packs written, whose
  // header and trailer count as well as the blobs moved.
  const plan = planPacks(toRewrite.flat());
  if (opts.dryRun) {
    report.bytesFreed = Math.max(0, freedBefore - plan.reduce((n, blobs) => n + packBytes(blobs), 0));
    report.packsDeleted = toDelete.length;
    report.packsRewritten = toRewrite.length;
    report.packsWritten = plan.length;
    return report;
  }

  let written = 0;
  const moved = new Map<string, Location>();
  let writer: PackWriter | undefined;
  try {
    for (const blobs of plan) {
      writer = new PackWriter(store.packsDir);
      for (const [id, loc] of blobs) {
        const data = await store.readBlob(id, loc);
        moved.set(id, locationOf(writer.packId, await writer.add(Buffer.from(id, 'hex'), loc.type, data, loc.size)));
      }
      written += (await writer.seal()).bytes;
      report.packsWritten++;
      writer = undefined;
    }
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  const batch = store.index.obj.batch();
  for (const [id, loc] of moved) batch.put(id, encodeLocation(loc));
  for (const id of deadIds) batch.del(id);
  await batch.write({ sync: true });
  const dirs = new Set<string>();
  for (const f of toDelete) {
    await unlink(f.path).catch(() => {});
    dirs.add(dirname(f.path));
  }
  for (const d of dirs) await syncDir(d);
  report.bytesFreed = Math.max(0, freedBefore - written);
  report.packsDeleted = toDelete.length;
  report.packsRewritten = toRewrite.length;
  return report;
}

/** The packs a rewrite writes: blobs in order, a new pack when the next blob would take one past TARGET_PACK_SIZE. */
function planPacks(blobs: Array<[string, Location]>): Array<Array<[string, Location]>> {
  const packs: Array<Array<[string, Location]>> = [];
  let current: Array<[string, Location]> = [];
  let size = HEADER_SIZE;
  for (const blob of blobs) {
    if (current.length > 0 && size + blob[1].length > TARGET_PACK_SIZE) {
      packs.push(current);
      current = [];
      size = HEADER_SIZE;
    }
    current.push(blob);
    size += blob[1].length;
  }
  if (current.length > 0) packs.push(current);
  return packs;
}

/** The size of the sealed pack holding `blobs`, as PackWriter lays it out: header, blobs, trailer. */
function packBytes(blobs: Array<[string, Location]>): number {
  let offset = HEADER_SIZE;
  const entries = blobs.map(([id, loc]) => {
    const entry = { id: Buffer.from(id, 'hex'), type: loc.type, offset, length: loc.length, checksum: loc.checksum, size: loc.size };
    offset += loc.length;
    return entry;
  });
  return offset + encodeTrailer(entries).length;
}
