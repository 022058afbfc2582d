import { readFile, writeFile, access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '@cairn/store';

/** The demo pipeline shipped with the CLI (cairn.yaml, params.yaml, train.py). */
export const EXAMPLE_DIR = fileURLToPath(new URL('../example/', import.meta.url));

/** Writes the demo pipeline into `dir`, refusing to overwrite a file that exists. */
export async function writeExample(dir: string): Promise<string[]> {
  const names = (await readdir(EXAMPLE_DIR)).sort();
  for (const name of names) {
    const exists = await access(join(dir, name)).then(() => true, () => false);
    if (exists) throw new CairnError('BAD_INPUT', `${name} already exists here; not overwriting it`, { hint: 'run cairn init --example in an empty folder' });
  }
  for (const name of names) await writeFile(join(dir, name), await readFile(join(EXAMPLE_DIR, name)));
  return names;
}
