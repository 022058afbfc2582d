import { CairnError, isCairnError, type ObjectId, type ObjectType } from '@cairn/store';
import { HEX64, INDEX_MAGIC, TOMBSTONE, type RemoteBackend } from './remote-backend.js';

/*
 * Collecting a remote that other machines push to and pull from, with no
 * lock (docs/FORMAT.md, "Remotes", "Collecting"). Two phases, as kopia and
 * restic do it: a pack no experiment reaches is first condemned (a marker
 * `condemned/<pack>`), which makes writers stop relying on it; only a later
 * run deletes it, once it has been condemned for the grace period and is
 * still unreachable. A pack found reachable again is un-condemned.
 *
 * The walk over records (which objects a record reaches) is not this
 * layer's: the caller passes it in (@cairn/transfer has it).
 */

/** Walks from `roots` (each with its type when known: chunks are not read), adding every ID reached to `seen`; IDs already in `seen` are not walked again. */
export type RemoteWalk = (roots: Array<{ id: ObjectId; type: ObjectType | null }>, seen: Set<ObjectId>) => Promise<void>;

export interface RemoteGcOptions {
  /** Milliseconds: packs younger than this are left alone, and a condemned pack is deleted only after being condemned this long. */
  graceMs: number;
  dryRun?: boolean;
  walk: RemoteWalk;
  /** The clock (tests move it). */
  now?: () => number;
}

export interface RemoteGcReport {
  dryRun: boolean;
  /** Packs deleted (or that would be), with their objects and bytes (packs and their indexes). */
  packsDeleted: number;
  objectsFreed: number;
  bytesFreed: number;
  /** Packs condemned by this run (deleted by a later one, unless reachable again). */
  packsCondemned: number;
  /** Condemned packs found reachable again. */
  packsRestored: number;
  /** Tombstones of deleted refs removed. */
  tombstonesRemoved: number;
  /** Packs kept. */
  packsLive: number;
}

interface PackInfo {
  hash: string;
  size: number;
  modified: number;
  indexes: Array<{ key: string; size: number }>;
  entries: Array<{ id: ObjectId; type: ObjectType }>;
}

const TYPE_NAMES: Record<number, ObjectType> = { 1: 'chunk', 2: 'file', 3: 'tree', 4: 'record' };

/** Runs one collection (two passes when the grace is 0, so a removed experiment is freed at once). */
export async function collectRemote(backend: RemoteBackend, opts: RemoteGcOptions): Promise<RemoteGcReport> {
  const report: RemoteGcReport = { dryRun: Boolean(opts.dryRun), packsDeleted: 0, objectsFreed: 0, bytesFreed: 0, packsCondemned: 0, packsRestored: 0, tombstonesRemoved: 0, packsLive: 0 };
  await pass(backend, opts, report, opts.graceMs === 0);
  // With no grace the second pass deletes what the first condemned, after a fresh look at the refs.
  if (opts.graceMs === 0 && !opts.dryRun && report.packsCondemned > 0) await pass(backend, opts, report, false);
  return report;
}

async function pass(backend: RemoteBackend, opts: RemoteGcOptions, report: RemoteGcReport, dryRunDeletesCondemnable: boolean): Promise<void> {
  const store = backend.store;
  const now = (opts.now ?? Date.now)();
  // No grace means everything is old, whatever the server's clock says about the markers just written.
  const old = (t: number) => opts.graceMs === 0 || now - t >= opts.graceMs;

  // Markers first, then indexes, then packs, as readers list them: every index seen has its pack listed.
  const condemned = new Map<string, { key: string; since: number }>();
  for await (const b of store.list('condemned/')) {
    const pack = b.key.slice('condemned/'.length);
    if (HEX64.test(pack)) condemned.set(pack, { key: b.key, since: b.modified.getTime() });
  }
  const indexes: Array<{ key: string; size: number }> = [];
  for await (const b of store.list('index/')) indexes.push({ key: b.key, size: b.size });
  const packs = new Map<string, PackInfo>();
  for await (const b of store.list('packs/')) {
    const hash = b.key.slice('packs/'.length);
    if (HEX64.test(hash)) packs.set(hash, { hash, size: b.size, modified: b.modified.getTime(), indexes: [], entries: [] });
  }
  const holders = new Map<ObjectId, string[]>();
  for (const ix of indexes) {
    const name = ix.key.slice('index/'.length);
    if (!HEX64.test(name)) throw backend.corrupt(`${ix.key} is not named by a hash`, ix.key);
    let bytes: Buffer;
    try {
      bytes = await backend.readIndexObject(name);
    } catch (err) {
      if (isCairnError(err, 'NOT_FOUND')) continue; // another gc collected it meanwhile
      throw err;
    }
    if (bytes.length < 44 || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) throw backend.corrupt(`${ix.key} is not a cairn remote index`, ix.key);
    const pack = packs.get(bytes.subarray(8, 40).toString('hex'));
    // An index whose pack is gone: a gc killed between the two deletes (indexes go first, so this is rare); it lists nothing readable.
    if (!pack) continue;
    pack.indexes.push(ix);
    const count = bytes.readUInt32BE(40);
    if (bytes.length !== 44 + count * 57) throw backend.corrupt(`${ix.key}: ${bytes.length} bytes for ${count} entries`, ix.key);
    for (let i = 0; i < count; i++) {
      const at = 44 + i * 57;
      const id = bytes.subarray(at, at + 32).toString('hex');
      const type = TYPE_NAMES[bytes[at + 32]];
      if (!type) throw backend.corrupt(`${ix.key}: entry ${i} has an unknown type`, ix.key);
      pack.entries.push({ id, type });
      const h = holders.get(id);
      if (h) h.push(pack.hash);
      else holders.set(id, [pack.hash]);
    }
  }

  // Live: packs that are young (a writer may be about to name their objects), and every pack holding what a live ref or a live pack's objects reach.
  // Whole packs count, so whatever a writer finds present (has() of a live pack) has everything it reaches kept too.
  const refs = await backend.refs.list('');
  const live = new Set<string>();
  const seen = new Set<ObjectId>();
  let roots: Array<{ id: ObjectId; type: ObjectType | null }> = refs.map((r) => ({ id: r.id, type: null }));
  for (const p of packs.values()) if (!old(p.modified)) live.add(p.hash);
  for (const h of live) roots.push(...packs.get(h)!.entries);
  while (roots.length > 0) {
    await opts.walk(roots, seen);
    roots = [];
    for (const id of seen) {
      const h = holders.get(id);
      if (!h) continue;
      // An object also held by a pack nobody condemned keeps that one: condemned copies may go.
      const keep = h.filter((x) => !condemned.has(x));
      for (const x of keep.length ? keep : h) {
        if (live.has(x)) continue;
        live.add(x);
        roots.push(...packs.get(x)!.entries.filter((e) => !seen.has(e.id)));
      }
    }
  }

  report.packsLive = live.size;
  for (const [pack, m] of condemned) {
    if (live.has(pack) || !packs.has(pack)) {
      // Reachable again, or its pack already gone (a gc killed before removing the marker).
      if (live.has(pack)) report.packsRestored++;
      if (!opts.dryRun) await deleteIfThere(store, m.key);
    }
  }
  for (const p of packs.values()) {
    if (live.has(p.hash)) continue;
    const mark = condemned.get(p.hash);
    const due = mark ? old(mark.since) : dryRunDeletesCondemnable && opts.dryRun && old(p.modified);
    if (due) {
      report.packsDeleted++;
      report.objectsFreed += p.entries.length;
      report.bytesFreed += p.size + p.indexes.reduce((n, ix) => n + ix.size, 0);
      if (opts.dryRun) continue;
      // Index first: a reader that lists it finds its pack, or (see loadIndex) finds it gone too.
      for (const ix of p.indexes) await deleteIfThere(store, ix.key);
      await deleteIfThere(store, `packs/${p.hash}`);
      await deleteIfThere(store, `condemned/${p.hash}`);
    } else if (!mark && old(p.modified)) {
      report.packsCondemned++;
      if (!opts.dryRun) await store.put(`condemned/${p.hash}`, Buffer.from(`${new Date(now).toISOString()}\n`, 'latin1'));
    }
  }

  for await (const b of store.list('refs/')) {
    if (!old(b.modified.getTime())) continue;
    let got;
    try {
      got = await store.get(b.key);
    } catch (err) {
      if (isCairnError(err, 'NOT_FOUND')) continue;
      throw err;
    }
    if (!TOMBSTONE.test(got.data.toString('latin1'))) continue;
    report.tombstonesRemoved++;
    if (opts.dryRun) continue;
    // S3 deletes take no condition: look again just before, so a ref created over the tombstone meanwhile is (all but always) left alone.
    const head = await store.head(b.key);
    if (head && head.etag === got.etag) await deleteIfThere(store, b.key);
  }
}

async function deleteIfThere(store: RemoteBackend['store'], key: string): Promise<void> {
  try {
    await store.delete(key);
  } catch (err) {
    if (!isCairnError(err, 'NOT_FOUND')) throw err;
  }
}

/** Parses a duration like `24h`, `30m`, `0s`, `2d` into milliseconds (BAD_INPUT otherwise). */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new CairnError('BAD_INPUT', `not a duration: '${text.slice(0, 40)}'`, { hint: 'write a number and a unit: 0s, 30m, 24h, 7d' });
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
