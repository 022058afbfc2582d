import { open, stat, type FileHandle } from 'node:fs/promises';
import { decodeFooter, decodeTrailer, FOOTER_SIZE, HEADER_SIZE, PACK_MAGIC, type PackEntry } from './format.js';
import { CairnError } from '../errors.js';
import { readExact } from '../read-exact.js';

/** A pack that ends early is damaged: CORRUPT, naming `where`. */
export async function readExactly(fh: FileHandle, length: number, position: number, where: string): Promise<Buffer> {
  return readExact(fh, Buffer.allocUnsafe(length), position, () => new CairnError('CORRUPT', `${where}: file ends early (wanted ${length} bytes at ${position})`));
}

/** Reads and checks a pack's header, footer and trailer: the list of blobs it holds. */
export async function readPackEntries(path: string): Promise<{ entries: PackEntry[]; size: number }> {
  const size = (await stat(path)).size;
  if (size < HEADER_SIZE + FOOTER_SIZE) throw new CairnError('CORRUPT', `${path}: pack is truncated (${size} bytes)`, { fields: { path } });
  const fh = await open(path, 'r');
  try {
    const header = await readExactly(fh, HEADER_SIZE, 0, path);
    if (!header.equals(PACK_MAGIC)) throw new CairnError('CORRUPT', `${path}: not a cairn pack (bad header)`, { fields: { path } });
    const footer = await readExactly(fh, FOOTER_SIZE, size - FOOTER_SIZE, path);
    const { length, checksum } = decodeFooter(footer, size, path);
    const trailer = await readExactly(fh, length, size - FOOTER_SIZE - length, path);
    return { entries: decodeTrailer(trailer, checksum, size, path), size };
  } finally {
    await fh.close();
  }
}
