/**
 * The runner's durable small-file writes (cairn.lock, params files, apply's
 * staged files). A rename alone is atomic but not durable: after a power cut
 * the new name can point at an empty file, or the old file can come back.
 * So: write a temp file beside the target, fsync it, rename, fsync the folder.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@cairn/store';

/** `.NAME.cairn-new-<hex>` beside `target`: hidden, and recognisable as cairn's leftover. */
export function stagedName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.cairn-new-${randomBytes(6).toString('hex')}`);
}

/** `.NAME.cairn-old-<hex>`: where a replaced folder waits until the new one is in place. */
export function asideName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.cairn-old-${randomBytes(6).toString('hex')}`);
}

/** The permission bits of `file` when it exists, so a rewrite keeps them (a 0600 params file stays 0600). */
export async function modeOf(file: string): Promise<number | undefined> {
  const st = await stat(file).catch(() => undefined);
  return st ? st.mode & 0o7777 : undefined;
}

/** Writes `data` to `staged` (created exclusively) and fsyncs it; removes it again on failure. */
export async function writeStaged(staged: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const fh = await open(staged, 'wx', mode ?? 0o644);
  try {
    await fh.writeFile(data);
    // The mode passed to open is masked by the umask; a kept mode must be exact.
    if (mode !== undefined) await fh.chmod(mode);
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(staged).catch(() => undefined);
    throw err;
  }
}

/**
 * Replaces `file` with `data` durably (the store's writeFileAtomic), keeping
 * its mode; creates missing folders. The temp file gets a workspace staged
 * name, so a leftover is hidden and recognisable as cairn's.
 */
export async function writeFileDurable(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  if (!(await lstat(dir).catch(() => undefined))) await mkdir(dir, { recursive: true });
  await writeFileAtomic(file, data, { tmp: stagedName(file), mode: 0o644, keepMode: true });
}
