import { createWriteStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { CairnError, encodeCanonical, sha256, type ObjectId, type ObjectType, type Store } from '@cairn/store';
import { getExperiment, isCheckpointBody, readExperimentState, type ExperimentState } from '@cairn/lineage';
import {
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  objectEntryName,
  type Manifest,
  type ManifestExperiment,
  type ManifestObject,
} from './manifest.js';

export interface ExportOptions {
  /**
   * Export only each experiment's last checkpoint and what it needs. The
   * tip's record is re-written with its parent named but not linked (see
   * docs/FORMAT.md, "Tarball layout"), so the import is a one-checkpoint
   * chain whose record still names its original parent.
   */
  onlyTips?: boolean;
}

/** What an export will write: the manifest and, for `--only-tips`, the records made for it. */
export interface ExportPlan {
  manifest: Manifest;
  /** Records that exist only in the tarball (the shallow tips and their state records), by ID. */
  made: Map<ObjectId, Buffer>;
  /** Time stamp of every tar entry: the newest `updated` of the experiments (so equal exports are equal bytes). */
  mtime: Date;
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
}

export interface ExportSummary {
  experiments: Array<{ name: string; state: ObjectId; tip: ObjectId | null; checkpoints: number; shallow: boolean }>;
  objects: number;
  bytes: number;
  checkpoints: number;
}

/** Read ahead this many payload bytes while the tar stream writes, so reads overlap writes. */
const READ_AHEAD_BYTES = 16 * 1024 * 1024;
const READ_AHEAD_COUNT = 16;

/** The stored bytes of a record, exactly as the store encodes them (docs/FORMAT.md, "record"). */
export function encodeRecordBytes(body: unknown, links: ObjectId[]): Buffer {
  const unique = [...new Set(links)].sort();
  return encodeCanonical({ v: 1, body, links: unique.map((id) => Buffer.from(id, 'hex')) });
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
    const bytes = encodeRecordBytes(body, links);
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
  if (sha256(encodeRecordBytes(tip.body, tip.links)).toString('hex') !== state.tip) {
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
  for (const id of await store.reachable(roots)) {
    if (made.has(id)) continue;
    const st = await store.stat(id);
    // Stat gives a chunk's or record's stored length; a file's or tree's is its content size, so read those (they are small).
    add(id, st.type, st.type === 'chunk' || st.type === 'record' ? st.size : (await store.readObject(id)).data.length);
  }
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
 * Where an export reads objects from: an open Store (held throughout), or a
 * function that opens one. With a function, the store is closed and opened
 * again every SESSION_MS, so its lock is free in between and a running
 * `exp run` records its checkpoints while a long export goes on. Objects are
 * immutable, so a reopened store still holds every planned one (unless a
 * gc removed experiments meanwhile: then the export fails NOT_FOUND).
 */
export type ObjectSource = Store | (() => Promise<Store>);

const SESSION_MS = 2000;

/** The objects' bytes in manifest order, a few reads ahead of the consumer. */
async function* objectBytes(source: ObjectSource, plan: ExportPlan, sessionMs: number): AsyncGenerator<{ obj: ManifestObject; data: Buffer }> {
  const list = plan.manifest.objects;
  const own = typeof source === 'function';
  let store: Store | undefined = own ? undefined : source;
  let openedAt = 0;
  const queue: Array<{ obj: ManifestObject; data: Promise<Buffer> }> = [];
  let next = 0;
  let queued = 0;
  const fill = async () => {
    while (next < list.length && queue.length < READ_AHEAD_COUNT && (queue.length === 0 || queued < READ_AHEAD_BYTES)) {
      const obj = list[next];
      const made = plan.made.get(obj[0]);
      if (!made && !store) {
        // Reads of the last session are done: hand the lock over, then take it again.
        if (queue.length > 0) return;
        store = await (source as () => Promise<Store>)();
        openedAt = Date.now();
      }
      next++;
      const data = made ? Promise.resolve(made) : store!.readObject(obj[0]).then((o) => o.data);
      data.catch(() => {}); // surfaced when awaited below
      queue.push({ obj, data });
      queued += obj[2];
      if (own && store && Date.now() - openedAt >= sessionMs) {
        // No new reads in this session; close it once its queued reads are in.
        const closing = store;
        store = undefined;
        const pending = queue.map((q) => q.data);
        queue.push({ obj: [obj[0], obj[1], -1], data: Promise.allSettled(pending).then(() => closing.close()).then(() => Buffer.alloc(0)) });
        return;
      }
    }
  };
  try {
    await fill();
    while (queue.length > 0) {
      const head = queue.shift()!;
      const data = await head.data;
      if (head.obj[2] === -1) {
        await fill();
        continue;
      }
      queued -= head.obj[2];
      if (data.length !== head.obj[2]) throw new CairnError('CORRUPT', `object ${head.obj[0].slice(0, 12)} changed size while being exported`);
      await fill();
      yield { obj: head.obj, data };
    }
  } finally {
    if (own) {
      await Promise.allSettled(queue.map((q) => q.data));
      await store?.close();
    }
  }
}

function addEntry(pack: tar.Pack, name: string, data: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime, type: 'file', uname: 'cairn', gname: 'cairn' }, data, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Streams the tarball to `out`: the manifest, then one entry per object
 * with its stored bytes, read from `source` (see ObjectSource). One object (≤ 4 MiB for chunks) plus a small
 * read-ahead is in memory at a time, whatever the export's size; each entry
 * waits until the tar stream has taken the previous one.
 */
export async function writeExport(source: ObjectSource, plan: ExportPlan, out: Writable, opts: WriteOptions = {}): Promise<void> {
  const pack = tar.pack();
  const streams: unknown[] = [pack];
  if (opts.gzip) streams.push(createGzip({ level: 6 }));
  const done = pipeline([...streams, out] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], { end: opts.end ?? true });
  done.catch(() => {}); // awaited below
  const total = plan.manifest.objectBytes;
  try {
    await addEntry(pack, MANIFEST_NAME, Buffer.from(`${JSON.stringify(plan.manifest)}\n`), plan.mtime);
    let written = 0;
    opts.onProgress?.(0, total);
    for await (const { obj, data } of objectBytes(source, plan, opts.sessionMs ?? SESSION_MS)) {
      await addEntry(pack, objectEntryName(obj[0], obj[1]), data, plan.mtime);
      written += data.length;
      opts.onProgress?.(written, total);
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    // A failed output (a full disk, a closed pipe) is the real cause of a destroyed pack.
    const outErr = await done.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw isDestroyed(err) && outErr ? outErr : err;
  }
  await done;
}

function isDestroyed(err: unknown): boolean {
  return /destroyed|premature close/i.test(String((err as Error)?.message));
}

/**
 * Writes the tarball to `path` whole or not at all: into a temp file next to
 * it, fsynced, then renamed. A name ending in `.gz` or `.tgz` is gzipped.
 */
export async function exportToFile(source: ObjectSource, plan: ExportPlan, path: string, opts: Omit<WriteOptions, 'end'> = {}): Promise<void> {
  const dest = resolve(path);
  if ((await stat(dest).catch(() => undefined))?.isDirectory()) throw new CairnError('BAD_INPUT', `${path} is a folder; name the tarball to write`);
  const tmp = join(dirname(dest), `.${basename(dest)}.tmp-${randomBytes(6).toString('hex')}`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  try {
    await new Promise<void>((ok, fail) => {
      out.once('open', () => ok());
      out.once('error', fail);
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CairnError('NOT_FOUND', `no such folder: ${dirname(dest)}`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new CairnError('BAD_INPUT', `cannot write in ${dirname(dest)}: permission denied`);
    if (code === 'EISDIR' || code === 'ENOTDIR') throw new CairnError('BAD_INPUT', `cannot write ${path}: not a file path`);
    throw err;
  }
  try {
    const gzip = opts.gzip ?? /\.(gz|tgz)$/i.test(dest);
    await writeExport(source, plan, out, { ...opts, gzip, end: true });
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  } catch (err) {
    out.destroy();
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
