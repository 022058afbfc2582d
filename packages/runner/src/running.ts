/**
 * Which experiments are running right now, for `exp show` in another
 * terminal. A run writes `<store>/running/<name>.json` with its PID and
 * removes it when it ends; a marker whose process is gone (a kill -9) is
 * ignored, so a stale file never shows an experiment as running.
 */
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { CairnError } from './errors.js';

const DIR = 'running';

export async function markRunning(storeDir: string, name: string, workspace: string): Promise<() => Promise<void>> {
  const dir = path.join(storeDir, DIR);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ pid: process.pid, workspace, started: new Date().toISOString() }));
  return () => unlink(file).catch(() => undefined);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function listRunning(storeDir: string): Promise<Set<string>> {
  const out = new Set<string>();
  let names: string[];
  try {
    names = await readdir(path.join(storeDir, DIR));
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      const { pid } = JSON.parse(await readFile(path.join(storeDir, DIR, n), 'utf8')) as { pid: number };
      if (Number.isInteger(pid) && alive(pid)) out.add(n.slice(0, -5));
    } catch {
      /* a marker being written or removed */
    }
  }
  return out;
}

/**
 * One `exp run` per workspace at a time: two would overwrite each other's
 * outs. The lock is `<store>/running/ws-<hash of the workspace path>.lock`
 * (no clutter in the workspace), created exclusively, holding the PID; a
 * lock whose process is gone (a kill -9) is taken over.
 */
export async function lockWorkspace(storeDir: string, workspace: string): Promise<() => Promise<void>> {
  const dir = path.join(storeDir, DIR);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `ws-${createHash('sha256').update(path.resolve(workspace)).digest('hex').slice(0, 16)}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return () => unlink(file).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number(await readFile(file, 'utf8').catch(() => ''));
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
      throw new CairnError('LOCKED', `another cairn exp run (pid ${pid}) is running in ${workspace}`, {
        hint: 'wait for it to finish, or stop it (Ctrl+C) first',
      });
    }
    await unlink(file).catch(() => undefined);
  }
  throw new CairnError('LOCKED', `cannot take the run lock of ${workspace}`);
}
