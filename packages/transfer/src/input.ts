import { fstat, read, type Stats } from 'node:fs';
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

/** Zeros handed out in place of bytes not read; never written to. */
const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Reads a plain tar file through its descriptor, from its start, in 1 MiB
 * pieces; once told which ranges the caller reads by itself (the data of
 * objects it reads by offset), those come as zeros instead, without a read
 * or an allocation. The tar parser still sees every header where it is.
 */
export class TarFileFeed {
  private ranges: Array<[number, number]> = [];
  private next = 0;

  constructor(private readonly fd: number) {}

  /** From now on, bytes in these ranges (sorted, disjoint) come as zeros. */
  skip(ranges: Array<[number, number]>): void {
    this.ranges = ranges;
    this.next = 0;
  }

  async *pieces(): AsyncGenerator<Buffer> {
    const size = (await new Promise<Stats>((resolve, reject) => fstat(this.fd, (err, st) => (err ? reject(err) : resolve(st))))).size;
    for (let pos = 0; pos < size; ) {
      while (this.next < this.ranges.length && this.ranges[this.next][1] <= pos) this.next++;
      const r = this.ranges[this.next];
      if (r && r[0] <= pos) {
        const n = Math.min(r[1], size, pos + ZEROS.length) - pos;
        yield ZEROS.subarray(0, n);
        pos += n;
        continue;
      }
      const want = Math.min(size, pos + 1024 * 1024, r ? r[0] : Infinity) - pos;
      const buf = Buffer.allocUnsafe(want);
      const got = await new Promise<number>((resolve, reject) => read(this.fd, buf, 0, want, pos, (err, n) => (err ? reject(err) : resolve(n))));
      if (got === 0) return; // the file shrank meanwhile: the parser reports the truncation
      yield got === want ? buf : buf.subarray(0, got);
      pos += got;
    }
  }
}

/** Whether the file starts with gzip's magic (1f 8b). */
export async function isGzipFile(fd: number): Promise<boolean> {
  const head = Buffer.alloc(2);
  const got = await new Promise<number>((resolve, reject) => read(fd, head, 0, 2, 0, (err, n) => (err ? reject(err) : resolve(n))));
  return got === 2 && head[0] === 0x1f && head[1] === 0x8b;
}
