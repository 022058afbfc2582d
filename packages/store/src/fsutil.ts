import { open, rename, mkdir, stat, unlink } from 'node:fs/promises';
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

export interface WriteAtomicOptions {
  /** The temp file's path (default `<path>.tmp-<random>`, which the store's listings skip); must be in the same folder. */
  tmp?: string;
  /** Permission bits for a new file (the umask applies). */
  mode?: number;
  /** Keep the replaced file's permission bits exactly (a 0600 params file stays 0600). */
  keepMode?: boolean;
  /**
   * false: rename without fsync. For files that describe a live process
   * (leases, waiter files): after a power cut that process is gone anyway,
   * and an fsync per refresh would be wasted.
   */
  durable?: boolean;
}

/**
 * Replaces a small file atomically: temp file, fsync, rename, fsync folder.
 * A reader sees the old or the new content, never half; a failure leaves no
 * temp file behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteAtomicOptions = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = opts.tmp ?? tmpName(path);
  const kept = opts.keepMode ? await stat(path).then((st) => st.mode & 0o7777, () => undefined) : undefined;
  const fh = await open(tmp, 'wx', kept ?? opts.mode ?? 0o666);
  try {
    await fh.writeFile(data);
    // open's mode is masked by the umask; a kept mode must be exact.
    if (kept !== undefined) await fh.chmod(kept);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (durable) await syncDir(dirname(path));
}
