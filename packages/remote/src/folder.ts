import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CairnError, syncDir } from '@cairn/store';
import { checkKey, conflict, notFound, remoteFailure, type BlobHead, type BlobInfo, type BlobStore, type ByteRange, type KnownBody, type PutCondition } from './blob-store.js';

/** A lock older than this is taken to be left by a dead process: a holder only checks an etag and renames. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 30_000;
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

const etagOf = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * A BlobStore in a plain folder (`file:///path`, e.g. a shared mount):
 * one file per key. Temp files and locks live in `.tmp/` and `.locks/`,
 * which no key can name (keys' segments never start with a dot). The etag
 * is the SHA-256 of the content, so it is the same whoever computes it.
 */
export class FolderBlobStore implements BlobStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  private path(key: string): string {
    checkKey(key);
    return join(this.root, ...key.split('/'));
  }

  private fail(doing: string, err: unknown): Error {
    if (err instanceof CairnError) return err;
    return remoteFailure(this.url, doing, err);
  }

  async get(key: string, range?: ByteRange): Promise<{ data: Buffer; etag: string }> {
    const path = this.path(key);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw notFound(this.url, key);
      throw this.fail(`reading ${key}`, err);
    }
    try {
      if (!range) {
        const data = await fh.readFile();
        return { data, etag: etagOf(data) };
      }
      const buf = Buffer.allocUnsafe(range.length);
      let done = 0;
      while (done < range.length) {
        const { bytesRead } = await fh.read(buf, done, range.length - done, range.offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      // A range read is of an immutable pack: its etag is not wanted, and hashing the whole file for it would cost a full read.
      return { data: buf.subarray(0, done), etag: '' };
    } catch (err) {
      throw this.fail(`reading ${key}`, err);
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<BlobHead | null> {
    const path = this.path(key);
    try {
      const [st, data] = await Promise.all([stat(path), readFile(path)]);
      return { size: data.length, etag: etagOf(data), modified: st.mtime };
    } catch (err) {
      if (isMissing(err)) return null;
      throw this.fail(`reading ${key}`, err);
    }
  }

  private swept = false;

  /**
   * Removes temp files a killed writer left (older than TEMP_MAX_AGE_MS: a
   * live writer keeps one for a single write), once per instance, before
   * its first write.
   */
  private async sweep(dir: string): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const st = await stat(p).catch(() => null);
      if (st?.isFile() && Date.now() - st.mtimeMs > TEMP_MAX_AGE_MS) await unlink(p).catch(() => {});
    }
  }

  /** Writes `body` to a durable temp file in `.tmp/` and returns its path. */
  private async writeTemp(body: Buffer): Promise<string> {
    const dir = join(this.root, '.tmp');
    await mkdir(dir, { recursive: true });
    await this.sweep(dir);
    const tmp = join(dir, `${randomBytes(12).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  private async makeParent(path: string): Promise<void> {
    const dir = dirname(path);
    const made = await mkdir(dir, { recursive: true });
    if (made !== undefined) {
      // Every new folder, and the one holding the first, must reach the disk for the file to survive a crash.
      for (let d = dir; d.length >= made.length; d = dirname(d)) await syncDir(d);
      await syncDir(dirname(made));
    }
  }

  async put(key: string, body: Buffer, cond?: PutCondition, known?: KnownBody): Promise<{ etag: string }> {
    const path = this.path(key);
    // An etag here is the body's SHA-256, which the caller may have computed already.
    const etag = known?.sha256 && /^[0-9a-f]{64}$/.test(known.sha256) ? known.sha256 : etagOf(body);
    let tmp: string | undefined;
    try {
      await this.makeParent(path);
      tmp = await this.writeTemp(body);
      if (cond && 'ifNoneMatch' in cond) {
        // link() fails if the name exists, atomically, also between processes on one shared mount: create-only for free.
        try {
          await link(tmp, path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw conflict(this.url, key, 'already exists');
          throw err;
        }
        await unlink(tmp);
        tmp = undefined;
      } else if (cond) {
        const release = await this.lock(key);
        try {
          let current: string | null = null;
          try {
            current = etagOf(await readFile(path));
          } catch (err) {
            if (!isMissing(err)) throw err;
          }
          if (current !== cond.ifMatch) throw conflict(this.url, key, current === null ? 'does not exist' : 'changed underneath');
          await rename(tmp, path);
          tmp = undefined;
        } finally {
          await release();
        }
      } else {
        await rename(tmp, path);
        tmp = undefined;
      }
      await syncDir(dirname(path));
      return { etag };
    } catch (err) {
      throw this.fail(`writing ${key}`, err);
    } finally {
      if (tmp) await unlink(tmp).catch(() => {});
    }
  }

  /**
   * A per-key lock between processes: a file created with O_EXCL. A lock
   * older than STALE_LOCK_MS is broken by renaming it aside (rename, unlike
   * unlink-then-create, lets only one breaker win); a holder stalled that
   * long may find its lock broken, which the etag check then still catches
   * unless another writer renamed in the same instant.
   */
  private async lock(key: string): Promise<() => Promise<void>> {
    const dir = join(this.root, '.locks');
    await mkdir(dir, { recursive: true });
    const path = join(dir, createHash('sha256').update(key).digest('hex').slice(0, 32));
    const started = Date.now();
    for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
      try {
        await writeFile(path, `${process.pid} ${hostname()}\n`, { flag: 'wx' });
        return () => unlink(path).catch(() => {});
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      try {
        const st = await stat(path);
        if (Date.now() - st.mtimeMs > STALE_LOCK_MS) {
          const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
          await rename(path, aside);
          await unlink(aside).catch(() => {});
          continue;
        }
      } catch (err) {
        if (!isMissing(err)) throw err;
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw new CairnError('LOCKED', `${this.url}: ${key} stayed locked for ${LOCK_WAIT_MS / 1000} s`, { fields: { path } });
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    // Walk only the folder the prefix ends in: listing refs/exp/ must not read packs/.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    if (base) checkKey(base);
    const walk = async function* (self: FolderBlobStore, dir: string, rel: string): AsyncIterable<BlobInfo> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw self.fail(`listing ${prefix}`, err);
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(self, join(dir, e.name), key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          let st;
          try {
            st = await stat(join(dir, e.name));
          } catch (err) {
            if (isMissing(err)) continue;
            throw self.fail(`listing ${prefix}`, err);
          }
          yield { key, size: st.size, modified: st.mtime };
        }
      }
    };
    yield* walk(this, base ? join(this.root, ...base.split('/')) : this.root, base);
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    try {
      await unlink(path);
    } catch (err) {
      if (isMissing(err)) throw notFound(this.url, key);
      throw this.fail(`deleting ${key}`, err);
    }
    await syncDir(dirname(path)).catch(() => {});
  }

  async close(): Promise<void> {}
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
