import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from './errors.js';
import { PACK_V1, PACK_V2, type PackLayout } from './pack/format.js';

/** The file that marks a folder as a store and names its format. */
export const FORMAT_FILE = 'CAIRN';
/**
 * The store format a new store gets (docs/FORMAT.md, "Format versions").
 * 3: objects are in cairn's own canonical msgpack (integers of 2^32 and more
 * as uint64, map keys sorted by their UTF-8 bytes), and readers refuse any
 * other encoding. Objects of formats 1 and 2 do not re-encode to their IDs,
 * so such a store is refused rather than read or upgraded in place. 4: as 3,
 * but packs are written with their blobs from byte 4096 (pack/format.ts,
 * PACK_V2).
 */
export const STORE_FORMAT = 4;
/** The formats this cairn reads and writes; each store keeps its own (a format-3 store gets format-3 packs). */
export const READ_FORMATS = [3, 4];
export const FORMAT_TEXT = `cairn store\nformat ${STORE_FORMAT}\n`;

/** The format number a store's marker names (a marker without one is format 1). */
export async function readStoreFormat(dir: string): Promise<number> {
  const m = /^format (\d+)$/m.exec(await readFile(join(dir, FORMAT_FILE), 'utf8'));
  return m ? Number(m[1]) : 1;
}

/** The pack layout a store of `format` writes. */
export function packLayoutOf(format: number): PackLayout {
  return format >= 4 ? PACK_V2 : PACK_V1;
}

/** The store's format; refuses any this cairn does not read. Reads the marker only, so it runs before the lock and writes nothing. */
export async function checkStoreFormat(dir: string): Promise<number> {
  const format = await readStoreFormat(dir);
  if (READ_FORMATS.includes(format)) return format;
  const action =
    format < READ_FORMATS[0]
      ? 'an older cairn wrote it: keep using that cairn with it, or create a new store with cairn init and add the data again'
      : 'a newer cairn wrote it: upgrade cairn to use this store';
  throw new CairnError('FORMAT_VERSION', `the store at ${dir} has format ${format}; this cairn reads formats ${READ_FORMATS.join(' and ')}`, { hint: action });
}
