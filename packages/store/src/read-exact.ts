import type { FileHandle } from 'node:fs/promises';
import { CairnError } from './errors.js';

/**
 * Fills `buf` from `position`, looping over short reads (a read may return
 * fewer bytes than asked even mid-file). A file that ends first throws
 * `ended(at)`, so each caller says what a short file means: a damaged pack
 * is CORRUPT, a file changed while being stored is not.
 */
export async function readExact(
  fh: FileHandle,
  buf: Buffer,
  position: number,
  ended: (at: number) => Error = (at) => new CairnError('FAILED', `file ended at byte ${at} while reading it: was it changed or truncated meanwhile?`),
): Promise<Buffer> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw ended(position + done);
    done += bytesRead;
  }
  return buf;
}
