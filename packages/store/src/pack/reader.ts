import { open, stat, type FileHandle } from 'node:fs/promises';
import { decodeFooter, decodeTrailer, FOOTER_SIZE, HEADER_SIZE, layoutOf, type PackEntry } from './format.js';
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
    const layout = layoutOf(await readExactly(fh, HEADER_SIZE, 0, path));
    if (!layout) throw new CairnError('CORRUPT', `${path}: not a cairn pack (bad header)`, { fields: { path } });
    if (size < layout.dataStart + FOOTER_SIZE) throw new CairnError('CORRUPT', `${path}: pack is truncated (${size} bytes)`, { fields: { path } });
    // Padding is covered by no checksum: it must be zeros, so that a flipped byte anywhere in a pack is still caught.
    if (layout.dataStart > HEADER_SIZE && (await readExactly(fh, layout.dataStart - HEADER_SIZE, HEADER_SIZE, path)).some((b) => b !== 0)) {
      throw new CairnError('CORRUPT', `${path}: pack header padding is not zeros`, { fields: { path } });
    }
    const footer = await readExactly(fh, FOOTER_SIZE, size - FOOTER_SIZE, path);
    const { length, checksum } = decodeFooter(footer, size, path, layout.dataStart);
    const trailer = await readExactly(fh, length, size - FOOTER_SIZE - length, path);
    return { entries: decodeTrailer(trailer, checksum, size, path, layout.dataStart), size };
  } finally {
    await fh.close();
  }
}
