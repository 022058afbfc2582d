// Helpers shared by the ingest tests (not a test file itself).
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../store.js';
import { sha256 } from '../codec.js';
import { encodeFile } from '../objects.js';
import { chunkFile } from '../chunker/index.js';

/** The ID of a 0644 file as the plain path gives it: chunkFile, then SHA-256 of every chunk. */
export async function plainId(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const chunks: Array<{ id: string; length: number }> = [];
    for await (const c of chunkFile(fh, size)) chunks.push({ id: sha256(c).toString('hex'), length: c.length });
    return sha256(encodeFile({ size, exec: false, mode: 0o644, chunks })).toString('hex');
  } finally {
    await fh.close();
  }
}

/** Runs `fn` with a temp folder and a store initialised in it (`dir`); removes both after. */
export async function withStore<T>(fn: (work: string, dir: string) => Promise<T>): Promise<T> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-ingest-'));
  try {
    const dir = join(work, 'store');
    await Store.init(dir);
    return await fn(work, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
