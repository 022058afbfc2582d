/**
 * `cairn.lock` in the workspace: what the last run or apply put there — the
 * experiment, its checkpoint, and the IDs of deps, params and outs. It
 * decides whether the next `exp run` resumes, and lets `exp apply` notice
 * uncommitted edits. Written atomically, so a kill never leaves half a file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { CairnError } from './errors.js';
import { writeFileDurable } from './durable.js';
import { parseYaml } from './structured.js';

export const LOCK_FILE = 'cairn.lock';

export interface LockEntry {
  id: string;
  size: number;
  kind: 'file' | 'tree';
}

export interface LockState {
  experiment: string;
  checkpoint: string;
  stage: string;
  cmd: string;
  deps: Record<string, LockEntry>;
  params: Record<string, Record<string, unknown>>;
  outs: Record<string, LockEntry & { checkpoint: boolean }>;
}

export async function readLock(workspace: string): Promise<LockState | null> {
  const file = path.join(workspace, LOCK_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseLock(text);
}

/** The state a `cairn.lock` text holds; anything else is a BAD_INPUT error saying how to recover. */
export function parseLock(text: string): LockState {
  const yaml = parseYaml(text, { prettyErrors: false });
  if (yaml.errors.length > 0) throw damaged(yaml.errors[0].message.split('\n')[0]);
  let doc: unknown;
  try {
    doc = yaml.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // toJS fails only on what the text says (an alias bomb, a bad tag).
    throw damaged((err as Error).message.split('\n')[0]);
  }
  const d = doc as Partial<LockState> & { schema?: unknown };
  if (!d || typeof d !== 'object' || d.schema !== '1' || typeof d.experiment !== 'string' || typeof d.checkpoint !== 'string' || !/^[0-9a-f]{64}$/.test(d.checkpoint)) {
    throw damaged('it does not have the expected fields');
  }
  // What the runner compares and restores by: an entry of the wrong shape would surface later as a crash, far from this file.
  for (const key of ['stage', 'cmd'] as const) {
    if (d[key] !== undefined && d[key] !== null && typeof d[key] !== 'string') throw damaged(`'${key}' is not a string`);
  }
  const deps = entries(d.deps, 'deps', false) as LockState['deps'];
  const outs = entries(d.outs, 'outs', true) as LockState['outs'];
  const params = d.params ?? {};
  if (!isPlain(params) || !Object.values(params).every(isPlain)) throw damaged("'params' is not a mapping of file to values");
  return {
    experiment: d.experiment,
    checkpoint: d.checkpoint,
    stage: d.stage ?? '',
    cmd: d.cmd ?? '',
    deps,
    params: params as LockState['params'],
    outs,
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function entries(v: unknown, what: 'deps' | 'outs', checkpoint: boolean): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isPlain(v)) throw damaged(`'${what}' is not a mapping of path to entry`);
  for (const [p, e] of Object.entries(v)) {
    const ok =
      isPlain(e) &&
      typeof e.id === 'string' &&
      /^[0-9a-f]{64}$/.test(e.id) &&
      Number.isSafeInteger(e.size) &&
      (e.size as number) >= 0 &&
      (e.kind === 'file' || e.kind === 'tree') &&
      (!checkpoint || typeof e.checkpoint === 'boolean');
    if (!ok) throw damaged(`the ${what} entry '${p}' is not {id, size, kind${checkpoint ? ', checkpoint' : ''}}`);
  }
  return v;
}

function damaged(why: string): CairnError {
  return new CairnError('BAD_INPUT', `${LOCK_FILE} is damaged: ${why}`, {
    hint: `delete ${LOCK_FILE} (the store keeps every checkpoint); the next run starts a new experiment`,
  });
}

/** The text of `cairn.lock` for `state`: what `writeLock` writes, for `exp apply` to stage with its other files. */
export function renderLock(state: LockState): string {
  const header = '# Written by cairn: the checkpoint the workspace was last run or applied at. Do not edit.\n';
  return header + stringify({ schema: '1', ...state });
}

/** Durable: temp file fsynced, renamed, folder fsynced. */
export async function writeLock(workspace: string, state: LockState): Promise<void> {
  await writeFileDurable(path.join(workspace, LOCK_FILE), renderLock(state));
}
