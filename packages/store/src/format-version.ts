import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError } from './errors.js';

/** The file that marks a folder as a store and names its format. */
export const FORMAT_FILE = 'CAIRN';
/**
 * The one store format this cairn reads and writes (docs/FORMAT.md, "Format
 * versions"). 3: objects are in cairn's own canonical msgpack (integers of
 * 2^32 and more as uint64, map keys sorted by their UTF-8 bytes), and readers
 * refuse any other encoding. Objects of formats 1 and 2 do not re-encode to
 * their IDs, so such a store is refused rather than read or upgraded in place.
 */
export const STORE_FORMAT = 3;
export const FORMAT_TEXT = `cairn store\nformat ${STORE_FORMAT}\n`;

/** The format number a store's marker names (a marker without one is format 1). */
export async function readStoreFormat(dir: string): Promise<number> {
  const m = /^format (\d+)$/m.exec(await readFile(join(dir, FORMAT_FILE), 'utf8'));
  return m ? Number(m[1]) : 1;
}

/** Refuses a store of any format but this cairn's; reads the marker only, so it runs before the lock and writes nothing. */
export async function checkStoreFormat(dir: string): Promise<void> {
  const format = await readStoreFormat(dir);
  if (format === STORE_FORMAT) return;
  const action =
    format < STORE_FORMAT
      ? 'an older cairn wrote it: keep using that cairn with it, or create a new store with cairn init and add the data again'
      : 'a newer cairn wrote it: upgrade cairn to use this store';
  throw new CairnError('FORMAT_VERSION', `the store at ${dir} has format ${format}; this cairn reads format ${STORE_FORMAT} only`, { hint: action });
}
