import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { findDotCairn, findStore, Store, type OpenOptions } from '@cairn/store';

export interface GlobalArgs {
  store?: string;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
}

const PIPELINE_FILES = ['cairn.yaml', 'dvc.yaml'];

/** The workspace: the nearest folder up from cwd with a pipeline file, else the one holding `.cairn/`, else cwd. */
export function findWorkspace(cwd = process.cwd()): string {
  for (let d = resolve(cwd); ; d = dirname(d)) {
    if (PIPELINE_FILES.some((f) => existsSync(join(d, f)))) return d;
    if (dirname(d) === d) break;
  }
  return findDotCairn(cwd) ?? resolve(cwd);
}

/** The store folder: --store, else as findStore finds it (CAIRN_STORE, the nearest .cairn/ and its config.yaml redirect). */
export function findStoreDir(args: GlobalArgs, cwd = process.cwd()): string {
  if (args.store) return resolve(cwd, args.store);
  return findStore(cwd, process.env);
}

export async function withStore<T>(args: GlobalArgs, fn: (store: Store) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
  return Store.with(findStoreDir(args), fn, opts);
}
