import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { CairnError, Store, type OpenOptions } from '@cairn/store';

export interface GlobalArgs {
  store?: string;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
}

const PIPELINE_FILES = ['cairn.yaml', 'dvc.yaml'];

const require = createRequire(import.meta.url);

/**
 * yaml (~20 ms to load) is required only when a .cairn/config.yaml is read, so
 * that exp export/import and the store commands do not pay for it. Under node
 * `require` gives the same CommonJS build that an import does.
 */
function parseYaml(text: string): unknown {
  return (require('yaml') as typeof import('yaml')).parse(text);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The nearest folder, from `start` up, that holds `.cairn/`. */
export function findDotCairn(start: string): string | undefined {
  for (let d = resolve(start); ; d = dirname(d)) {
    if (isDir(join(d, '.cairn'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** The workspace: the nearest folder up from cwd with a pipeline file, else the one holding `.cairn/`, else cwd. */
export function findWorkspace(cwd = process.cwd()): string {
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (PIPELINE_FILES.some((f) => existsSync(join(d, f)))) return d;
    if (dirname(d) === d) break;
  }
  return findDotCairn(cwd) ?? resolve(cwd);
}

/**
 * The store folder, like git finds .git: --store, then CAIRN_STORE, then the
 * nearest .cairn/ (which may redirect with `store: DIR` in its config.yaml).
 */
export function findStoreDir(args: GlobalArgs, cwd = process.cwd()): string {
  if (args.store) return resolve(cwd, args.store);
  if (process.env.CAIRN_STORE) return resolve(cwd, process.env.CAIRN_STORE);
  const root = findDotCairn(cwd);
  if (!root) {
    throw new CairnError('NOT_FOUND', 'no cairn store here or in any parent folder', {
      hint: 'run cairn init, or pass --store DIR',
    });
  }
  const dot = join(root, '.cairn');
  const configPath = join(dot, 'config.yaml');
  if (existsSync(configPath)) {
    let config: unknown;
    try {
      config = parseYaml(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw new CairnError('BAD_INPUT', `${configPath}: ${(err as Error).message.split('\n')[0]}`);
    }
    const store = (config as { store?: unknown } | null)?.store;
    if (store !== undefined) {
      if (typeof store !== 'string' || !store) throw new CairnError('BAD_INPUT', `${configPath}: 'store' must be a folder path`);
      return resolve(root, store);
    }
  }
  return dot;
}

export async function withStore<T>(args: GlobalArgs, fn: (store: Store) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
  return Store.with(findStoreDir(args), fn, opts);
}
