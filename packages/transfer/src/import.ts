import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { CairnError, isCairnError, type ObjectId, type ObjectType, type Store } from '@cairn/store';
import { EXP_REF_PREFIX, isValidName } from '@cairn/lineage';
import { checkArrivedExperiment, moveRefsAllOrNothing, unusable } from './check.js';
import { isGzipFile, tarBytes, tarballFd, TarFileFeed } from './input.js';
import { MANIFEST_NAME, MAX_MANIFEST_BYTES, MAX_OBJECT_BYTES, OBJECT_ENTRY, parseManifest, type Manifest } from './manifest.js';

export interface ImportOptions {
  /** Replace an experiment of the same name instead of importing under `<name>-<k>`. */
  force?: boolean;
  /** Called as objects arrive, with the payload bytes read so far and the manifest's total. */
  onProgress?: (done: number, total: number) => void;
  /** Called once the manifest is read. */
  onManifest?: (manifest: Manifest) => void;
  /** Largest object accepted (default MAX_OBJECT_BYTES, 256 MiB). */
  maxObjectBytes?: number;
  /** Largest manifest accepted (default MAX_MANIFEST_BYTES, 64 MiB). */
  maxManifestBytes?: number;
}

export type ImportAction = 'created' | 'renamed' | 'replaced' | 'unchanged';

export interface ImportedExperiment {
  /** The name in the tarball. */
  name: string;
  /** The name in this store (differs when renamed, or when already here under another name). */
  as: string;
  action: ImportAction;
  state: ObjectId;
  tip: ObjectId | null;
  checkpoints: number;
  /** An `--only-tips` copy: its tip names a parent the tarball did not hold. */
  shallow: boolean;
}

export interface ImportResult {
  experiments: ImportedExperiment[];
  onlyTips: boolean;
  /** Objects in the tarball, and their stored bytes. */
  objects: number;
  bytes: number;
  /** Those the store did not hold yet. */
  newObjects: number;
  newBytes: number;
}

/** Room for headers the manifest cannot predict: pax records, folder entries, tar's record padding. */
const SLACK_BYTES = 16 * 1024 * 1024;
const PER_ENTRY_SLACK = 2048;
const pad512 = (n: number) => Math.ceil(n / 512) * 512;
const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

function bad(message: string, hint?: string): CairnError {
  return new CairnError('BAD_INPUT', message, hint ? { hint } : {});
}

/** tar-stream's and the input's own errors, as one clear line. */
function tarError(err: unknown): Error {
  if (err instanceof CairnError) return err;
  const msg = String((err as Error)?.message ?? err);
  if (/unexpected end of data/i.test(msg)) return bad('the tarball is truncated (it ends in the middle of an entry)');
  if (/maybe the tar is corrupted|gunzipped/i.test(msg)) return bad('the tarball is damaged or not a tar file (a header fails its checksum)');
  if (/unknown format/i.test(msg)) return bad('the tarball is not a tar file (unknown header format)');
  if (/header exceeds max size|invalid header/i.test(msg)) return bad(`the tarball has a malformed header (${msg})`);
  return err as Error;
}

function entryKind(type: string | null | undefined): string {
  switch (type) {
    case 'link':
      return 'a hard link';
    case 'symlink':
      return 'a symlink';
    case 'character-device':
    case 'block-device':
      return 'a device';
    case 'fifo':
      return 'a fifo';
    case 'contiguous-file':
      return 'a contiguous file';
    default:
      return `an entry of unknown type ${JSON.stringify(type ?? null)}`;
  }
}

function shown(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}...` : name);
}

/** Refuses entries that could point outside a folder or are not plain files, whatever their name. */
function checkEntrySafety(name: string, type: string | null | undefined, linkname: string | null | undefined): void {
  if (type !== 'file' && type !== 'directory') {
    const target = linkname ? ` -> ${shown(linkname)}` : '';
    throw bad(`the tarball holds ${entryKind(type)} ${shown(name)}${target}; an export holds only plain files`);
  }
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw bad(`the tarball holds an absolute path ${shown(name)}`);
  if (name.split(/[/\\]/).includes('..')) throw bad(`the tarball holds a path that leaves its folder: ${shown(name)}`);
  if (/[\\\0]/.test(name)) throw bad(`the tarball holds an unsafe path ${shown(name)}`);
}

async function readEntry(entry: AsyncIterable<Buffer>, size: number, name: string): Promise<Buffer> {
  let first: Buffer | undefined;
  let buf: Buffer | undefined;
  let at = 0;
  for await (const piece of entry) {
    if (at + piece.length > size) throw bad(`entry ${shown(name)} holds more bytes than its header says`);
    if (at === 0 && piece.length === size) first = piece;
    else {
      // Entries that arrive in one piece are used as they are (a view of the read buffer); others are joined.
      if (!buf) {
        buf = Buffer.allocUnsafe(size);
        if (first) first.copy(buf, 0);
        first = undefined;
      }
      piece.copy(buf, at);
    }
    at += piece.length;
  }
  if (at !== size) throw bad('the tarball is truncated (it ends in the middle of an entry)');
  return first ?? buf ?? Buffer.alloc(0);
}

/** Reads past an entry's bytes (they are read again by offset), checking it is whole. */
async function skipEntry(entry: AsyncIterable<Buffer>, size: number): Promise<void> {
  let at = 0;
  for await (const piece of entry) at += piece.length;
  if (at !== size) throw bad('the tarball is truncated (it ends in the middle of an entry)');
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of entry) {
    /* discard */
  }
}

/**
 * Imports an export tarball (plain or gzipped) into `store`, all or nothing:
 * 1. the manifest (first entry) is read and checked;
 * 2. every object entry is checked (name, type, size, listed once) and
 *    handed to store.putObject, which re-hashes it against its ID; objects
 *    stream through, one in memory at a time;
 * 3. every listed object must have arrived; then flush (packs, then index);
 * 4. each experiment's state record, chain, baseline and everything they
 *    reach must be in the store;
 * 5. only then the refs `exp/<name>` are written (a failure undoes those
 *    already written).
 * A failure before step 5 leaves every ref as it was; objects already
 * written are unreferenced and go at the next gc.
 */
/** Objects hashed and written concurrently during an import. */
const PUT_AHEAD = 8;
/** Objects at least this large are read from a plain tar file by offset rather than from the stream. */
const BY_OFFSET_MIN = 64 * 1024;

export async function importExperiments(store: Store, input: AsyncIterable<Uint8Array> | Readable, opts: ImportOptions = {}): Promise<ImportResult> {
  const fd = tarballFd(input);
  if (fd === undefined || (await isGzipFile(fd))) return importOnce(store, input, opts, { counts: { newObjects: 0, newBytes: 0 } });
  // A plain tar file: read through its descriptor, large objects by offset on
  // the store's read threads. First assuming the layout cairn writes (so the
  // parser is fed zeros for those objects' data, not the file's bytes); if the
  // file is laid out otherwise, or is bad in any way, again plainly: that
  // pass gives the verdict.
  const counts = { newObjects: 0, newBytes: 0 };
  let announced = false;
  const first = { ...opts, onManifest: (m: Manifest) => ((announced = true), opts.onManifest?.(m)) };
  const feed = new TarFileFeed(fd);
  try {
    return await importOnce(store, feed.pieces(), first, { fd, speculate: feed, counts });
  } catch (err) {
    if (!(err instanceof LayoutMismatch) && !isCairnError(err, 'BAD_INPUT') && isCairnError(err)) throw err;
  }
  return importOnce(store, new TarFileFeed(fd).pieces(), { ...opts, onManifest: announced ? undefined : opts.onManifest }, { fd, counts });
}

/** A tar entry is not where the layout cairn writes puts it. */
class LayoutMismatch extends Error {}

interface ImportPass {
  /** The tar file's descriptor, when its bytes can be read by offset. */
  fd?: number;
  /** Assume cairn's layout: tell this feed which data ranges to skip once the manifest is read. */
  speculate?: TarFileFeed;
  /** New objects and bytes, summed over passes. */
  counts: { newObjects: number; newBytes: number };
}

async function importOnce(store: Store, input: AsyncIterable<Uint8Array>, opts: ImportOptions, pass: ImportPass): Promise<ImportResult> {
  const maxObject = opts.maxObjectBytes ?? MAX_OBJECT_BYTES;
  const maxManifest = opts.maxManifestBytes ?? MAX_MANIFEST_BYTES;
  let limit = maxManifest + SLACK_BYTES;
  const extract = tar.extract();
  const fd = pass.fd;
  let gzipped = true;
  const feed = pipeline(Readable.from(tarBytes(input, () => limit, (gz) => (gzipped = gz)), { objectMode: false }), extract);
  feed.catch(() => {}); // its error reaches the entry loop too

  let manifest: Manifest | undefined;
  const expected = new Map<ObjectId, { type: ObjectType; size: number }>();
  /** With pass.speculate: where each object read by offset must start. */
  const laidOut = new Map<ObjectId, number>();
  const received = new Set<ObjectId>();
  let done = 0;
  const counts = pass.counts;
  const inflight: Promise<void>[] = [];
  try {
    for await (const source of extract) {
      const h = source.header;
      const entry = source as unknown as AsyncIterable<Buffer>;
      const name = h.name;
      checkEntrySafety(name, h.type, h.linkname);
      const size = h.size ?? 0;
      if (!manifest) {
        if (name !== MANIFEST_NAME || h.type !== 'file') {
          throw bad(`the tarball does not start with ${MANIFEST_NAME} (its first entry is ${shown(name)}); it is not a cairn export`);
        }
        if (size > maxManifest) throw bad(`the tarball's manifest claims ${size} bytes (${mib(size)}); a manifest holds at most ${mib(maxManifest)}`);
        manifest = parseManifest(await readEntry(entry, size, name), maxObject);
        for (const [id, type, objSize] of manifest.objects) expected.set(id, { type, size: objSize });
        limit = 512 + pad512(size) + manifest.objects.reduce((n, o) => n + 512 + pad512(o[2]), 0) + 1024 + PER_ENTRY_SLACK * (manifest.objectCount + 1) + SLACK_BYTES;
        if (pass.speculate && fd !== undefined && !gzipped) {
          // cairn's layout: each entry a 512-byte header, its data padded to 512.
          const skip: Array<[number, number]> = [];
          let pos = 512 + pad512(size);
          for (const [id, , objSize] of manifest.objects) {
            if (objSize >= BY_OFFSET_MIN) {
              laidOut.set(id, pos + 512);
              skip.push([pos + 512, pos + 512 + objSize]);
            }
            pos += 512 + pad512(objSize);
          }
          pass.speculate.skip(skip);
        }
        opts.onManifest?.(manifest);
        opts.onProgress?.(0, manifest.objectBytes);
        continue;
      }
      if (h.type === 'directory') {
        // Repacked by GNU tar: its folder entries are harmless, but only these.
        if (!/^objects\/([0-9a-f]{2}\/)?$/.test(name)) throw bad(`unexpected folder ${shown(name)} in the tarball`);
        await drain(entry);
        continue;
      }
      const m = OBJECT_ENTRY.exec(name);
      if (!m) throw bad(`unexpected entry ${shown(name)} in the tarball (a cairn export holds ${MANIFEST_NAME} and objects/<2 hex>/<id>.<type>)`);
      const [, prefix, id, type] = m;
      if (!id.startsWith(prefix)) throw bad(`entry ${shown(name)} is in the wrong folder for its ID`);
      const want = expected.get(id);
      if (!want) throw bad(`the tarball holds object ${id.slice(0, 12)}, which its manifest does not list`);
      if (received.has(id)) throw bad(`the tarball holds object ${id.slice(0, 12)} twice`);
      if (want.type !== type) throw bad(`entry ${shown(name)} is a ${type}, but the manifest says ${want.type}`);
      if (size > maxObject) throw bad(`entry ${shown(name)} claims ${size} bytes (${mib(size)}); an object holds at most ${mib(maxObject)}`);
      if (size !== want.size) throw bad(`entry ${shown(name)} holds ${size} bytes, but the manifest says ${want.size}`);
      // A tar entry's bytes follow its 512-byte header (a wrong offset could only make the hash check fail).
      const at = fd !== undefined && !gzipped && size >= BY_OFFSET_MIN ? source.offset + 512 : undefined;
      if (pass.speculate && at !== undefined && laidOut.get(id) !== at) throw new LayoutMismatch(`entry ${shown(name)} is at ${at}, not where cairn lays it out`);
      let data: Buffer | undefined;
      if (at === undefined) data = await readEntry(entry, size, name);
      else await skipEntry(entry, size);
      // Several objects are hashed at once (the store serialises their writes);
      // the oldest is awaited once the window is full, so memory stays bounded.
      const put = (async () => {
        let added: boolean;
        try {
          // Every object is checked against its ID, even one the store holds (a tampered copy is still refused); only new ones are written.
          added = data ? await store.putObject(id, type as ObjectType, data) : await store.putObjectAt(id, type as ObjectType, fd!, at!, size);
        } catch (err) {
          if (isCairnError(err, 'BAD_INPUT')) throw bad(`the tarball's ${err.message}`);
          throw err;
        }
        if (added) {
          counts.newObjects++;
          counts.newBytes += size;
        }
        done += size;
        opts.onProgress?.(done, manifest!.objectBytes);
      })();
      put.catch(() => {}); // awaited below
      inflight.push(put);
      if (inflight.length >= PUT_AHEAD) await inflight.shift();
      received.add(id);
    }
    await Promise.all(inflight.splice(0));
    await feed;
  } catch (err) {
    extract.destroy();
    await feed.catch(() => {});
    await Promise.allSettled(inflight);
    throw tarError(err);
  }
  if (!manifest) throw bad('the tarball is empty (no cairn export manifest)');
  const absent = manifest.objects.filter(([id]) => !received.has(id));
  if (absent.length > 0) {
    const [id, type] = absent[0];
    throw bad(`the tarball is missing object ${id.slice(0, 12)} (a ${type})${absent.length > 1 ? ` and ${absent.length - 1} more` : ''}: it lists ${manifest.objectCount} objects but holds ${received.size}`, 'the tarball may be truncated; export it again');
  }
  // Objects durable before any check reads them back and before any ref.
  await store.flush();

  for (const e of manifest.experiments) {
    const state = await checkArrivedExperiment(store, e.name, e.state, 'the tarball');
    if (state.tip !== e.tip || state.checkpoints !== e.checkpoints) {
      throw unusable(e.name, bad(`the manifest says tip ${e.tip?.slice(0, 7) ?? 'none'} and ${e.checkpoints} checkpoints, its state record ${state.tip?.slice(0, 7) ?? 'none'} and ${state.checkpoints}`), 'the tarball');
    }
  }

  const current = await store.refs.list(EXP_REF_PREFIX);
  const byName = new Map(current.map((r) => [r.name.slice(EXP_REF_PREFIX.length), r.id]));
  const byState = new Map<ObjectId, string>();
  for (const [n, id] of byName) if (!byState.has(id)) byState.set(id, n);
  const taken = new Set(byName.keys());
  const plans: Array<ImportedExperiment & { expected: ObjectId | null }> = [];
  for (const e of manifest.experiments) {
    const base = { name: e.name, state: e.state, tip: e.tip, checkpoints: e.checkpoints, shallow: e.shallow !== null };
    const here = byName.get(e.name);
    if (here === e.state) {
      plans.push({ ...base, as: e.name, action: 'unchanged', expected: here });
    } else if (!opts.force && byState.has(e.state)) {
      plans.push({ ...base, as: byState.get(e.state)!, action: 'unchanged', expected: e.state });
    } else if (here === undefined && !taken.has(e.name)) {
      taken.add(e.name);
      plans.push({ ...base, as: e.name, action: 'created', expected: null });
    } else if (here !== undefined && opts.force) {
      plans.push({ ...base, as: e.name, action: 'replaced', expected: here });
    } else {
      const as = freeName(e.name, taken);
      taken.add(as);
      plans.push({ ...base, as, action: 'renamed', expected: null });
    }
  }

  const moves = plans.filter((p) => p.action !== 'unchanged');
  await moveRefsAllOrNothing(store, moves.map((p) => ({ name: p.as, to: p.state, from: p.expected })));
  return {
    experiments: plans.map(({ expected: _, ...rest }) => rest),
    onlyTips: manifest.onlyTips,
    objects: manifest.objectCount,
    bytes: manifest.objectBytes,
    newObjects: counts.newObjects,
    newBytes: counts.newBytes,
  };
}

/** `<name>-1`, `<name>-2`, ...: the first that is a valid name and not taken. */
function freeName(name: string, taken: Set<string>): string {
  for (let k = 1; ; k++) {
    const suffix = `-${k}`;
    const candidate = name.slice(0, 100 - suffix.length) + suffix;
    if (isValidName(candidate) && !taken.has(candidate)) return candidate;
  }
}
