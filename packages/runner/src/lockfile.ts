/**
 * `cairn.lock` in the workspace: what the last run or apply put there — the
 * experiment, its checkpoint, and the IDs of deps, params and outs. It
 * decides whether the next `exp run` resumes, and lets `exp apply` notice
 * uncommitted edits. Written atomically, so a kill never leaves half a file.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { CairnError } from './errors.js';
import { writeFileDurable } from './durable.js';

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
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw damaged(`${(err as Error).message.split('\n')[0]}`);
  }
  const d = doc as Partial<LockState> & { schema?: unknown };
  if (!d || typeof d !== 'object' || d.schema !== '1' || typeof d.experiment !== 'string' || typeof d.checkpoint !== 'string' || !/^[0-9a-f]{64}$/.test(d.checkpoint)) {
    throw damaged('it does not have the expected fields');
  }
  return {
    experiment: d.experiment,
    checkpoint: d.checkpoint,
    stage: String(d.stage ?? ''),
    cmd: String(d.cmd ?? ''),
    deps: (d.deps as LockState['deps']) ?? {},
    params: (d.params as LockState['params']) ?? {},
    outs: (d.outs as LockState['outs']) ?? {},
  };
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
