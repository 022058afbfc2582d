/**
 * Finding the store the way git finds .git, for the CLI and for library
 * users who want the same answer: CAIRN_STORE, else the nearest `.cairn/`
 * from a folder up, which may redirect with `store: DIR` in its config.yaml.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { CairnError } from './errors.js';

const require = createRequire(import.meta.url);

/**
 * yaml (~20 ms to load) is required only when a .cairn/config.yaml is read,
 * so that opening a store found without one does not pay for it.
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

/** The environment findStore reads (process.env fits). */
export interface StoreEnv {
  CAIRN_STORE?: string;
}

/**
 * The store folder for `startDir`: CAIRN_STORE (relative to startDir; empty
 * counts as unset), else the nearest `.cairn/` from startDir up, or the
 * folder its `.cairn/config.yaml` names with `store: DIR` (relative to the
 * folder holding `.cairn/`). NOT_FOUND when there is none; BAD_INPUT for a
 * config.yaml that does not parse or whose `store` is not a path. The folder
 * is not checked to be a store: Store.open says so.
 */
export function findStore(startDir: string = process.cwd(), env: StoreEnv = process.env): string {
  if (env.CAIRN_STORE) return resolve(startDir, env.CAIRN_STORE);
  const root = findDotCairn(startDir);
  if (!root) {
    throw new CairnError('NOT_FOUND', 'no cairn store here or in any parent folder', {
      hint: 'run cairn init, or pass --store DIR',
      fields: { path: resolve(startDir) },
    });
  }
  const dot = join(root, '.cairn');
  const configPath = join(dot, 'config.yaml');
  if (existsSync(configPath)) {
    let config: unknown;
    try {
      config = parseYaml(readFileSync(configPath, 'utf8'));
    } catch (err) {
      throw new CairnError('BAD_INPUT', `${configPath}: ${(err as Error).message.split('\n')[0]}`, { fields: { path: configPath } });
    }
    const store = (config as { store?: unknown } | null)?.store;
    if (store !== undefined) {
      if (typeof store !== 'string' || !store) throw new CairnError('BAD_INPUT', `${configPath}: 'store' must be a folder path`, { fields: { path: configPath } });
      return resolve(root, store);
    }
  }
  return dot;
}
