import { readFile, readdir, unlink, rmdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { CairnError, ioFailure } from './errors.js';
import { mkdirDurable, syncDir, writeFileAtomic } from './fsutil.js';
import type { ObjectId } from './types.js';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const ID = /^[0-9a-f]{64}$/;

/** A ref file that cannot be read as a ref: its name is not a valid ref name, or its content is not an object ID. */
export interface DamagedRef {
  /** The name as found under refs/ ('/' between folders). */
  name: string;
  /** The ref file's absolute path. */
  path: string;
  reason: string;
}

export interface ListRefsOptions {
  /**
   * Called for each damaged ref file, which is then left out of the list.
   * Without it, the first damaged ref fails the listing with an error naming
   * its file (a caller that cannot skip refs, such as gc, must not see a
   * partial list).
   */
  onDamaged?: (ref: DamagedRef) => void;
}

export function damagedRefError(d: DamagedRef): CairnError {
  return new CairnError('CORRUPT', `ref file ${d.path} is damaged: ${d.reason}`, { hint: 'run cairn fsck --repair to move it into quarantine', fields: { ref: d.name, path: d.path } });
}

function isValidRefName(name: string): boolean {
  const parts = name.split('/');
  return !!name && !parts.some((p) => !SEGMENT.test(p) || p.includes('.tmp-'));
}

export function checkRefName(name: string): void {
  if (!isValidRefName(name)) {
    throw new CairnError('BAD_INPUT', `invalid ref name '${name}'`, {
      fields: { ref: name },
      hint: "use letters, digits, '.', '_' and '-', with '/' between parts",
    });
  }
}

/**
 * Refs: named pointers to object IDs, one small file each under refs/.
 * They are the only mutable state of a store. Compare-and-swap is safe
 * because callers hold the store lock for the whole read-compare-write.
 */
export class Refs {
  /** `beforeWrite` makes pending objects durable first: data, then index, then refs. */
  /** `guard` refuses a change of a ref another process holds (see leases.ts). */
  constructor(
    readonly dir: string,
    private readonly beforeWrite: () => Promise<void> = async () => {},
    private readonly guard: (name: string) => Promise<void> = async () => {},
  ) {}

  private path(name: string): string {
    checkRefName(name);
    return join(this.dir, ...name.split('/'));
  }

  async get(name: string): Promise<ObjectId | null> {
    let text: string;
    try {
      text = await readFile(this.path(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
    const id = text.trim();
    if (!ID.test(id)) throw damagedRefError({ name, path: this.path(name), reason: 'its content is not an object ID' });
    return id;
  }

  private async check(name: string, expected: ObjectId | null | undefined): Promise<void> {
    if (expected === undefined) return;
    const current = await this.get(name);
    if (current !== expected) {
      throw new CairnError('CONFLICT', `ref '${name}' changed underneath (expected ${expected?.slice(0, 7) ?? 'none'}, found ${current?.slice(0, 7) ?? 'none'})`, { fields: { ref: name, expected: expected ?? null, found: current ?? null } });
    }
  }

  /** Points `name` at `id`. `expected`: undefined = unconditional, null = must not exist, an ID = must be current. */
  async set(name: string, id: ObjectId, expected?: ObjectId | null): Promise<void> {
    if (!ID.test(id)) throw new CairnError('BAD_INPUT', `not a full object ID: '${id}'`);
    const path = this.path(name);
    await this.guard(name);
    await this.beforeWrite();
    await this.check(name, expected);
    try {
      await mkdirDurable(dirname(path));
      await writeFileAtomic(path, `${id}\n`);
    } catch (err) {
      throw ioFailure(err, `writing ref '${name}'`);
    }
  }

  async delete(name: string, expected?: ObjectId | null): Promise<void> {
    const path = this.path(name);
    await this.guard(name);
    await this.check(name, expected);
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CairnError('NOT_FOUND', `no ref '${name}'`, { fields: { ref: name } });
      throw err;
    }
    await syncDir(dirname(path));
    // Empty namespace folders are removed so list() stays cheap.
    for (let d = dirname(path); d !== this.dir; d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        break;
      }
    }
  }

  async list(prefix = '', opts: ListRefsOptions = {}): Promise<Array<{ name: string; id: ObjectId }>> {
    const out: Array<{ name: string; id: ObjectId }> = [];
    const damaged = (d: DamagedRef) => {
      if (!opts.onDamaged) throw damagedRefError(d);
      opts.onDamaged(d);
    };
    const walk = async (dir: string, base: string) => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const name = base ? `${base}/${e.name}` : e.name;
        // A folder is walked only if it can hold refs under `prefix`.
        if (e.isDirectory()) {
          if (prefix.startsWith(`${name}/`) || name.startsWith(prefix)) await walk(join(dir, e.name), name);
        } else if (e.isFile() && !e.name.includes('.tmp-') && name.startsWith(prefix)) {
          const path = join(dir, e.name);
          if (!isValidRefName(name)) {
            damaged({ name, path, reason: 'its name is not a valid ref name' });
            continue;
          }
          let text: string;
          try {
            text = await readFile(path, 'utf8');
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
            throw new CairnError('IO', `cannot read ref file ${path}: ${(err as Error).message}`, { cause: err, fields: { path, errno: (err as NodeJS.ErrnoException).code } });
          }
          const id = text.trim();
          if (!ID.test(id)) damaged({ name, path, reason: 'its content is not an object ID' });
          else out.push({ name, id });
        }
      }
    };
    await walk(this.dir, '');
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every damaged ref file (see ListRefsOptions). */
  async damaged(): Promise<DamagedRef[]> {
    const found: DamagedRef[] = [];
    await this.list('', { onDamaged: (d) => found.push(d) });
    return found;
  }

  /** Leftover temp files from a killed writer; safe to remove while holding the lock. */
  async cleanTemp(): Promise<void> {
    const walk = async (dir: string) => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) await walk(join(dir, e.name));
        else if (e.name.includes('.tmp-')) await unlink(join(dir, e.name)).catch(() => {});
      }
    };
    await walk(this.dir);
  }
}
