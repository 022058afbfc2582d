import { join } from 'node:path';
import { IndexDb, indexError, isIndexDamage } from '../index-db.js';
import { quarantineIndex } from '../repair.js';
import { ordinaryGate, priorityGate } from '../yield.js';

export interface OpenOptions {
  /** How long to wait for another process's lock (default: CAIRN_LOCK_TIMEOUT seconds, else 60 s). */
  lockTimeoutMs?: number;
  /**
   * For a repair (fsck --repair): an index that LevelDB reports damaged is
   * moved into quarantine and replaced by an empty one instead of failing
   * the open; the caller then runs repair(), which rebuilds it.
   */
  repairIndex?: boolean;
  /**
   * Wait for the lock ahead of ordinary openers (see yield.ts): for a
   * session that someone is waiting on, such as a training run's checkpoint.
   */
  priority?: boolean;
  /**
   * Let a priority opener in at safe points of long writes (putPath,
   * putStream, putObject) and of gc: what was written so far is committed
   * and leased, the lock given up until the waiter has had it, then taken
   * again. Only for callers that hold nothing across those calls that the
   * lock alone protects (a read of a ref they then change without
   * expectations, say).
   */
  yieldToPriority?: boolean;
  /**
   * Threads that read, hash and check content (one pool per process, so
   * the last open that sets it wins). Default: CAIRN_THREADS, else one per
   * core.
   */
  threads?: number;
}

export function defaultLockTimeout(): number {
  const env = Number(process.env.CAIRN_LOCK_TIMEOUT);
  return Number.isFinite(env) && env >= 0 ? env * 1000 : 60_000;
}

/**
 * Opens a store's index, which takes the store's lock (waiting behind a
 * priority waiter unless `priority`). A damaged index fails the open,
 * unless `repairIndex`: then it goes into quarantine and an empty one
 * takes its place for the repair to fill.
 */
export async function openIndex(dir: string, opts: OpenOptions): Promise<{ idx: IndexDb; indexPath: string; timeout: number; quarantined?: string }> {
  const indexPath = join(dir, 'index');
  const timeout = opts.lockTimeoutMs ?? defaultLockTimeout();
  let idx: IndexDb;
  let quarantined: string | undefined;
  const gate = () => (opts.priority ? priorityGate(dir) : ordinaryGate(dir));
  try {
    idx = await IndexDb.open(indexPath, timeout, { gate: gate() });
    // Reading the version reads a table: damage that opening misses shows here.
    await idx.version().catch(async (err) => {
      await idx.close();
      throw indexError(err, indexPath);
    });
  } catch (err) {
    if (!opts.repairIndex || !isIndexDamage(err)) throw err;
    quarantined = await quarantineIndex(dir);
    idx = await IndexDb.open(indexPath, timeout, { gate: gate() });
  }
  return { idx, indexPath, timeout, quarantined };
}
