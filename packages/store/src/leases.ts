/**
 * Leases: how a process that works on the store across several store
 * sessions (an `exp run` opens the store only per checkpoint) tells other
 * processes what it is using while it does not hold the store lock.
 *
 * A lease is `<store>/leases/<pid>-<random>.json`: who holds it (PID, the
 * process's start time, host, boot) and what it holds: ref names that no
 * other process may set or delete, and root objects that gc keeps (with
 * everything reachable from them). A lease is live while its process is:
 * same host and boot, the PID exists and started when the lease says (so a
 * reused PID is not mistaken for the holder). Dead leases are removed by
 * whoever meets them, so a kill -9 leaves nothing that matters behind.
 *
 * Lease files are replaced by rename (a reader sees the old or the new one,
 * never half) but not fsynced: a lease outlives no crash, since after a
 * power cut or reboot its holder is dead anyway.
 */
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ObjectId } from './types.js';
import { writeFileAtomic } from './fsutil.js';
import { pidAlive } from './pid.js';

export const LEASES_DIR = 'leases';

/** A process, told apart from a later one with the same PID. */
export interface Holder {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22); null where there is no /proc. */
  start: string | null;
  host: string;
  /** /proc/sys/kernel/random/boot_id; null where there is none. */
  boot: string | null;
}

export interface LeaseInfo extends Holder {
  /** File name under leases/, without `.json`. */
  id: string;
  refs: string[];
  roots: ObjectId[];
  /** What the holder is doing, for messages ("exp run of 'X'"). */
  note: string;
  created: string;
}

export interface LeaseTerms {
  refs?: string[];
  roots?: ObjectId[];
  note?: string;
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'. */
function startTime(pid: number): string | null {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19] ?? null;
}

let self: Holder | undefined;
export function currentHolder(): Holder {
  self ??= { pid: process.pid, start: startTime(process.pid), host: hostname(), boot: readProc('/proc/sys/kernel/random/boot_id')?.trim() ?? null };
  return self;
}

function isSelf(h: Holder): boolean {
  const me = currentHolder();
  return h.pid === me.pid && h.start === me.start && h.host === me.host && h.boot === me.boot;
}

/**
 * Whether `h` still runs. A holder on another host, or from another boot,
 * counts as dead: it cannot be checked from here, and one from another boot
 * is gone for sure. (Stores shared between hosts are not locked reliably
 * anyway: LevelDB's lock is local.)
 */
export function holderAlive(h: Holder): boolean {
  const me = currentHolder();
  if (h.host !== me.host || h.boot !== me.boot) return false;
  if (!Number.isInteger(h.pid) || h.pid <= 0) return false;
  if (me.start !== null) {
    const start = startTime(h.pid);
    return start !== null && start === h.start;
  }
  return pidAlive(h.pid);
}

/** A lease this process holds. */
export class Lease {
  private released = false;
  private constructor(
    private readonly file: string,
    private info: LeaseInfo,
  ) {}

  /**
   * Takes a lease. Take it while holding the store lock (Store.takeLease):
   * what the roots name must not be collected between being written and
   * being leased.
   */
  static async take(storeDir: string, terms: LeaseTerms): Promise<Lease> {
    const dir = join(storeDir, LEASES_DIR);
    await mkdir(dir, { recursive: true });
    const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
    const info: LeaseInfo = {
      id,
      ...currentHolder(),
      refs: terms.refs ?? [],
      roots: terms.roots ?? [],
      note: terms.note ?? '',
      created: new Date().toISOString(),
    };
    const lease = new Lease(join(dir, `${id}.json`), info);
    await writeFileAtomic(lease.file, lease.text(), { durable: false }); // see the top of this file
    return lease;
  }

  get id(): string {
    return this.info.id;
  }

  private text(): string {
    const { id: _id, ...rest } = this.info;
    return `${JSON.stringify(rest)}\n`;
  }

  /** Changes what the lease holds. Roots added must already be safe from gc (held by a ref, or the store lock held). */
  async update(terms: LeaseTerms): Promise<void> {
    if (this.released) return;
    this.info = { ...this.info, ...Object.fromEntries(Object.entries(terms).filter(([, v]) => v !== undefined)) };
    await writeFileAtomic(this.file, this.text(), { durable: false });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await unlink(this.file).catch(() => {});
  }
}

function parseLease(id: string, text: string): LeaseInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LeaseInfo>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || !Array.isArray(v.refs) || !Array.isArray(v.roots)) return null;
    return {
      id,
      pid: v.pid,
      start: typeof v.start === 'string' ? v.start : null,
      host: v.host,
      boot: typeof v.boot === 'string' ? v.boot : null,
      refs: v.refs.filter((r): r is string => typeof r === 'string'),
      roots: v.roots.filter((r): r is string => typeof r === 'string' && /^[0-9a-f]{64}$/.test(r)),
      note: typeof v.note === 'string' ? v.note : '',
      created: typeof v.created === 'string' ? v.created : '',
    };
  } catch {
    return null;
  }
}

/**
 * The live leases of a store (this process's own included), removing the
 * dead ones and leftover temp files of dead writers. Needs no store lock.
 * A file that does not parse is left alone unless its writer (the PID in
 * its name) is gone: it may be someone else's newer format.
 */
export async function listLeases(storeDir: string): Promise<LeaseInfo[]> {
  const dir = join(storeDir, LEASES_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: LeaseInfo[] = [];
  const me = currentHolder();
  for (const name of names) {
    const m = /^(\d+)-[0-9a-f]+\.json(\.tmp-[0-9a-f]+)?$/.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const namedPid = Number(m[1]);
    // A temp file, or a lease that does not parse: only its PID can be checked.
    const pidGone = () => namedPid !== me.pid && !holderAlive({ pid: namedPid, start: startTime(namedPid), host: me.host, boot: me.boot });
    if (m[2]) {
      if (pidGone()) await unlink(path).catch(() => {});
      continue;
    }
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text === null) continue; // released meanwhile
    const info = parseLease(name.slice(0, -5), text);
    if (info === null) {
      if (pidGone()) await unlink(path).catch(() => {});
      continue;
    }
    if (isSelf(info) || holderAlive(info)) out.push(info);
    else await unlink(path).catch(() => {});
  }
  return out;
}

/** Live leases of other processes. */
export async function otherLeases(storeDir: string): Promise<LeaseInfo[]> {
  return (await listLeases(storeDir)).filter((l) => !isSelf(l));
}
