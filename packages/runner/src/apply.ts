/**
 * `exp apply`: put a checkpoint's outs, deps (code) and params back into
 * the workspace, refusing to overwrite edits made since the last run or
 * apply unless forced.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { Store, type ObjectId } from '@cairn/store';
import { readCheckpoint, resolveRef, type CheckpointRecord } from '@cairn/lineage';
import { CairnError } from './errors.js';
import { readParams, writeParamsValues } from './params.js';
import { readLock, writeLock, type LockState } from './lockfile.js';
import { sameValues } from './snapshot.js';

export interface ApplyOptions {
  workspace: string;
  storeDir: string;
  /** Checkpoint ID, unique prefix, or experiment name (its tip). */
  ref: string;
  force?: boolean;
}

export interface ApplyResult {
  checkpoint: ObjectId;
  experiment: string;
  /** Workspace paths written. */
  restored: string[];
}

/**
 * Workspace paths that exist and differ both from `reference` (what the last
 * run or apply put there) and from `target`: applying would lose them.
 */
async function editedPaths(store: Store, ws: string, reference: Record<string, { id: string }>, target: Record<string, { id: string }>): Promise<string[]> {
  const edited: string[] = [];
  for (const p of new Set([...Object.keys(reference), ...Object.keys(target)])) {
    const abs = path.resolve(ws, p);
    if (!(await lstat(abs).then(() => true, () => false))) continue;
    const now = await store.hashPath(abs);
    if (now !== reference[p]?.id && now !== target[p]?.id) edited.push(p);
  }
  return edited;
}

/** Params files whose values differ both from `reference` and from `target`. */
async function editedParams(ws: string, reference: Record<string, Record<string, unknown>>, target: Record<string, Record<string, unknown>>): Promise<string[]> {
  const edited: string[] = [];
  for (const file of new Set([...Object.keys(reference), ...Object.keys(target)])) {
    const keys = [...new Set([...Object.keys(reference[file] ?? {}), ...Object.keys(target[file] ?? {})])];
    const now = (await readParams(ws, [{ file, keys }], { allowMissing: true }))[file] ?? {};
    const pick = (v: Record<string, unknown> | undefined) => Object.fromEntries(keys.filter((k) => v && k in v).map((k) => [k, v![k]]));
    if (!sameValues(now, pick(reference[file])) && !sameValues(now, pick(target[file]))) edited.push(file);
  }
  return edited;
}

export async function applyCheckpoint(opts: ApplyOptions): Promise<ApplyResult> {
  const ws = path.resolve(opts.workspace);
  const lock = await readLock(ws);
  return Store.with(opts.storeDir, async (store) => {
    const id = await resolveRef(store, opts.ref);
    const record: CheckpointRecord = await readCheckpoint(store, id);
    if (!opts.force) {
      // Without a cairn.lock nothing was put here by cairn: every differing file counts as an edit.
      const dirty = [
        ...(await editedPaths(store, ws, lock?.deps ?? {}, record.deps)),
        ...(await editedParams(ws, lock?.params ?? {}, record.params)),
      ];
      if (dirty.length > 0) {
        throw new CairnError('BAD_INPUT', `uncommitted changes would be overwritten: ${dirty.join(', ')}`, {
          hint: 'run the experiment first to record them, or pass --force to discard them',
        });
      }
    }
    const restored: string[] = [];
    for (const [p, e] of [...Object.entries(record.outs), ...Object.entries(record.deps)]) {
      await store.getToPath(e.id, path.resolve(ws, p));
      restored.push(p);
    }
    for (const [file, values] of Object.entries(record.params)) {
      if (await writeParamsValues(ws, file, values)) restored.push(file);
    }
    const state: LockState = {
      experiment: record.experiment,
      checkpoint: id,
      stage: record.stage,
      cmd: record.cmd,
      deps: record.deps,
      params: record.params,
      outs: record.outs,
    };
    await writeLock(ws, state);
    return { checkpoint: id, experiment: record.experiment, restored };
  });
}
