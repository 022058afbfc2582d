/**
 * Priority for the store lock, and long holders that step aside for it.
 *
 * LevelDB's lock has no queue: whoever polls at the right moment gets it. A
 * process that must not wait long (a training run writing a checkpoint)
 * opens with `priority`: once it finds the lock held it announces itself
 * with a waiter file `<store>/waiting/<pid>-<random>`, kept fresh while it
 * polls and removed once it has the lock or gives up. Every other opener
 * defers to a live, fresh waiter before trying the lock, so the waiter is
 * next. Holders that may run for long (store add, import, gc: opened with
 * `yieldToPriority`) look for waiters at safe points and, when one waits,
 * commit what they wrote, lease it (roots only: nothing of theirs is named
 * yet, and gc must not take it meanwhile), close the index (the lock goes),
 * reopen as an ordinary opener (so after the waiter) and go on.
 *
 * A waiter file names its process like a lease does (leases.ts), so a dead
 * waiter, or one whose PID was reused, is told apart and its file removed.
 * Freshness covers a live waiter that has stopped polling (Ctrl+Z): after
 * WAITER_STALE_MS without a refresh it is ignored, so it cannot hold
 * everyone else back.
 */
import { mkdir, readFile, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { currentHolder, holderAlive, Lease, type Holder } from './leases.js';
import { writeFileAtomic } from './fsutil.js';
import { pidAlive } from './pid.js';
import type { ObjectId } from './types.js';

export const WAITING_DIR = 'waiting';
/** A waiter refreshes its file's mtime this often while it polls... */
const WAITER_REFRESH_MS = 1000;
/** ...and one not refreshed for this long is not waiting any more (stopped, or stuck). */
const WAITER_STALE_MS = 3000;
/** How often an opener that defers looks at waiting/ again. */
const DEFER_POLL_MS = 10;
/** How often a holder looks for waiters: a readdir, so cheap, but not at every chunk. */
const YIELD_CHECK_MS = 100;
/** Backoff cap while polling the lock: a priority waiter polls often so it takes a released lock at once. */
export const PRIORITY_MAX_DELAY_MS = 20;
export const ORDINARY_MAX_DELAY_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Whether a live priority waiter other than `except` (a file name) is
 * waiting for the store. Dead waiters' files (and temp files) are removed on
 * the way. An empty or missing waiting/ costs one readdir.
 */
export async function priorityWaiting(storeDir: string, except?: string): Promise<boolean> {
  const dir = join(storeDir, WAITING_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return false;
  }
  const me = currentHolder();
  for (const name of names) {
    if (name === except) continue;
    const m = /^(\d+)-[0-9a-f]+(\.tmp-[0-9a-f]+)?$/.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    if (m[2]) {
      // A temp file is only ever half a waiter: removed once its writer is gone.
      if (Number(m[1]) !== me.pid && !pidAlive(Number(m[1]))) await unlink(path).catch(() => {});
      continue;
    }
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text === null) continue; // got the lock meanwhile
    let h: Holder | null = null;
    try {
      h = JSON.parse(text) as Holder;
    } catch {
      /* see below */
    }
    if (!h || typeof h.pid !== 'number' || !holderAlive(h)) {
      await unlink(path).catch(() => {});
      continue;
    }
    const st = await stat(path).catch(() => null);
    if (st && Date.now() - st.mtimeMs < WAITER_STALE_MS) return true;
  }
  return false;
}

/** How one opener takes part in the lock polling of IndexDb.open. */
export interface LockGate {
  /** Longest pause between two tries of the lock. */
  readonly maxDelayMs: number;
  /** Before each try: resolves when this opener may try (an ordinary opener waits for priority waiters, until `deadline` at most). */
  beforeTry(deadline: number): Promise<void>;
  /** After a try that found the lock held. */
  locked(): Promise<void>;
  /** Once it has the lock, or gives up. */
  end(): Promise<void>;
}

/** The gate of an opener that defers to priority waiters. */
export function ordinaryGate(storeDir: string): LockGate {
  return {
    maxDelayMs: ORDINARY_MAX_DELAY_MS,
    async beforeTry(deadline) {
      while (Date.now() < deadline && (await priorityWaiting(storeDir))) await sleep(DEFER_POLL_MS);
    },
    async locked() {},
    async end() {},
  };
}

/** The gate of a priority opener: announced (waiting/) only once the lock turns out held, since usually it is free. */
export function priorityGate(storeDir: string): LockGate {
  let file: string | undefined;
  let refreshed = 0;
  return {
    maxDelayMs: PRIORITY_MAX_DELAY_MS,
    async beforeTry() {},
    async locked() {
      const now = Date.now();
      if (file === undefined) {
        file = await announce(storeDir).catch(() => undefined);
        refreshed = now;
      } else if (now - refreshed >= WAITER_REFRESH_MS) {
        refreshed = now;
        await utimes(file, now / 1000, now / 1000).catch(() => {});
      }
    },
    async end() {
      if (file !== undefined) await unlink(file).catch(() => {});
      file = undefined;
    },
  };
}

/** Writes this process's waiter file (by rename: a reader never sees half of it). */
async function announce(storeDir: string): Promise<string> {
  const dir = join(storeDir, WAITING_DIR);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
  // Like a lease, a waiter file describes a live process: replaced by rename, not fsynced.
  await writeFileAtomic(path, `${JSON.stringify(currentHolder())}\n`, { durable: false });
  return path;
}

/**
 * A long holder's side: which objects its session has put or found already
 * stored (all of which what it writes next may name), whether to step aside
 * now, and the lease that keeps those objects through a step aside.
 */
export class Yielder {
  private lastCheck = 0;
  private lease: Lease | undefined;
  /** Every object this session put or deduplicated against: what a lease must root while the lock is given up. */
  readonly touched = new Set<ObjectId>();
  /** How many times the lock was given up (for tests and traces). */
  yields = 0;

  constructor(private readonly storeDir: string) {}

  /** Whether a priority waiter waits; looks at most every YIELD_CHECK_MS, so it can be called per chunk. */
  async wanted(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastCheck < YIELD_CHECK_MS) return false;
    this.lastCheck = now;
    return priorityWaiting(this.storeDir);
  }

  /** Leases what the session touched; call holding the lock, after what it wrote is indexed. */
  async protect(): Promise<void> {
    if (this.touched.size === 0) return;
    const terms = { roots: [...this.touched], note: 'a store session that let a waiting process in' };
    if (this.lease) await this.lease.update(terms);
    else this.lease = await Lease.take(this.storeDir, terms);
  }

  async release(): Promise<void> {
    await this.lease?.release();
    this.lease = undefined;
  }
}
