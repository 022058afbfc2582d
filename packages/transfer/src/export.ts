import { unlinkSync, WriteStream } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { CairnError, sha256, type ObjectId, type ObjectType, type Store } from '@cairn/store';
import { encodeRecord, getExperiment, isCheckpointBody, readExperimentState, type ExperimentState } from '@cairn/lineage';
import { writeExportFile } from './tar-file.js';
import { fileEntry } from './tar-entry.js';
import type { ExportPlan, ObjectSource } from './plan.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  objectEntryName,
  type Manifest,
  type ManifestExperiment,
  type ManifestObject,
} from './manifest.js';

export type { ExportPlan, ObjectSource } from './plan.js';

export interface ExportOptions {
  /**
   * Export only each experiment's last checkpoint and what it needs. The
   * tip's record is re-written with its parent named but not linked (see
   * docs/FORMAT.md, "Tarball layout"), so the import is a one-checkpoint
   * chain whose record still names its original parent.
   */
  onlyTips?: boolean;
}

export interface WriteOptions {
  /** Called after each object with the payload bytes written so far and the total. */
  onProgress?: (done: number, total: number) => void;
  /** gzip the tarball. */
  gzip?: boolean;
  /** End `out` when done (default true; pass false for process.stdout). */
  end?: boolean;
  /** With a store-opening function as the source: how long each session holds the lock (default 2000 ms). */
  sessionMs?: number;
  /** exportToFile: on abort, the temp file is deleted at once (the caller may then exit). */
  signal?: AbortSignal;
}

export interface ExportSummary {
  experiments: Array<{ name: string; state: ObjectId; tip: ObjectId | null; checkpoints: number; shallow: boolean }>;
  objects: number;
  bytes: number;
  checkpoints: number;
}

function stateLinks(s: ExperimentState): ObjectId[] {
  return [s.tip, s.from, s.baseline].filter((x): x is ObjectId => x !== null);
}

interface ShallowCopy {
  state: ObjectId;
  tip: ObjectId | null;
  checkpoints: number;
  /** Roots whose closure the copy needs (besides the made records). */
  roots: ObjectId[];
  made: Map<ObjectId, Buffer>;
  cut: boolean;
}

/**
 * The one-checkpoint copy of an experiment. Its tip's body is kept, `parent`
 * included, plus `shallowOf: <original tip ID>`; its links drop the parent,
 * so the store, gc and fsck never look for the history that was left out.
 * The state record then names the new tip as tip and first, and no `from`.
 */
async function shallowCopy(store: Store, name: string, stateId: ObjectId): Promise<ShallowCopy> {
  const state = await readExperimentState(store, stateId, name);
  const made = new Map<ObjectId, Buffer>();
  const put = (body: unknown, links: ObjectId[]): ObjectId => {
    const bytes = encodeRecord(body, links);
    const id = sha256(bytes).toString('hex');
    made.set(id, bytes);
    return id;
  };
  if (state.tip === null) {
    if (state.from === null) return { state: stateId, tip: null, checkpoints: 0, roots: [stateId], made, cut: false };
    const next: ExperimentState = { ...state, from: null };
    return { state: put(next, stateLinks(next)), tip: null, checkpoints: 0, roots: [state.baseline], made, cut: true };
  }
  const tip = await store.getRecord<Record<string, unknown>>(state.tip);
  if (!isCheckpointBody(tip.body)) throw new CairnError('CORRUPT', `experiment '${name}': its tip ${state.tip.slice(0, 7)} is not a checkpoint`, { hint: 'run cairn fsck' });
  // The record must re-encode to its own ID, or a copy made from it would not be what the store holds.
  if (sha256(encodeRecord(tip.body, tip.links)).toString('hex') !== state.tip) {
    throw new CairnError('FAILED', `experiment '${name}': cannot re-encode its tip ${state.tip.slice(0, 7)} (unexpected record encoding)`);
  }
  const parent = tip.body.parent as ObjectId | null;
  if (parent === null && state.from === null) return { state: stateId, tip: state.tip, checkpoints: state.checkpoints, roots: [stateId], made, cut: false };
  const links = tip.links.filter((l) => l !== parent);
  const tipId = parent === null ? state.tip : put({ ...tip.body, shallowOf: state.tip }, links);
  const next: ExperimentState = { ...state, tip: tipId, first: tipId, from: null, checkpoints: 1 };
  return { state: put(next, stateLinks(next)), tip: tipId, checkpoints: 1, roots: [...links, state.baseline], made, cut: true };
}

/**
 * Decides what an export of `names` holds, reading only records, file
 * manifests and trees: the experiments' state records and, through their
 * links, every checkpoint of their chains (parents in other experiments
 * included), every out and dep, and every chunk, each once. An unknown name
 * is NOT_FOUND, and nothing is planned.
 */
export async function planExport(store: Store, names: string[], opts: ExportOptions = {}): Promise<ExportPlan> {
  const unique = [...new Set(names)];
  if (unique.length === 0) throw new CairnError('BAD_INPUT', 'name at least one experiment to export');
  const exps = [];
  for (const name of unique) exps.push(await getExperiment(store, name));

  const made = new Map<ObjectId, Buffer>();
  const experiments: ManifestExperiment[] = [];
  const roots: ObjectId[] = [];
  for (const e of exps) {
    if (!opts.onlyTips) {
      roots.push(e.stateId);
      experiments.push({ name: e.name, state: e.stateId, tip: e.tip, checkpoints: e.checkpoints, shallow: null });
      continue;
    }
    const copy = await shallowCopy(store, e.name, e.stateId);
    for (const [id, bytes] of copy.made) made.set(id, bytes);
    roots.push(...copy.roots);
    experiments.push({
      name: e.name,
      state: copy.state,
      tip: copy.tip,
      checkpoints: copy.checkpoints,
      shallow: copy.cut ? { state: e.stateId, tip: e.tip } : null,
    });
  }

  const objects: ManifestObject[] = [];
  let bytes = 0;
  const add = (id: ObjectId, type: ObjectType, size: number) => {
    objects.push([id, type, size]);
    bytes += size;
  };
  // Records made for the export first: the importer meets each experiment's root early.
  for (const [id, data] of made) add(id, 'record', data.length);
  const ids = [...(await store.reachable(roots))].filter((id) => !made.has(id));
  for (const st of await store.statMany(ids)) add(st.id, st.type, st.stored);
  const newest = exps.reduce((t, e) => (e.updated > t ? e.updated : t), exps[0].updated);
  return {
    manifest: {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      onlyTips: !!opts.onlyTips,
      experiments,
      objectCount: objects.length,
      objectBytes: bytes,
      objects,
    },
    made,
    mtime: new Date(newest),
  };
}

export function summarize(plan: ExportPlan): ExportSummary {
  const m = plan.manifest;
  return {
    experiments: m.experiments.map((e) => ({ name: e.name, state: e.state, tip: e.tip, checkpoints: e.checkpoints, shallow: e.shallow !== null })),
    objects: m.objectCount,
    bytes: m.objectBytes,
    checkpoints: m.experiments.reduce((n, e) => n + e.checkpoints, 0),
  };
}

/**
 * A copy of `store` that reads the export's stored objects without holding
 * the store lock (see Store.detach): plan the export, detach, close the
 * store, then write from the copy (and close it after). A slow or stopped
 * reader of the output then blocks only the export, never a running
 * `exp run`, and gc meanwhile cannot take the objects away (their packs are
 * held open).
 */
export async function detachForExport(store: Store, plan: ExportPlan): Promise<Store> {
  return store.detach(plan.manifest.objects.filter((o) => !plan.made.has(o[0])).map((o) => o[0]));
}


const SESSION_MS = 2000;

/** Objects read together, with what gives their memory back (see Store.readObjects). */
interface Batch {
  items: Array<{ obj: ManifestObject; data: Buffer }>;
  release(): void;
}

/**
 * The objects' bytes in manifest order, in batches. Records made for the
 * export come first, as the manifest lists them. With a store-opening
 * function, a session ends after `sessionMs`: `settle` is awaited first (the
 * consumer finishes with every batch, so none is read from a closed store's
 * files), then the store is closed and opened again.
 */
async function* objectBatches(source: ObjectSource, plan: ExportPlan, sessionMs: number, settle: () => Promise<void>): AsyncGenerator<Batch> {
  const made = plan.manifest.objects.filter((o) => plan.made.has(o[0]));
  if (made.length > 0) yield { items: made.map((obj) => ({ obj, data: plan.made.get(obj[0])! })), release: () => {} };
  const stored = plan.manifest.objects.filter((o) => !plan.made.has(o[0]));
  if (typeof source !== 'function') {
    yield* readAll(source, stored, Infinity);
    return;
  }
  for (let next = 0; next < stored.length; ) {
    const store = await source();
    try {
      for await (const batch of readAll(store, stored.slice(next), sessionMs)) {
        next += batch.items.length;
        yield batch;
      }
      await settle();
    } finally {
      await store.close();
    }
  }
}

/** Reads `objects` from an open store until done or `ms` have passed (then the caller reopens it, handing the lock over meanwhile). */
async function* readAll(store: Store, objects: ManifestObject[], ms: number): AsyncGenerator<Batch> {
  const t0 = Date.now();
  let i = 0;
  for await (const batch of store.readObjects(objects.map((o) => o[0]), { window: READ_AHEAD_BATCHES })) {
    let items;
    try {
      items = batch.objects.map((o) => {
        const obj = objects[i++];
        if (o.data.length !== obj[2]) throw new CairnError('CORRUPT', `object ${obj[0].slice(0, 12)} changed size while being exported`);
        return { obj, data: o.data };
      });
    } catch (err) {
      batch.release();
      throw err;
    }
    yield { items, release: batch.release };
    if (Date.now() - t0 >= ms) return;
  }
}

function addEntry(pack: tar.Pack, name: string, data: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => {
    fileEntry(pack, name, data, mtime, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Feeds the tar stream to `sink`, and tells `written` of each piece once
 * the sink has taken it (its write callback: written out, or consumed by
 * gzip), so the arena slots the pieces are views of can be reused.
 */
async function feedSink(pack: tar.Pack, sink: Writable, written: (piece: Buffer) => void): Promise<void> {
  let failed: Error | undefined;
  const onError = (err: Error) => (failed ??= err);
  sink.on('error', onError);
  try {
    for await (const piece of pack as AsyncIterable<Buffer>) {
      if (failed) throw failed;
      // No wait for 'drain': what is buffered is bounded by the batches in writing, and a full buffer goes out in one writev.
      sink.write(piece, (err) => {
        if (!err) written(piece);
      });
    }
    if (failed) throw failed;
  } finally {
    sink.off('error', onError);
  }
}

/**
 * Batches (about 4 MiB each) read ahead, and being written, at once. Few:
 * a batch written soon after it is read is still in the CPU's cache, and on
 * the machines measured (bench/transfer.mjs) 3 and 2 beat 8 and 4 by a
 * third.
 */
const READ_AHEAD_BATCHES = 3;
const WRITING_BATCHES = 2;

/**
 * Streams the tarball to `out`: the manifest, then one entry per object
 * with its stored bytes, read from `source` (see ObjectSource) a few MiB at
 * a time into reused memory. The tar stream gets views of that memory, and
 * a batch's memory goes back only once `out` (or gzip) has taken its last
 * bytes; a few batches are in writing at once. Memory stays bounded
 * whatever the export's size.
 */
export async function writeExport(source: ObjectSource, plan: ExportPlan, out: Writable, opts: WriteOptions = {}): Promise<void> {
  const pack = tar.pack();
  // Its errors reach feedSink; once that is over, a late destroy must not be an uncaught 'error'.
  pack.on('error', () => {});
  const gzip = opts.gzip ? createGzip({ level: 6 }) : undefined;
  const viewsSafe = gzip !== undefined || out instanceof WriteStream || out === process.stdout;
  const end = opts.end ?? true;
  // A batch is taken once the write of its last piece is; writes complete in order.
  const waiting = new Map<Buffer, { resolve: () => void; reject: (err: Error) => void }>();
  let sinkFailed: Error | undefined;
  const feeding = feedSink(pack, gzip ?? out, (piece) => {
    const w = waiting.get(piece);
    if (w) {
      waiting.delete(piece);
      w.resolve();
    }
  }).catch((err: Error) => {
    sinkFailed = err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
    pack.destroy(err);
    throw err;
  });
  feeding.catch(() => {}); // awaited below
  const gzipped = gzip ? pipeline(gzip, out, { end }) : undefined;
  gzipped?.catch(() => {});
  const taken = (piece: Buffer | undefined): Promise<void> => {
    if (!piece) return Promise.resolve();
    if (sinkFailed) return Promise.reject(sinkFailed);
    const p = new Promise<void>((resolve, reject) => waiting.set(piece, { resolve, reject }));
    p.catch(() => {}); // awaited by the writer
    return p;
  };
  const writing: Array<{ done: Promise<void>; release: () => void }> = [];
  const settle = async () => {
    while (writing.length > 0) {
      await writing[0].done;
      writing.shift()!.release();
    }
  };
  const total = plan.manifest.objectBytes;
  try {
    await addEntry(pack, MANIFEST_NAME, Buffer.from(`${JSON.stringify(plan.manifest)}\n`), plan.mtime);
    let written = 0;
    opts.onProgress?.(0, total);
    for await (const batch of objectBatches(source, plan, opts.sessionMs ?? SESSION_MS, settle)) {
      let last: Buffer | undefined;
      for (const item of batch.items) {
        const { obj } = item;
        // A Writable may keep what it is given (an array of chunks, say): only sinks known to be done with a piece at its write callback get views of reused memory.
        const data = viewsSafe ? item.data : Buffer.from(item.data);
        fileEntry(pack, objectEntryName(obj[0], obj[1]), data, plan.mtime);
        if (data.length > 0) last = data;
        written += data.length;
      }
      writing.push({ done: taken(last), release: batch.release });
      while (writing.length >= WRITING_BATCHES) {
        await writing[0].done;
        writing.shift()!.release();
      }
      opts.onProgress?.(written, total);
    }
    await settle();
    pack.finalize();
    await feeding;
    if (gzip) {
      gzip.end();
      await gzipped;
    } else if (end) {
      out.end();
      await finished(out);
    }
  } catch (err) {
    pack.destroy(err as Error);
    gzip?.destroy();
    await feeding.catch(() => {});
    for (const w of writing.splice(0)) w.release();
    // A failed output (a full disk, a closed pipe) is the real cause of a destroyed pack.
    throw isDestroyed(err) && sinkFailed ? sinkFailed : (sinkFailed ?? err);
  }
}

function isDestroyed(err: unknown): boolean {
  return /destroyed|premature close/i.test(String((err as Error)?.message));
}

/**
 * Writes the tarball to `path` whole or not at all: into a temp file next to
 * it, then renamed (a killed export leaves no partial tarball behind). A name ending in `.gz` or `.tgz` is gzipped.
 */
export async function exportToFile(source: ObjectSource, plan: ExportPlan, path: string, opts: Omit<WriteOptions, 'end'> = {}): Promise<void> {
  const dest = resolve(path);
  if ((await stat(dest).catch(() => undefined))?.isDirectory()) throw new CairnError('BAD_INPUT', `${path} is a folder; name the tarball to write`);
  const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${randomBytes(6).toString('hex')}`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CairnError('NOT_FOUND', `no such folder: ${dirname(dest)}`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new CairnError('BAD_INPUT', `cannot write in ${dirname(dest)}: permission denied`);
    if (code === 'EISDIR' || code === 'ENOTDIR') throw new CairnError('BAD_INPUT', `cannot write ${path}: not a file path`);
    throw err;
  }
  // An abort (Ctrl+C in the CLI, which then exits at once) must not leave the temp file behind: it goes here, synchronously.
  const onAbort = () => {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) throw new CairnError('FAILED', 'export aborted');
    const gzip = opts.gzip ?? /\.(gz|tgz)$/i.test(dest);
    if (gzip) {
      const out = fh.createWriteStream();
      await writeExport(source, plan, out, { ...opts, gzip, end: true });
    } else {
      await writeExportFile(source, plan, fh, { onProgress: opts.onProgress, sessionMs: opts.sessionMs ?? SESSION_MS });
      await fh.close();
    }
    // No fsync, as tar and cp do not: the store is untouched, and a tarball torn by a power cut is refused whole by any import.
    await rename(tmp, dest);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
