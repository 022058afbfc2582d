import type { FileHandle } from 'node:fs/promises';
import { readExact } from '../read-exact.js';

/** Random access to a file's bytes for the format parsers. */
export interface Source {
  readonly size: number;
  /** Exactly `len` bytes at `pos` (which must lie within size); the result may be shared, so read-only. */
  read(pos: number, len: number): Promise<Buffer>;
}

// Parsers read many small, mostly ascending pieces (zip local headers of
// adjacent entries); one window read serves all that fall inside it.
const WINDOW = 64 * 1024;

/** A Source over a file handle that serves reads from `head` (the file's first bytes) or a read-ahead window. */
export class FileSource implements Source {
  private win: Buffer;
  private winPos = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    head: Buffer,
  ) {
    this.win = head;
  }

  async read(pos: number, len: number): Promise<Buffer> {
    if (!(pos >= 0 && len >= 0 && pos + len <= this.size)) throw new RangeError(`read [${pos}, ${pos + len}) outside the file (${this.size} bytes)`);
    if (pos >= this.winPos && pos + len <= this.winPos + this.win.length) {
      return this.win.subarray(pos - this.winPos, pos - this.winPos + len);
    }
    const n = Math.min(Math.max(len, WINDOW), this.size - pos);
    const buf = Buffer.allocUnsafe(n);
    await readExact(this.fh, buf, pos);
    if (n <= WINDOW * 4) {
      this.win = buf;
      this.winPos = pos;
    }
    return buf.subarray(0, len);
  }
}

/** A Source over bytes in memory (tests, small files). */
export class BufferSource implements Source {
  readonly size: number;
  constructor(private readonly data: Uint8Array) {
    this.size = data.length;
  }
  async read(pos: number, len: number): Promise<Buffer> {
    if (!(pos >= 0 && len >= 0 && pos + len <= this.size)) throw new RangeError(`read [${pos}, ${pos + len}) outside the buffer (${this.size} bytes)`);
    return Buffer.from(this.data.buffer, this.data.byteOffset + pos, len);
  }
}
