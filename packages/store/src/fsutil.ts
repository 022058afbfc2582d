import { open, rename, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsync a folder so that a rename or unlink inside it survives a power cut. */
export async function syncDir(dir: string | Buffer): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates a folder (and parents), syncing each new folder's parent so the
 * new entries are durable. One level at a time, because a recursive mkdir
 * reports a full disk as ENOENT.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
    await mkdirDurable(dirname(dir));
    try {
      await mkdir(dir);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw again;
    }
  }
  await syncDir(dirname(dir));
}

export function tmpName(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString('hex')}`;
}

/** Writes a small file atomically: temp file, fsync, rename, fsync folder. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tmpName(path);
  const fh = await open(tmp, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await syncDir(dirname(path));
}
