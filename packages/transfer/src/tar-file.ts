/**
 * An export written to a regular file, the fast way: the tar stream
 * (tar-stream, for every header and padding byte) is written with the
 * stored objects' data left out, and the store's read threads write each
 * object's bytes at its place in the file (Store.copyObjectsTo), each right
 * after reading and checking it, while it is in that core's cache. The
 * bytes are exactly those writeExport would stream.
 *
 * Where each object's data goes is known before the tar stream runs: every
 * entry is one 512-byte header and its data padded to 512 bytes (names are
 * short, sizes small: tar-stream needs no pax or GNU headers for them). The
 * writer checks this as the stream goes, and fails rather than write a
 * misplaced byte.
 */
import type { FileHandle } from 'node:fs/promises';
import tar from 'tar-stream';
import { CairnError, type ObjectId, type Store } from '@cairn/store';
import { MANIFEST_NAME, objectEntryName } from './manifest.js';
import { fileEntry } from './tar-entry.js';
import type { ExportPlan, ObjectSource } from './plan.js';

const pad512 = (n: number) => Math.ceil(n / 512) * 512;

/** Zero bytes tar-stream is given in place of an object's data; the writer skips them. */
const PLACEHOLDER = Buffer.alloc(4 * 1024 * 1024 + 65536);

export interface FileWriteOptions {
  onProgress?: (done: number, total: number) => void;
  sessionMs: number;
}

/** Writes the export of `plan` to the open, empty file `fh`. */
export async function writeExportFile(source: ObjectSource, plan: ExportPlan, fh: FileHandle, opts: FileWriteOptions): Promise<void> {
  const manifestBytes = Buffer.from(`${JSON.stringify(plan.manifest)}\n`);
  // The layout: where each entry's data starts.
  let pos = 512 + pad512(manifestBytes.length);
  const items: Array<{ id: ObjectId; position: number }> = [];
  const dataPos: number[] = [];
  for (const [id, , size] of plan.manifest.objects) {
    dataPos.push(pos + 512);
    if (!plan.made.has(id)) items.push({ id, position: pos + 512 });
    pos += 512 + pad512(size);
  }
  const total = plan.manifest.objectBytes;
  let done = 0;
  const progress = (bytes: number) => {
    done += bytes;
    opts.onProgress?.(done, total);
  };
  opts.onProgress?.(0, total);
  const structure = writeStructure(plan, manifestBytes, dataPos, fh, progress);
  const data = copyData(source, items, fh.fd, opts.sessionMs, progress);
  // Both write disjoint ranges of the file; the first failure stops the other.
  const results = await Promise.allSettled([structure.done, data.catch((err) => (structure.stop(err), Promise.reject(err)))]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Copies the stored objects' bytes to their places, in store sessions of `sessionMs` when `source` opens the store. */
async function copyData(source: ObjectSource, items: Array<{ id: ObjectId; position: number }>, fd: number, sessionMs: number, progress: (bytes: number) => void): Promise<void> {
  const onCopied = (_n: number, bytes: number) => progress(bytes);
  if (typeof source !== 'function') {
    await source.copyObjectsTo(items, fd, { onCopied });
    return;
  }
  for (let next = 0; next < items.length; ) {
    const store: Store = await source();
    try {
      next += await store.copyObjectsTo(items.slice(next), fd, { deadline: Date.now() + sessionMs, onCopied });
    } finally {
      await store.close();
    }
  }
}

/** The tar stream with every stored object's data left out: headers, padding, the manifest and the records made for the export. */
function writeStructure(plan: ExportPlan, manifestBytes: Buffer, dataPos: number[], fh: FileHandle, progress: (bytes: number) => void): { done: Promise<void>; stop: (err: Error) => void } {
  const pack = tar.pack();
  // Its errors reach the loop below; once that is over, a late destroy must not be an uncaught 'error'.
  pack.on('error', () => {});
  const entry = (name: string, data: Buffer) => fileEntry(pack, name, data, plan.mtime);
  entry(MANIFEST_NAME, manifestBytes);
  for (const [id, type, size] of plan.manifest.objects) {
    const made = plan.made.get(id);
    entry(objectEntryName(id, type), made ?? (size <= PLACEHOLDER.length ? PLACEHOLDER.subarray(0, size) : Buffer.alloc(size)));
  }
  pack.finalize();
  const count = plan.manifest.objects.length;
  const done = (async () => {
    let offset = 0;
    // Pending bytes for one positional writev: contiguous pieces from runAt.
    let run: Buffer[] = [];
    let runAt = 0;
    let runLen = 0;
    const append = (piece: Buffer) => {
      if (runLen === 0) runAt = offset;
      run.push(piece);
      runLen += piece.length;
    };
    const flush = async () => {
      for (let at = 0; at < runLen; ) {
        // writev may write less than asked: go on from where it stopped.
        at += (await fh.writev(skip(run, at), runAt + at)).bytesWritten;
      }
      run = [];
      runLen = 0;
    };
    // Entry -1 is the manifest, then the objects in manifest order; after the last, the end-of-archive blocks.
    let entry = -2;
    let dataLeft = 0;
    let padLeft = 0;
    let stored = false;
    for await (const piece of pack as AsyncIterable<Buffer>) {
      if (dataLeft > 0) {
        dataLeft -= piece.length;
        if (dataLeft < 0) throw new CairnError('FAILED', `a tar data piece at ${offset} runs past its entry: cannot lay the export out`);
        if (stored) {
          // Written by the store's threads.
          await flush();
          offset += piece.length;
          continue;
        }
        if (entry >= 0) progress(piece.length);
      } else if (padLeft > 0) {
        padLeft -= piece.length;
      } else if (entry + 1 < count) {
        entry++;
        if (piece.length !== 512) throw new CairnError('FAILED', `unexpected tar header of ${piece.length} bytes at ${offset}: cannot lay the export out`);
        const size = entry < 0 ? manifestBytes.length : plan.manifest.objects[entry][2];
        if (entry >= 0 && dataPos[entry] !== offset + 512) throw new CairnError('FAILED', `tar entry ${entry + 1} is not where it was laid out (${offset + 512}, not ${dataPos[entry]})`);
        stored = entry >= 0 && !plan.made.has(plan.manifest.objects[entry][0]);
        dataLeft = size;
        padLeft = pad512(size) - size;
      }
      append(piece);
      offset += piece.length;
      if (runLen >= 1024 * 1024) await flush();
    }
    await flush();
    if (entry + 1 < count || dataLeft !== 0) throw new CairnError('FAILED', 'the tar stream ended early');
  })();
  done.catch(() => {}); // awaited by the caller
  return { done, stop: (err) => pack.destroy(err) };
}

/** `bufs` without their first `n` bytes. */
function skip(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) n -= b.length;
    else {
      out.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
  }
  return out;
}
