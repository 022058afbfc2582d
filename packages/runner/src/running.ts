/**
 * What runs right now. An `exp run` holds a store lease (see the store's
 * leases.ts) for its whole run: it holds the experiment's ref, so no other
 * process renames, removes or appends to it, and its roots (the dep
 * snapshot, the checkpoint it continues from, then its tip), so gc keeps
 * them while the run waits for a checkpoint. `exp show` elsewhere marks an
 * experiment running when a live lease holds its ref; a lease whose process
 * is gone (a kill -9) is dead and removed by whoever lists the leases.
 */
import { appendFile, mkdir, readdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Store, currentHolder, holderAlive, type Holder, type Lease, type ObjectId } from '@cairn/store';
import { EXP_REF_PREFIX, expRef } from '@cairn/lineage';
import { CairnError } from './errors.js';

const DIR = 'running';

/**
 * The lease of a run of experiment `name`. Taken in an open store session,
 * so the objects `roots` names (written in that session) are never unleased
 * and unnamed while the lock is free. Refused (LOCKED) while another
 * process runs the same experiment.
 */
export async function takeRunLease(store: Store, name: string, roots: ObjectId[]): Promise<Lease> {
  const ref = expRef(name);
  const other = (await Store.listLeases(store.dir)).find((l) => l.refs.includes(ref) && l.pid !== process.pid);
  if (other) throw new CairnError('LOCKED', `experiment '${name}' is being run by process ${other.pid}`, { hint: 'wait for it to finish, or stop it first', fields: { name, pid: other.pid } });
  return store.takeLease({ refs: [ref], roots, note: `exp run of '${name}'` });
}

/** Names of the experiments a live `exp run` holds, on this host. Clears dead runs' leftovers on the way. */
export async function listRunning(storeDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const l of await Store.listLeases(storeDir)) for (const r of l.refs) if (r.startsWith(EXP_REF_PREFIX)) out.add(r.slice(EXP_REF_PREFIX.length));
  await sweepWorkspaceLocks(storeDir);
  return out;
}

/** Removes the workspace locks of dead runs (and markers of older versions), then `running/` itself if empty. */
async function sweepWorkspaceLocks(storeDir: string): Promise<void> {
  const dir = path.join(storeDir, DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const file = path.join(dir, n);
    if (n.endsWith('.json')) await unlink(file).catch(() => undefined); // a PID marker of an older cairn: leases replaced them
    else if (n.startsWith('ws-') && n.endsWith('.lock') && !(await lockHolderAlive(file))) await unlink(file).catch(() => undefined);
  }
  await rmdir(dir).catch(() => undefined); // only when empty
}

/** Whether the workspace lock `file` is held by a live process; a lock being written (empty, unparsable) counts as live. */
async function lockHolderAlive(file: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return false;
  let h: Holder;
  try {
    h = JSON.parse(text) as Holder;
  } catch {
    return true;
  }
  return typeof h === 'object' && h !== null && holderAlive(h);
}

/**
 * One `exp run` per workspace at a time: two would overwrite each other's
 * outs. The lock is `<store>/running/ws-<hash of the workspace path>.lock`
 * (no clutter in the workspace), created exclusively, naming its holder
 * (PID and start time, as a lease does); a lock whose process is gone (a
 * kill -9) is taken over, and `exp show` removes it.
 */
export async function lockWorkspace(storeDir: string, workspace: string): Promise<() => Promise<void>> {
  const dir = path.join(storeDir, DIR);
  const file = path.join(dir, `ws-${createHash('sha256').update(path.resolve(workspace)).digest('hex').slice(0, 16)}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    await mkdir(dir, { recursive: true });
    try {
      await writeFile(file, JSON.stringify(currentHolder()), { flag: 'wx' });
      return async () => {
        await unlink(file).catch(() => undefined);
        await rmdir(dir).catch(() => undefined);
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue; // running/ was removed as empty meanwhile
      if (code !== 'EEXIST') throw err;
    }
    const text = await readFile(file, 'utf8').catch(() => '');
    let holder: Holder | undefined;
    try {
      holder = JSON.parse(text) as Holder;
    } catch {
      /* being written, or damaged */
    }
    if (holder && holderAlive(holder)) {
      throw new CairnError('LOCKED', `another cairn exp run (pid ${holder.pid}) is running in ${workspace}`, {
        hint: 'wait for it to finish, or stop it (Ctrl+C) first',
        fields: { path: workspace, pid: holder.pid },
      });
    }
    await unlink(file).catch(() => undefined);
  }
  throw new CairnError('LOCKED', `cannot take the run lock of ${workspace}`, { fields: { path: workspace } });
}

/**
 * Refuses (LOCKED) when another process runs one of the experiments `names`:
 * renaming or removing it would stop that training at its next checkpoint.
 * Call it holding the store lock, so no run takes its lease meanwhile.
 */
export async function refuseRunning(storeDir: string, names: string[]): Promise<void> {
  for (const l of await Store.listLeases(storeDir)) {
    if (l.pid === process.pid) continue;
    const name = names.find((n) => l.refs.includes(expRef(n)));
    if (name !== undefined) {
      throw new CairnError('LOCKED', `experiment '${name}' is being run by process ${l.pid}; stop it first`, { fields: { name, pid: l.pid } });
    }
  }
}

/**
 * CAIRN_TRACE_WAIT=FILE: every checkpoint appends one JSON line to FILE,
 * `{"experiment", "step", "waitMs", "at"}`, where waitMs is how long opening
 * the store took (mostly waiting for another process's lock). For
 * bench/contention.mjs; off unless set.
 */
export async function traceWait(experiment: string, step: number, waitMs: number): Promise<void> {
  const file = process.env.CAIRN_TRACE_WAIT;
  if (!file) return;
  await appendFile(file, `${JSON.stringify({ experiment, step, waitMs: Math.round(waitMs * 10) / 10, at: new Date().toISOString() })}\n`).catch(() => undefined);
}
