import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface PackFile {
  packId: string;
  path: string;
  size: number;
}

/** Every sealed pack file on disk: its ID, path and size. */
export async function listPackFiles(packsDir: string): Promise<PackFile[]> {
  const out: PackFile[] = [];
  let dirs: string[];
  try {
    dirs = await readdir(packsDir);
  } catch {
    return out;
  }
  for (const d of dirs.sort()) {
    if (!/^[0-9a-f]{2}$/.test(d)) continue;
    for (const name of (await readdir(join(packsDir, d))).sort()) {
      const m = /^([0-9a-f]{32})\.pack$/.exec(name);
      if (!m || !m[1].startsWith(d)) continue;
      const path = join(packsDir, d, name);
      out.push({ packId: m[1], path, size: (await stat(path)).size });
    }
  }
  return out;
}
