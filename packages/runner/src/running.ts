/**
 * Which experiments are running right now, for `exp show` in another
 * terminal. A run writes `<store>/running/<name>.json` with its PID and
 * removes it when it ends; a marker whose process is gone (a kill -9) is
 * ignored, so a stale file never shows an experiment as running.
 */
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

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
