import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CairnError } from '@cairn/store';

/**
 * Opens a tarball for reading; `-` is stdin. A missing file is NOT_FOUND, a
 * folder or unreadable file BAD_INPUT. Destroy the stream when done with it
 * (that closes the file).
 */
export async function openTarball(path: string): Promise<Readable> {
  if (path === '-') return process.stdin;
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CairnError('NOT_FOUND', `no such file: ${path}`);
    if (code === 'EACCES' || code === 'EPERM') throw new CairnError('BAD_INPUT', `cannot read ${path}: permission denied`);
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile() && !st.isFIFO()) {
    await fh.close();
    throw new CairnError('BAD_INPUT', `${path} is not a file`);
  }
  if (!st.isFile()) return fh.createReadStream({ highWaterMark: 4 * 1024 * 1024 });
  // The file stays open until the stream is destroyed: an import reads objects from it by offset after the stream has ended.
  const stream = fh.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false });
  stream.once('close', () => void fh.close().catch(() => {}));
  files.set(stream, fh.fd);
  return stream;
}

const files = new WeakMap<Readable, number>();

/**
 * The file descriptor behind a stream from openTarball when it reads a
 * regular file from its start: an importer may read entries' bytes from it
 * by offset (until the stream is destroyed).
 */
export function tarballFd(input: unknown): number | undefined {
  return files.get(input as Readable);
}

function gzipError(err: unknown): Error {
  if (err instanceof CairnError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) {
    return new CairnError('BAD_INPUT', `the tarball's gzip data is damaged or truncated (${e.message})`);
  }
  return err as Error;
}

/**
 * The tar bytes of `input`: gunzipped when it starts with gzip's magic
 * (1f 8b), else as they are. `limit()` is asked before each piece: the
 * tarball may not hold more bytes than it allows (a gzip bomb or endless
 * padding stops here, not in memory or on disk). `format` learns, before
 * the first piece, whether the input is gzipped.
 */
export async function* tarBytes(input: AsyncIterable<Uint8Array>, limit: () => number, format?: (gzipped: boolean) => void): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  async function* raw(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
  }
  let source: AsyncIterable<Buffer> = raw();
  let feeding: Promise<void> | undefined;
  const gzipped = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  format?.(gzipped);
  if (gzipped) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    feeding = pipeline(Readable.from(raw(), { objectMode: false }), gunzip).catch(() => {});
    source = gunzip;
  }
  let seen = 0;
  try {
    for await (const piece of source) {
      seen += piece.length;
      if (seen > limit()) {
        throw new CairnError('BAD_INPUT', `the tarball holds more data than its manifest declares (over ${limit()} bytes of tar)`);
      }
      yield piece;
    }
  } catch (err) {
    throw gzipError(err);
  } finally {
    if (feeding) {
      (source as unknown as Readable).destroy();
      await feeding;
    }
    await it.return?.();
  }
}
